//! The org's own templates on both engines: create, read, change (each change a version, earlier ones readable), delete, beside
//! the five built-in ones; bad definitions refused by field; tests drafted from them are checked
//! against the current version (content keys, an unknown or deleted template); `POST
//! /api/v1/plans` drafts from them; every step is audited.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both;
use crate::common::TestApp;

fn banner(content: Value) -> Value {
    json!({"name": "banner", "description": "A site-wide banner.", "content": content,
           "metrics": [{"key": "click", "kind": "binomial", "role": "primary"},
                       {"key": "bounce", "kind": "binomial", "role": "guardrail",
                        "higher_is_better": false}],
           "decision": {"max_regression": 0.02}, "tags": ["banner"]})
}

fn field(b: &Value) -> &str {
    b["errors"][0]["field"].as_str().unwrap_or("")
}

fn test_from(key: &str, content: Value) -> Value {
    json!({"key": key, "template": "banner",
           "variants": [{"key": "a", "weight": 1, "content": content},
                        {"key": "b", "weight": 1, "content": content}],
           "metrics": [{"key": "click", "kind": "binomial", "role": "primary"}]})
}

both!(templates_are_versioned_and_checked, templates);
async fn templates(app: TestApp) {
    let (s, l) = app.get("/api/v1/templates").await;
    assert_eq!(s, StatusCode::OK, "{l}");
    let names: Vec<&str> = l["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "headline",
            "call_to_action",
            "pricing_display",
            "hero_layout",
            "checkout_step"
        ]
    );
    assert_eq!(
        (
            l["templates"][0]["builtin"].clone(),
            l["templates"][0]["version"].clone()
        ),
        (json!(true), json!(0))
    );

    // Bad definitions, by field.
    for (body, f) in [
        (json!({"name": "a/b", "content": {"x": ""}}), "name"),
        (json!({"name": "headline", "content": {"x": ""}}), "name"),
        (json!({"name": "x", "content": {}}), "content"),
        (json!({"name": "x", "content": {"a b": ""}}), "content.a b"),
        (
            json!({"name": "x", "content": {"x": ""}, "metrics": [{"key": "m", "kind": "rate"}]}),
            "metrics[0].kind",
        ),
        (
            json!({"name": "x", "content": {"x": ""}, "decision": {"alpha": 2}}),
            "decision.alpha",
        ),
        (
            json!({"name": "x", "content": {"x": ""}, "tags": ["a b"]}),
            "tags[0]",
        ),
        (
            json!({"name": "x", "content": {"x": ""}, "colour": 1}),
            "colour",
        ),
    ] {
        let (s, b) = app.post("/api/v1/templates", body.clone()).await;
        assert_eq!(
            (s, field(&b)),
            (StatusCode::UNPROCESSABLE_ENTITY, f),
            "{body}: {b}"
        );
    }

    // Create, then the duplicate.
    let (s, t) = app
        .post(
            "/api/v1/templates",
            banner(json!({"text": "Sale", "color": "red"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(
        (t["version"].clone(), t["builtin"].clone()),
        (json!(1), json!(false))
    );
    assert_eq!(t["content_keys"], json!(["color", "text"]), "{t}");
    let (s, b) = app
        .post("/api/v1/templates", banner(json!({"text": ""})))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");

    // A test from it must carry its content keys; a plan drafts a test the API accepts.
    let (s, b) = app
        .post("/api/v1/tests", test_from("t1", json!({"text": "x"})))
        .await;
    assert_eq!(
        (s, field(&b)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "variants[0].content.color"
        ),
        "{b}"
    );
    let (s, b) = app
        .post(
            "/api/v1/tests",
            test_from("t1", json!({"text": "x", "color": "y"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, p) = app
        .post(
            "/api/v1/plans",
            json!({"template": "banner", "key": "planned", "mde": 0.1,
                                       "baseline": 0.05, "daily_units": 5000}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        p["plan"]["draft"]["decision"],
        json!({"max_regression": 0.02}),
        "{p}"
    );
    assert_eq!(p["plan"]["draft"]["tags"], json!(["banner"]), "{p}");
    let (s, b) = app.post("/api/v1/tests", p["plan"]["draft"].clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    // A change is the next version; the draft made from the first now lacks a key.
    let (s, b) = app
        .put(
            "/api/v1/templates/banner",
            json!({"name": "banner", "content": {"x": ""}}),
        )
        .await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "name"),
        "{b}"
    );
    let mut next = banner(json!({"text": "", "color": "", "size": ""}));
    next.as_object_mut().unwrap().remove("name");
    let (s, t) = app.put("/api/v1/templates/banner", next).await;
    assert_eq!((s, t["version"].clone()), (StatusCode::OK, json!(2)), "{t}");
    let (_, v) = app.post("/api/v1/tests/t1/validate", json!(null)).await;
    let errors: Vec<(&str, &str)> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["rule"].as_str().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        errors,
        [
            ("missing_content_key", "variants[0].content.size"),
            ("missing_content_key", "variants[1].content.size")
        ],
        "{v}"
    );
    let (s, b) = app.post("/api/v1/tests/t1/start", json!(null)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");

    // Built-in ones do not change.
    let (s, _) = app
        .put("/api/v1/templates/headline", json!({"content": {"x": ""}}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = app
        .call(
            Method::DELETE,
            "/api/v1/templates/headline",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, h) = app.get("/api/v1/templates/headline").await;
    assert_eq!(
        (s, h["content_keys"].clone()),
        (StatusCode::OK, json!(["headline", "subheadline"]))
    );

    // Delete: gone from the list and the checks; the versions stay; the name can come back.
    let (s, d) = app
        .call(
            Method::DELETE,
            "/api/v1/templates/banner",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!((s, d["version"].clone()), (StatusCode::OK, json!(3)), "{d}");
    let (s, _) = app.get("/api/v1/templates/banner").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, l) = app.get("/api/v1/templates").await;
    assert_eq!(l["templates"].as_array().unwrap().len(), 5, "{l}");
    let (_, v) = app.post("/api/v1/tests/t1/validate", json!(null)).await;
    assert_eq!(v["errors"][0]["rule"], "unknown_template", "{v}");
    let (s, v1) = app.get("/api/v1/templates/banner?version=1").await;
    assert_eq!(s, StatusCode::OK, "{v1}");
    assert_eq!(
        (v1["version"].clone(), v1["content"].clone()),
        (json!(1), json!({"color": "red", "text": "Sale"}))
    );
    let (s, v2) = app.get("/api/v1/templates/banner?version=2").await;
    assert_eq!(
        (s, v2["content_keys"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(3))
    );
    let (s, _) = app.get("/api/v1/templates/banner?version=3").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "version 3 deleted it");
    let (s, t) = app
        .post(
            "/api/v1/templates",
            banner(json!({"text": "", "color": ""})),
        )
        .await;
    assert_eq!(
        (s, t["version"].clone()),
        (StatusCode::CREATED, json!(4)),
        "{t}"
    );
    let (_, v) = app.post("/api/v1/tests/t1/validate", json!(null)).await;
    assert_eq!(v["errors"], json!([]), "{v}");
    let (s, _) = app.get("/api/v1/templates/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Audited: each create, change and deletion.
    let (_, audit) = app.get("/api/v1/audit?limit=500").await;
    let mut actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == "banner")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        [
            "template.create",
            "template.create",
            "template.delete",
            "template.update"
        ]
    );
    app.shutdown().await;
}
