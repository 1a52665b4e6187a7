//! Scheduled starts and ends: the job runner starts a scheduled draft once its `start_at` has
//! come, once (later ticks leave it be), through the lifecycle and as the monitor; it stops the
//! test at its `end_at`. A scheduled test without a `start_at` is refused by field.

use edgewise_shared::timestamp::format_rfc3339_ms;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{test_spec, TestApp};

async fn tick(app: &TestApp) -> Value {
    let (s, r) = app.post("/api/v1/monitor/run", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    r
}

async fn status(app: &TestApp) -> String {
    let (_, t) = app.get("/api/v1/tests/s").await;
    t["status"].as_str().unwrap().to_owned()
}

both!(
    a_schedule_starts_and_stops_a_test_once,
    a_schedule_starts_and_stops_a_test_once
);
async fn a_schedule_starts_and_stops_a_test_once(app: TestApp) {
    let now = edgewise_control::db::now_ms();
    let mut spec = test_spec("s");
    spec["scheduled"] = json!(true);
    spec["start_at"] = json!(format_rfc3339_ms(now + 1_500));
    spec["end_at"] = json!(format_rfc3339_ms(now + 4_000));
    let (s, b) = app.post("/api/v1/tests", spec).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(tick(&app).await["scheduled"], json!([]));
    assert_eq!(status(&app).await, "draft");

    tokio::time::sleep(std::time::Duration::from_millis(1_700)).await;
    assert_eq!(tick(&app).await["scheduled"], json!(["s"]));
    assert_eq!(status(&app).await, "running");
    assert_eq!(tick(&app).await["scheduled"], json!([]), "fires once");

    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(tick(&app).await["scheduled"], json!(["s"]));
    assert_eq!(status(&app).await, "stopped");

    let (s, audit) = app.get("/api/v1/audit?limit=500").await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    let by_monitor: Vec<&str> = audit["entries"]
        .as_array()
        .or_else(|| audit.as_array())
        .unwrap()
        .iter()
        .filter(|e| e["target"] == "s" && e["actor"] == "monitor")
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(by_monitor, ["test.start", "test.stop"], "{by_monitor:?}");

    let mut bad = test_spec("t");
    bad["scheduled"] = json!(true);
    let (s, e) = app.post("/api/v1/tests", bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e.to_string().contains("start_at"), "{e}");
    app.shutdown().await;
}
