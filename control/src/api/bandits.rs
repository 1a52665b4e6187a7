//! `GET /api/v1/tests/{key}/bandit`: a bandit's arms (period-weighted estimate, interval,
//! pooled estimate, probability of being best, current weight) and its weights history.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use edgewise_shared::bandit::periods::estimates;
use edgewise_shared::bandit::update;
use serde_json::{json, Value};

use crate::auth::{Caller, Viewer};
use crate::db::tests;
use crate::error::{AppError, AppResult};
use crate::extract::Path;
use crate::jobs::bandit::state;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/tests/{key}/bandit", get(bandit))
}

async fn bandit(
    State(state_): State<AppState>,
    _: Caller<Viewer>,
    Path(key): Path<String>,
) -> AppResult<Json<Value>> {
    let rec = {
        let mut conn = state_.db.reader.acquire().await?;
        tests::get_or_404(&mut conn, &key).await?
    };
    let Some(s) = state(&state_.db, &rec).await? else {
        // The test exists: it is not a bandit (409), rather than missing (404).
        return Err(AppError::Conflict(format!(
            "test `{key}` has fixed allocation: it has no bandit"
        )));
    };
    let probability_best = update(s.kind, &s.data, s.settings.floor)
        .map(|u| u.probability_best)
        .unwrap_or_default();
    let total: f64 = rec.spec.variants.iter().map(|v| v.weight).sum();
    let arms: Vec<Value> = rec
        .spec
        .variants
        .iter()
        .zip(estimates(&s.data, 0.05))
        .enumerate()
        .map(|(i, (v, e))| {
            json!({
                "variant": v.key,
                "weight": v.weight / total,
                "probability_best": probability_best.get(i),
                "units": s.data.iter().map(|p| p[i].units).sum::<u64>(),
                "mean": e.map(|e| e.mean),
                "se": e.map(|e| e.se),
                "ci": e.map(|e| e.ci),
                "pooled_mean": e.map(|e| e.pooled_mean),
            })
        })
        .collect();
    let periods: Vec<Value> = s
        .periods
        .iter()
        .map(|p| {
            json!({
                "period": p.period,
                "started_at": p.started_at,
                "snapshot_version": p.snapshot_version,
                "weights": serde_json::from_str::<Value>(&p.weights).unwrap_or(Value::Null),
                "probability_best": serde_json::from_str::<Value>(&p.probability_best)
                    .unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(Json(json!({
        "test": key,
        "metric": s.metric,
        "metric_type": s.kind,
        "settings": s.settings,
        "arms": arms,
        "periods": periods,
    })))
}
