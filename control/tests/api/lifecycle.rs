//! Test CRUD, the lifecycle state machine and validation errors.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both;
use crate::common::{test_spec, TestApp};

both!(lifecycle_flow, lifecycle_flow);
async fn lifecycle_flow(app: TestApp) {
    let (s, t) = app.post("/api/v1/tests", test_spec("hero")).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(t["status"], "draft");
    let (s, _) = app.post("/api/v1/tests", test_spec("hero")).await;
    assert_eq!(s, StatusCode::CONFLICT, "duplicate key");
    let (s, _) = app.get("/api/v1/tests/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.post("/api/v1/tests/nope/start", json!(null)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    for (action, status) in [
        ("start", "running"),
        ("pause", "paused"),
        ("resume", "running"),
    ] {
        let (s, t) = app
            .post(&format!("/api/v1/tests/hero/{action}"), json!(null))
            .await;
        assert_eq!(s, StatusCode::OK, "{action}: {t}");
        assert_eq!(t["status"], status);
    }
    let (s, _) = app.post("/api/v1/tests/hero/start", json!(null)).await;
    assert_eq!(s, StatusCode::CONFLICT, "cannot start a running test");
    let (s, _) = app.post("/api/v1/tests/hero/archive", json!(null)).await;
    assert_eq!(s, StatusCode::CONFLICT, "cannot archive a running test");

    // Running: weights may change, variant keys may not.
    let mut spec = test_spec("hero");
    spec["variants"][1]["weight"] = json!(3);
    let (s, t) = app.put("/api/v1/tests/hero", spec.clone()).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["variants"][1]["weight"], 3.0);
    spec["variants"][1]["key"] = json!("renamed");
    let (s, _) = app.put("/api/v1/tests/hero", spec).await;
    assert_eq!(s, StatusCode::CONFLICT);

    let (s, e) = app.post("/api/v1/tests/hero/stop", json!({})).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "stop needs a winner: {e}"
    );
    let (s, e) = app
        .post("/api/v1/tests/hero/stop", json!({"winner": "zzz"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "not one of the test's variants");
    assert_eq!(e["errors"][0]["field"], "winner");
    let (s, t) = app
        .post("/api/v1/tests/hero/stop", json!({"winner": "b"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (t["status"].as_str(), t["winner"].as_str()),
        (Some("stopped"), Some("b"))
    );
    let (s, _) = app.put("/api/v1/tests/hero", test_spec("hero")).await;
    assert_eq!(s, StatusCode::CONFLICT, "a stopped test is frozen");
    let (s, _) = app.post("/api/v1/tests/hero/resume", json!(null)).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, t) = app.post("/api/v1/tests/hero/archive", json!(null)).await;
    assert_eq!(
        (s, t["status"].as_str()),
        (StatusCode::OK, Some("archived"))
    );

    app.post("/api/v1/tests", test_spec("other")).await;
    let (_, l) = app.get("/api/v1/tests?status=archived").await;
    let keys: Vec<_> = l["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].clone())
        .collect();
    assert_eq!(keys, [json!("hero")]);
    let (_, l) = app.get("/api/v1/tests").await;
    assert_eq!(l["tests"].as_array().unwrap().len(), 2);
    let (s, _) = app.get("/api/v1/tests?status=bogus").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    app.shutdown().await;
}

both!(validation_errors, validation_errors);
async fn validation_errors(app: TestApp) {
    let mut spec = test_spec("v");
    spec["variants"][0]["weight"] = json!(-1);
    let (s, e) = app.post("/api/v1/tests", spec).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["errors"][0]["field"], "variants[0].weight");

    let mut spec = test_spec("v");
    spec["variants"] = json!([{"key": "only", "weight": 1}]);
    let (s, e) = app.post("/api/v1/tests", spec).await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("variants"))
    );

    let mut spec = test_spec("v");
    spec["coverage"] = json!(1.5);
    let (s, e) = app.post("/api/v1/tests", spec).await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("coverage"))
    );

    let mut spec = test_spec("v");
    spec["surprise"] = json!(1);
    let (s, _) = app.post("/api/v1/tests", spec).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused"
    );

    let resp = app
        .client
        .post(format!("{}/api/v1/tests", app.base))
        .bearer_auth(&app.admin)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["errors"][0]["message"].is_string(),
        "same error shape: {body}"
    );

    // A draft may lack a primary metric; starting it may not.
    let mut spec = test_spec("noprimary");
    spec["metrics"] = json!([{"key": "buy", "kind": "binomial"}]);
    assert_eq!(app.post("/api/v1/tests", spec).await.0, StatusCode::CREATED);
    let (s, e) = app.post("/api/v1/tests/noprimary/start", json!(null)).await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (StatusCode::CONFLICT, Some("metrics"))
    );

    // Layers: a slot must name a known layer and not overlap a published test's slot.
    let (s, _) = app
        .put("/api/v1/layers", json!([{"key": "checkout"}]))
        .await;
    assert_eq!(s, StatusCode::OK);
    let mut a = test_spec("a");
    a["layer"] = json!({"key": "checkout", "range": [0, 6000]});
    assert_eq!(app.post("/api/v1/tests", a).await.0, StatusCode::CREATED);
    assert_eq!(
        app.post("/api/v1/tests/a/start", json!(null)).await.0,
        StatusCode::OK
    );
    let mut b = test_spec("b");
    b["layer"] = json!({"key": "checkout", "range": [5000, 10000]});
    let (s, e) = app.post("/api/v1/tests", b).await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (StatusCode::CONFLICT, Some("layer.range"))
    );
    let mut c = test_spec("c");
    c["layer"] = json!({"key": "nope", "range": [0, 10]});
    let (s, e) = app.post("/api/v1/tests", c).await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (StatusCode::CONFLICT, Some("layer.key"))
    );
    // Removing a layer a running test uses is refused.
    let (s, _) = app.put("/api/v1/layers", json!([])).await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Settings validation.
    let (s, e) = app
        .put("/api/v1/allowed-origins", json!(["not an origin"]))
        .await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("allowed_origins[0]"))
    );
    let (s, _) = app.put("/api/v1/holdout", json!({"share": 2.0})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = app.put("/api/v1/holdout", json!({"share": 0.05})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .put(
            "/api/v1/personas",
            json!([{"key": "p", "when": {"attr": "device", "op": "bogus", "value": 1}}]),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, st) = app
        .put(
            "/api/v1/personas",
            json!([{"key": "mobile", "when": {"attr": "device", "op": "eq", "value": "mobile"}}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{st}");
    let (_, st) = app.get("/api/v1/settings").await;
    assert_eq!(st["holdout"]["share"], 0.05);
    assert_eq!(st["personas"][0]["key"], "mobile");
    let (s, _) = app
        .call(Method::GET, "/api/v1/no-such-route", Some(&app.admin), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.shutdown().await;
}
