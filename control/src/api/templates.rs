//! The org's own test templates (`/api/v1/templates`, docs/automation.md): create, read (the
//! current version or any earlier one), change (each change a new version) and delete, beside
//! the built-in ones. A template is checked as the test it drafts, so a test drafted from it
//! is accepted as it is; the checks before a start and `POST /api/v1/plans` read the current
//! version.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use edgewise_shared::plan::templates::{self, Template, TemplateDef};
use edgewise_shared::plan::{self, PlanInput};
use serde_json::{json, Value};
use sqlx::AnyConnection;

use crate::auth::{Caller, Editor, Viewer};
use crate::db::templates::{self as stored, Version};
use crate::db::{settings, Mutation};
use crate::error::{AppError, AppResult, FieldError};
use crate::extract::{JsonBody, Path, Query};
use crate::model::{validate_test, TestSpec};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/templates", get(list).post(create))
        .route(
            "/api/v1/templates/{name}",
            get(read).put(change).delete(remove),
        )
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionQuery {
    version: Option<i64>,
}

/// A template as the API shows it: built-in ones have version 0 and no author.
fn view(t: &Template, v: Option<&Version>) -> Value {
    json!({
        "name": t.name,
        "builtin": v.is_none(),
        "version": v.map_or(0, |v| v.version),
        "description": t.description,
        "content": t.control,
        "content_keys": t.content_keys,
        "metrics": t.metrics,
        "decision": t.decision,
        "tags": t.tags,
        "sensitive": t.sensitive,
        "updated_at": v.map(|v| v.at),
        "updated_by": v.map(|v| v.actor.as_str()),
    })
}

