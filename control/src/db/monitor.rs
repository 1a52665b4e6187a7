//! The monitor's tables: its state (`monitor_state`: the last closed bucket, the last tick),
//! each test's latest evaluation, what it remembers of each finding, and the alerts it raised.

use std::collections::HashMap;

use edgewise_shared::decide::{Finding, Memory};
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use super::aggregates::RUNNING;
use crate::error::AppResult;

/// The `monitor_state` name of a test's ramp state ([`crate::jobs::ramp`]).
pub fn ramp_state(test: &str) -> String {
    format!("ramp:{test}")
}

pub async fn state(conn: &mut AnyConnection, name: &str) -> AppResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT value FROM monitor_state WHERE name = $1")
            .bind(name)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn set_state(conn: &mut AnyConnection, name: &str, value: &str) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO monitor_state (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(name)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(())
}

/// What the monitor remembers of each running test's findings.
pub async fn memory(conn: &mut AnyConnection) -> AppResult<HashMap<String, Vec<Memory>>> {
    let rows: Vec<(String, String, Option<f64>)> = sqlx::query_as(&format!(
        "SELECT test, finding, acted_at_severity FROM monitor_memory \
         WHERE {} ORDER BY test, finding",
        RUNNING
    ))
    .fetch_all(conn)
    .await?;
    let mut all: HashMap<String, Vec<Memory>> = HashMap::new();
    for (test, key, acted_at_severity) in rows {
        all.entry(test).or_default().push(Memory {
            key,
            acted_at_severity,
        });
    }
    Ok(all)
}

/// Replaces what the monitor remembers of `test`.
pub async fn put_memory(conn: &mut AnyConnection, test: &str, memory: &[Memory]) -> AppResult<()> {
    sqlx::query("DELETE FROM monitor_memory WHERE test = $1")
        .bind(test)
        .execute(&mut *conn)
        .await?;
    for m in memory {
        sqlx::query(
            "INSERT INTO monitor_memory (test, finding, acted_at_severity) VALUES ($1, $2, $3)",
        )
        .bind(test)
        .bind(&m.key)
        .bind(m.acted_at_severity)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn put_evaluation(
    conn: &mut AnyConnection,
    test: &str,
    at: i64,
    body: &str,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO monitor_evaluations (test, at, body) VALUES ($1, $2, $3) \
         ON CONFLICT (test) DO UPDATE SET at = excluded.at, body = excluded.body",
    )
    .bind(test)
    .bind(at)
    .bind(body)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn evaluation(conn: &mut AnyConnection, test: &str) -> AppResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT body FROM monitor_evaluations WHERE test = $1")
            .bind(test)
            .fetch_optional(conn)
            .await?,
    )
}

/// Every stored evaluation's JSON, by test key.
pub async fn evaluations(conn: &mut AnyConnection) -> AppResult<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT body FROM monitor_evaluations ORDER BY test")
            .fetch_all(conn)
            .await?,
    )
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Alert {
    pub id: i64,
    pub at: i64,
    pub test: String,
    pub kind: String,
    pub finding: String,
    pub severity: f64,
    pub message: String,
    /// The numbers behind the finding, JSON.
    pub detail: String,
    /// What the monitor did about it: `pause`, `stop`, or nothing.
    pub action: Option<String>,
    pub acked_at: Option<i64>,
    pub acked_by: Option<String>,
}

/// Stores an alert; returns it.
/// An alert that snapshot `version` could not be pushed to edge `target` after `attempts`
/// tries (kind `publish`, no test): the edge keeps serving its previous snapshot meanwhile.
pub async fn insert_publish_alert(
    conn: &mut AnyConnection,
    at: i64,
    target: &str,
    version: i64,
    attempts: i64,
    error: &str,
) -> AppResult<i64> {
    let detail = serde_json::json!({
        "target": target, "version": version, "attempts": attempts, "error": error
    });
    Ok(sqlx::query_scalar(
        "INSERT INTO alerts (at, test, kind, finding, severity, message, detail, action) \
         VALUES ($1, '', 'publish', $2, 1.0, $3, $4, NULL) RETURNING id",
    )
    .bind(at)
    .bind(format!("publish:{target}"))
    .bind(format!(
        "snapshot version {version} could not be pushed to {target} after {attempts} tries \
         ({error}); it keeps serving its previous snapshot, and pushing goes on"
    ))
    .bind(detail.to_string())
    .fetch_one(conn)
    .await?)
}

