//! The `tests` table: one row per test, its spec stored as JSON.

use sqlx::{AnyConnection, FromRow};

use crate::error::{AppError, AppResult};
use crate::model::{Status, TestRecord, TestSpec};

#[derive(Debug, FromRow)]
struct Row {
    status: String,
    winner: Option<String>,
    started_at: Option<i64>,
    spec: String,
    created_at: i64,
    updated_at: i64,
}

impl Row {
    fn into_record(self) -> AppResult<TestRecord> {
        Ok(TestRecord {
            spec: serde_json::from_str(&self.spec)?,
            status: Status::parse(&self.status)
                .ok_or_else(|| anyhow::anyhow!("unknown status {}", self.status))?,
            winner: self.winner,
            started_at: self.started_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

const COLS: &str = "status, winner, started_at, spec, created_at, updated_at";

pub async fn get(conn: &mut AnyConnection, key: &str) -> AppResult<Option<TestRecord>> {
    sqlx::query_as::<_, Row>(&format!("SELECT {COLS} FROM tests WHERE key = $1"))
        .bind(key)
        .fetch_optional(conn)
        .await?
        .map(Row::into_record)
        .transpose()
}

pub async fn get_or_404(conn: &mut AnyConnection, key: &str) -> AppResult<TestRecord> {
    get(conn, key)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("test `{key}`")))
}

/// All tests, optionally only those with `status`, by key.
pub async fn list(conn: &mut AnyConnection, status: Option<Status>) -> AppResult<Vec<TestRecord>> {
    let rows = match status {
        Some(s) => {
            sqlx::query_as::<_, Row>(&format!(
                "SELECT {COLS} FROM tests WHERE status = $1 ORDER BY key"
            ))
            .bind(s.as_str())
            .fetch_all(conn)
            .await?
        }
        None => {
            sqlx::query_as::<_, Row>(&format!("SELECT {COLS} FROM tests ORDER BY key"))
                .fetch_all(conn)
                .await?
        }
    };
    rows.into_iter().map(Row::into_record).collect()
}

pub async fn insert(conn: &mut AnyConnection, spec: &TestSpec, now: i64) -> AppResult<bool> {
    let done = sqlx::query(
        "INSERT INTO tests (key, status, winner, spec, created_at, updated_at) \
         VALUES ($1, 'draft', NULL, $2, $3, $3) ON CONFLICT (key) DO NOTHING",
    )
    .bind(&spec.key)
    .bind(serde_json::to_string(spec)?)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn update(conn: &mut AnyConnection, rec: &TestRecord, now: i64) -> AppResult<()> {
    sqlx::query(
        "UPDATE tests SET status = $2, winner = $3, spec = $4, updated_at = $5, started_at = $6 \
         WHERE key = $1",
    )
    .bind(&rec.spec.key)
    .bind(rec.status.as_str())
    .bind(rec.winner.as_deref())
    .bind(serde_json::to_string(&rec.spec)?)
    .bind(now)
    .bind(rec.started_at)
    .execute(conn)
    .await?;
    Ok(())
}
