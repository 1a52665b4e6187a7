//! Bearer-token checks: admin routes need a token with at least a given role; ingestion needs
//! a site's ingestion key. Tokens are looked up by SHA-256 hash, never stored in the clear.

use axum::http::{header, HeaderMap};

use crate::db::tokens::{check_token, Role};
use crate::db::Actor;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The caller, if their token has at least `role`: 401 without a valid token, 403 if too weak.
pub async fn require(state: &AppState, headers: &HeaderMap, role: Role) -> AppResult<Actor> {
    let secret = bearer(headers).ok_or(AppError::Unauthorized)?;
    let mut conn = state.db.reader.acquire().await?;
    let (id, has) = check_token(&mut conn, secret)
        .await?
        .ok_or(AppError::Unauthorized)?;
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
        let actor = require(state, &parts.headers, R::ROLE).await?;
        Ok(Caller(actor, std::marker::PhantomData))
    }
}