pub async fn insert_alert(
    conn: &mut AnyConnection,
    at: i64,
    test: &str,
    finding: &Finding,
    action: Option<&str>,
) -> AppResult<Alert> {
    let kind = serde_json::to_value(finding.kind)?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let detail = finding.detail.to_string();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO alerts (at, test, kind, finding, severity, message, detail, action) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(at)
    .bind(test)
    .bind(&kind)
    .bind(&finding.key)
    .bind(finding.severity)
    .bind(&finding.message)
    .bind(&detail)
    .bind(action)
    .fetch_one(conn)
    .await?;
    Ok(Alert {
        id,
        at,
        test: test.to_owned(),
        kind,
        finding: finding.key.clone(),
        severity: finding.severity,
        message: finding.message.clone(),
        detail,
        action: action.map(str::to_owned),
        acked_at: None,
        acked_by: None,
    })
}

const ALERT_COLS: &str =
    "id, at, test, kind, finding, severity, message, detail, action, acked_at, acked_by";

/// Alerts, newest first: of one test or all, only the unacknowledged ones if asked.
pub async fn alerts(
    conn: &mut AnyConnection,
    test: Option<&str>,
    unacked_only: bool,
    limit: i64,
) -> AppResult<Vec<Alert>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ALERT_COLS} FROM alerts WHERE ($1 = '' OR test = $1) \
         AND ($2 = 0 OR acked_at IS NULL) ORDER BY id DESC LIMIT $3"
    ))
    .bind(test.unwrap_or(""))
    .bind(i64::from(unacked_only))
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Alerts with an id above `after`, oldest first (at most 1,000).
pub async fn alerts_after(conn: &mut AnyConnection, after: i64) -> AppResult<Vec<Alert>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ALERT_COLS} FROM alerts WHERE id > $1 ORDER BY id LIMIT 1000"
    ))
    .bind(after)
    .fetch_all(conn)
    .await?)
}

/// The newest alert's id (0 when there is none).
pub async fn last_alert_id(conn: &mut AnyConnection) -> AppResult<i64> {
    Ok(
        sqlx::query_scalar("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM alerts")
            .fetch_one(conn)
            .await?,
    )
}

/// Unacknowledged alerts per test (publish alerts, which have no test, under `""`).
pub async fn open_alerts_by_test(conn: &mut AnyConnection) -> AppResult<HashMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT test, CAST(COUNT(*) AS BIGINT) FROM alerts WHERE acked_at IS NULL GROUP BY test",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

pub async fn alert(conn: &mut AnyConnection, id: i64) -> AppResult<Option<Alert>> {
    Ok(
        sqlx::query_as(&format!("SELECT {ALERT_COLS} FROM alerts WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Acknowledges an alert (the first acknowledgement stands). False if it does not exist.
pub async fn ack(conn: &mut AnyConnection, id: i64, by: &str, at: i64) -> AppResult<bool> {
    let done = sqlx::query(
        "UPDATE alerts SET acked_at = COALESCE(acked_at, $2), acked_by = COALESCE(acked_by, $3) \
         WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The tests that have had an alert of `kind` (`guardrail`, `srm`, …).
pub async fn tests_alerted(
    conn: &mut AnyConnection,
    kind: &str,
) -> AppResult<std::collections::HashSet<String>> {
    let tests: Vec<String> = sqlx::query_scalar("SELECT DISTINCT test FROM alerts WHERE kind = $1")
        .bind(kind)
        .fetch_all(conn)
        .await?;
    Ok(tests.into_iter().collect())
}
