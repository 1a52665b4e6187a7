//! Webhooks: where alerts go (`POST /api/v1/webhooks` with a URL, a secret and the alert kinds
//! to send), and the log of every delivery attempt. The secret signs each delivery and is never
//! shown again (see `crate::jobs::webhooks` for the signature).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;

use crate::auth::{Admin, Caller};
use crate::db::webhooks::{self, WebhookInfo};
use crate::db::Mutation;
use crate::error::{AppError, AppResult, FieldError};
use crate::extract::{JsonBody, Path, Query};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/webhooks", get(list).post(create))
        .route("/api/v1/webhooks/{id}", delete(remove))
        .route("/api/v1/webhooks/{id}/deliveries", get(deliveries))
}

/// The alert kinds a webhook may filter on.
pub const KINDS: &[&str] = &[
    "srm",
    "guardrail",
    "traffic_drop",
    "broken_tracking",
    "ship",
];

/// Whether `s` is written in RFC 3986's characters (what the OpenAPI `uri` format checks):
/// unreserved, reserved, and `%` followed by two hex digits.
fn is_uri(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
                {
                    return false;
                }
                i += 3;
                continue;
            }
            c if c.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&c) => {}
            _ => return false,
        }
        i += 1;
    }
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
    secret: String,
    #[serde(default)]
    events: Vec<String>,
}

async fn list(
    State(state): State<AppState>,
    _: Caller<Admin>,
) -> AppResult<Json<serde_json::Value>> {
    let mut conn = state.db.reader.acquire().await?;
    let hooks: Vec<WebhookInfo> = webhooks::list(&mut conn)
        .await?
        .into_iter()
        .map(WebhookInfo::from)
        .collect();
    Ok(Json(serde_json::json!({ "webhooks": hooks })))
}

async fn create(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Admin>,
    JsonBody(w): JsonBody<NewWebhook>,
) -> AppResult<(StatusCode, Json<WebhookInfo>)> {
    let mut errors = Vec::new();
    let url_ok = (w.url.starts_with("http://") || w.url.starts_with("https://"))
        && w.url.len() <= 2048
        && is_uri(&w.url)
        && reqwest::Url::parse(&w.url).is_ok_and(|u| u.host().is_some());
    if !url_ok {
        errors.push(FieldError::new(
            "url",
            "must be an http(s) URL of at most 2048 characters",
        ));
    }
    if w.secret.is_empty() || w.secret.chars().count() > 256 {
        errors.push(FieldError::new("secret", "must be 1 to 256 characters"));
    }
    for (i, e) in w.events.iter().enumerate() {
        if !KINDS.contains(&e.as_str()) {
            errors.push(FieldError::new(
                format!("events[{i}]"),
                format!("must be one of {}", KINDS.join(", ")),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random id: {e}"))?;
    let id = format!("wh_{}", hex::encode(bytes));
    let mut m = Mutation::begin(&state.db).await?;
    webhooks::create(&mut m.tx, &id, &w.url, &w.secret, &w.events, m.at).await?;
    let info = WebhookInfo {
        id: id.clone(),
        url: w.url,
        events: w.events,
        created_at: m.at,
    };
    let after = serde_json::to_value(&info)?;
    m.finish(&actor, "webhook.create", &id, None, Some(&after))
        .await?;
    Ok((StatusCode::CREATED, Json(info)))
}

async fn remove(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Admin>,
    Path(id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let mut m = Mutation::begin(&state.db).await?;
    if !webhooks::delete(&mut m.tx, &id).await? {
        return Err(AppError::NotFound(format!("webhook `{id}`")));
    }
    m.finish(&actor, "webhook.delete", &id, None, None).await?;
    Ok(Json(serde_json::json!({ "deleted": id })))
}

#[derive(Debug, Deserialize)]
struct DeliveriesQuery {
    limit: Option<i64>,
}

async fn deliveries(
    State(state): State<AppState>,
    _: Caller<Admin>,
    Path(id): Path<String>,
    Query(q): Query<DeliveriesQuery>,
) -> AppResult<Json<serde_json::Value>> {
    let limit = crate::extract::limit(q.limit, 100)?;
    let mut conn = state.db.reader.acquire().await?;
    webhooks::get(&mut conn, &id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("webhook `{id}`")))?;
    let log = webhooks::deliveries(&mut conn, &id, limit).await?;
    Ok(Json(
        serde_json::json!({ "webhook": id, "deliveries": log }),
    ))
}
