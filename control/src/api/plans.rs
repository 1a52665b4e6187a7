//! `POST /api/v1/plans`: a draft test from a template, sized at the observed traffic and
//! baseline (or given ones), with its risk score at the org's approval thresholds and, when
//! past tests teach a prior, the predicted lift and chance of significance by its planned end
//! (docs/automation.md). Nothing is stored: the draft is the body of a `POST /api/v1/tests`.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use edgewise_shared::learn::{learn, predict, Draft};
use edgewise_shared::plan::{self, approvals_needed, PlanInput};
use edgewise_shared::snapshot::{MetricRole, Targeting};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{Caller, Viewer};
use crate::db::{learned, settings};
use crate::error::{AppError, AppResult};
use crate::extract::JsonBody;
use crate::model::TestSpec;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/plans", post(plan_test))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanRequest {
    template: String,
    key: String,
    /// Relative minimum detectable effect.
    mde: f64,
    /// The primary metric's rate; observed in the running tests that have it when absent.
    #[serde(default)]
    baseline: Option<f64>,
    /// Units a day; the busiest running test's when absent.
    #[serde(default)]
    daily_units: Option<f64>,
    #[serde(default = "two", deserialize_with = "whole")]
    variants: u32,
    #[serde(default = "all")]
    coverage: f64,
    #[serde(default)]
    pages: Vec<String>,
    #[serde(default)]
    targeting: Option<Targeting>,
}

fn two() -> u32 {
    2
}

fn all() -> f64 {
    1.0
}

fn whole<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let x = <f64 as Deserialize>::deserialize(d)?;
    if x.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&x) {
        Ok(x as u32)
    } else {
        Err(serde::de::Error::custom("expected a whole number"))
    }
}

async fn plan_test(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    JsonBody(req): JsonBody<PlanRequest>,
) -> AppResult<Json<Value>> {
    let mut conn = state.db.reader.acquire().await?;
    let t = crate::db::templates::all(&mut conn)
        .await?
        .into_iter()
        .find(|t| t.name == req.template)
        .ok_or_else(|| AppError::invalid("template", format!("no template `{}`", req.template)))?;
    if !(2..=10).contains(&req.variants) {
        return Err(AppError::invalid(
            "variants",
            "must be 2 to 10, control included",
        ));
    }
    if !(req.coverage > 0.0 && req.coverage <= 1.0) {
        return Err(AppError::invalid(
            "coverage",
            "must be above 0 and at most 1",
        ));
    }
    // The template's primary metric, to look its baseline up.
    let probe: TestSpec = serde_json::from_value(json!({
        "key": req.key, "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
        "metrics": t.metrics
    }))
    .map_err(|e| AppError::Internal(anyhow::anyhow!("template {}: {e}", t.name)))?;
    let traffic = crate::checks::traffic(&mut conn, &state.db.shard_schemas(), &probe).await?;
    let (baseline, baseline_source) = match (req.baseline, traffic.baseline) {
        (Some(b), _) => (b, "given"),
        (None, Some(b)) => (b, "observed"),
        (None, None) => {
            return Err(AppError::invalid(
                "baseline",
                "no running test observes the template's primary metric: give a baseline",
            ))
        }
    };
    let (daily_units, daily_source) = match (req.daily_units, traffic.daily_units) {
        (Some(u), _) => (u, "given"),
        (None, Some(u)) => (u, "observed"),
        (None, None) => {
            return Err(AppError::invalid(
                "daily_units",
                "no running test shows the traffic: give daily_units",
            ))
        }
    };
    if !(daily_units > 0.0 && daily_units.is_finite()) {
        return Err(AppError::invalid("daily_units", "must be a number above 0"));
    }
    let input = PlanInput {
        key: req.key.clone(),
        baseline,
        mde: req.mde,
        daily_units,
        variants: req.variants,
        coverage: req.coverage,
        alpha: 0.05,
        power: 0.8,
    };
    let mut p = plan::plan(&t, &input).map_err(|e| AppError::invalid(e.field, e.message))?;
    p.draft["template"] = json!(t.name);
    if !req.pages.is_empty() {
        p.draft["pages"] = json!(req.pages);
    }
    if let Some(targeting) = &req.targeting {
        p.draft["targeting"] = serde_json::to_value(targeting)?;
    }
    // The risk and approvals as the control plane will score the draft.
    let spec: TestSpec = serde_json::from_value(p.draft.clone())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("draft: {e}")))?;
    let risk = crate::checks::risk(&mut conn, &spec).await?;
    let thresholds = settings::load(&mut conn).await?.approval_thresholds;
    p.approvals_needed = approvals_needed(risk.score, thresholds);
    p.risk = risk;
    // The prediction, when past tests teach a prior for the primary metric or the tags.
    let primary = spec
        .metrics
        .iter()
        .find(|m| m.role == MetricRole::Primary)
        .map(|m| m.key.clone())
        .unwrap_or_default();
    let history = learned::history(&mut conn).await?;
    let draft = Draft {
        metric: primary,
        tags: spec.tags.clone(),
        baseline,
        daily_units: daily_units * req.coverage,
        variants: req.variants,
        alpha: 0.05,
        days: p.expected_days as f64,
    };
    let prediction = draft
        .check()
        .ok()
        .map(|()| predict(&draft, &history.tests, &learn(&history)));
    Ok(Json(json!({
        "plan": p,
        "baseline": {"value": baseline, "source": baseline_source},
        "daily_units": {"value": daily_units, "source": daily_source},
        "prediction": prediction,
    })))
}
