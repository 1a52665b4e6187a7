//! Four eyes (issue 19): a test's risk score sets how many approvals its start needs
//! ([`crate::checks::approval`]); approvers who are not its authors approve or reject it,
//! every step audited; a change to the test withdraws its approvals. The thresholds are the
//! org's (`PUT /api/v1/approval-thresholds`, off until set).

use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use edgewise_shared::plan::approvals::{Decision, Entry};
use edgewise_shared::plan::ApprovalThresholds;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{Admin, Approver, Caller, Viewer};
use crate::db::{approvals, settings, tests, Mutation};
use crate::error::{AppError, AppResult};
use crate::extract::{JsonBody, RawBody};
use crate::model::{Settings, Status};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tests/{key}/approvals", get(read))
        .route("/api/v1/tests/{key}/approve", post(approve))
        .route("/api/v1/tests/{key}/reject", post(reject))
        .route("/api/v1/approval-thresholds", put(thresholds))
}

/// A comment: optional on an approval, required on a rejection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Comment {
    #[serde(default)]
    comment: String,
}

const MAX_COMMENT_CHARS: usize = 1000;

async fn view(conn: &mut sqlx::AnyConnection, key: &str) -> AppResult<Value> {
    let test = tests::get_or_404(&mut *conn, key).await?;
    let (risk, status) = crate::checks::approval(&mut *conn, &test.spec).await?;
    let history = approvals::list(&mut *conn, key).await?;
    // Who created or changed it: they may not approve it (the dashboard offers them no button).
    let authors = approvals::authors(&mut *conn, key).await?;
    Ok(json!({"test": key, "risk": risk, "status": status, "history": history, "authors": authors}))
}

async fn read(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    Path(key): Path<String>,
) -> AppResult<Json<Value>> {
    let mut conn = state.db.reader.acquire().await?;
    Ok(Json(view(&mut conn, &key).await?))
}

async fn decide(
    state: &AppState,
    actor: crate::db::Actor,
    key: &str,
    decision: Decision,
    comment: String,
) -> AppResult<Json<Value>> {
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(AppError::invalid(
            "comment",
            format!("at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    if decision == Decision::Reject && comment.is_empty() {
        return Err(AppError::invalid("comment", "a rejection says why"));
    }
    let mut m = Mutation::begin(&state.db).await?;
    let test = tests::get_or_404(&mut m.tx, key).await?;
    if test.status != Status::Draft {
        return Err(AppError::Conflict(format!(
            "only a draft is approved or rejected; this test is {}",
            test.status.as_str()
        )));
    }
    if approvals::authors(&mut m.tx, key).await?.contains(&actor.0) {
        return Err(AppError::Conflict(
            "an author of the test cannot approve or reject it".into(),
        ));
    }
    let entry = Entry {
        actor: actor.0.clone(),
        decision,
        comment,
        spec_hash: crate::checks::spec_hash(&test.spec),
        at: m.at,
    };
    approvals::record(&mut m.tx, key, &entry).await?;
    let action = match decision {
        Decision::Approve => "test.approve",
        Decision::Reject => "test.reject",
    };
    let after = serde_json::to_value(&entry)?;
    m.finish(&actor, action, key, None, Some(&after)).await?;
    let mut conn = state.db.reader.acquire().await?;
    Ok(Json(view(&mut conn, key).await?))
}

async fn approve(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Approver>,
    Path(key): Path<String>,
    RawBody(body): RawBody,
) -> AppResult<Json<Value>> {
    // The comment is optional, and so is the body.
    let comment = if body.is_empty() {
        String::new()
    } else {
        crate::extract::parse::<Option<Comment>>(&body)?
            .map(|c| c.comment)
            .unwrap_or_default()
    };
    decide(&state, actor, &key, Decision::Approve, comment).await
}

async fn reject(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Approver>,
    Path(key): Path<String>,
    JsonBody(body): JsonBody<Comment>,
) -> AppResult<Json<Value>> {
    decide(&state, actor, &key, Decision::Reject, body.comment).await
}

/// The risk scores from which a start needs one, then two approvals (`101`: never).
async fn thresholds(
    State(state): State<AppState>,
    Caller(actor, _): Caller<Admin>,
    JsonBody(t): JsonBody<ApprovalThresholds>,
) -> AppResult<Json<Settings>> {
    if t.one > 101 {
        return Err(AppError::invalid("one", "must be 0 to 101"));
    }
    if t.two < t.one || t.two > 101 {
        return Err(AppError::invalid("two", "must be from `one` to 101"));
    }
    let mut m = Mutation::begin(&state.db).await?;
    let old = settings::load(&mut m.tx).await?;
    settings::put(&mut m.tx, "approval_thresholds", &serde_json::to_value(t)?).await?;
    let new = Settings {
        approval_thresholds: t,
        ..old.clone()
    };
    let (before, after) = (serde_json::to_value(&old)?, serde_json::to_value(&new)?);
    m.finish(
        &actor,
        "settings.approval_thresholds",
        "approval_thresholds",
        Some(&before),
        Some(&after),
    )
    .await?;
    Ok(Json(new))
}
