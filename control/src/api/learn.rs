//! Learning across tests over the API: `GET /api/v1/priors`, `GET /api/v1/insights` and
//! `POST /api/v1/predict`, from what stopped tests taught ([`crate::db::learned`]) through
//! [`edgewise_shared::learn`] (docs/learning.md).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use edgewise_shared::learn::{
    learn, predict, prior_for, statements, Draft, Prediction, MIN_TESTS_FOR_PRIOR,
};
use edgewise_shared::snapshot::{MetricKind, MetricRole};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{Caller, Viewer};
use crate::db::{aggregates, learned, now_ms, settings, tests};
use crate::error::{AppError, AppResult};
use crate::extract::JsonBody as Body;
use crate::results::{exposed, Filter, PriorUsed, Priors};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/priors", get(priors))
        .route("/api/v1/insights", get(insights))
        .route("/api/v1/predict", post(prediction))
}

async fn priors(State(state): State<AppState>, _: Caller<Viewer>) -> AppResult<Json<Value>> {
    let mut conn = state.db.reader.acquire().await?;
    let history = learned::history(&mut conn).await?;
    let l = learn(&history);
    Ok(Json(json!({
        "priors": l.priors,
        "by_tag": l.by_tag,
        "shrunken": l.shrunken,
        "tests": history.tests.len(),
        "min_tests": MIN_TESTS_FOR_PRIOR,
    })))
}

async fn insights(State(state): State<AppState>, _: Caller<Viewer>) -> AppResult<Json<Value>> {
    let mut conn = state.db.reader.acquire().await?;
    let history = learned::history(&mut conn).await?;
    let l = learn(&history);
    Ok(Json(json!({
        "statements": statements(&l),
        "heterogeneity": l.heterogeneity,
        "tests": history.tests.len(),
        "min_tests": MIN_TESTS_FOR_PRIOR,
    })))
}

/// The priors of `spec`'s metrics when its decision settings (over the org's) switch the
/// learned prior on: each metric's tag or metric pool, or the flat prior; empty when off.
pub async fn priors_for(
    conn: &mut sqlx::AnyConnection,
    spec: &crate::model::TestSpec,
) -> AppResult<Priors> {
    let org = settings::load(conn).await?.decision;
    let on = spec
        .decision
        .as_ref()
        .map_or(org.learned_prior, |o| org.with(o).learned_prior);
    if !on {
        return Ok(Priors::new());
    }
    let history = learned::history(conn).await?;
    let l = learn(&history);
    Ok(spec
        .metrics
        .iter()
        .map(|m| {
            let used = match prior_for(&l, &m.key, &spec.tags) {
                Some((source, p)) => PriorUsed {
                    source,
                    n_tests: p.n_tests,
                    mean: Some(p.mu),
                    // A new test's lift varies by τ around μ, and μ is known to its se.
                    stddev: Some((p.tau2 + p.se * p.se).sqrt()),
                },
                None => PriorUsed {
                    source: "flat".into(),
                    n_tests: history.tests.iter().filter(|t| t.metric == m.key).count(),
                    mean: None,
                    stddev: None,
                },
            };
            (m.key.clone(), used)
        })
        .collect())
}

/// A running test and the day to predict for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunningTest {
    test: String,
    days: f64,
}

/// `body` as a `T`, or a 422 naming the field.
fn parse<T: serde::de::DeserializeOwned>(body: Value) -> AppResult<T> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        AppError::invalid(field, e.into_inner().to_string())
    })
}

async fn prediction(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Body(body): Body<Value>,
) -> AppResult<Json<Prediction>> {
    let mut conn = state.db.reader.acquire().await?;
    let draft = if body.get("test").is_some() {
        let RunningTest { test, days } = parse(body)?;
        let rec = tests::get_or_404(&mut conn, &test).await?;
        let agg = aggregates::aggregates(&mut conn, &state.db.shard_schemas(), &test).await?;
        draft_of_running(&rec, &agg, days)?
    } else {
        parse::<Draft>(body)?
    };
    draft
        .check()
        .map_err(|e| AppError::invalid(e.field, e.message))?;
    let history = learned::history(&mut conn).await?;
    Ok(Json(predict(&draft, &history.tests, &learn(&history))))
}

/// A running test as a draft: its primary metric (a conversion rate) and tags, the control's
/// observed rate, its observed daily traffic.
fn draft_of_running(
    rec: &crate::model::TestRecord,
    agg: &aggregates::Aggregates,
    days: f64,
) -> AppResult<Draft> {
    let spec = &rec.spec;
    let primary = spec
        .metrics
        .iter()
        .find(|m| m.role == MetricRole::Primary)
        .filter(|m| matches!(m.kind, MetricKind::Binomial | MetricKind::Retention))
        .ok_or_else(|| {
            AppError::Conflict("a prediction needs a conversion-rate primary metric".into())
        })?;
    let units = exposed(&spec.variants, &agg.exposures, Filter::All);
    let control_units = units.first().copied().unwrap_or(0);
    let control = spec
        .variants
        .first()
        .map(|v| v.key.as_str())
        .unwrap_or_default();
    let conversions: f64 = agg
        .metrics
        .iter()
        .filter(|c| c.metric == primary.key && c.variant == control)
        .map(|c| c.sum)
        .sum();
    let started = rec
        .started_at
        .ok_or_else(|| AppError::Conflict("the test has not started".into()))?;
    let days_running = ((now_ms() - started) as f64 / 86_400_000.0).max(1.0 / 24.0);
    if control_units == 0 || conversions <= 0.0 {
        return Err(AppError::Conflict(
            "the control has no conversions yet to take a baseline from".into(),
        ));
    }
    Ok(Draft {
        metric: primary.key.clone(),
        tags: spec.tags.clone(),
        baseline: conversions / control_units as f64,
        daily_units: units.iter().sum::<u64>() as f64 / days_running,
        variants: spec.variants.len() as u32,
        alpha: 0.05,
        days,
    })
}
