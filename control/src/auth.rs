//! Who is calling: admin routes need a token with at least a given role, sent as a bearer
//! token or, from the dashboard, as a session cookie its token was exchanged for; ingestion
//! needs a site's ingestion key. Secrets are looked up by SHA-256 hash, never stored in the
//! clear. A change made with a cookie must repeat the session's CSRF value in a header, which
//! another site's page cannot read, so it cannot make the browser change anything.

use axum::http::{header, HeaderMap, Method};

use crate::db::sessions::{self, Session};
use crate::db::tokens::{check_token, Role};
use crate::db::{now_ms, Actor};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The dashboard's session cookie.
pub const SESSION_COOKIE: &str = "ew_session";
/// The header a cookie-authenticated change repeats the session's CSRF value in.
pub const CSRF_HEADER: &str = "x-csrf-token";

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The live session the request's cookie belongs to, if any.
pub async fn session(state: &AppState, headers: &HeaderMap) -> AppResult<Option<Session>> {
    let Some(secret) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let mut conn = state.db.reader.acquire().await?;
    sessions::check(&mut conn, secret, now_ms()).await
}

/// The caller, if their token (a bearer token, else the session cookie's) has at least `role`:
/// 401 without a valid one, 403 if too weak or if a cookie's change lacks its CSRF value.
pub async fn require(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    role: Role,
) -> AppResult<Actor> {
    let (id, has) = match bearer(headers) {
        Some(secret) => {
            let mut conn = state.db.reader.acquire().await?;
            check_token(&mut conn, secret)
                .await?
                .ok_or(AppError::Unauthorized)?
        }
        None => {
            let s = session(state, headers)
                .await?
                .ok_or(AppError::Unauthorized)?;
            let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
            let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !safe && sent != Some(s.csrf.as_str()) {
                return Err(AppError::Csrf);
            }
            (s.token_id, s.role)
        }
    };
    if has < role {
        return Err(AppError::Forbidden(role.as_str()));
    }
    Ok(Actor(id))
}

/// A role requirement, as a type, so handlers can state it in their signature.
pub trait MinRole {
    const ROLE: Role;
}

macro_rules! role_marker {
    ($($name:ident => $role:expr),*) => {$(
        #[derive(Debug)]
        pub struct $name;
        impl MinRole for $name {
            const ROLE: Role = $role;
        }
    )*};
}
role_marker!(Viewer => Role::Viewer, Editor => Role::Editor, Approver => Role::Approver, Admin => Role::Admin);

/// The authenticated caller of an admin route, holding at least role `R`. As an extractor it
/// runs before the body is read, so a bad token is 401/403 whatever the body says.
#[derive(Debug)]
pub struct Caller<R>(pub Actor, pub std::marker::PhantomData<R>);

impl<R: MinRole> axum::extract::FromRequestParts<AppState> for Caller<R> {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let actor = require(state, &parts.method, &parts.headers, R::ROLE).await?;
        Ok(Caller(actor, std::marker::PhantomData))
    }
}
