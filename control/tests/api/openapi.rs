//! The OpenAPI document lists exactly the routes the router serves.

use std::collections::BTreeSet;

use edgewise_control::app::ROUTES;
use serde_json::Value;

#[test]
fn every_route_is_documented_and_nothing_else() {
    let doc: Value = serde_json::from_str(edgewise_control::api::openapi::DOCUMENT).unwrap();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            if method != "parameters" {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        routed.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "undocumented routes"
    );
    assert_eq!(
        documented.difference(&routed).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but not routed"
    );
}

crate::both!(served_and_routed, served_and_routed);
async fn served_and_routed(app: crate::common::TestApp) {
    let (s, doc) = app
        .call(reqwest::Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(s, reqwest::StatusCode::OK);
    assert!(doc["paths"]["/v1/events"]["post"].is_object());
    // Every listed route exists in the router: without credentials it is never a 404/405.
    for (method, path) in ROUTES {
        let path = path
            .replace("{key}", "k")
            .replace("{version}", "1")
            .replace("{unit_id}", "u");
        let (s, _) = app.call(method.parse().unwrap(), &path, None, None).await;
        assert!(
            s != reqwest::StatusCode::NOT_FOUND && s != reqwest::StatusCode::METHOD_NOT_ALLOWED
                || path == "/v1/snapshot",
            "{method} {path}: {s}"
        );
    }
    app.shutdown().await;
}

/// The numbers the document states are the ones the server enforces (`shared::limits`).
#[test]
fn stated_limits_are_the_enforced_ones() {
    use edgewise_shared::limits::*;
    let doc: Value = serde_json::from_str(edgewise_control::api::openapi::DOCUMENT).unwrap();
    let s = &doc["components"]["schemas"];
    assert_eq!(s["Key"]["maxLength"], MAX_KEY_BYTES);
    assert_eq!(s["Key"]["pattern"], format!("^[!-~]{{1,{MAX_KEY_BYTES}}}$"));
    let spec = &s["TestSpec"]["properties"];
    assert_eq!(spec["description"]["maxLength"], MAX_DESCRIPTION_CHARS);
    assert_eq!(spec["variants"]["minItems"], MIN_VARIANTS);
    assert_eq!(spec["variants"]["maxItems"], MAX_VARIANTS);
    assert_eq!(spec["metrics"]["maxItems"], MAX_METRICS);
    assert_eq!(s["Variant"]["properties"]["weight"]["maximum"], MAX_WEIGHT);
    assert_eq!(
        s["Variant"]["properties"]["overrides"]["properties"]["persona"]["maxProperties"],
        MAX_PERSONAS
    );
    assert_eq!(
        s["Targeting"]["properties"]["personas"]["maxItems"],
        MAX_PERSONAS
    );
    assert_eq!(s["Origin"]["maxLength"], MAX_ORIGIN_BYTES);
    assert_eq!(
        s["ConditionLeaf"]["properties"]["attr"]["maxLength"],
        MAX_CONDITION_TEXT_CHARS
    );
    let put = |path: &str| {
        doc["paths"][path]["put"]["requestBody"]["content"]["application/json"]["schema"].clone()
    };
    assert_eq!(put("/api/v1/layers")["maxItems"], MAX_LAYERS);
    assert_eq!(put("/api/v1/personas")["maxItems"], MAX_PERSONAS);
    assert_eq!(put("/api/v1/allowed-origins")["maxItems"], MAX_ORIGINS);
    let events = &doc["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"]["properties"]["events"];
    assert_eq!(events["maxItems"], MAX_BATCH_EVENTS);
}
