//! `GET /api/v1/system`: the health summary the dashboard shows, from the database (so every
//! replica answers alike): ingestion over the last minute and hour and its lag, publishing,
//! the database's size, the monitor's last tick, webhook delivery failures.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::auth::{Caller, Viewer};
use crate::db::{events, monitor, now_ms, snapshots, webhooks, Dialect};
use crate::error::AppResult;
use crate::state::AppState;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/system", get(system))
}

#[tracing::instrument(skip_all)]
async fn system(
    State(state): State<AppState>,
    _: Caller<Viewer>,
) -> AppResult<Json<serde_json::Value>> {
    let now = now_ms();
    let schemas = state.db.shard_schemas();
    let mut conn = state.db.reader.acquire().await?;
    let (last_minute, newest) = events::recent(&mut conn, &schemas, now - MINUTE_MS).await?;
    let (last_hour, _) = events::recent(&mut conn, &schemas, now - HOUR_MS).await?;
    let latest = snapshots::latest_version(&mut conn).await?;
    let targets = snapshots::publish_states(&mut conn).await?;
    let last_tick = monitor::state(&mut conn, "tick.last")
        .await?
        .and_then(|v| v.parse::<i64>().ok());
    let (failed_attempts, failed_deliveries) = webhooks::failures(&mut conn, now - DAY_MS).await?;
    drop(conn);
    let (bytes, files) = crate::db::dialect::size(&state.db).await?;
    let files: Vec<_> = files
        .into_iter()
        .map(|(file, bytes)| json!({"file": file, "bytes": bytes}))
        .collect();
    let accepted_here = state
        .metrics
        .ingest_events
        .with_label_values(&["accepted"])
        .get();
    Ok(Json(json!({
        "at": now,
        "ingestion": {
            "events_last_minute": last_minute,
            "events_last_hour": last_hour,
            "newest_event_ts": newest,
            "lag_ms": newest.map(|t| (now - t).max(0)),
            "accepted_by_this_replica": accepted_here,
        },
        "publish": {
            "latest_version": latest,
            "targets": targets,
        },
        "database": {
            "engine": match state.db.dialect {
                Dialect::Sqlite => "sqlite",
                Dialect::Postgres => "postgres",
            },
            "bytes": bytes,
            "files": files,
        },
        "monitor": {
            "last_tick": last_tick,
            "leader": state.jobs.leads().await,
            "interval_secs": state.jobs.config.interval.as_secs_f64(),
        },
        "webhooks": {
            "failed_attempts_last_day": failed_attempts,
            "failed_deliveries": failed_deliveries,
        },
    })))
}
