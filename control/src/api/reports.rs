//! Saved report definitions (`/api/v1/reports`): list, create, read, replace, delete (writes
//! audited as `report.create|update|delete`), and run one: for each test it selects, the
//! chosen metrics' per-variant rows ([`crate::report::rows`]) overall and per chosen segment,
//! from the results as `GET /api/v1/tests/{key}/results` computes them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;

use crate::auth::{Caller, Editor, Viewer};
use crate::db::reports::{self, SavedReport};
use crate::db::{tests, Mutation};
use crate::error::{AppError, AppResult};
use crate::extract::{JsonBody, Path};
use crate::report::saved::Definition;
use crate::report::{self, Row};
use crate::state::AppState;

/// Tests one run computes results for, at most (by key); `truncated` says when more matched.
pub const MAX_RUN_TESTS: usize = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reports", get(list).post(create))
        .route(
            "/api/v1/reports/{id}",
            get(read).put(replace).delete(remove),
        )
        .route("/api/v1/reports/{id}/run", get(run))
}

fn checked(d: Definition) -> AppResult<Definition> {
    let errors = d.check();
    if errors.is_empty() {
        Ok(d)
    } else {
        Err(AppError::Validation(errors))
    }
}

fn not_found(id: &str) -> AppError {
    AppError::NotFound(format!("report `{id}`"))
}

async fn list(
    State(state): State<AppState>,
    _: Caller<Viewer>,
) -> AppResult<Json<serde_json::Value>> {
    let mut conn = state.db.reader.acquire().await?;
    Ok(Json(json!({ "reports": reports::list(&mut conn).await? })))
}

async fn read(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Path(id): Path<String>,
) -> AppResult<Json<SavedReport>> {
    let mut conn = state.db.reader.acquire().await?;
    Ok(Json(
        reports::get(&mut conn, &id)
            .await?
            .ok_or_else(|| not_found(&id))?,
    ))
}

async fn create(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Editor>,
    JsonBody(d): JsonBody<Definition>,
) -> AppResult<(StatusCode, Json<SavedReport>)> {
    let d = checked(d)?;
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random id: {e}"))?;
    let mut m = Mutation::begin(&state.db).await?;
    let r = SavedReport {
        id: format!("rp_{}", hex::encode(bytes)),
        definition: d,
        created_by: actor.0.clone(),
        created_at: m.at,
        updated_at: m.at,
    };
    reports::insert(&mut m.tx, &r).await?;
    let after = serde_json::to_value(&r)?;
    m.finish(&actor, "report.create", &r.id, None, Some(&after))
        .await?;
    Ok((StatusCode::CREATED, Json(r)))
}

async fn replace(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Editor>,
    Path(id): Path<String>,
    JsonBody(d): JsonBody<Definition>,
) -> AppResult<Json<SavedReport>> {
    let d = checked(d)?;
    let mut m = Mutation::begin(&state.db).await?;
    let old = reports::get(&mut m.tx, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    reports::update(&mut m.tx, &id, &d, m.at).await?;
    let new = SavedReport {
        definition: d,
        updated_at: m.at,
        ..old.clone()
    };
    let (before, after) = (serde_json::to_value(&old)?, serde_json::to_value(&new)?);
    m.finish(&actor, "report.update", &id, Some(&before), Some(&after))
        .await?;
    Ok(Json(new))
}

async fn remove(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Editor>,
    Path(id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let mut m = Mutation::begin(&state.db).await?;
    let old = reports::get(&mut m.tx, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    reports::delete(&mut m.tx, &id).await?;
    let before = serde_json::to_value(&old)?;
    m.finish(&actor, "report.delete", &id, Some(&before), None)
        .await?;
    Ok(Json(json!({ "deleted": id })))
}

/// One row of a run: a test's row.
#[derive(Debug, Serialize)]
struct RunRow {
    test: String,
    #[serde(flatten)]
    row: Row,
}

#[tracing::instrument(skip_all, fields(id))]
async fn run(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Path(id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let (saved, selected) = {
        let mut conn = state.db.reader.acquire().await?;
        let saved = reports::get(&mut conn, &id)
            .await?
            .ok_or_else(|| not_found(&id))?;
        let selected: Vec<_> = tests::list(&mut conn, None)
            .await?
            .into_iter()
            .filter(|t| saved.definition.selects(t))
            .collect();
        (saved, selected)
    };
    let d = &saved.definition;
    let mut rows = Vec::new();
    let mut keys = Vec::new();
    for t in selected.iter().take(MAX_RUN_TESTS) {
        let q = super::exports::default_query();
        let (results, _) = super::tests::results_of(&state, t, &q).await?;
        keys.push(t.spec.key.clone());
        rows.extend(
            report::rows(&results, &d.metrics, d.breakdowns())
                .into_iter()
                .map(|row| RunRow {
                    test: t.spec.key.clone(),
                    row,
                }),
        );
    }
    Ok(Json(json!({
        "report": saved,
        "tests": keys,
        "truncated": selected.len() > MAX_RUN_TESTS,
        "rows": rows,
    })))
}
