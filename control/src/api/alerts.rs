//! Alerts the monitor raised: list them, acknowledge one.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::auth::{Caller, Editor, Viewer};
use crate::db::{monitor, Mutation};
use crate::error::{AppError, AppResult};
use crate::extract::{Path, Query};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alerts", get(list))
        .route("/api/v1/alerts/{id}/ack", post(ack))
}

#[derive(Debug, Deserialize)]
struct AlertsQuery {
    test: Option<String>,
    #[serde(default)]
    unacked: bool,
    limit: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Query(q): Query<AlertsQuery>,
) -> AppResult<Json<serde_json::Value>> {
    let limit = crate::extract::limit(q.limit, 100)?;
    let mut conn = state.db.reader.acquire().await?;
    let alerts = monitor::alerts(&mut conn, q.test.as_deref(), q.unacked, limit).await?;
    Ok(Json(serde_json::json!({ "alerts": alerts })))
}

async fn ack(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Editor>,
    Path(id): Path<i64>,
) -> AppResult<Json<monitor::Alert>> {
    let mut m = Mutation::begin(&state.db).await?;
    if !monitor::ack(&mut m.tx, id, &actor.0, m.at).await? {
        return Err(AppError::NotFound(format!("alert {id}")));
    }
    let alert = monitor::alert(&mut m.tx, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("alert {id}")))?;
    let after = serde_json::json!({ "acked_at": alert.acked_at, "acked_by": alert.acked_by });
    m.finish(&actor, "alert.ack", &id.to_string(), None, Some(&after))
        .await?;
    Ok(Json(alert))
}
