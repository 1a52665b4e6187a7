//! A ramp through the whole system: the real control plane (SQLite, the monitor ticking every
//! second) and the built worker on workerd. A test ramps 20% → 50% → 100% of its traffic, each
//! step held 20 seconds; at each step the edge, asked for the same 1,000 visitors, must
//! serve that step's coverage: the share it assigns within a binomial tolerance, every decision
//! the one its bucket calls for, and a visitor once in the test keeping its variant as the
//! coverage grows. Then `edgewise simulate` sends traffic whose guardrail metric converts far
//! worse in the variant: the monitor must find the regression and the ramp step back to 50%,
//! audited as `test.ramp` by the `monitor`, and the edge must serve the 50% step again, to
//! exactly the visitors it served it to before, and hold there while the regression lasts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use edgewise_tests::control::{
    control_and_worker, decision_of, edge_assign, simulate, ControlPlane,
};
use edgewise_tests::worker::Worker;
use serde_json::{json, Value};

const KEY: &str = "ramp-system";
/// Visitors asked at each step.
const VISITORS: usize = 1000;
/// How long each step before the last is held, in seconds: long enough for the edge to get
/// the step's snapshot (about a second) and to be asked for every visitor (a few seconds
/// through `wrangler dev`), with room to spare on a busy machine.
const HOLD_SECS: f64 = 20.0;
const STEPS: [f64; 3] = [0.2, 0.5, 1.0];
/// Half the bucket space (`0..10000`) per variant, weights 1:1.
const HALF: u32 = 5000;

fn spec() -> Value {
    let hold = HOLD_SECS / 3600.0;
    json!({
        "key": KEY,
        "variants": [
            {"key": "control", "weight": 1, "content": {"cta": "Buy"}},
            {"key": "b", "weight": 1, "content": {"cta": "Buy now"}}
        ],
        "metrics": [
            {"key": "buy", "kind": "binomial", "role": "primary"},
            {"key": "checkout_ok", "kind": "binomial", "role": "guardrail"}
        ],
        // The ramp, not the monitor's own pause, answers a breach here.
        "decision": {"auto_pause": false},
        "ramp": {"steps": [{"coverage": STEPS[0], "hold_hours": hold},
                           {"coverage": STEPS[1], "hold_hours": hold},
                           {"coverage": STEPS[2], "hold_hours": 0}],
                 "on_breach": "step_back"}
    })
}

/// What the edge served the visitors at one step: its snapshot version and each assigned
/// visitor's variant (by visitor index).
struct Served {
    version: u64,
    assigned: BTreeMap<usize, String>,
}

/// The test's coverage in snapshot `version`, as the control plane stored it.
fn coverage_in(control: &ControlPlane, version: u64) -> f64 {
    let snap = control
        .api("GET", &format!("/api/v1/snapshots/{version}"), None)
        .json();
    let test = snap["tests"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["key"] == KEY).cloned());
    test.and_then(|t| t["coverage"].as_f64())
        .unwrap_or_else(|| panic!("{KEY} not in snapshot {version}: {snap}"))
}

/// The replies of the edge for every visitor, asked from 8 threads (a lost request is asked
/// again).
fn ask_all(worker: &Worker) -> Vec<Value> {
    let mut replies = vec![Value::Null; VISITORS];
    std::thread::scope(|s| {
        for (t, chunk) in replies.chunks_mut(VISITORS / 8).enumerate() {
            s.spawn(move || {
                for (k, slot) in chunk.iter_mut().enumerate() {
                    let unit = format!("ramp-visitor-{}", t * (VISITORS / 8) + k);
                    for _ in 0..5 {
                        *slot = edge_assign(worker, &unit);
                        if decision_of(slot, KEY).is_some() {
                            break;
                        }
                    }
                }
            });
        }
    });
    replies
}

