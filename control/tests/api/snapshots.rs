//! Snapshot versions: produced only by assignment-affecting changes, strictly increasing,
//! served with ETags, and rolled back as new versions.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{test_spec, TestApp};

async fn latest(app: &TestApp) -> (StatusCode, Option<String>, Value) {
    let resp = app
        .client
        .get(format!("{}/v1/snapshot", app.base))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let etag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, etag, resp.json().await.unwrap_or(Value::Null))
}

fn without_version(mut s: Value) -> Value {
    s["snapshot_version"] = Value::Null;
    s["generated_at"] = Value::Null;
    s
}

both!(versions_and_rollback, versions_and_rollback);
async fn versions_and_rollback(app: TestApp) {
    assert_eq!(
        latest(&app).await.0,
        StatusCode::NOT_FOUND,
        "nothing published yet"
    );
    app.post("/api/v1/tests", test_spec("t")).await;
    assert_eq!(
        latest(&app).await.0,
        StatusCode::NOT_FOUND,
        "a draft is not published"
    );
    app.post("/api/v1/tests/t/start", json!(null)).await;
    let (s, etag, v1) = latest(&app).await;
    assert_eq!((s, etag.as_deref()), (StatusCode::OK, Some("\"1\"")));
    assert_eq!(v1["snapshot_version"], 1);
    assert_eq!(v1["tests"][0]["status"], "running");
    edgewise_shared::CompiledSnapshot::from_json(&v1.to_string()).expect("the edge can read it");

    let resp = app
        .client
        .get(format!("{}/v1/snapshot", app.base))
        .header("if-none-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);

    // Weight change: new version. The same spec again: no new version.
    let mut spec = test_spec("t");
    spec["variants"][1]["weight"] = json!(4);
    app.put("/api/v1/tests/t", spec.clone()).await;
    app.put("/api/v1/tests/t", spec).await;
    // A description change does not affect assignment either.
    let mut spec = test_spec("t");
    spec["variants"][1]["weight"] = json!(4);
    spec["description"] = json!("why we test");
    app.put("/api/v1/tests/t", spec).await;
    let (_, _, v2) = latest(&app).await;
    assert_eq!(v2["snapshot_version"], 2);
    assert_eq!(v2["tests"][0]["variants"][1]["weight"], 4.0);
    app.post("/api/v1/tests/t/pause", json!(null)).await;
    app.put("/api/v1/allowed-origins", json!(["https://shop.example"]))
        .await;
    let (_, _, v4) = latest(&app).await;
    assert_eq!(v4["snapshot_version"], 4);
    assert_eq!(v4["tests"][0]["status"], "paused");

    let (_, list) = app.get("/api/v1/snapshots").await;
    let versions: Vec<i64> = list["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [4, 3, 2, 1]);
    let (s, one) = app.get("/api/v1/snapshots/1").await;
    assert_eq!(
        (s, one["snapshot_version"].as_i64()),
        (StatusCode::OK, Some(1))
    );
    assert_eq!(
        app.get("/api/v1/snapshots/99").await.0,
        StatusCode::NOT_FOUND
    );

    // Rollback to 1: a new version 5 with version 1's content.
    let (s, r) = app.post("/api/v1/snapshots/1/rollback", json!(null)).await;
    assert_eq!(
        (s, r["new_version"].as_i64()),
        (StatusCode::CREATED, Some(5)),
        "{r}"
    );
    let (_, etag, v5) = latest(&app).await;
    assert_eq!(etag.as_deref(), Some("\"5\""));
    assert_eq!(without_version(v5), without_version(v1.clone()));
    assert_eq!(
        app.post("/api/v1/snapshots/42/rollback", json!(null))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // The next change publishes from the current definitions again, as version 6.
    app.post("/api/v1/tests/t/resume", json!(null)).await;
    let (_, _, v6) = latest(&app).await;
    assert_eq!(v6["snapshot_version"], 6);
    assert_eq!(v6["allowed_origins"], json!(["https://shop.example"]));

    // Stopping serves the winner's content to everyone, counted by no one.
    app.post("/api/v1/tests/t/stop", json!({"winner": "b"}))
        .await;
    let (_, _, v7) = latest(&app).await;
    assert_eq!(v7["tests"][0]["status"], "paused");
    assert_eq!(v7["tests"][0]["variants"][0]["key"], "b");
    app.post("/api/v1/tests/t/archive", json!(null)).await;
    let (_, _, v8) = latest(&app).await;
    assert_eq!(
        (
            v8["snapshot_version"].as_i64(),
            v8["tests"].as_array().map(Vec::len)
        ),
        (Some(8), Some(0))
    );
    app.shutdown().await;
}
