//! The `saved_reports` table: saved report definitions ([`crate::report::saved`]), the
//! definition stored as JSON.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use crate::error::AppResult;
use crate::report::saved::Definition;

/// A stored definition, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SavedReport {
    pub id: String,
    #[serde(flatten)]
    pub definition: Definition,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, FromRow)]
struct Row {
    id: String,
    definition: String,
    created_by: String,
    created_at: i64,
    updated_at: i64,
}

impl Row {
    fn into_report(self) -> AppResult<SavedReport> {
        Ok(SavedReport {
            id: self.id,
            definition: serde_json::from_str(&self.definition)?,
            created_by: self.created_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

const COLS: &str = "id, definition, created_by, created_at, updated_at";

pub async fn insert(conn: &mut AnyConnection, r: &SavedReport) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO saved_reports (id, name, definition, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&r.id)
    .bind(&r.definition.name)
    .bind(serde_json::to_string(&r.definition)?)
    .bind(&r.created_by)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> AppResult<Option<SavedReport>> {
    sqlx::query_as::<_, Row>(&format!("SELECT {COLS} FROM saved_reports WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .map(Row::into_report)
        .transpose()
}

/// Every definition, by name then id.
pub async fn list(conn: &mut AnyConnection) -> AppResult<Vec<SavedReport>> {
    sqlx::query_as::<_, Row>(&format!(
        "SELECT {COLS} FROM saved_reports ORDER BY name, id"
    ))
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(Row::into_report)
    .collect()
}

/// Replaces a definition; false if there is none with `id`.
pub async fn update(
    conn: &mut AnyConnection,
    id: &str,
    d: &Definition,
    at: i64,
) -> AppResult<bool> {
    let done = sqlx::query(
        "UPDATE saved_reports SET name = $2, definition = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(&d.name)
    .bind(serde_json::to_string(d)?)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete(conn: &mut AnyConnection, id: &str) -> AppResult<bool> {
    let done = sqlx::query("DELETE FROM saved_reports WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
