//! Ramps: a running test's coverage steps up on schedule through the job runner's ticks; a
//! sample ratio mismatch steps it back once and holds it there (or pauses the test, as
//! configured); every step is published and audited as the monitor's; the ramp and a
//! ramping test's coverage cannot be edited once it runs; a bad ramp is refused by field.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::TestApp;

fn spec(key: &str, on_breach: &str) -> Value {
    json!({
        "key": key,
        "variants": [{"key": "control", "weight": 1}, {"key": "b", "weight": 1}],
        "metrics": [{"key": "buy", "kind": "binomial", "role": "primary"}],
        "decision": {"auto_pause": false},
        "ramp": {"steps": [{"coverage": 0.1, "hold_hours": 0.0001},
                           {"coverage": 0.5, "hold_hours": 0.0001},
                           {"coverage": 1.0, "hold_hours": 0}],
                 "on_breach": on_breach}
    })
}

async fn tick(app: &TestApp) -> Value {
    tokio::time::sleep(std::time::Duration::from_millis(450)).await;
    let (s, r) = app.post("/api/v1/monitor/run", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    r
}

async fn coverage(app: &TestApp, key: &str) -> (f64, String) {
    let (s, t) = app.get(&format!("/api/v1/tests/{key}")).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    (
        t["coverage"].as_f64().unwrap(),
        t["status"].as_str().unwrap().to_owned(),
    )
}

/// 600 units in control and 300 in b: a sample ratio mismatch.
async fn mismatch(app: &TestApp, key: &str) {
    let ingest = app.ingest_key().await;
    let now = edgewise_control::db::now_ms();
    let events: Vec<Value> = (0..900)
        .map(|i| {
            json!({"event_id": format!("{key}-x{i}"), "type": "exposure",
                   "unit_id": format!("u{i}"), "test": key,
                   "variant": if i % 3 == 0 { "b" } else { "control" }, "ts": now})
        })
        .collect();
    let (s, r) = app.ingest(&ingest, Value::Array(events)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
}

both!(
    ramps_step_on_schedule_and_back_on_a_breach,
    ramps_step_on_schedule_and_back_on_a_breach
);
async fn ramps_step_on_schedule_and_back_on_a_breach(app: TestApp) {
    let (s, b) = app.post("/api/v1/tests", spec("r", "step_back")).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/r/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(coverage(&app, "r").await, (0.1, "running".into()));
    let r = tick(&app).await;
    assert_eq!(r["ramps"], json!(["r"]), "{r}");
    assert_eq!(coverage(&app, "r").await.0, 0.5);

    // Edits of the ramp or of the coverage it sets are refused while it runs.
    let mut edited = spec("r", "step_back");
    edited["coverage"] = json!(0.5);
    edited["ramp"]["steps"][2]["hold_hours"] = json!(1);
    let (s, e) = app.put("/api/v1/tests/r", edited).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let mut edited = spec("r", "step_back");
    edited["coverage"] = json!(0.7);
    let (s, e) = app.put("/api/v1/tests/r", edited).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");

    // A mismatch: back one step, and held there while it lasts.
    mismatch(&app, "r").await;
    let r = tick(&app).await;
    assert_eq!(r["ramps"], json!(["r"]), "{r}");
    assert_eq!(coverage(&app, "r").await, (0.1, "running".into()));
    let r = tick(&app).await;
    assert_eq!(r["ramps"], json!([]), "{r}");
    assert_eq!(coverage(&app, "r").await.0, 0.1);

    // Configured to pause instead.
    let (s, b) = app.post("/api/v1/tests", spec("p", "pause")).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/p/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    mismatch(&app, "p").await;
    tick(&app).await;
    assert_eq!(coverage(&app, "p").await.1, "paused");

    // Every step is the monitor's, audited.
    let (s, audit) = app.get("/api/v1/audit?limit=500").await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    let ramps = audit["entries"]
        .as_array()
        .or_else(|| audit.as_array())
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "test.ramp" && e["actor"] == "monitor")
        .count();
    assert_eq!(ramps, 2);

    // A ramp whose coverage goes down is refused, naming the step.
    let mut bad = spec("bad", "pause");
    bad["ramp"]["steps"][1]["coverage"] = json!(0.05);
    let (s, e) = app.post("/api/v1/tests", bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e.to_string().contains("ramp.steps[1].coverage"), "{e}");
    app.shutdown().await;
}
