//! The org's own test templates and every version of each (`templates`): a change adds the
//! next version, a deletion a version marked deleted.

use edgewise_shared::plan::templates::{self, Template, TemplateDef};
use serde::Serialize;
use sqlx::AnyConnection;

use crate::error::AppResult;

/// One version of a template.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub name: String,
    pub version: i64,
    pub deleted: bool,
    pub at: i64,
    pub actor: String,
    pub definition: TemplateDef,
}

type Row = (String, i64, String, i64, i64, String);

fn version((name, version, body, deleted, at, actor): Row) -> AppResult<Version> {
    Ok(Version {
        name,
        version,
        deleted: deleted != 0,
        at,
        actor,
        definition: serde_json::from_str(&body)?,
    })
}

/// Every version of `name`, oldest first.
pub async fn versions(conn: &mut AnyConnection, name: &str) -> AppResult<Vec<Version>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT name, version, body, deleted, at, actor FROM templates WHERE name = $1 \
         ORDER BY version",
    )
    .bind(name)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(version).collect()
}

/// The latest version of each template that is not deleted, by name.
pub async fn current(conn: &mut AnyConnection) -> AppResult<Vec<Version>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT t.name, t.version, t.body, t.deleted, t.at, t.actor FROM templates t \
         WHERE t.version = (SELECT MAX(version) FROM templates l WHERE l.name = t.name) \
         AND t.deleted = 0 ORDER BY t.name",
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(version).collect()
}

/// The built-in templates, then the org's own current ones: what the checks and plans read.
pub async fn all(conn: &mut AnyConnection) -> AppResult<Vec<Template>> {
    let mut out = templates::builtin();
    out.extend(current(conn).await?.iter().map(|v| v.definition.template()));
    Ok(out)
}

/// Adds the next version of `def` (deleted or not); returns its number.
pub async fn put(
    conn: &mut AnyConnection,
    def: &TemplateDef,
    deleted: bool,
    at: i64,
    actor: &str,
) -> AppResult<i64> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM templates WHERE name = $1")
            .bind(&def.name)
            .fetch_one(&mut *conn)
            .await?;
    let next = last.unwrap_or(0) + 1;
    sqlx::query(
        "INSERT INTO templates (name, version, body, deleted, at, actor) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&def.name)
    .bind(next)
    .bind(serde_json::to_string(def)?)
    .bind(i64::from(deleted))
    .bind(at)
    .bind(actor)
    .execute(conn)
    .await?;
    Ok(next)
}
