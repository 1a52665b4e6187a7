//! The role matrix: every admin route answers 401 without a valid token, 403 to each role
//! below its minimum, and neither to its minimum role and above.

use edgewise_control::app::ROUTES;
use edgewise_control::db::tokens::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both;
use crate::common::{test_spec, TestApp};

fn template(name: &str) -> Value {
    json!({"name": name, "content": {"text": ""},
           "metrics": [{"key": "click", "kind": "binomial", "role": "primary"}]})
}

/// (method, path template, minimum role, body).
fn matrix() -> Vec<(&'static str, &'static str, Role, Value)> {
    use Role::*;
    vec![
        ("GET", "/api/v1/tests", Viewer, Value::Null),
        ("POST", "/api/v1/tests", Editor, test_spec("new")),
        ("GET", "/api/v1/tests/{key}", Viewer, Value::Null),
        ("PUT", "/api/v1/tests/{key}", Editor, test_spec("hero")),
        ("POST", "/api/v1/tests/{key}/validate", Viewer, Value::Null),
        ("GET", "/api/v1/tests/{key}/approvals", Viewer, Value::Null),
        (
            "POST",
            "/api/v1/plans",
            Viewer,
            json!({"template": "headline", "key": "p", "mde": 0.1, "baseline": 0.1,
                   "daily_units": 1000}),
        ),
        ("GET", "/api/v1/templates", Viewer, Value::Null),
        ("POST", "/api/v1/templates", Editor, template("banner")),
        ("GET", "/api/v1/templates/{name}", Viewer, Value::Null),
        (
            "PUT",
            "/api/v1/templates/{name}",
            Editor,
            json!({"content": {"text": ""}}),
        ),
        ("DELETE", "/api/v1/templates/{name}", Editor, Value::Null),
        ("POST", "/api/v1/tests/{key}/approve", Approver, Value::Null),
        (
            "POST",
            "/api/v1/tests/{key}/reject",
            Approver,
            json!({"comment": "not yet"}),
        ),
        ("POST", "/api/v1/tests/{key}/start", Approver, Value::Null),
        ("POST", "/api/v1/tests/{key}/pause", Editor, Value::Null),
        ("POST", "/api/v1/tests/{key}/resume", Approver, Value::Null),
        (
            "POST",
            "/api/v1/tests/{key}/stop",
            Approver,
            json!({"winner": "b"}),
        ),
        ("POST", "/api/v1/tests/{key}/archive", Approver, Value::Null),
        ("GET", "/api/v1/tests/{key}/aggregates", Viewer, Value::Null),
        ("GET", "/api/v1/settings", Viewer, Value::Null),
        ("PUT", "/api/v1/layers", Editor, json!([])),
        ("PUT", "/api/v1/holdout", Editor, json!(null)),
        ("PUT", "/api/v1/personas", Editor, json!([])),
        (
            "PUT",
            "/api/v1/allowed-origins",
            Editor,
            json!(["https://a.example"]),
        ),
        ("GET", "/api/v1/snapshots", Viewer, Value::Null),
        ("GET", "/api/v1/snapshots/{version}", Viewer, Value::Null),
        (
            "POST",
            "/api/v1/snapshots/{version}/rollback",
            Approver,
            Value::Null,
        ),
        ("GET", "/api/v1/publish", Viewer, Value::Null),
        ("GET", "/api/v1/tests/{key}/results", Viewer, Value::Null),
        ("GET", "/api/v1/audit", Admin, Value::Null),
        ("GET", "/api/v1/audit/verify", Admin, Value::Null),
        ("DELETE", "/api/v1/units/{unit_id}", Admin, Value::Null),
        ("GET", "/api/v1/tokens", Admin, Value::Null),
        ("DELETE", "/api/v1/tokens/{id}", Admin, Value::Null),
        ("GET", "/api/v1/ingest-keys", Admin, Value::Null),
        ("DELETE", "/api/v1/ingest-keys/{id}", Admin, Value::Null),
        ("PUT", "/api/v1/decision", Editor, json!({})),
        ("PUT", "/api/v1/dimensions", Editor, json!(["country"])),
        (
            "PUT",
            "/api/v1/approval-thresholds",
            Admin,
            json!({"one": 101, "two": 101}),
        ),
        ("GET", "/api/v1/monitor", Viewer, Value::Null),
        ("POST", "/api/v1/monitor/run", Admin, Value::Null),
        ("GET", "/api/v1/tests/{key}/monitor", Viewer, Value::Null),
        ("GET", "/api/v1/tests/{key}/history", Viewer, Value::Null),
        ("GET", "/api/v1/tests/{key}/bandit", Viewer, Value::Null),
        ("GET", "/api/v1/priors", Viewer, Value::Null),
        ("GET", "/api/v1/insights", Viewer, Value::Null),
        (
            "POST",
            "/api/v1/predict",
            Viewer,
            json!({"metric": "m", "baseline": 0.1, "daily_units": 10, "days": 7}),
        ),
        ("GET", "/api/v1/alerts", Viewer, Value::Null),
        ("POST", "/api/v1/alerts/{id}/ack", Editor, Value::Null),
        ("GET", "/api/v1/webhooks", Admin, Value::Null),
        (
            "POST",
            "/api/v1/webhooks",
            Admin,
            json!({"url": "http://127.0.0.1:9/hook", "secret": "s"}),
        ),
        ("DELETE", "/api/v1/webhooks/{id}", Admin, Value::Null),
        (
            "GET",
            "/api/v1/webhooks/{id}/deliveries",
            Admin,
            Value::Null,
        ),
        ("GET", "/api/v1/stream", Viewer, Value::Null),
        ("GET", "/api/v1/tests/{key}/export", Viewer, Value::Null),
        ("GET", "/api/v1/tests/{key}/report", Viewer, Value::Null),
        ("GET", "/api/v1/reports", Viewer, Value::Null),
        ("POST", "/api/v1/reports", Editor, json!({"name": "weekly"})),
        ("GET", "/api/v1/reports/{id}", Viewer, Value::Null),
        (
            "PUT",
            "/api/v1/reports/{id}",
            Editor,
            json!({"name": "weekly"}),
        ),
        ("DELETE", "/api/v1/reports/{id}", Editor, Value::Null),
        ("GET", "/api/v1/reports/{id}/run", Viewer, Value::Null),
        ("GET", "/api/v1/system", Viewer, Value::Null),
    ]
}

