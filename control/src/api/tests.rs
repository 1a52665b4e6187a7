//! Tests: create (draft), read, list, update, lifecycle transitions, raw aggregates and results
//! (the statistics, computed by [`crate::results`] from the aggregates).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::auth::{Approver, Caller, Editor, Viewer};
use crate::db::Actor;
use crate::db::{aggregates, settings, tests, Mutation};
use crate::error::{AppError, AppResult};
use crate::extract::{JsonBody, Path, Query};
use crate::lifecycle;
use crate::lifecycle::frozen_change;
use crate::model::{validate_test, Status, TestRecord, TestSpec, Transition};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tests", get(list).post(create))
        .route("/api/v1/tests/{key}", get(read).put(update))
        .route("/api/v1/tests/{key}/start", post(start))
        .route("/api/v1/tests/{key}/validate", post(validate))
        .route("/api/v1/tests/{key}/pause", post(pause))
        .route("/api/v1/tests/{key}/resume", post(resume))
        .route("/api/v1/tests/{key}/stop", post(stop))
        .route("/api/v1/tests/{key}/archive", post(archive))
        .route("/api/v1/tests/{key}/aggregates", get(aggregates))
        .route("/api/v1/tests/{key}/results", get(results))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<serde_json::Value>> {
    let status = q
        .status
        .map(|s| Status::parse(&s).ok_or_else(|| AppError::invalid("status", "unknown status")))
        .transpose()?;
    let mut conn = state.db.reader.acquire().await?;
    let all = tests::list(&mut conn, status).await?;
    let mut listed = Vec::with_capacity(all.len());
    let summaries = summaries(&mut conn, &state.db.shard_schemas(), &all).await?;
    for (t, summary) in all.iter().zip(summaries) {
        let mut v = serde_json::to_value(t)?;
        v["summary"] = summary;
        listed.push(v);
    }
    Ok(Json(serde_json::json!({ "tests": listed })))
}

/// What the tests list shows of each test besides its record, in a few queries for all of
/// them: days running, exposed units, the primary metric's lift with the monitor's
/// (sequential) interval and its recommendation from its latest evaluation, open alerts, and
/// the risk score.
async fn summaries(
    conn: &mut sqlx::AnyConnection,
    schemas: &[String],
    all: &[TestRecord],
) -> AppResult<Vec<serde_json::Value>> {
    use serde_json::{json, Value};
    let units = aggregates::fingerprints(&mut *conn, schemas, "1 = 1").await?;
    let open = crate::db::monitor::open_alerts_by_test(&mut *conn).await?;
    let mut evaluations = std::collections::HashMap::new();
    for body in crate::db::monitor::evaluations(&mut *conn).await? {
        let e: Value = serde_json::from_str(&body)?;
        if let Some(k) = e["test"].as_str() {
            evaluations.insert(k.to_owned(), e);
        }
    }
    let risk = crate::checks::RiskContext::load(&mut *conn).await?;
    let now = crate::db::now_ms();
    Ok(all
        .iter()
        .map(|t| {
            let key = &t.spec.key;
            let e = evaluations.get(key);
            let days = match (t.status, t.started_at) {
                (Status::Running | Status::Paused, Some(s)) => {
                    Some(((now - s) as f64 / 86_400_000.0).max(0.0))
                }
                _ => e.and_then(|e| e["days_running"].as_f64()),
            };
            let r = e.map(|e| &e["recommendation"]);
            let arms = r.and_then(|r| r["arms"].as_array());
            let arm = arms.and_then(|arms| {
                let chosen = r.and_then(|r| r["variant"].as_str());
                arms.iter()
                    .find(|a| chosen.is_some_and(|c| a["variant"] == c))
                    .or(arms.first())
            });
            let primary = t
                .spec
                .metrics
                .iter()
                .find(|m| m.role == edgewise_shared::snapshot::MetricRole::Primary);
            json!({
                "days_running": days,
                "units": units.get(key).map_or(0, |f| f.exposed),
                "primary": arm.map(|a| json!({
                    "metric": primary.map(|m| &m.key),
                    "variant": a["variant"],
                    "lift": a["lift"],
                    "ci": a["ci"],
                })),
                "recommendation": r.and_then(|r| r["recommendation"].as_str()),
                "evaluated_at": e.and_then(|e| e["at"].as_i64()),
                "open_alerts": open.get(key).copied().unwrap_or(0),
                "risk": risk.risk(&t.spec).score,
            })
        })
        .collect())
}

