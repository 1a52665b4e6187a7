//! The dashboard's four-eyes and bandit views in a real browser (headless Chromium through
//! `tests/browser/dashboard-review.mjs`), against the real control plane and the built worker on
//! workerd:
//! - with approvals required, an admin opens a test an editor wrote, approves it from the page
//!   and starts it; on a test the admin wrote, the page offers no approval (the API would refuse
//!   it: four eyes);
//! - a bandit whose third arm converts five times as well moves its traffic under `edgewise
//!   simulate`; the page's allocation chart shows every period the API records and the latest
//!   weights; stopped from the page with that arm the winner, the edge serves it to everyone.

use std::process::Command;

use edgewise_tests::control::{decision_of, edge_assign, simulate, system_serving, ControlPlane};
use edgewise_tests::tools;
use serde_json::{json, Value};

const BANDIT: &str = "review-bandit";
const THEIRS: &str = "review-theirs";
const MINE: &str = "review-mine";

fn spec(key: &str) -> Value {
    json!({
        "key": key,
        "variants": [
            {"key": "control", "weight": 1, "content": {"cta": "Buy"}},
            {"key": "b", "weight": 1, "content": {"cta": "Get it"}}
        ],
        "metrics": [{"key": "buy", "kind": "binomial", "role": "primary"}]
    })
}

fn ok(resp: edgewise_tests::http::Resp, want: u16) -> Value {
    assert_eq!(resp.status, want, "{}", resp.body);
    resp.json()
}

/// Moves the bandit's weights: 3,000 visits, arm `c` converting at 25% against 5%.
fn bandit_traffic(control: &ControlPlane, worker: &edgewise_tests::worker::Worker) -> Value {
    simulate(
        control,
        worker,
        &json!({
            "seed": 5,
            "test": BANDIT,
            "days": 1,
            "visits_per_day": 3000,
            "devices": {"desktop": 1},
            "personas": {"none": 1},
            "metrics": [{"key": "buy", "variants": {
                "a": {"rate": 0.05}, "b": {"rate": 0.05}, "c": {"rate": 0.25}
            }}],
        }),
        false,
    )
}

#[test]
fn approvals_and_bandit_allocation_in_the_browser() {
    let bandit = json!({
        "key": BANDIT,
        "allocation": "bandit",
        "bandit": {"burn_in_units": 50, "floor": 0.05, "update_interval_seconds": 1},
        "variants": [
            {"key": "a", "weight": 1, "content": {"cta": "Buy"}},
            {"key": "b", "weight": 1, "content": {"cta": "Get it"}},
            {"key": "c", "weight": 1, "content": {"cta": "Add to cart"}}
        ],
        "metrics": [{"key": "buy", "kind": "binomial", "role": "primary"}]
    });
    let (control, worker, _) = system_serving(&bandit, &["--monitor-interval-secs", "1"]);
    bandit_traffic(&control, &worker);
    let moved = ControlPlane::wait_until(std::time::Duration::from_secs(30), || {
        let b = control.api("GET", &format!("/api/v1/tests/{BANDIT}/bandit"), None);
        b.json()["periods"].as_array().is_some_and(|p| p.len() >= 2)
    });
    assert!(moved.is_some(), "the bandit's weights never moved");

    // From here every start needs one approval.
    ok(
        control.api(
            "PUT",
            "/api/v1/approval-thresholds",
            Some(&json!({"one": 0, "two": 101})),
        ),
        200,
    );
    let editor = control.token("editor");
    ok(
        control.api_as(&editor, "POST", "/api/v1/tests", Some(&spec(THEIRS))),
        201,
    );
    ok(control.api("POST", "/api/v1/tests", Some(&spec(MINE))), 201);

    let out = Command::new("node")
        .arg(tools::root().join("tests/browser/dashboard-review.mjs"))
        .arg(json!({"base": control.base, "admin": control.admin_token}).to_string())
        .env(
            "CHROMIUM",
            std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
        )
        .current_dir(tools::root())
        .output()
        .expect("node tests/browser/dashboard-review.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run failed:\n{}\n{stdout}\ncontrol log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        control.log_text()
    );
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    println!("the page showed: {seen:#}");

    // The approval made on the page is the admin's, and the start it allowed happened.
    let theirs = ok(
        control.api("GET", &format!("/api/v1/tests/{THEIRS}/approvals"), None),
        200,
    );
    let history = theirs["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{theirs}");
    assert_eq!(history[0]["decision"], "approve", "{theirs}");
    let t = ok(
        control.api("GET", &format!("/api/v1/tests/{THEIRS}"), None),
        200,
    );
    assert_eq!(t["status"], "running", "{t}");
    // Offered nothing on its own test, the admin approved nothing there.
    let mine = ok(
        control.api("GET", &format!("/api/v1/tests/{MINE}/approvals"), None),
        200,
    );
    assert_eq!(mine["history"], json!([]), "{mine}");
    assert_eq!(seen["mine_buttons"], 0, "{seen}");

    // The chart drew every period the API had when the page read it, three arms each, and
    // summarised the latest weights (the API's periods only grow).
    let api = ok(
        control.api("GET", &format!("/api/v1/tests/{BANDIT}/bandit"), None),
        200,
    );
    let periods = api["periods"].as_array().unwrap();
    let drawn = seen["periods"].as_u64().unwrap() as usize;
    assert!(drawn >= 2 && drawn <= periods.len(), "{seen} vs {api}");
    assert_eq!(seen["bars"].as_u64(), Some(3 * drawn as u64), "{seen}");
    // Stopped from the page with `c` the winner: the edge serves `c`'s content to everyone (a
    // stopped test is published paused with the winner first: counted by no one).
    let t = ok(
        control.api("GET", &format!("/api/v1/tests/{BANDIT}"), None),
        200,
    );
    assert_eq!(
        (&t["status"], &t["winner"]),
        (&json!("stopped"), &json!("c"))
    );
    let serves_c = ControlPlane::wait_until(std::time::Duration::from_secs(30), || {
        (0..10).all(|i| {
            decision_of(&edge_assign(&worker, &format!("after-{i}")), BANDIT)
                .is_some_and(|d| d["content"] == json!({"cta": "Add to cart"}))
        })
    });
    assert!(
        serves_c.is_some(),
        "the edge does not serve the winner: {}",
        edge_assign(&worker, "after-0")
    );

    // "Current weights: a 5.0%, b 5.0%, c 90.0%", each to 0.1%.
    let summary = seen["summary"].as_str().unwrap();
    let shown: Vec<f64> = summary
        .trim_start_matches("Current weights: ")
        .split(", ")
        .map(|arm| {
            let pct = arm.split(' ').nth(1).unwrap_or_default();
            pct.trim_end_matches('%').parse().unwrap_or(f64::NAN)
        })
        .collect();
    let weights = periods[drawn - 1]["weights"].as_array().unwrap();
    assert_eq!(shown.len(), weights.len(), "{summary}");
    for (s, w) in shown.iter().zip(weights) {
        assert!(
            (s - w.as_f64().unwrap() * 100.0).abs() <= 0.051,
            "{summary} vs {weights:?}"
        );
    }
}
