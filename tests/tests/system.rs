//! The whole system as one: the real control plane (SQLite) and the built worker on workerd,
//! driven by `edgewise simulate` with a known truth. A clear winner must come out significant
//! and a neutral variant not; SRM stays quiet; crawlers, duplicate beacons and a `kill -9`
//! restart of the control plane mid-run change no count. Then an admin change (pause, new
//! weights) must reach the edge; the time it takes is printed (`-- --nocapture`), not asserted.
//! A second run loses 2% of one variant's exposures: the SRM check must fire.
//! Two more runs lose exposures in one segment only, a device class and then a persona: the
//! monitor, ticking every second, must pause the test by itself while the overall split looks
//! fine, the edge must stop counting it, and the audit must name the monitor.
//! A bandit, one arm converting five times as well, must move its traffic to it: floors kept,
//! every counted exposure in a stratum, the edge serving the last weights.

use std::time::Duration;

use edgewise_tests::control::{
    decision_of, edge_assign, simulate, system_serving, system_with, ControlPlane,
};
use edgewise_tests::worker::Worker;
use serde_json::{json, Value};

const TEST: &str = "signup-headline";

fn spec(weights: [u32; 3]) -> Value {
    json!({
        "key": TEST,
        "variants": [
            {"key": "control", "weight": weights[0], "content": {"headline": "A"}},
            {"key": "winner", "weight": weights[1], "content": {"headline": "B"}},
            {"key": "neutral", "weight": weights[2], "content": {"headline": "C"}}
        ],
        "metrics": [{"key": "signup", "kind": "binomial", "role": "primary"}]
    })
}

fn scenario() -> Value {
    json!({
        "seed": 2026,
        "test": TEST,
        "days": 4,
        "visits_per_day": 2500,
        "returning_share": 0.2,
        "devices": {"mobile": 5, "desktop": 4, "tablet": 1},
        "personas": {"none": 8, "TechEarlyAdopter": 2},
        "metrics": [{"key": "signup", "variants": {
            "control": {"rate": 0.10},
            "winner": {"rate": 0.14},
            "neutral": {"rate": 0.10}
        }}],
        "faults": {"bot_share": 0.05, "duplicate_share": 0.25, "restart_at": 0.5}
    })
}

fn decision(reply: &Value) -> Option<Value> {
    decision_of(reply, TEST)
}