#[tracing::instrument(skip_all, fields(key))]
async fn read(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Path(key): Path<String>,
) -> AppResult<Json<TestRecord>> {
    let mut conn = state.db.reader.acquire().await?;
    Ok(Json(tests::get_or_404(&mut conn, &key).await?))
}

#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Editor>,
    JsonBody(mut spec): JsonBody<TestSpec>,
) -> AppResult<(StatusCode, Json<TestRecord>)> {
    let mut m = Mutation::begin(&state.db).await?;
    let others = tests::list(&mut m.tx, None).await?;
    let published: Vec<TestRecord> = others
        .iter()
        .filter(|t| t.status.published())
        .cloned()
        .collect();
    let cfg = settings::load(&mut m.tx).await?;
    // A test without dimensions of its own gets the org's.
    if spec.dimensions.is_empty() {
        spec.dimensions = cfg.dimensions.clone();
    }
    let templates = crate::db::templates::all(&mut m.tx).await?;
    validate_test(&spec, &published, &cfg, &templates, false).into_result()?;
    if !tests::insert(&mut m.tx, &spec, m.at).await? {
        return Err(AppError::Conflict(format!(
            "test `{}` already exists",
            spec.key
        )));
    }
    let rec = tests::get_or_404(&mut m.tx, &spec.key).await?;
    let after = serde_json::to_value(&rec)?;
    if m.finish(&actor, "test.create", &spec.key, None, Some(&after))
        .await?
        .is_some()
    {
        state.publish.notify_one();
    }
    Ok((StatusCode::CREATED, Json(rec)))
}

