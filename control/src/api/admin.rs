//! Audit log reading and verification, and GDPR unit deletion.

use axum::extract::State;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;

use crate::auth::{Admin, Caller};
use crate::db::{audit, erasure};
use crate::error::AppResult;
use crate::extract::{Path, Query};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit", get(list))
        .route("/api/v1/audit/verify", get(verify))
        .route("/api/v1/units/{unit_id}", delete(delete_unit))
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    _: Caller<Admin>,
    Query(q): Query<AuditQuery>,
) -> AppResult<Json<serde_json::Value>> {
    let limit = crate::extract::limit(q.limit, 100)?;
    let mut conn = state.db.reader.acquire().await?;
    let entries = audit::list(&mut conn, q.after.unwrap_or(0), limit).await?;
    Ok(Json(serde_json::json!({ "entries": entries })))
}

async fn verify(
    State(state): State<AppState>,
    _: Caller<Admin>,
) -> AppResult<Json<audit::Verdict>> {
    let mut conn = state.db.reader.acquire().await?;
    Ok(Json(audit::verify(&mut conn).await?))
}

/// GDPR erasure ([`erasure::erase`]).
async fn delete_unit(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Admin>,
    Path(unit_id): Path<String>,
) -> AppResult<Json<erasure::Deleted>> {
    Ok(Json(erasure::erase(&state.db, &actor, &unit_id).await?))
}
