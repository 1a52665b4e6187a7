//! Proxy mode's page changes (`dom`, `split_url` in a variant's content) are checked by the
//! edge's own compiler when a test is created: a malformed one is refused with a 422 naming
//! its field, a good one is stored, started and served clean.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{test_spec, TestApp};

fn with_content(key: &str, content: Value) -> Value {
    let mut spec = test_spec(key);
    spec["variants"][1]["content"] = content;
    spec
}

both!(page_changes_are_checked, page_changes_are_checked);
async fn page_changes_are_checked(app: TestApp) {
    let bad = [
        (
            json!({"dom": [{"selector": "div[", "action": "set_text", "value": "x"}]}),
            "variants[1].content.dom[0].selector",
        ),
        (
            json!({"dom": [{"ew": "hero", "action": "set_text", "value": "x"},
                           {"ew": "hero", "action": "explode", "value": "x"}]}),
            "variants[1].content.dom[1].action",
        ),
        (
            json!({"split_url": {"url": "/b", "mode": "teleport"}}),
            "variants[1].content.split_url.mode",
        ),
    ];
    for (i, (content, field)) in bad.into_iter().enumerate() {
        let (s, b) = app
            .post("/api/v1/tests", with_content(&format!("bad{i}"), content))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let errors = b["errors"].as_array().unwrap();
        assert!(
            errors.iter().any(|e| e["field"] == field),
            "{field} not named: {b}"
        );
    }
    let good = json!({
        "dom": [{"ew": "hero", "action": "set_text", "value": "Neu"},
                {"selector": "#cta", "action": "add_class", "value": "big"}],
        "split_url": {"url": "/landing-b", "mode": "fetch"}
    });
    let (s, b) = app
        .post("/api/v1/tests", with_content("good", good.clone()))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/good/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, snap) = app.get("/v1/snapshot").await;
    assert_eq!(snap["tests"][0]["variants"][1]["content"], good, "{snap}");
    app.shutdown().await;
}
