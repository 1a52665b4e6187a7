//! API tokens and ingestion keys: list them (never their secrets) and revoke them. Creating
//! one prints its secret once, so that stays with the CLI (`edgewise token create`,
//! `edgewise ingest-key create`).

use axum::extract::State;
use axum::routing::{delete, get};
use axum::{Json, Router};

use crate::auth::{Admin, Caller};
use crate::db::tokens::{self, Credential};
use crate::error::AppResult;
use crate::extract::Path;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tokens", get(list_tokens))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .route("/api/v1/ingest-keys", get(list_ingest_keys))
        .route("/api/v1/ingest-keys/{id}", delete(revoke_ingest_key))
}

async fn list_tokens(
    State(state): State<AppState>,
    _: Caller<Admin>,
) -> AppResult<Json<serde_json::Value>> {
    let mut conn = state.db.reader.acquire().await?;
    let tokens = tokens::list_tokens(&mut conn).await?;
    Ok(Json(serde_json::json!({ "tokens": tokens })))
}

async fn list_ingest_keys(
    State(state): State<AppState>,
    _: Caller<Admin>,
) -> AppResult<Json<serde_json::Value>> {
    let mut conn = state.db.reader.acquire().await?;
    let keys = tokens::list_ingest_keys(&mut conn).await?;
    Ok(Json(serde_json::json!({ "ingest_keys": keys })))
}

/// Takes effect at once: every request checks the token in the database.
async fn revoke_token(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Admin>,
    Path(id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let revoked = tokens::revoke(&state.db, &actor, Credential::Token, &id).await?;
    Ok(Json(serde_json::json!({ "revoked": revoked })))
}

/// Takes effect for every request that starts after it: servers keep valid keys in memory
/// only until the audit counter moves, and the revocation moves it.
async fn revoke_ingest_key(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Admin>,
    Path(id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let revoked = tokens::revoke(&state.db, &actor, Credential::IngestKey, &id).await?;
    Ok(Json(serde_json::json!({ "revoked": revoked })))
}
