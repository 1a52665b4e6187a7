//! The monitor's routes: its summary over every test, one test's latest evaluation, a tick on
//! demand, and a test's time-bucketed history with the lift and its interval at each bucket.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use edgewise_shared::snapshot::{MetricDef, MetricRole};

use edgewise_shared::stats::{analyze, Outcome, VariantInput};
use serde::{Deserialize, Serialize};

use crate::auth::{Admin, Caller, Viewer};
use crate::db::aggregates::{self, Aggregates};
use crate::db::{history, monitor, tests};
use crate::error::{AppError, AppResult};
use crate::extract::{Path, Query};
use crate::jobs::monitor::TickReport;
use crate::results::{analysis_input, exposed, percentile_cap, variant_inputs, Filter};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/monitor", get(summary))
        .route("/api/v1/monitor/run", post(run))
        .route("/api/v1/tests/{key}/monitor", get(evaluation))
        .route("/api/v1/tests/{key}/history", get(series))
}

/// One line per evaluated test, from its latest evaluation.
#[derive(Debug, Serialize)]
struct TestSummary {
    test: String,
    at: i64,
    days_running: f64,
    recommendation: Option<String>,
    variant: Option<String>,
    days_remaining: Option<f64>,
    findings: Vec<String>,
}

async fn summary(
    State(state): State<AppState>,
    _: Caller<Viewer>,
) -> AppResult<Json<serde_json::Value>> {
    let mut conn = state.db.reader.acquire().await?;
    let last = |v: Option<String>| v.and_then(|v| v.parse::<i64>().ok());
    let last_tick = last(monitor::state(&mut conn, "tick.last").await?);
    let last_closed = last(monitor::state(&mut conn, "history.closed").await?);
    let mut tests = Vec::new();
    for body in monitor::evaluations(&mut conn).await? {
        let e: serde_json::Value = serde_json::from_str(&body)?;
        let r = &e["recommendation"];
        tests.push(TestSummary {
            test: e["test"].as_str().unwrap_or_default().to_owned(),
            at: e["at"].as_i64().unwrap_or_default(),
            days_running: e["days_running"].as_f64().unwrap_or_default(),
            recommendation: r["recommendation"].as_str().map(str::to_owned),
            variant: r["variant"].as_str().map(str::to_owned),
            days_remaining: r["days_remaining"].as_f64(),
            findings: e["findings"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .filter_map(|f| f["key"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    let config = state.jobs.config;
    Ok(Json(serde_json::json!({
        "leader": state.jobs.leads().await,
        "interval_secs": config.interval.as_secs_f64(),
        "bucket_secs": config.bucket.as_secs_f64(),
        "last_tick": last_tick,
        "last_closed_bucket": last_closed,
        "tests": tests,
    })))
}

/// Runs one tick now, on this replica if it leads the monitor.
async fn run(State(state): State<AppState>, _: Caller<Admin>) -> AppResult<Json<TickReport>> {
    if !state.jobs.lead().await {
        return Err(AppError::Conflict(
            "another replica leads the monitor; its ticks run there".into(),
        ));
    }
    Ok(Json(state.jobs.tick().await?))
}

async fn evaluation(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Path(key): Path<String>,
) -> AppResult<Response> {
    let mut conn = state.db.reader.acquire().await?;
    tests::get_or_404(&mut conn, &key).await?;
    // The test exists (else 404), so a missing evaluation is a state of the test, not a missing
    // resource: the monitor evaluates running tests, at its next tick for one just started.
    let body = monitor::evaluation(&mut conn, &key).await?.ok_or_else(|| {
        AppError::Conflict(format!(
            "`{key}` has no evaluation yet: the monitor evaluates running tests, every {} s",
            state.jobs.config.interval.as_secs_f64()
        ))
    })?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct SeriesQuery {
    metric: Option<String>,
    segment: Option<String>,
}

/// The segment a name selects: `overall`, `device:<class>` or `persona:<key>`.
fn filter(segment: &str) -> Option<Filter<'_>> {
    match segment.split_once(':') {
        None if segment == "overall" => Some(Filter::All),
        Some(("device", d)) => Some(Filter::Device(d)),
        Some(("persona", p)) => Some(Filter::Persona(p)),
        _ => None,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// The bucket's start (closed buckets), or now (the live point).
    pub at: i64,
    pub closed: bool,
    pub variants: Vec<edgewise_shared::stats::VariantInput>,
    pub comparisons: Vec<Lift>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Lift {
    pub variant: String,
    /// Relative lift, its fixed-horizon interval and p-value, and the sequential interval.
    pub lift: Option<f64>,
    pub ci: Option<[f64; 2]>,
    pub p_value: Option<f64>,
    pub sequential_ci: Option<[f64; 2]>,
}

/// The metric a history shows: the named one, else the primary, else the first; `None` for a
/// test without metrics (its history has the exposures alone).
pub fn history_metric<'a>(
    spec: &'a crate::model::TestSpec,
    named: Option<&str>,
) -> AppResult<Option<&'a MetricDef>> {
    Ok(match named {
        Some(m) => {
            Some(spec.metrics.iter().find(|d| d.key == m).ok_or_else(|| {
                AppError::NotFound(format!("metric `{m}` of test `{}`", spec.key))
            })?)
        }
        None => spec
            .metrics
            .iter()
            .find(|m| m.role == MetricRole::Primary)
            .or(spec.metrics.first()),
    })
}

async fn series(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Path(key): Path<String>,
    Query(q): Query<SeriesQuery>,
) -> AppResult<Json<serde_json::Value>> {
    let test = {
        let mut conn = state.db.reader.acquire().await?;
        tests::get_or_404(&mut conn, &key).await?
    };
    let metric = history_metric(&test.spec, q.metric.as_deref())?;
    let segment = q.segment.as_deref().unwrap_or("overall");
    let f = filter(segment).ok_or_else(|| {
        AppError::invalid(
            "segment",
            "expected overall, device:<class> or persona:<key>",
        )
    })?;
    let points = history(&state, &test.spec, metric, f).await?;
    Ok(Json(serde_json::json!({
        "test": key,
        "metric": metric.map(|m| m.key.clone()),
        "segment": segment,
        "bucket_secs": state.jobs.config.bucket.as_secs_f64(),
        "points": points,
    })))
}

/// A test's history in segment `f`: per closed bucket, oldest first, then now, each variant's
/// cumulative numbers and each comparison's lift with its intervals (`GET …/history`; the
/// printable report draws it).
pub async fn history(
    state: &AppState,
    spec: &crate::model::TestSpec,
    metric: Option<&MetricDef>,
    f: Filter<'_>,
) -> AppResult<Vec<Point>> {
    let mut conn = state.db.reader.acquire().await?;
    let key = &spec.key;
    let weights: Vec<f64> = spec.variants.iter().map(|v| v.weight).collect();
    let point = |at: i64, closed: bool, agg: &Aggregates| {
        let Some(metric) = metric else {
            let variants = spec
                .variants
                .iter()
                .zip(exposed(&spec.variants, &agg.exposures, f))
                .map(|(v, n)| VariantInput {
                    name: v.key.clone(),
                    n,
                    ..VariantInput::default()
                })
                .collect();
            return Point {
                at,
                closed,
                variants,
                comparisons: Vec::new(),
            };
        };
        let variants = variant_inputs(spec, agg, metric, percentile_cap(spec, agg, metric), f);
        let comparisons = match analyze(&analysis_input(
            metric.kind,
            0.05,
            &weights,
            variants.clone(),
        )) {
            Ok(out) => out
                .comparisons
                .iter()
                .map(|c| {
                    let fixed = match &c.frequentist.relative {
                        Outcome::Value(e) => Some(*e),
                        Outcome::Refused { .. } => None,
                    };
                    Lift {
                        variant: c.variant.clone(),
                        lift: fixed.map(|e| e.estimate),
                        ci: fixed.map(|e| e.ci),
                        p_value: fixed.map(|e| e.p_value),
                        sequential_ci: c.sequential.relative.value().map(|e| e.ci),
                    }
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        Point {
            at,
            closed,
            variants,
            comparisons,
        }
    };
    let mut points: Vec<Point> = history::of_test(&mut conn, key)
        .await?
        .iter()
        .map(|(bucket, agg)| point(*bucket, true, agg))
        .collect();
    let live = aggregates::aggregates(&mut conn, &state.db.shard_schemas(), key).await?;
    points.push(point(crate::db::now_ms(), false, &live));
    Ok(points)
}