/// Waits until the control plane has moved the ramp to `coverage` and the edge serves it,
/// then asks the edge for every visitor and checks what it served against the step.
fn served_step(
    control: &ControlPlane,
    worker: &Worker,
    coverage: f64,
    deadline: Instant,
) -> Served {
    let moved = ControlPlane::wait_until(deadline - Instant::now(), || {
        control
            .api("GET", &format!("/api/v1/tests/{KEY}"), None)
            .json()["coverage"]
            .as_f64()
            == Some(coverage)
    });
    assert!(
        moved.is_some(),
        "the ramp never reached {coverage}:\n{}",
        control.log_text()
    );
    let latest = control.api("GET", "/api/v1/snapshots?limit=1", None).json();
    let version = latest["snapshots"][0]["version"].as_u64().unwrap();
    assert_eq!(coverage_in(control, version), coverage);
    let reached = ControlPlane::wait_until(deadline - Instant::now(), || {
        worker.get("/v1/health", &[]).json()["snapshot_version"].as_u64() >= Some(version)
    });
    assert!(reached.is_some(), "the edge never got snapshot {version}");
    let asked = Instant::now();
    let replies = ask_all(worker);
    let took = asked.elapsed();

    let mut assigned = BTreeMap::new();
    for (i, reply) in replies.iter().enumerate() {
        let d = decision_of(reply, KEY).unwrap_or_else(|| panic!("visitor {i}: {reply}"));
        // Every answer comes from this step's snapshot: the step was held long enough.
        assert_eq!(
            reply["snapshot_version"].as_u64(),
            Some(version),
            "visitor {i} was served another snapshot than {version} ({coverage}), after {took:?}: {reply}"
        );
        // The decision is the one the visitor's bucket calls for: variant i owns
        // [i × 5000, i × 5000 + floor(5000 × coverage)).
        let bucket = d["bucket"].as_u64().unwrap() as u32;
        let len = (f64::from(HALF) * coverage).floor() as u32;
        let want = match bucket {
            b if b < len => Some("control"),
            b if (HALF..HALF + len).contains(&b) => Some("b"),
            _ => None,
        };
        match want {
            Some(v) => {
                assert_eq!(
                    (&d["reason"], &d["variant"]),
                    (&json!("assigned"), &json!(v)),
                    "{d}"
                );
                assigned.insert(i, v.to_owned());
            }
            None => assert_eq!(d["reason"], "outside_coverage", "{d}"),
        }
    }
    // Buckets hash the visitor ids, so for these 1,000 fixed ids the number inside coverage
    // is fixed too, and is distributed over id sets as Binomial(1000, coverage). Four
    // standard deviations (±51 at 20%, ±63 at 50%; a chance of 6e-5 that a good hash lands
    // outside) keeps each step apart from its neighbours, 300 or 500 visitors away.
    let n = VISITORS as f64;
    let sd = (n * coverage * (1.0 - coverage)).sqrt();
    let got = assigned.len() as f64;
    println!(
        "coverage {coverage}: snapshot {version}, {} of {VISITORS} assigned \
         ({} control, {} b; expected {:.0} ± {:.0}), asked in {took:?}",
        assigned.len(),
        assigned.values().filter(|v| *v == "control").count(),
        assigned.values().filter(|v| *v == "b").count(),
        n * coverage,
        4.0 * sd
    );
    assert!(
        (got - n * coverage).abs() <= 4.0 * sd,
        "{got} of {VISITORS} served at coverage {coverage}"
    );
    Served { version, assigned }
}

