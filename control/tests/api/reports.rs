//! Saved report definitions: validated with 422 naming the field, stored, replaced, deleted
//! (each audited), and run: the selected tests' chosen metrics per variant, overall and per
//! chosen segment, with the results' own numbers.

use edgewise_control::db::tokens::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{test_spec, TestApp};

async fn start(app: &TestApp, key: &str, tags: &[&str]) {
    let mut spec = test_spec(key);
    spec["tags"] = json!(tags);
    let (s, b) = app.post("/api/v1/tests", spec).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app
        .post(&format!("/api/v1/tests/{key}/start"), json!(null))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

crate::both!(saved_reports_are_validated_stored_and_run, saved_reports);
async fn saved_reports(app: TestApp) {
    let editor = app.token(Role::Editor).await;
    let call = |method: Method, path: &str, body: Option<Value>| {
        let (editor, path) = (editor.clone(), path.to_owned());
        let app = &app;
        async move { app.call(method, &path, Some(&editor), body.as_ref()).await }
    };
    // Validation, each failure naming its field.
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({}), "name"),
        (json!({"name": "n", "segments": ["country"]}), "segments[0]"),
        (
            json!({"name": "n", "tests": {"status": ["nope"]}}),
            "tests.status[0]",
        ),
        (json!({"name": "n", "metrics": ["a b"]}), "metrics[0]"),
        (
            json!({"name": "n", "tests": {"tags": [""]}}),
            "tests.tags[0]",
        ),
        (json!({"name": "n", "colour": "red"}), ""),
    ] {
        let (s, e) = call(Method::POST, "/api/v1/reports", Some(body.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {e}");
        if !field.is_empty() {
            assert_eq!(e["errors"][0]["field"], field, "{body}: {e}");
        }
    }

    start(&app, "checkout-a", &["checkout"]).await;
    // Matches the search and the status, not the tags.
    start(&app, "checkout-b", &["home"]).await;
    let key = app.ingest_key().await;
    let (s, r) = app
        .ingest(
            &key,
            Value::Array(
                crate::results::traffic()
                    .into_iter()
                    .map(|mut e| {
                        e["test"] = json!("checkout-a");
                        e
                    })
                    .collect(),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");

    let def = json!({"name": "Checkout, weekly",
        "tests": {"status": ["running"], "tags": ["checkout"], "search": "CHECKOUT"},
        "metrics": ["buy"], "segments": ["device"]});
    let (s, created) = call(Method::POST, "/api/v1/reports", Some(def.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "Checkout, weekly");
    assert_eq!(created["segments"], json!(["device"]));
    let (s, one) = app.get(&format!("/api/v1/reports/{id}")).await;
    assert_eq!((s, &one), (StatusCode::OK, &created));
    let (_, all) = app.get("/api/v1/reports").await;
    assert_eq!(all["reports"], json!([created]));

    // Run: only the selected test, only `buy`, overall and per device.
    let (s, run) = app.get(&format!("/api/v1/reports/{id}/run")).await;
    assert_eq!(s, StatusCode::OK, "{run}");
    assert_eq!(run["tests"], json!(["checkout-a"]));
    assert_eq!(run["truncated"], false);
    let rows = run["rows"].as_array().unwrap();
    // (overall, desktop, mobile) × 2 variants.
    assert_eq!(rows.len(), 6, "{run}");
    assert!(rows
        .iter()
        .all(|r| r["test"] == "checkout-a" && r["metric"] == "buy"));
    let segments: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r["segment"].as_str().unwrap())
        .collect();
    assert_eq!(
        segments.into_iter().collect::<Vec<_>>(),
        ["device:desktop", "device:mobile", "overall"]
    );
    let (_, results) = app.get("/api/v1/tests/checkout-a/results").await;
    let buy = results["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "buy")
        .unwrap();
    let b = rows
        .iter()
        .find(|r| r["segment"] == "overall" && r["variant"] == "b")
        .unwrap();
    assert_eq!(b["units"], buy["overall"]["variants"][1]["n"]);
    crate::results::assert_close(
        &b["lift"],
        &buy["overall"]["comparisons"][0]["frequentist"]["relative"]["estimate"],
        "lift",
    );

    // Replace, then delete; each audited.
    let mut changed = def.clone();
    changed["segments"] = json!(["persona", "device"]);
    changed["metrics"] = json!([]);
    let (s, put) = call(Method::PUT, &format!("/api/v1/reports/{id}"), Some(changed)).await;
    assert_eq!(s, StatusCode::OK, "{put}");
    assert_eq!(put["created_at"], created["created_at"]);
    let (_, run) = app.get(&format!("/api/v1/reports/{id}/run")).await;
    let metrics: std::collections::BTreeSet<&str> = run["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metric"].as_str().unwrap())
        .collect();
    assert_eq!(metrics.len(), 2, "every metric when none is named");
    let (s, e) = call(
        Method::PUT,
        &format!("/api/v1/reports/{id}"),
        Some(json!({"name": ""})),
    )
    .await;
    assert_eq!(
        (s, &e["errors"][0]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("name"))
    );
    let (s, _) = call(Method::DELETE, &format!("/api/v1/reports/{id}"), None).await;
    assert_eq!(s, StatusCode::OK);
    for path in [
        format!("/api/v1/reports/{id}"),
        format!("/api/v1/reports/{id}/run"),
    ] {
        assert_eq!(app.get(&path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    let (s, _) = call(Method::DELETE, &format!("/api/v1/reports/{id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(Method::PUT, "/api/v1/reports/rp_none", Some(def)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, audit) = app.get("/api/v1/audit?limit=1000").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == id)
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["report.create", "report.update", "report.delete"]);
    app.shutdown().await;
}
