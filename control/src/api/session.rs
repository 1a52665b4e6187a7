//! The dashboard's sign-in: an API token is exchanged for a session cookie (HttpOnly,
//! SameSite=Strict, Secure when the request came over HTTPS, expiring), read back, and signed
//! out. With the cookie every `/api/v1` route works as with the token, changes repeating the
//! session's CSRF value ([`crate::auth`]).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use crate::auth::{cookie, session, CSRF_HEADER, SESSION_COOKIE};
use crate::db::sessions::{self, Session};
use crate::db::{now_ms, tokens};
use crate::error::{AppError, AppResult};
use crate::extract::JsonBody;
use crate::state::AppState;

/// How long a sign-in lasts.
pub const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/session",
        post(sign_in).get(current).delete(sign_out),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    token: String,
}

fn describe(s: &Session) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "token_id": s.token_id,
        "role": s.role.as_str(),
        "csrf": s.csrf,
        "expires_at": s.expires_at,
    }))
}

/// `Secure` only when the browser reached us over HTTPS (through a proxy that says so): a
/// Secure cookie set over plain HTTP on localhost would never be sent back.
fn set_cookie(headers: &HeaderMap, value: &str, max_age_s: i64) -> AppResult<HeaderValue> {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
    ))
    .map_err(|e| AppError::Internal(e.into()))
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SignIn>,
) -> AppResult<Response> {
    let found = {
        let mut conn = state.db.reader.acquire().await?;
        tokens::check_token(&mut conn, body.token.trim()).await?
    };
    let Some((token_id, role)) = found else {
        return Err(AppError::Unauthorized);
    };
    let (secret, s) =
        sessions::create(&state.db, &token_id, role, now_ms(), SESSION_TTL_MS).await?;
    tracing::info!(token = %token_id, role = role.as_str(), "signed in");
    let cookie = set_cookie(&headers, &secret, SESSION_TTL_MS / 1000)?;
    Ok(([(header::SET_COOKIE, cookie)], describe(&s)).into_response())
}

async fn current(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    let s = session(&state, &headers)
        .await?
        .ok_or(AppError::Unauthorized)?;
    Ok(describe(&s).into_response())
}

/// Needs the session's CSRF value, like every other change made with the cookie.
async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    let s = session(&state, &headers)
        .await?
        .ok_or(AppError::Unauthorized)?;
    if headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) != Some(s.csrf.as_str()) {
        return Err(AppError::Csrf);
    }
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        sessions::delete(&state.db, secret).await?;
    }
    let cookie = set_cookie(&headers, "", 0)?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}