#[tracing::instrument(skip_all, fields(key))]
async fn update(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Editor>,
    Path(key): Path<String>,
    JsonBody(spec): JsonBody<TestSpec>,
) -> AppResult<Json<TestRecord>> {
    if spec.key != key {
        return Err(AppError::invalid("key", "must match the test in the URL"));
    }
    let mut m = Mutation::begin(&state.db).await?;
    let old = tests::get_or_404(&mut m.tx, &key).await?;
    match old.status {
        Status::Stopped | Status::Archived => {
            return Err(AppError::Conflict(format!(
                "a {} test cannot be edited",
                old.status.as_str()
            )))
        }
        Status::Running | Status::Paused => {
            if let Some(why) = frozen_change(&old.spec, &spec) {
                return Err(AppError::Conflict(why.into()));
            }
        }
        Status::Draft => {}
    }
    let others: Vec<TestRecord> = tests::list(&mut m.tx, None)
        .await?
        .into_iter()
        .filter(|t| t.status.published())
        .collect();
    let cfg = settings::load(&mut m.tx).await?;
    let templates = crate::db::templates::all(&mut m.tx).await?;
    validate_test(
        &spec,
        &others,
        &cfg,
        &templates,
        old.status != Status::Draft,
    )
    .into_result()?;
    let mut rec = old.clone();
    rec.spec = spec;
    rec.updated_at = m.at;
    tests::update(&mut m.tx, &rec, m.at).await?;
    let (before, after) = (serde_json::to_value(&old)?, serde_json::to_value(&rec)?);
    if m.finish(&actor, "test.update", &key, Some(&before), Some(&after))
        .await?
        .is_some()
    {
        state.publish.notify_one();
    }
    Ok(Json(rec))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopBody {
    winner: String,
}

async fn transition(
    state: &AppState,
    actor: &Actor,
    key: &str,
    t: Transition,
    winner: Option<String>,
) -> AppResult<Json<TestRecord>> {
    let (rec, version) = lifecycle::transition(&state.db, actor, key, t, winner, None).await?;
    if version.is_some() {
        state.publish.notify_one();
    }
    Ok(Json(rec))
}

async fn start(
    State(s): State<AppState>,
    Caller(a, _): Caller<Approver>,
    Path(k): Path<String>,
) -> AppResult<Json<TestRecord>> {
    transition(&s, &a, &k, Transition::Start, None).await
}

async fn pause(
    State(s): State<AppState>,
    Caller(a, _): Caller<Editor>,
    Path(k): Path<String>,
) -> AppResult<Json<TestRecord>> {
    transition(&s, &a, &k, Transition::Pause, None).await
}

async fn resume(
    State(s): State<AppState>,
    Caller(a, _): Caller<Approver>,
    Path(k): Path<String>,
) -> AppResult<Json<TestRecord>> {
    transition(&s, &a, &k, Transition::Resume, None).await
}

async fn stop(
    State(s): State<AppState>,
    Caller(a, _): Caller<Approver>,
    Path(k): Path<String>,
    JsonBody(StopBody { winner }): JsonBody<StopBody>,
) -> AppResult<Json<TestRecord>> {
    transition(&s, &a, &k, Transition::Stop, Some(winner)).await
}

async fn archive(
    State(s): State<AppState>,
    Caller(a, _): Caller<Approver>,
    Path(k): Path<String>,
) -> AppResult<Json<TestRecord>> {
    transition(&s, &a, &k, Transition::Archive, None).await
}

#[tracing::instrument(skip_all, fields(key))]
async fn aggregates(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Path(key): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let mut conn = state.db.reader.acquire().await?;
    tests::get_or_404(&mut conn, &key).await?;
    let agg = aggregates::aggregates(&mut conn, &state.db.shard_schemas(), &key).await?;
    Ok(Json(serde_json::json!({ "test": key, "aggregates": agg })))
}

/// The checks a test must pass before it starts: errors (start refuses while any remains) and
/// warnings, each with its rule and field ([`crate::checks`]).
#[tracing::instrument(skip_all, fields(key))]
async fn validate(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Path(key): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    use edgewise_shared::plan::checks::Severity;
    let mut conn = state.db.reader.acquire().await?;
    let test = tests::get_or_404(&mut conn, &key).await?;
    let findings = crate::checks::run(&mut conn, &state.db.shard_schemas(), &test.spec).await?;
    let (errors, warnings): (Vec<_>, Vec<_>) = findings
        .into_iter()
        .partition(|f| f.severity == Severity::Error);
    Ok(Json(serde_json::json!({
        "test": key, "errors": errors, "warnings": warnings
    })))
}

#[tracing::instrument(skip_all, fields(key))]
async fn results(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Path(key): Path<String>,
    Query(q): Query<crate::results::ResultsQuery>,
) -> AppResult<Json<crate::results::Results>> {
    if !(q.alpha > 0.0 && q.alpha < 0.5) {
        return Err(AppError::invalid("alpha", "must be in (0, 0.5)"));
    }
    let test = {
        let mut conn = state.db.reader.acquire().await?;
        tests::get_or_404(&mut conn, &key).await?
    };
    Ok(Json(results_of(&state, &test, &q).await?.0))
}

/// A test's results as `GET /api/v1/tests/{key}/results` computes them (the export, the
/// report and saved reports call it too), with the aggregates they came from.
pub async fn results_of(
    state: &AppState,
    test: &TestRecord,
    q: &crate::results::ResultsQuery,
) -> AppResult<(crate::results::Results, aggregates::Aggregates)> {
    let started = std::time::Instant::now();
    let key = &test.spec.key;
    let (agg, priors) = {
        let mut conn = state.db.reader.acquire().await?;
        let schemas = state.db.shard_schemas();
        let mut agg = aggregates::aggregates(&mut conn, &schemas, key).await?;
        agg.unit_events =
            crate::db::unit_events::load(&mut conn, &schemas, key, &test.spec.metrics).await?;
        let priors = crate::api::learn::priors_for(&mut conn, &test.spec).await?;
        (agg, priors)
    };
    let weights = crate::jobs::bandit::expected_weights(&state.db, test).await?;
    let results = crate::results::compute(&test.spec, &weights, &agg, q, &priors);
    state
        .metrics
        .results_seconds
        .observe(started.elapsed().as_secs_f64());
    Ok((results, agg))
}
