//! Audit log reading and verification, and GDPR unit deletion.

use std::collections::HashMap;

use axum::extract::State;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;

use crate::auth::{Admin, Caller};
use crate::db::tokens::sha256_hex;
use crate::db::{aggregates, audit, tests, Mutation};
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

/// GDPR erasure. The audit entry names the unit by hash only, so the log keeps no personal id.
async fn delete_unit(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Admin>,
    Path(unit_id): Path<String>,
) -> AppResult<Json<aggregates::Deleted>> {
    let mut m = Mutation::begin(&state.db).await?;
    let _turns = state.db.shard_turns().await;
    let metrics: HashMap<_, _> = tests::list(&mut m.tx, None)
        .await?
        .into_iter()
        .map(|t| (t.spec.key, t.spec.metrics))
        .collect();
    let deleted = aggregates::delete_unit(
        &mut m.tx,
        state.db.dialect,
        &state.db.shard_schemas(),
        &unit_id,
        &metrics,
    )
    .await?;
    let after = serde_json::to_value(&deleted)?;
    let target = format!("unit:sha256:{}", sha256_hex(&unit_id));
    m.finish(&actor, "unit.delete", &target, None, Some(&after))
        .await?;
    Ok(Json(deleted))
}
