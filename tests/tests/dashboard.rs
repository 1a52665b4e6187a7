//! The dashboard in a real browser: headless Chromium (Debian's package, driven by npm
//! `playwright-core` in `tests/browser/dashboard.mjs`) against the real control plane and the
//! built worker on workerd. The script signs in, creates a test from a template (risk score and
//! field errors appear as the form changes), starts it, and asks this test to drive
//! `edgewise simulate` traffic and to check what the edge serves; the variant table and the lift
//! chart must change without a reload, a pause from the page must stop the edge assigning the
//! test (and a resume make it assign it again), the CSV export must carry the API's numbers, hostile text must show as text, and a
//! viewer must be offered no change (and be refused one by the API).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use edgewise_tests::control::{
    control_and_worker, decision_of, edge_assign, simulate, ControlPlane,
};
use edgewise_tests::tools;
use edgewise_tests::worker::Worker;
use serde_json::{json, Value};

const KEY: &str = "dash-headline";
const XSS_KEY: &str = "xss-test";

fn chromium() -> String {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: `apt-get install chromium` (scripts/test does it)"
    );
    chromium
}

/// Whether the edge assigns the test to any of 20 visitors (the test covers half of them);
/// `None` while it does not know the test (or a request did not get through).
fn assigned(worker: &Worker, key: &str) -> Option<bool> {
    let mut any = false;
    for i in 0..20 {
        let d = decision_of(&edge_assign(worker, &format!("dash-probe-{i}")), key)?;
        any |= d["reason"] == "assigned";
    }
    Some(any)
}

/// Traffic for the test the dashboard created: the variant converts better on `signup`.
fn traffic(control: &ControlPlane, worker: &Worker, key: &str) -> Value {
    simulate(
        control,
        worker,
        &json!({
            "seed": 20,
            "test": key,
            "days": 1,
            "visits_per_day": 800,
            "devices": {"desktop": 2, "mobile": 2, "tablet": 1},
            "personas": {"none": 1},
            "metrics": [
                {"key": "signup", "variants": {"control": {"rate": 0.08}, "variant_1": {"rate": 0.14}}},
                {"key": "bounce", "variants": {"control": {"rate": 0.3}, "variant_1": {"rate": 0.3}}}
            ],
        }),
        false,
    )
}

/// Each variant's overall units and `signup` conversions in the API's results must appear on one
/// row of the CSV export (whatever its column order).
fn csv_matches_results(csv: &str, results: &Value) {
    let rows: Vec<Vec<String>> = csv
        .lines()
        .map(|l| {
            l.split(',')
                .map(|c| c.trim_matches('"').to_owned())
                .collect()
        })
        .collect();
    let signup = results["metrics"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["key"] == "signup"))
        .expect("signup in the results");
    for v in signup["overall"]["variants"].as_array().unwrap() {
        let (name, n, conv) = (
            v["name"].as_str().unwrap(),
            v["n"].to_string(),
            v["conversions"].to_string(),
        );
        assert!(
            rows.iter().any(|r| r.iter().any(|c| c == name)
                && r.iter().any(|c| c == "signup")
                && r.iter().any(|c| c == "overall")
                && r.contains(&n)
                && r.contains(&conv)),
            "no CSV row has {name}'s signup numbers (units {n}, conversions {conv}):\n{csv}"
        );
    }
}

