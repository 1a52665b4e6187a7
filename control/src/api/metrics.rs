//! `GET /metrics`: the control plane's counters and timings in Prometheus' text format
//! ([`crate::telemetry`]); open unless `--metrics-token` is set, then it asks for that bearer
//! token. Every request is counted by matched route, method and status ([`track`]).

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::AppError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let want = state.metrics_token.expose();
    if !want.is_empty() {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| {
            crate::db::tokens::sha256_hex(g) == crate::db::tokens::sha256_hex(want)
        }) {
            return AppError::Unauthorized.into_response();
        }
    }
    let m = &state.metrics;
    // What is read at the scrape: the writer's queue and the database's round trip.
    if let Some(w) = &state.writer {
        m.writer_queue
            .set(i64::try_from(w.queued()).unwrap_or(i64::MAX));
    }
    let started = Instant::now();
    let pinged = tokio::time::timeout(Duration::from_secs(2), async {
        let mut conn = state.db.reader.acquire().await?;
        sqlx::query("SELECT 1").execute(&mut *conn).await?;
        Ok::<_, sqlx::Error>(())
    })
    .await;
    if matches!(pinged, Ok(Ok(()))) {
        m.db_seconds.observe(started.elapsed().as_secs_f64());
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        m.render(),
    )
        .into_response()
}

/// Counts and times every request by its matched route (`unmatched` for none), method and
/// status.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    let m = &state.metrics;
    m.http_requests
        .with_label_values(&[&route, &method, resp.status().as_str()])
        .inc();
    m.http_seconds
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
    resp
}