/// Refuses a definition whose own fields are wrong, or whose draft test would be refused
/// (422 naming the template's field: `metrics[0].kind`, `decision.alpha`, `tags[1]`).
async fn check(conn: &mut AnyConnection, def: &TemplateDef) -> AppResult<()> {
    def.check().map_err(|(f, m)| AppError::invalid(f, m))?;
    let t = def.template();
    let input = PlanInput {
        key: "template-check".into(),
        baseline: 0.1,
        mde: 0.1,
        daily_units: 1000.0,
        variants: 2,
        coverage: 1.0,
        alpha: 0.05,
        power: 0.8,
    };
    let mut draft = plan::plan(&t, &input)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("template draft: {e:?}")))?
        .draft;
    draft["template"] = json!(t.name);
    let spec: TestSpec = serde_json::from_value(draft)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("template draft: {e}")))?;
    let cfg = settings::load(&mut *conn).await?;
    let problems = validate_test(&spec, &[], &cfg, &[t], false);
    let errors: Vec<FieldError> = problems
        .invalid
        .into_iter()
        .map(|e| {
            let field = match e.field.strip_prefix("variants[0].content") {
                Some(rest) => format!("content{rest}"),
                None => e.field.clone(),
            };
            FieldError::new(field, e.message)
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

async fn list(State(state): State<AppState>, _: Caller<Viewer>) -> AppResult<Json<Value>> {
    let mut conn = state.db.reader.acquire().await?;
    let mut out: Vec<Value> = templates::builtin().iter().map(|t| view(t, None)).collect();
    for v in stored::current(&mut conn).await? {
        out.push(view(&v.definition.template(), Some(&v)));
    }
    Ok(Json(json!({ "templates": out })))
}

/// The current version of `name`, if it is the org's own and not deleted.
async fn current(conn: &mut AnyConnection, name: &str) -> AppResult<Option<Version>> {
    Ok(stored::versions(conn, name)
        .await?
        .pop()
        .filter(|v| !v.deleted))
}

fn not_found(name: &str) -> AppError {
    AppError::NotFound(format!("template `{name}`"))
}

/// The current version of the org's own template `name`, which a change or a deletion needs:
/// 409 for a built-in one (they never change), 404 when there is none.
async fn own(conn: &mut AnyConnection, name: &str) -> AppResult<Version> {
    if templates::named(name).is_some() {
        return Err(AppError::Conflict(format!(
            "`{name}` is a built-in template: it cannot change; create one of your own"
        )));
    }
    current(conn, name).await?.ok_or_else(|| not_found(name))
}

async fn read(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> AppResult<Json<Value>> {
    if let Some(t) = templates::named(&name) {
        return match q.version {
            None | Some(0) => Ok(Json(view(&t, None))),
            Some(v) => Err(AppError::NotFound(format!("version {v} of `{name}`"))),
        };
    }
    let mut conn = state.db.reader.acquire().await?;
    let v = match q.version {
        None => current(&mut conn, &name).await?,
        Some(n) => stored::versions(&mut conn, &name)
            .await?
            .into_iter()
            .find(|v| v.version == n && !v.deleted),
    }
    .ok_or_else(|| not_found(&name))?;
    Ok(Json(view(&v.definition.template(), Some(&v))))
}

/// Stores `def` as the next version (or its deletion) and audits it; the snapshot does not
/// change.
async fn store(
    state: &AppState,
    actor: &crate::db::Actor,
    action: &str,
    def: &TemplateDef,
    before: Option<&Version>,
    deleted: bool,
) -> AppResult<Version> {
    let mut m = Mutation::begin(&state.db).await?;
    m.skip_refresh = true;
    // Checked again inside the transaction: another replica may have written meanwhile.
    let now = current(&mut m.tx, &def.name).await?;
    if now.as_ref().map(|v| v.version) != before.map(|v| v.version) {
        return Err(AppError::Conflict(format!(
            "template `{}` changed meanwhile: read it again",
            def.name
        )));
    }
    let version = stored::put(&mut m.tx, def, deleted, m.at, &actor.0).await?;
    let v = Version {
        name: def.name.clone(),
        version,
        deleted,
        at: m.at,
        actor: actor.0.clone(),
        definition: def.clone(),
    };
    let (b, a) = (
        before.map(serde_json::to_value).transpose()?,
        (!deleted).then(|| serde_json::to_value(&v)).transpose()?,
    );
    m.finish(actor, action, &def.name, b.as_ref(), a.as_ref())
        .await?;
    Ok(v)
}

async fn create(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Editor>,
    JsonBody(def): JsonBody<TemplateDef>,
) -> AppResult<(StatusCode, Json<Value>)> {
    let mut conn = state.db.reader.acquire().await?;
    check(&mut conn, &def).await?;
    if current(&mut conn, &def.name).await?.is_some() {
        return Err(AppError::Conflict(format!(
            "template `{}` already exists: PUT changes it",
            def.name
        )));
    }
    drop(conn);
    let v = store(&state, &actor, "template.create", &def, None, false).await?;
    Ok((StatusCode::CREATED, Json(view(&def.template(), Some(&v)))))
}

/// The next version of `name`: its body is a template without its `name` (the URL has it).
async fn change(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Editor>,
    Path(name): Path<String>,
    JsonBody(mut body): JsonBody<serde_json::Map<String, Value>>,
) -> AppResult<Json<Value>> {
    let mut conn = state.db.reader.acquire().await?;
    let old = own(&mut conn, &name).await?;
    if body.contains_key("name") {
        return Err(AppError::invalid(
            "name",
            "the template's name is the one in the URL: leave it out",
        ));
    }
    body.insert("name".into(), json!(name));
    let def: TemplateDef = crate::extract::parse(&serde_json::to_vec(&body)?)?;
    check(&mut conn, &def).await?;
    drop(conn);
    let v = store(&state, &actor, "template.update", &def, Some(&old), false).await?;
    Ok(Json(view(&def.template(), Some(&v))))
}

async fn remove(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Editor>,
    Path(name): Path<String>,
) -> AppResult<Json<Value>> {
    let mut conn = state.db.reader.acquire().await?;
    let old = own(&mut conn, &name).await?;
    drop(conn);
    let v = store(
        &state,
        &actor,
        "template.delete",
        &old.definition,
        Some(&old),
        true,
    )
    .await?;
    Ok(Json(json!({ "deleted": name, "version": v.version })))
}
