//! What fuzzing the delivered service found (issue 24), one regression test per class: a
//! definition that cannot be published is refused before it is stored, and one an older
//! database holds is paused and left out rather than breaking every later change; numbers
//! that overflow are refused; every rejection has the one error shape.

use edgewise_shared::limits::{MAX_CONTENT_DEPTH, MAX_SNAPSHOT_BYTES};
use edgewise_shared::CompiledSnapshot;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both;
use crate::common::{test_spec, TestApp};

fn nested(levels: usize) -> Value {
    let mut v = json!("deep");
    for _ in 0..levels {
        v = json!({ "x": v });
    }
    v
}

fn with_content(key: &str, content: Value) -> Value {
    let mut spec = test_spec(key);
    spec["variants"][1]["content"] = content;
    spec
}

/// The one field error of a 4xx answer, checking the shape on the way.
fn only_error(body: &Value) -> (&str, &str) {
    let errors = body["errors"].as_array().expect("an errors array");
    assert_eq!(errors.len(), 1, "{body}");
    (
        errors[0]["field"].as_str().expect("field"),
        errors[0]["message"].as_str().expect("message"),
    )
}

/// `GET /v1/snapshot` compiles with the edge's own code, with nothing skipped.
async fn served_snapshot_is_clean(app: &TestApp) -> Value {
    let body = app
        .client
        .get(format!("{}/v1/snapshot", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (_, warnings) = CompiledSnapshot::from_json(&body).expect("the edge reads it");
    assert!(warnings.is_empty(), "{warnings:?}");
    serde_json::from_str(&body).unwrap()
}

both!(
    content_past_the_limits_is_refused,
    content_past_the_limits_is_refused
);
async fn content_past_the_limits_is_refused(app: TestApp) {
    // 124 levels used to be stored, started, and then fail every later change.
    for levels in [MAX_CONTENT_DEPTH + 1, 124] {
        let (s, b) = app
            .post("/api/v1/tests", with_content("deep", nested(levels)))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{levels}: {b}");
        assert_eq!(only_error(&b).0, "variants[1].content", "{b}");
    }
    // Past serde_json's own 128 levels the body cannot be read: 400, same shape.
    let (s, b) = app
        .post("/api/v1/tests", with_content("deep", nested(200)))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(only_error(&b).0, "");

    // The deepest content allowed is stored, started and published, and changes go on.
    let (s, b) = app
        .post(
            "/api/v1/tests",
            with_content("deepest", nested(MAX_CONTENT_DEPTH)),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/deepest/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.post("/api/v1/tests", test_spec("next")).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/deepest/pause", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.put("/api/v1/holdout", json!({"share": 0.1})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.post("/api/v1/snapshots/1/rollback", json!(null)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let snap = served_snapshot_is_clean(&app).await;
    assert_eq!(snap["tests"][0]["key"], "deepest");
    app.shutdown().await;
}

both!(
    weights_that_overflow_are_refused,
    weights_that_overflow_are_refused
);
async fn weights_that_overflow_are_refused(app: TestApp) {
    let mut spec = test_spec("huge");
    spec["variants"][0]["weight"] = json!(1e308);
    spec["variants"][1]["weight"] = json!(1e308);
    let (s, b) = app.post("/api/v1/tests", spec.clone()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(only_error(&b).0, "variants[0].weight");
    // The largest weights allowed split traffic as equal weights do.
    spec["variants"][0]["weight"] = json!(1e300);
    spec["variants"][1]["weight"] = json!(1e300);
    let (s, b) = app.post("/api/v1/tests", spec).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    app.shutdown().await;
}

both!(a_snapshot_too_large_for_the_edge_is_refused, too_large);
async fn too_large(app: TestApp) {
    // Each test carries about 200 KB of content; the edge takes 5 MiB in all.
    let big = json!({ "text": "x".repeat(200_000) });
    let mut started = 0;
    let refused = loop {
        let key = format!("big{started}");
        let (s, b) = app
            .post("/api/v1/tests", with_content(&key, big.clone()))
            .await;
        if s != StatusCode::CREATED {
            break (s, b);
        }
        let (s, b) = app
            .post(&format!("/api/v1/tests/{key}/start"), json!(null))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        started += 1;
        assert!(started < 40, "never refused");
    };
    assert_eq!(refused.0, StatusCode::CONFLICT, "{}", refused.1);
    let (field, message) = only_error(&refused.1);
    assert_eq!(field, "");
    assert!(
        message.contains(&MAX_SNAPSHOT_BYTES.to_string()),
        "{message}"
    );
    assert_eq!(started, MAX_SNAPSHOT_BYTES / 200_000);
    served_snapshot_is_clean(&app).await;
    app.shutdown().await;
}

both!(
    every_rejection_has_the_error_shape,
    every_rejection_has_the_error_shape
);
async fn every_rejection_has_the_error_shape(app: TestApp) {
    app.running_test("t").await;
    let mut no_key = test_spec("x");
    no_key.as_object_mut().unwrap().remove("key");
    let mut no_variant_key = test_spec("x");
    no_variant_key["variants"][1]
        .as_object_mut()
        .unwrap()
        .remove("key");
    let mut unknown = test_spec("x");
    unknown["colour"] = json!("red");
    let cases: Vec<(Method, &str, Option<Value>, StatusCode, &str)> = vec![
        (
            Method::GET,
            "/api/v1/tests/%FF",
            None,
            StatusCode::BAD_REQUEST,
            "key",
        ),
        (
            Method::GET,
            "/api/v1/snapshots/abc",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "version",
        ),
        (
            Method::POST,
            "/api/v1/snapshots/abc/rollback",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "version",
        ),
        (
            Method::GET,
            "/api/v1/audit?limit=abc",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit",
        ),
        (
            Method::GET,
            "/api/v1/audit?limit=1001",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit",
        ),
        (
            Method::GET,
            "/api/v1/snapshots?limit=0",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit",
        ),
        (
            Method::GET,
            "/api/v1/tests?status=running&status=paused",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "status",
        ),
        (
            Method::GET,
            "/api/v1/tests?status=bogus",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "status",
        ),
        (
            Method::GET,
            "/api/v1/tests/t/results?correction=bogus",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "correction",
        ),
        (
            Method::GET,
            "/api/v1/tests/t/results?alpha=x",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "alpha",
        ),
        (
            Method::POST,
            "/api/v1/tests",
            Some(no_key),
            StatusCode::UNPROCESSABLE_ENTITY,
            "key",
        ),
        (
            Method::POST,
            "/api/v1/tests",
            Some(test_spec("..")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "key",
        ),
        (
            Method::POST,
            "/api/v1/templates",
            Some(json!({"name": ".", "content": {"headline": "Hi"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            Method::POST,
            "/api/v1/tests",
            Some(no_variant_key),
            StatusCode::UNPROCESSABLE_ENTITY,
            "variants[1].key",
        ),
        (
            Method::POST,
            "/api/v1/tests",
            Some(unknown),
            StatusCode::UNPROCESSABLE_ENTITY,
            "colour",
        ),
        (
            Method::POST,
            "/api/v1/tests/t/stop",
            Some(json!({})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "winner",
        ),
        (
            Method::GET,
            "/api/v1/nothing-here",
            None,
            StatusCode::NOT_FOUND,
            "",
        ),
    ];
    for (method, path, body, status, field) in cases {
        let (s, b) = app
            .call(method.clone(), path, Some(&app.admin), body.as_ref())
            .await;
        assert_eq!(s, status, "{method} {path}: {b}");
        assert_eq!(only_error(&b).0, field, "{method} {path}: {b}");
    }

    // An unsupported method: 405, the methods that are allowed, and the same shape.
    let resp = app
        .client
        .delete(format!("{}/api/v1/tests", app.base))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = resp.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(only_error(&body).0, "");

    // A body that is not JSON at all.
    let resp = app
        .client
        .post(format!("{}/api/v1/tests", app.base))
        .bearer_auth(&app.admin)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert!(only_error(&body).1.starts_with("invalid JSON"), "{body}");
    app.shutdown().await;
}

both!(
    an_older_database_with_unpublishable_tests_starts,
    older_database
);
async fn older_database(app: TestApp) {
    // What a build without the limits stored: one running test whose content sits too deep for
    // its snapshot to parse again, one paused test past today's depth limit, and the snapshot
    // it published with both.
    app.running_test("fine").await;
    let deep = with_content("deep", nested(124));
    let past = with_content("past", nested(MAX_CONTENT_DEPTH + 8));
    let mut conn = app.db.writer.acquire().await.unwrap();
    for (spec, status) in [(&deep, "running"), (&past, "paused")] {
        sqlx::query(
            "INSERT INTO tests (key, status, winner, spec, created_at, updated_at) \
             VALUES ($1, $2, NULL, $3, 1, 1)",
        )
        .bind(spec["key"].as_str().unwrap())
        .bind(status)
        .bind(spec.to_string())
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    let mut old = served_snapshot_is_clean(&app).await;
    for (spec, status) in [(&deep, "running"), (&past, "paused")] {
        let mut wire = spec.clone();
        wire["status"] = json!(status);
        old["tests"].as_array_mut().unwrap().push(wire);
    }
    old["snapshot_version"] = json!(2);
    let body = old.to_string();
    assert!(
        CompiledSnapshot::from_json(&body).is_err(),
        "too deep to parse"
    );
    sqlx::query("UPDATE counters SET value = 2 WHERE name = 'snapshot'")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO snapshots (version, body, created_at, created_by, reason) \
         VALUES (2, $1, 1, 'old build', 'test.start')",
    )
    .bind(&body)
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);

    let app = app.restart().await;
    // The running one was paused by the start-up check; the snapshot leaves both out.
    let (_, t) = app.get("/api/v1/tests/deep").await;
    assert_eq!(t["status"], "paused", "{t}");
    let snap = served_snapshot_is_clean(&app).await;
    assert_eq!(snap["snapshot_version"], 3);
    let keys: Vec<&str> = snap["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["fine"]);
    let (_, audit) = app.get("/api/v1/audit?limit=1000").await;
    let entries = audit["entries"].as_array().unwrap();
    let by_system: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e["actor"] == "system")
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    assert_eq!(
        by_system,
        [
            ("test.pause", "deep"),
            ("snapshot.skip", "tests[0].variants[1].content"),
            ("snapshot.skip", "tests[2].variants[1].content"),
        ]
    );
    let (_, verdict) = app.get("/api/v1/audit/verify").await;
    assert_eq!(verdict["ok"], true, "{verdict}");

    // Every admin change works again; the old version cannot be rolled back to.
    let (s, b) = app.post("/api/v1/tests", test_spec("another")).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/fine/pause", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.post("/api/v1/snapshots/2/rollback", json!(null)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(only_error(&b).0, "version");
    // Fixing the content publishes the test again (after a resume).
    let (s, b) = app
        .put("/api/v1/tests/deep", with_content("deep", json!({"ok": 1})))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.post("/api/v1/tests/deep/resume", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let snap = served_snapshot_is_clean(&app).await;
    assert!(snap["tests"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["key"] == "deep"));
    // Nothing was audited twice: the skip of `past` is not repeated by later changes.
    let (_, audit) = app.get("/api/v1/audit?limit=1000").await;
    let skips = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "snapshot.skip")
        .count();
    assert_eq!(skips, 2);
    app.shutdown().await;
}
