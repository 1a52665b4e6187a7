//! API tokens and ingestion keys: listed without their secrets, revoked by id, audited; a
//! revoked credential is refused by the next request, including an ingestion key the server
//! had already seen valid and remembered.

use edgewise_control::db::tokens::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both;
use crate::common::TestApp;

/// The entry of a listing whose `field` is `value`.
fn find<'a>(list: &'a Value, field: &str, value: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|t| t[field] == value)
}

both!(tokens_are_listed_and_revoked, tokens_are_listed_and_revoked);
async fn tokens_are_listed_and_revoked(app: TestApp) {
    let viewer = app.token(Role::Viewer).await;
    let (s, body) = app
        .call(Method::GET, "/api/v1/tokens", Some(&app.admin), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let listed = find(&body["tokens"], "role", "viewer").expect("the viewer token is listed");
    let id = listed["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("tok_"));
    let text = body.to_string();
    assert!(!text.contains(&viewer) && !text.contains("hash"), "{text}");

    let (s, _) = app
        .call(Method::GET, "/api/v1/tests", Some(&viewer), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let path = format!("/api/v1/tokens/{id}");
    let (s, body) = app
        .call(Method::DELETE, &path, Some(&app.admin), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["revoked"]["id"], id.as_str());
    assert_eq!(body["revoked"]["role"], "viewer");
    let (s, _) = app
        .call(Method::GET, "/api/v1/tests", Some(&viewer), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a revoked token is refused");
    let (s, _) = app
        .call(Method::DELETE, &path, Some(&app.admin), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (_, body) = app
        .call(Method::GET, "/api/v1/tokens", Some(&app.admin), None)
        .await;
    assert!(find(&body["tokens"], "id", &id).is_none());
    let (_, audit) = app
        .call(Method::GET, "/api/v1/audit", Some(&app.admin), None)
        .await;
    let entry = find(&audit["entries"], "action", "token.revoke").expect("audited");
    assert_eq!(entry["target"], id.as_str());
}

both!(
    ingest_keys_are_listed_and_revoked,
    ingest_keys_are_listed_and_revoked
);
async fn ingest_keys_are_listed_and_revoked(app: TestApp) {
    let key = app.ingest_key().await;
    // Accepted once, so this server remembers the key as valid.
    let (s, body) = app.ingest(&key, json!([])).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    let (s, body) = app
        .call(Method::GET, "/api/v1/ingest-keys", Some(&app.admin), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let listed = find(&body["ingest_keys"], "site", "test-site").expect("listed");
    let id = listed["id"].as_str().unwrap().to_owned();
    assert!(!body.to_string().contains(&key));

    let path = format!("/api/v1/ingest-keys/{id}");
    let (s, body) = app
        .call(Method::DELETE, &path, Some(&app.admin), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["revoked"]["site"], "test-site");
    let (s, _) = app.ingest(&key, json!([])).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a revoked key is refused");
    let (s, _) = app
        .call(Method::DELETE, &path, Some(&app.admin), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, audit) = app
        .call(Method::GET, "/api/v1/audit", Some(&app.admin), None)
        .await;
    assert!(find(&audit["entries"], "action", "ingest_key.revoke").is_some());
}