#[test]
fn a_known_winner_wins_and_faults_change_no_count() {
    let (control, worker, first) = system_with(&spec([1, 1, 1]));
    println!("start → edge serves the test: {first:?}");
    let report = simulate(&control, &worker, &scenario(), true);
    let (sent, expected, results) = (&report["sent"], &report["expected"], &report["results"]);
    println!(
        "simulated {} visits in {:.1} s: {:.0} visits/s through edge and control plane",
        sent["visits"].as_u64().unwrap() + sent["crawler_visits"].as_u64().unwrap(),
        sent["seconds"].as_f64().unwrap(),
        (sent["visits"].as_f64().unwrap() + sent["crawler_visits"].as_f64().unwrap())
            / sent["seconds"].as_f64().unwrap()
    );

    // The faults happened...
    assert_eq!(sent["restarted"], true);
    assert!(sent["crawler_visits"].as_u64().unwrap() > 100);
    assert!(sent["duplicate_batches"].as_u64().unwrap() > 0);
    // ...and changed no count: exactly the units and conversions that were sent, once each.
    assert_eq!(
        sent["crawlers_counted"], 0,
        "a crawler was assigned and counted"
    );
    let signup = results["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "signup")
        .unwrap();
    for v in results["variants"].as_array().unwrap() {
        let key = v["key"].as_str().unwrap();
        assert_eq!(v["units"], expected["units"][key], "units of {key}");
        let counted = signup["overall"]["variants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == key)
            .unwrap();
        assert_eq!(
            counted["conversions"], expected["conversions"]["signup"][key],
            "conversions of {key}"
        );
    }
    assert_eq!(
        results["srm"]["alert"], false,
        "SRM fired without cause: {}",
        results["srm"]
    );

    let cmp = |variant: &str| {
        signup["overall"]["comparisons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["variant"] == variant)
            .unwrap()
            .clone()
    };
    let winner = cmp("winner");
    let p = winner["frequentist"]["relative"]["p_value"]
        .as_f64()
        .unwrap();
    assert!(
        p < 0.05
            && winner["frequentist"]["relative"]["estimate"]
                .as_f64()
                .unwrap()
                > 0.0,
        "{winner}"
    );
    assert!(
        winner["bayesian"]["relative"]["chance_to_win"]
            .as_f64()
            .unwrap()
            > 0.95,
        "{winner}"
    );
    let neutral = cmp("neutral");
    assert!(
        neutral["frequentist"]["relative"]["p_value"]
            .as_f64()
            .unwrap()
            >= 0.05,
        "{neutral}"
    );
    // Each breakdown carries its own SRM.
    assert!(signup["by_device"]["mobile"]["srm_p_value"].is_number());
    assert!(signup["by_persona"]["TechEarlyAdopter"]["srm_p_value"].is_number());

    // Propagation: pause, then change weights; the edge must serve each change.
    let paused = control.api("POST", &format!("/api/v1/tests/{TEST}/pause"), None);
    assert_eq!(paused.status, 200, "{}", paused.body);
    let pause_took = ControlPlane::wait_until(Duration::from_secs(30), || {
        decision(&edge_assign(&worker, "probe")).is_some_and(|d| d["reason"] == "paused")
    });
    println!(
        "pause → edge serves it: {:?}",
        pause_took.expect("the edge never served the pause")
    );
    let resumed = control.api("POST", &format!("/api/v1/tests/{TEST}/resume"), None);
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    let before = edge_assign(&worker, "probe")["snapshot_version"]
        .as_u64()
        .unwrap_or(0);
    let mut changed = spec([0, 1, 0]);
    changed["coverage"] = json!(1.0);
    let put = control.api("PUT", &format!("/api/v1/tests/{TEST}"), Some(&changed));
    assert_eq!(put.status, 200, "{}", put.body);
    let weights_took = ControlPlane::wait_until(Duration::from_secs(30), || {
        let reply = edge_assign(&worker, "probe-2");
        reply["snapshot_version"].as_u64().unwrap_or(0) > before
            && decision(&reply).is_some_and(|d| d["variant"] == "winner")
    });
    println!(
        "weights change → edge serves it: {:?}",
        weights_took.expect("the edge never served the new weights")
    );
}

#[test]
fn losing_two_percent_of_one_variants_exposures_fires_srm() {
    let spec = json!({
        "key": "srm-check",
        "variants": [
            {"key": "control", "weight": 1, "content": {}},
            {"key": "b", "weight": 1, "content": {}}
        ],
        "metrics": [{"key": "signup", "kind": "binomial", "role": "primary"}],
        // The results' SRM check is under test here: the monitor would pause the test as soon
        // as it saw the imbalance (the segment runs below test that).
        "decision": {"auto_pause": false}
    });
    let (control, worker, _) = system_with(&spec);
    // 2% of b's units lose every exposure. Detecting that at p < 0.001 with ~95% power takes
    // about 245,000 exposed units (noncentrality 1.02e-4 × N ≈ 25).
    let report = simulate(
        &control,
        &worker,
        &json!({
            "seed": 4242,
            "test": "srm-check",
            "days": 1,
            "visits_per_day": 250_000,
            "devices": {"desktop": 1, "mobile": 1},
            "metrics": [{"key": "signup", "variants": {"control": {"rate": 0.1}, "b": {"rate": 0.1}}}],
            "faults": {"srm": {"variant": "b", "drop_share": 0.02}}
        }),
        false,
    );
    let (sent, expected, results) = (&report["sent"], &report["expected"], &report["results"]);
    println!(
        "SRM run: {} visits in {:.1} s; units {} / {}; SRM p = {}",
        sent["visits"],
        sent["seconds"].as_f64().unwrap(),
        results["variants"][0]["units"],
        results["variants"][1]["units"],
        results["srm"]["p_value"]
    );
    for v in results["variants"].as_array().unwrap() {
        assert_eq!(v["units"], expected["units"][v["key"].as_str().unwrap()]);
    }
    assert_eq!(
        results["srm"]["alert"], true,
        "SRM did not fire: {}",
        results["srm"]
    );
    assert!(results["srm"]["p_value"].as_f64().unwrap() < 0.001);
}

/// Loses half of variant b's exposures among visitors of one segment (`fault` names it:
/// `{"device": …}` or `{"persona": …}`), with the monitor ticking every second. The e2e runs
/// use a large imbalance in a small segment so they take seconds; a 2% one is detected at the
/// volumes it needs in `control/tests/api/monitor.rs`.
fn segment_srm(key: &str, fault: Value, devices: Value, personas: Value) -> (ControlPlane, Worker) {
    let spec = json!({
        "key": key,
        "variants": [
            {"key": "control", "weight": 1, "content": {}},
            {"key": "b", "weight": 1, "content": {}}
        ],
        "metrics": [{"key": "signup", "kind": "binomial", "role": "primary"}]
    });
    let (control, worker, _) = system_serving(&spec, &["--monitor-interval-secs", "1"]);
    let mut srm = json!({"variant": "b", "drop_share": 0.5});
    srm.as_object_mut()
        .unwrap()
        .extend(fault.as_object().unwrap().clone());
    let report = simulate(
        &control,
        &worker,
        &json!({
            "seed": 77,
            "test": key,
            "days": 1,
            "visits_per_day": 16_000,
            "devices": devices,
            "personas": personas,
            "metrics": [{"key": "signup", "variants": {"control": {"rate": 0.1}, "b": {"rate": 0.1}}}],
            "faults": {"srm": srm}
        }),
        false,
    );
    println!(
        "segment SRM run ({key}): {} visits in {:.1} s",
        report["sent"]["visits"],
        report["sent"]["seconds"].as_f64().unwrap_or_default()
    );
    (control, worker)
}

/// The test was paused by the monitor for `finding`, with the overall split quiet at that
/// tick; the audit names the monitor; the edge counts nobody in it any more.
fn paused_by_the_monitor(control: &ControlPlane, worker: &Worker, key: &str, finding: &str) {
    let paused = ControlPlane::wait_until(Duration::from_secs(30), || {
        control
            .api("GET", &format!("/api/v1/tests/{key}"), None)
            .json()["status"]
            == "paused"
    });
    assert!(
        paused.is_some(),
        "the monitor did not pause {key}:\n{}",
        control.log_text()
    );
    let evaluation = control
        .api("GET", &format!("/api/v1/tests/{key}/monitor"), None)
        .json();
    let srm = evaluation["srm"].as_array().unwrap();
    let overall = srm.iter().find(|s| s["segment"] == "overall").unwrap();
    assert_eq!(overall["anomaly"], false, "overall: {overall}");
    let segment = finding.trim_start_matches("srm:");
    let flagged = srm.iter().find(|s| s["segment"] == segment).unwrap();
    assert_eq!(flagged["anomaly"], true, "{flagged}");
    println!(
        "{key}: paused for {finding}; p adjusted: overall {}, {segment} {}",
        overall["p_adjusted"], flagged["p_adjusted"]
    );
    let audit = control.api("GET", "/api/v1/audit?limit=1000", None).json();
    let by_monitor: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "monitor")
        .collect();
    assert_eq!(by_monitor.len(), 1, "{by_monitor:?}");
    assert_eq!(by_monitor[0]["action"], "test.pause");
    assert_eq!(by_monitor[0]["target"], key);
    let alerts = control
        .api("GET", &format!("/api/v1/alerts?test={key}"), None)
        .json();
    assert!(
        alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["finding"] == finding && a["action"] == "pause"),
        "{alerts}"
    );
    // The edge no longer counts anyone in the test.
    let stopped = ControlPlane::wait_until(Duration::from_secs(30), || {
        decision_of(&edge_assign(worker, "after-the-pause"), key)
            .is_some_and(|d| d["counted"] == false)
    });
    assert!(stopped.is_some(), "the edge still counts {key}");
}

#[test]
fn an_imbalance_on_one_device_class_pauses_the_test() {
    // Half of b's exposures lost on mobile, a twentieth of the traffic: mobile's SRM passes
    // 0.001 (Holm-adjusted) a quarter of the way through, when the overall split carries a
    // twentieth of that signal.
    let (control, worker) = segment_srm(
        "mobile-srm",
        json!({"device": "mobile"}),
        json!({"mobile": 1, "desktop": 19}),
        json!({}),
    );
    paused_by_the_monitor(&control, &worker, "mobile-srm", "srm:device:mobile");
}

#[test]
fn an_imbalance_in_one_persona_pauses_the_test() {
    let (control, worker) = segment_srm(
        "persona-srm",
        json!({"persona": "StudentHustler"}),
        json!({"desktop": 1}),
        json!({"none": 19, "StudentHustler": 1}),
    );
    paused_by_the_monitor(
        &control,
        &worker,
        "persona-srm",
        "srm:persona:StudentHustler",
    );
}

#[test]
fn a_bandit_moves_traffic_to_the_winner_through_the_whole_system() {
    const KEY: &str = "bandit-cta";
    let spec = json!({
        "key": KEY,
        "allocation": "bandit",
        "bandit": {"burn_in_units": 100, "floor": 0.05, "update_interval_seconds": 1},
        "variants": [
            {"key": "a", "weight": 1, "content": {"cta": "Buy"}},
            {"key": "b", "weight": 1, "content": {"cta": "Get it"}},
            {"key": "c", "weight": 1, "content": {"cta": "Add to cart"}}
        ],
        "metrics": [{"key": "buy", "kind": "binomial", "role": "primary"}]
    });
    // The monitor ticks every second, so the weights may move every second.
    let (control, worker, _) = system_serving(&spec, &["--monitor-interval-secs", "1"]);
    let scenario = json!({
        "seed": 17,
        "test": KEY,
        "days": 1,
        "visits_per_day": 6000,
        "returning_share": 0.2,
        "devices": {"mobile": 1, "desktop": 1},
        "personas": {"none": 1},
        "metrics": [{"key": "buy", "variants": {
            "a": {"rate": 0.05}, "b": {"rate": 0.05}, "c": {"rate": 0.25}
        }}],
        "faults": {"bot_share": 0.02, "duplicate_share": 0.1}
    });
    let report = simulate(&control, &worker, &scenario, false);
    let bandit = control
        .api("GET", &format!("/api/v1/tests/{KEY}/bandit"), None)
        .json();
    println!("bandit after the run: {bandit}");
    let periods = bandit["periods"].as_array().unwrap();
    // Period 0 is the start; period 1 the first move, once every arm had its burn-in.
    assert!(periods.len() >= 2, "the weights never moved: {bandit}");
    let at = |p: &Value| p["started_at"].as_i64().unwrap();
    println!(
        "first move of the weights {} ms after the start; {} periods",
        at(&periods[1]) - at(&periods[0]),
        periods.len()
    );
    let weights = |p: &Value| -> Vec<f64> {
        p["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_f64().unwrap())
            .collect()
    };
    for p in periods {
        let w = weights(p);
        assert!(w.iter().all(|x| *x >= 0.05 - 1e-12), "floor broken: {p}");
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{p}");
    }
    let last = weights(periods.last().unwrap());
    assert!(
        last[2] > 0.8,
        "traffic did not move to the winner: {last:?}"
    );
    // Every counted exposure carried its stratum: the per-stratum units add up to them.
    let arms = bandit["arms"].as_array().unwrap();
    let in_strata: u64 = arms.iter().map(|a| a["units"].as_u64().unwrap()).sum();
    let results = control
        .api("GET", &format!("/api/v1/tests/{KEY}/results"), None)
        .json();
    let exposed: u64 = results["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["units"].as_u64().unwrap())
        .sum();
    assert_eq!(in_strata, exposed, "{results}");
    assert!(exposed > 3000, "{report}");
    // The winner got most of the traffic over the run, and the edge serves the new weights.
    let c_units = arms[2]["units"].as_u64().unwrap();
    assert!(c_units * 2 > exposed, "{bandit}");
    let served = ControlPlane::wait_until(Duration::from_secs(30), || {
        let r = worker.get("/v1/health", &[]).json();
        r["snapshot_version"].as_i64() >= periods.last().unwrap()["snapshot_version"].as_i64()
    });
    assert!(served.is_some(), "the edge never got the last weights");
}

/// Creates and starts `spec` on a running system and waits until the edge assigns it.
fn start_another(control: &ControlPlane, worker: &Worker, spec: &Value) {
    let key = spec["key"].as_str().unwrap();
    let created = control.api("POST", "/api/v1/tests", Some(spec));
    assert_eq!(created.status, 201, "{}", created.body);
    let started = control.api("POST", &format!("/api/v1/tests/{key}/start"), None);
    assert_eq!(started.status, 200, "{}", started.body);
    ControlPlane::wait_until(Duration::from_secs(30), || {
        decision_of(&edge_assign(worker, "probe"), key).is_some_and(|d| d["reason"] == "assigned")
    })
    .unwrap_or_else(|| panic!("the edge never served {key}"));
}

#[test]
fn twenty_stopped_tests_teach_the_next_one_its_prior_and_where_lifts_differ() {
    let spec = |key: &str, learned: bool| {
        let mut s = json!({
            "key": key,
            "tags": ["cta"],
            "variants": [
                {"key": "control", "weight": 1, "content": {"cta": "Buy"}},
                {"key": "b", "weight": 1, "content": {"cta": "Buy now"}}
            ],
            "metrics": [{"key": "buy", "kind": "binomial", "role": "primary"}]
        });
        if learned {
            s["decision"] = json!({"learned_prior": true});
        }
        s
    };
    // Every past test: the variant lifts desktop 10% → 12% and mobile 10% → 20%.
    let scenario = |key: &str, seed: u64| {
        json!({
            "seed": seed, "test": key, "days": 1, "visits_per_day": 1200,
            "returning_share": 0.0,
            "devices": {"mobile": 1, "desktop": 1}, "personas": {"none": 1},
            "metrics": [{"key": "buy", "variants": {
                "control": {"rate": 0.10},
                "b": {"rate": 0.12, "by_device": {"mobile": 0.20}}
            }}],
            "faults": {}
        })
    };
    let (control, worker, _) = system_with(&spec("past-0", false));
    for i in 0..20 {
        let key = format!("past-{i}");
        if i > 0 {
            start_another(&control, &worker, &spec(&key, false));
        }
        simulate(&control, &worker, &scenario(&key, 500 + i), false);
        let stopped = control.api(
            "POST",
            &format!("/api/v1/tests/{key}/stop"),
            Some(&json!({"winner": "b"})),
        );
        assert_eq!(stopped.status, 200, "{}", stopped.body);
    }
    let priors = control.api("GET", "/api/v1/priors", None).json();
    assert_eq!(priors["priors"]["buy"]["n_tests"], 20, "{priors}");
    assert_eq!(priors["by_tag"]["cta"]["buy"]["n_tests"], 20, "{priors}");

    // The next test, with the learned prior on: its Bayesian results say so.
    start_another(&control, &worker, &spec("next", true));
    simulate(&control, &worker, &scenario("next", 900), false);
    let results = control
        .api("GET", "/api/v1/tests/next/results", None)
        .json();
    let prior = &results["metrics"][0]["prior"];
    assert_eq!(prior["source"], "tag:cta", "{results}");
    assert_eq!(prior["n_tests"], 20, "{results}");
    println!("prior of the next test: {prior}");

    // The insight names the segment made to respond differently.
    let insights = control.api("GET", "/api/v1/insights", None).json();
    let statements = insights["statements"].as_array().unwrap();
    println!("insights: {statements:?}");
    assert!(
        statements
            .iter()
            .any(|s| s["segment"] == "device:mobile" && s["difference"].as_f64().unwrap() > 0.0),
        "{insights}"
    );
}
