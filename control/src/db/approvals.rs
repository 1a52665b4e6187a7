//! The `approvals` table: every approval and rejection of a test, in order, with the hash of
//! the definition it concerned ([`edgewise_shared::plan::approvals`]).

use edgewise_shared::plan::approvals::{Decision, Entry};
use sqlx::AnyConnection;

use crate::error::AppResult;

pub async fn record(conn: &mut AnyConnection, test: &str, e: &Entry) -> AppResult<()> {
    let decision = match e.decision {
        Decision::Approve => "approve",
        Decision::Reject => "reject",
    };
    sqlx::query(
        "INSERT INTO approvals (test, seq, actor, decision, comment, spec_hash, at) \
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6 FROM approvals WHERE test = $1",
    )
    .bind(test)
    .bind(&e.actor)
    .bind(decision)
    .bind(&e.comment)
    .bind(&e.spec_hash)
    .bind(e.at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn list(conn: &mut AnyConnection, test: &str) -> AppResult<Vec<Entry>> {
    let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
        "SELECT actor, decision, comment, spec_hash, at FROM approvals WHERE test = $1 \
         ORDER BY seq",
    )
    .bind(test)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(actor, d, comment, spec_hash, at)| Entry {
            actor,
            decision: if d == "reject" {
                Decision::Reject
            } else {
                Decision::Approve
            },
            comment,
            spec_hash,
            at,
        })
        .collect())
}

/// Who created or changed test `test`, from the audit log.
pub async fn authors(conn: &mut AnyConnection, test: &str) -> AppResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT actor FROM audit WHERE target = $1 \
         AND action IN ('test.create', 'test.update')",
    )
    .bind(test)
    .fetch_all(conn)
    .await?)
}