/// The test's `test.ramp` audit entries, each the monitor's: (coverage after, breach, at).
fn ramp_audit(control: &ControlPlane) -> Vec<(f64, bool, i64)> {
    let audit = control.api("GET", "/api/v1/audit?limit=1000", None).json();
    audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == KEY && e["action"] == "test.ramp")
        .map(|e| {
            assert_eq!(e["actor"], "monitor", "{e}");
            let after: Value = serde_json::from_str(e["after"].as_str().unwrap()).unwrap();
            (
                after["coverage"].as_f64().unwrap(),
                after["breach"].as_bool().unwrap(),
                e["at"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_edge_serves_each_ramp_step_and_a_guardrail_regression_steps_it_back() {
    let begun = Instant::now();
    let (control, worker) = control_and_worker(&[], &["--monitor-interval-secs", "1"]);
    let created = control.api("POST", "/api/v1/tests", Some(&spec()));
    assert_eq!(created.status, 201, "{}", created.body);
    let started = control.api("POST", &format!("/api/v1/tests/{KEY}/start"), None);
    assert_eq!(started.status, 200, "{}", started.body);
    let started_at = started.json()["started_at"].as_i64().unwrap();
    println!("system up and test started after {:?}", begun.elapsed());

    // Each step in turn, as the edge serves it.
    let hold = Duration::from_secs_f64(HOLD_SECS);
    let mut served: Vec<Served> = Vec::new();
    for coverage in STEPS {
        let step = served_step(&control, &worker, coverage, Instant::now() + hold + hold);
        if let Some(before) = served.last() {
            assert!(step.version > before.version);
            // Raising coverage only adds visitors: nobody in the test changes variant.
            for (i, v) in &before.assigned {
                assert_eq!(step.assigned.get(i), Some(v), "visitor {i} moved");
            }
        }
        served.push(step);
    }
    let ramps = ramp_audit(&control);
    assert_eq!(
        ramps.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        [(0.5, false), (1.0, false)]
    );
    // Each step was held for its hours before the next (from the start, then from the step).
    let hold_ms = (HOLD_SECS * 1000.0) as i64;
    assert!(ramps[0].2 - started_at >= hold_ms, "{ramps:?}");
    assert!(ramps[1].2 - ramps[0].2 >= hold_ms, "{ramps:?}");
    println!("ramped to 100% after {:?}", begun.elapsed());

    // The regression: the variant's checkout succeeds a third as often as the control's.
    let report = simulate(
        &control,
        &worker,
        &json!({
            "seed": 19,
            "test": KEY,
            "days": 1,
            "visits_per_day": 1200,
            "devices": {"desktop": 1, "mobile": 1},
            "personas": {"none": 1},
            "metrics": [
                {"key": "buy", "variants": {"control": {"rate": 0.1}, "b": {"rate": 0.1}}},
                {"key": "checkout_ok", "variants": {"control": {"rate": 0.6}, "b": {"rate": 0.2}}}
            ]
        }),
        false,
    );
    println!(
        "simulated {} visits: units {}, checkout_ok conversions {}",
        report["sent"]["visits"],
        report["expected"]["units"],
        report["expected"]["conversions"]["checkout_ok"]
    );

    // The monitor finds it and the ramp steps back one step, to 50%.
    let back = served_step(&control, &worker, STEPS[1], Instant::now() + 2 * hold);
    println!("stepped back and served after {:?}", begun.elapsed());
    assert!(back.version > served[2].version);
    assert_eq!(
        back.assigned, served[1].assigned,
        "the step back serves the 50% step to the same visitors as before"
    );
    let evaluation = control
        .api("GET", &format!("/api/v1/tests/{KEY}/monitor"), None)
        .json();
    let findings: Vec<&Value> = evaluation["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "guardrail")
        .collect();
    assert!(
        findings
            .iter()
            .any(|f| f["key"] == "guardrail:checkout_ok:b"),
        "{evaluation}"
    );
    println!("finding: {}", findings[0]["message"]);

    // It holds there while the regression lasts: three more ticks change nothing.
    std::thread::sleep(Duration::from_secs(3));
    let test = control
        .api("GET", &format!("/api/v1/tests/{KEY}"), None)
        .json();
    assert_eq!(
        (&test["status"], &test["coverage"]),
        (&json!("running"), &json!(0.5)),
        "{test}"
    );
    let ramps = ramp_audit(&control);
    assert_eq!(
        ramps.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        [(0.5, false), (1.0, false), (0.5, true)],
        "{ramps:?}"
    );
    println!("held at 50% after {:?}", begun.elapsed());
}