#[test]
fn the_matrix_covers_every_admin_route() {
    let covered: Vec<(&str, &str)> = matrix().iter().map(|(m, p, _, _)| (*m, *p)).collect();
    for (method, path) in ROUTES {
        // The sign-in route takes a token in its body; tests/api/sessions.rs covers it.
        if path.starts_with("/api/v1/")
            && *path != "/api/v1/openapi.json"
            && *path != "/api/v1/session"
        {
            assert!(
                covered.contains(&(method, path)),
                "{method} {path} is not in the role matrix"
            );
        }
    }
}

async fn stream_status(app: &TestApp, token: &str) -> StatusCode {
    let resp = app
        .client
        .get(format!("{}/api/v1/stream", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    resp.status()
}

both!(role_matrix, role_matrix);
async fn role_matrix(app: TestApp) {
    app.running_test("hero").await; // snapshot version 1 exists
    let mut tokens = Vec::new();
    for role in [Role::Viewer, Role::Editor, Role::Approver, Role::Admin] {
        tokens.push((role, app.token(role).await));
    }
    for (method, template, min, body) in matrix() {
        let path = template
            .replace("{key}", "hero")
            .replace("{version}", "1")
            .replace("{unit_id}", "someone")
            .replace("{name}", "banner")
            .replace("{id}", "no_such_id");
        let method: Method = method.parse().unwrap();
        let body = (!body.is_null() || template.ends_with("holdout")).then_some(&body);
        for token in [None, Some("ew_not_a_token")] {
            let (s, e) = app.call(method.clone(), &path, token, body).await;
            assert_eq!(
                s,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {token:?}: {e}"
            );
        }
        for (role, token) in &tokens {
            let (s, e) = if template == "/api/v1/stream" {
                // The stream never ends: its status is all there is to read.
                (stream_status(&app, token).await, Value::Null)
            } else {
                app.call(method.clone(), &path, Some(token), body).await
            };
            if *role < min {
                assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} as {role:?}: {e}");
            } else {
                assert!(
                    s != StatusCode::FORBIDDEN && s != StatusCode::UNAUTHORIZED,
                    "{method} {path} as {role:?} got {s}: {e}"
                );
            }
        }
    }
    // Ingestion keys are not API tokens and vice versa.
    let key = app.ingest_key().await;
    let (s, _) = app
        .call(Method::GET, "/api/v1/tests", Some(&key), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app.ingest(&app.admin, json!([])).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/events",
            None,
            Some(&json!({"events": []})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    app.shutdown().await;
}