#[test]
fn the_dashboard_drives_a_test_live_and_safely() {
    let chromium = chromium();
    // Ticks every second and 2-second history buckets, so the chart's series grows in the test.
    let (control, worker) = control_and_worker(
        &[],
        &["--monitor-interval-secs", "1", "--history-bucket-secs", "2"],
    );
    let viewer = control.token("viewer");
    let xss = json!({
        "key": XSS_KEY,
        "description": "<script>window.__xss=1</script>",
        "variants": [
            {"key": "control", "weight": 1, "content": {"text": "plain"}},
            {"key": "b", "weight": 1, "content": {"text": "\"><img src=x onerror=\"window.__xss=1\">"}}
        ],
        "metrics": [{"key": "signup", "kind": "binomial", "role": "primary"}]
    });
    let made = control.api("POST", "/api/v1/tests", Some(&xss));
    assert_eq!(made.status, 201, "{}", made.body);

    let shots = std::env::var("EDGEWISE_SCREENSHOTS").ok();
    let config = json!({
        "base": control.base,
        "admin": control.admin_token,
        "viewer": viewer,
        "xss_key": XSS_KEY,
        "shots": shots,
    });
    let mut child = Command::new("node")
        .arg(tools::root().join("tests/browser/dashboard.mjs"))
        .arg(config.to_string())
        .env("CHROMIUM", &chromium)
        .current_dir(tools::root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node tests/browser/dashboard.mjs");
    let mut to_script = child.stdin.take().unwrap();
    let from_script = BufReader::new(child.stdout.take().unwrap());
    let mut done = Value::Null;
    for line in from_script.lines() {
        let line = line.expect("the script's output");
        let msg: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if msg.get("done").is_some() {
            done = msg["done"].clone();
            break;
        }
        let key = msg["key"].as_str().unwrap_or_default();
        let answer = match msg["need"].as_str() {
            // The edge assigns the test the page started.
            Some("edge_serves") => {
                let ok = ControlPlane::wait_until(Duration::from_secs(30), || {
                    assigned(&worker, key) == Some(true)
                });
                json!({"error": ok.is_none().then(|| format!("the edge never served {key}"))})
            }
            // The page paused it: the edge no longer assigns it.
            Some("edge_stops") => {
                let ok = ControlPlane::wait_until(Duration::from_secs(30), || {
                    assigned(&worker, key) == Some(false)
                });
                let last = decision_of(&edge_assign(&worker, "dash-probe-0"), key);
                println!("after the pause the edge answers {last:?}");
                json!({"error": ok.is_none().then(|| format!("the edge still assigns {key}: {last:?}"))})
            }
            // Once everything sent has arrived, the page must come to show these units.
            Some("traffic") => {
                let report = traffic(&control, &worker, key);
                let results = control
                    .api("GET", &format!("/api/v1/tests/{key}/results"), None)
                    .json();
                let units: serde_json::Map<String, Value> = results["variants"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| {
                        (
                            v["key"].as_str().unwrap_or_default().to_owned(),
                            v["units"].clone(),
                        )
                    })
                    .collect();
                json!({"sent": report["sent"], "units": units})
            }
            other => panic!("the script asked for {other:?}"),
        };
        writeln!(to_script, "{answer}").expect("answer the script");
    }
    drop(to_script);
    let status = child.wait().expect("node exits");
    assert!(
        status.success() && !done.is_null(),
        "the browser run failed (its log is above)\ncontrol log:\n{}",
        control.log_text()
    );
    println!("dashboard: {done:#}");

    // What the page's table showed is what the API says (no units arrive after the traffic: the
    // edge's probes since are not exposures).
    let results = control
        .api("GET", &format!("/api/v1/tests/{KEY}/results"), None)
        .json();
    let signup = results["metrics"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["key"] == "signup"))
        .expect("signup in the results")
        .clone();
    for row in done["table"].as_array().unwrap() {
        let v = signup["overall"]["variants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == row["variant"])
            .unwrap_or_else(|| panic!("{row} not in the results"));
        assert_eq!(row["units"], v["n"].to_string(), "units of {row}");
        assert_eq!(
            row["count"],
            v["conversions"].to_string(),
            "conversions of {row}"
        );
    }
    let csv = done["csv"]
        .as_str()
        .expect("the CSV export downloaded from the page");
    csv_matches_results(csv, &results);
}

/// For BENCHMARKS.md, not a check: the first load of a test page and of the list with 100
/// running tests (one with traffic), median of 5 fresh loads each.
/// `cargo test -p edgewise-tests --test dashboard -- --ignored --nocapture`
#[test]
#[ignore]
fn first_load_with_100_running_tests() {
    let chromium = chromium();
    let (control, worker) = control_and_worker(&[], &[]);
    for i in 0..100 {
        let key = format!("bench-{i:03}");
        let spec = json!({
            "key": key,
            "description": format!("Benchmark test {i}"),
            "template": "headline",
            "variants": [
                {"key": "control", "weight": 1, "content": {"headline": "A", "subheadline": ""}},
                {"key": "variant_1", "weight": 1, "content": {"headline": "B", "subheadline": ""}}
            ],
            "metrics": [
                {"key": "signup", "kind": "binomial", "role": "primary"},
                {"key": "bounce", "kind": "binomial", "role": "guardrail", "higher_is_better": false}
            ],
            "pages": [format!("/bench/{i}")]
        });
        let made = control.api("POST", "/api/v1/tests", Some(&spec));
        assert_eq!(made.status, 201, "{}", made.body);
        let started = control.api("POST", &format!("/api/v1/tests/{key}/start"), None);
        assert_eq!(started.status, 200, "{}", started.body);
    }
    ControlPlane::wait_until(Duration::from_secs(60), || {
        assigned(&worker, "bench-000") == Some(true)
    })
    .expect("the edge serves the tests");
    traffic(&control, &worker, "bench-000");
    for (path, selector) in [
        ("/tests/bench-000", "#variant-table table"),
        ("/", "#tests-list tbody tr:nth-child(100)"),
    ] {
        let out = Command::new("node")
            .arg(tools::root().join("tests/browser/dashboard-bench.mjs"))
            .args([&control.base, &control.admin_token, path, selector, "5"])
            .env("CHROMIUM", &chromium)
            .current_dir(tools::root())
            .output()
            .expect("node tests/browser/dashboard-bench.mjs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!("{}", String::from_utf8_lossy(&out.stdout).trim());
    }
}
