//! Four eyes: with thresholds set, a test's start needs the approvals its risk score calls
//! for, from an approver or admin who is not its author; viewers and editors cannot approve;
//! a change withdraws the approvals; a rejection (with its comment) blocks the start until
//! the test changes; every step is audited. Without thresholds nothing changes.

use edgewise_control::db::tokens::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both;
use crate::common::{test_spec, TestApp};

both!(
    approvals_follow_the_four_eyes_rule,
    approvals_follow_the_four_eyes_rule
);
async fn approvals_follow_the_four_eyes_rule(app: TestApp) {
    let editor = app.token(Role::Editor).await;
    let viewer = app.token(Role::Viewer).await;
    let approver = app.token(Role::Approver).await;
    let call = |method: Method, path: String, token: &str, body: Value| {
        let app = &app;
        let token = token.to_owned();
        async move { app.call(method, &path, Some(&token), Some(&body)).await }
    };

    // Off by default: a test starts without approvals.
    let (s, b) = call(
        Method::POST,
        "/api/v1/tests".into(),
        &editor,
        test_spec("free"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/free/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // Every score from 0 needs one approval.
    let (s, b) = app
        .put("/api/v1/approval-thresholds", json!({"one": 0, "two": 101}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, e) = app
        .put("/api/v1/approval-thresholds", json!({"one": 50, "two": 20}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e.to_string().contains("two"), "{e}");

    let (s, b) = call(
        Method::POST,
        "/api/v1/tests".into(),
        &editor,
        test_spec("t"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, e) = app.post("/api/v1/tests/t/start", json!(null)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(e.to_string().contains("approvals"), "{e}");

    // Viewers and editors cannot approve; an approver who is not the author can.
    for token in [&viewer, &editor] {
        let (s, _) = call(
            Method::POST,
            "/api/v1/tests/t/approve".into(),
            token,
            json!(null),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    let (s, v) = call(
        Method::POST,
        "/api/v1/tests/t/approve".into(),
        &approver,
        json!({"comment": "fine"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"]["satisfied"], true, "{v}");
    assert_eq!(v["status"]["needed"], 1);
    assert!(v["risk"]["score"].is_number(), "{v}");

    // A change withdraws the approval, and makes its author (the admin) unable to approve.
    let mut changed = test_spec("t");
    changed["coverage"] = json!(0.5);
    let (s, b) = app.put("/api/v1/tests/t", changed).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, v) = app.get("/api/v1/tests/t/approvals").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"]["satisfied"], false, "{v}");
    assert_eq!(v["history"].as_array().unwrap().len(), 1);
    // Its authors are the editor who created it and the admin who changed it, not the approver.
    let authors = v["authors"].as_array().unwrap();
    assert_eq!(authors.len(), 2, "{v}");
    assert!(!authors.contains(&v["history"][0]["actor"]), "{v}");
    let (s, e) = app.post("/api/v1/tests/t/start", json!(null)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let (s, e) = app.post("/api/v1/tests/t/approve", json!(null)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(e.to_string().contains("author"), "{e}");
    let (s, v) = call(
        Method::POST,
        "/api/v1/tests/t/approve".into(),
        &approver,
        json!(null),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, b) = app.post("/api/v1/tests/t/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // A rejection says why, and blocks the start until the test changes.
    let (s, b) = call(
        Method::POST,
        "/api/v1/tests".into(),
        &editor,
        test_spec("r"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, e) = call(
        Method::POST,
        "/api/v1/tests/r/reject".into(),
        &approver,
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e.to_string().contains("comment"), "{e}");
    let (s, v) = call(
        Method::POST,
        "/api/v1/tests/r/reject".into(),
        &approver,
        json!({"comment": "the copy is not approved by legal"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let other_approver = app.token(Role::Approver).await;
    let (s, _) = call(
        Method::POST,
        "/api/v1/tests/r/approve".into(),
        &other_approver,
        json!(null),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = app.post("/api/v1/tests/r/start", json!(null)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(e.to_string().contains("legal"), "{e}");

    // Every step is in the audit log.
    let (s, audit) = app.get("/api/v1/audit?limit=500").await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .or_else(|| audit.as_array())
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "test.approve",
        "test.reject",
        "settings.approval_thresholds",
    ] {
        assert!(actions.contains(&a), "{a}: {actions:?}");
    }
    app.shutdown().await;
}
