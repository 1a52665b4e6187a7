//! Snapshot versions: list, view, roll back, publish state, and `GET /v1/snapshot` for
//! pull-based edges (ETag = the version, so an unchanged edge gets a bodyless 304).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use edgewise_shared::Snapshot;
use serde::Deserialize;

use crate::auth::{Approver, Caller, Viewer};
use crate::db::{snapshots, Mutation};
use crate::error::{AppError, AppResult};
use crate::extract::{Path, Query};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/snapshots", get(list))
        .route("/api/v1/snapshots/{version}", get(view))
        .route("/api/v1/snapshots/{version}/rollback", post(rollback))
        .route("/api/v1/publish", get(publish_state))
}

fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `GET /v1/snapshot`: the latest snapshot, 304 if the edge already has it.
pub async fn serve_latest(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let mut conn = state.db.reader.acquire().await?;
    let Some(version) = snapshots::latest_version(&mut conn).await? else {
        return Err(AppError::NotFound(
            "snapshot (nothing published yet)".into(),
        ));
    };
    let etag = format!("\"{version}\"");
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let etag_value = HeaderValue::from_str(&etag).map_err(anyhow::Error::from)?;
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response());
    }
    let body = snapshots::get(&mut conn, version).await?;
    let mut resp = json_response(body);
    resp.headers_mut().insert(header::ETAG, etag_value);
    Ok(resp)
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<serde_json::Value>> {
    let limit = crate::extract::limit(q.limit, 100)?;
    let mut conn = state.db.reader.acquire().await?;
    let all = snapshots::list(&mut conn, limit).await?;
    Ok(Json(serde_json::json!({ "snapshots": all })))
}

async fn view(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Path(version): Path<i64>,
) -> AppResult<Response> {
    let mut conn = state.db.reader.acquire().await?;
    Ok(json_response(snapshots::get(&mut conn, version).await?))
}

/// Publishes an old version's content as a new version. The tables are not changed: the next
/// admin change publishes from the current definitions again (see docs/control.md).
async fn rollback(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Approver>,
    Path(version): Path<i64>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    let mut m = Mutation::begin(&state.db).await?;
    let body = snapshots::get(&mut m.tx, version).await?;
    let snap: Snapshot = serde_json::from_str(&body).map_err(|e| {
        AppError::invalid(
            "version",
            format!("snapshot version {version} cannot be read by this build: {e}"),
        )
    })?;
    let reason = format!("rollback to {version}");
    let published = snapshots::publish(&mut m.tx, snap, m.at, &actor.0, &reason).await?;
    let new = published.version;
    m.skipped = published.newly_skipped;
    m.skip_refresh = true;
    let after = serde_json::json!({ "rolled_back_to": version, "new_version": new });
    m.finish(
        &actor,
        "snapshot.rollback",
        &version.to_string(),
        None,
        Some(&after),
    )
    .await?;
    state.publish.notify_one();
    Ok((StatusCode::CREATED, Json(after)))
}

async fn publish_state(
    State(state): State<AppState>,
    _: Caller<Viewer>,
) -> AppResult<Json<serde_json::Value>> {
    let mut conn = state.db.reader.acquire().await?;
    let latest = snapshots::latest_version(&mut conn).await?;
    let targets = snapshots::publish_states(&mut conn).await?;
    Ok(Json(
        serde_json::json!({ "latest_version": latest, "targets": targets }),
    ))
}
