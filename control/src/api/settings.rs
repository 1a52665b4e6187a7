//! Site-wide settings: layers, holdout, personas and allowed origins (validated by compiling the
//! snapshot they would produce), the monitor's decision defaults, and the exposure dimensions
//! new tests get. Each is replaced whole by a `PUT`.

use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use edgewise_shared::decide::DecisionSettings;
use edgewise_shared::snapshot::{HoldoutDef, LayerDef, PersonaDef};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::{Caller, Editor, Viewer};
use crate::db::{settings, tests, Actor, Mutation};
use crate::error::AppResult;
use crate::extract::JsonBody;
use crate::model::{validate_settings, Settings};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/settings", get(read))
        .route("/api/v1/layers", put(put_layers))
        .route("/api/v1/holdout", put(put_holdout))
        .route("/api/v1/personas", put(put_personas))
        .route("/api/v1/allowed-origins", put(put_origins))
        .route("/api/v1/decision", put(put_decision))
        .route("/api/v1/dimensions", put(put_dimensions))
}

async fn read(State(state): State<AppState>, _: Caller<Viewer>) -> AppResult<Json<Settings>> {
    let mut conn = state.db.reader.acquire().await?;
    Ok(Json(settings::load(&mut conn).await?))
}

/// Replaces one setting: `key` names its row and `set` puts the value into [`Settings`].
async fn replace<T: Serialize + DeserializeOwned + Clone>(
    state: &AppState,
    actor: &Actor,
    key: &str,
    value: T,
    set: impl FnOnce(&mut Settings, T),
) -> AppResult<Json<Settings>> {
    let mut m = Mutation::begin(&state.db).await?;
    let old = settings::load(&mut m.tx).await?;
    let mut new = old.clone();
    set(&mut new, value.clone());
    let published: Vec<_> = tests::list(&mut m.tx, None)
        .await?
        .into_iter()
        .filter(|t| t.status.published())
        .collect();
    validate_settings(&new, &published).into_result()?;
    let json = serde_json::to_value(&value)?;
    settings::put(&mut m.tx, key, &json).await?;
    let (before, after) = (serde_json::to_value(&old)?, serde_json::to_value(&new)?);
    let action = format!("settings.{key}");
    if m.finish(actor, &action, key, Some(&before), Some(&after))
        .await?
        .is_some()
    {
        state.publish.notify_one();
    }
    Ok(Json(new))
}

async fn put_layers(
    State(s): State<AppState>,
    Caller(a, _): Caller<Editor>,
    JsonBody(v): JsonBody<Vec<LayerDef>>,
) -> AppResult<Json<Settings>> {
    replace(&s, &a, "layers", v, |st, v| st.layers = v).await
}

async fn put_holdout(
    State(s): State<AppState>,
    Caller(a, _): Caller<Editor>,
    JsonBody(v): JsonBody<Option<HoldoutDef>>,
) -> AppResult<Json<Settings>> {
    replace(&s, &a, "holdout", v, |st, v| st.holdout = v).await
}

async fn put_personas(
    State(s): State<AppState>,
    Caller(a, _): Caller<Editor>,
    JsonBody(v): JsonBody<Vec<PersonaDef>>,
) -> AppResult<Json<Settings>> {
    replace(&s, &a, "personas", v, |st, v| st.personas = v).await
}

async fn put_origins(
    State(s): State<AppState>,
    Caller(a, _): Caller<Editor>,
    JsonBody(v): JsonBody<Vec<String>>,
) -> AppResult<Json<Settings>> {
    replace(&s, &a, "allowed_origins", v, |st, v| st.allowed_origins = v).await
}

/// The org's decision defaults for the monitor (each test may override them).
async fn put_decision(
    State(s): State<AppState>,
    Caller(a, _): Caller<Editor>,
    JsonBody(v): JsonBody<DecisionSettings>,
) -> AppResult<Json<Settings>> {
    v.check()
        .map_err(|e| crate::error::AppError::invalid(e.field, e.message))?;
    replace(&s, &a, "decision", v, |st, v| st.decision = v).await
}

/// The exposure dimensions a test created without its own gets (at most 5).
async fn put_dimensions(
    State(s): State<AppState>,
    Caller(a, _): Caller<Editor>,
    JsonBody(v): JsonBody<Vec<String>>,
) -> AppResult<Json<Settings>> {
    edgewise_shared::dimensions::check(&v).map_err(|(i, message)| {
        let field = i.map_or("dimensions".to_owned(), |i| format!("dimensions[{i}]"));
        crate::error::AppError::invalid(field, message)
    })?;
    replace(&s, &a, "dimensions", v, |st, v| st.dimensions = v).await
}
