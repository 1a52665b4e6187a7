//! What stopped tests taught: their lifts per metric and variant, overall and per segment
//! (`learned_effects`), the history learning reads.

use std::collections::BTreeMap;

use edgewise_shared::learn::{Effect, History, PastTest};
use sqlx::AnyConnection;

use crate::error::AppResult;

/// Replaces what test `test` taught with `effects` (one per metric × variant).
pub async fn record(
    conn: &mut AnyConnection,
    test: &str,
    effects: &[(String, PastTest)],
    now: i64,
) -> AppResult<()> {
    sqlx::query("DELETE FROM learned_effects WHERE test = $1")
        .bind(test)
        .execute(&mut *conn)
        .await?;
    for (variant, e) in effects {
        sqlx::query(
            "INSERT INTO learned_effects (test, metric, variant, tags, lift, se, segments, \
             recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(test)
        .bind(&e.metric)
        .bind(variant)
        .bind(serde_json::to_string(&e.tags)?)
        .bind(e.lift)
        .bind(e.se)
        .bind(serde_json::to_string(&e.segments)?)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Every recorded effect as a history; a test with several variants contributes one entry
/// per variant, keyed `test/variant`.
pub async fn history(conn: &mut AnyConnection) -> AppResult<History> {
    type Row = (String, String, String, String, f64, f64, String);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT test, metric, variant, tags, lift, se, segments FROM learned_effects \
         ORDER BY test, metric, variant",
    )
    .fetch_all(&mut *conn)
    .await?;
    let tests = rows
        .into_iter()
        .map(
            |(test, metric, variant, tags, lift, se, segments)| PastTest {
                key: format!("{test}/{variant}"),
                tags: serde_json::from_str(&tags).unwrap_or_default(),
                metric,
                lift,
                se,
                segments: serde_json::from_str::<BTreeMap<String, Effect>>(&segments)
                    .unwrap_or_default(),
            },
        )
        .collect();
    Ok(History { tests })
}
