//! `GET /healthz` (the process answers) and `GET /readyz` (it can do its work: the database
//! answers, its migrations are this build's, SQLite's writer threads run), for load balancers
//! and orchestrators. Neither needs a token.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::db::dialect::migration_versions;
use crate::state::AppState;

/// How long the database may take to answer before the replica counts as not ready.
const DB_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
}

async fn ready(State(state): State<AppState>) -> Response {
    let db = &state.db;
    let checked = tokio::time::timeout(DB_TIMEOUT, async {
        let mut conn = db.reader.acquire().await?;
        migration_versions(&mut conn, db.dialect).await
    })
    .await;
    let (database, migrations_ok, migrations) = match checked {
        Ok(Ok((expected, applied))) => (
            "ok".to_owned(),
            applied == Some(expected),
            json!({"expected": expected, "applied": applied}),
        ),
        Ok(Err(e)) => (format!("error: {e}"), false, serde_json::Value::Null),
        Err(_) => ("timeout".to_owned(), false, serde_json::Value::Null),
    };
    let writer = match &state.writer {
        Some(w) if w.running() => "running",
        Some(_) => "stopped",
        None => "none",
    };
    let ready = database == "ok" && migrations_ok && writer != "stopped";
    let body = json!({
        "ready": ready,
        "database": database,
        "migrations": migrations,
        "writer": writer,
        "leads_monitor": state.jobs.leads().await,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
