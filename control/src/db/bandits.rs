//! A bandit's periods (each change of its weights) and its per-stratum aggregates.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use crate::error::AppResult;

/// One change of a bandit's weights.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct PeriodRow {
    pub period: i64,
    /// When it was decided (Unix ms).
    pub started_at: i64,
    /// The first snapshot version serving these weights.
    pub snapshot_version: i64,
    /// JSON arrays, one number per variant in the test's order.
    pub weights: String,
    pub probability_best: String,
}

/// The test's periods, oldest first (period 0, the starting weights, is not stored).
pub async fn periods(conn: &mut AnyConnection, test: &str) -> AppResult<Vec<PeriodRow>> {
    Ok(sqlx::query_as(
        "SELECT period, started_at, snapshot_version, weights, probability_best \
         FROM bandit_periods WHERE test = $1 ORDER BY period",
    )
    .bind(test)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn insert_period(conn: &mut AnyConnection, test: &str, p: &PeriodRow) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO bandit_periods (test, period, started_at, snapshot_version, weights, \
         probability_best) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(test)
    .bind(p.period)
    .bind(p.started_at)
    .bind(p.snapshot_version)
    .bind(&p.weights)
    .bind(&p.probability_best)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One per-stratum aggregate row, summed over SQLite's files.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct StratumRow {
    pub stratum: i64,
    pub variant: String,
    pub units: i64,
    pub sum: f64,
    pub sum_sq: f64,
}

/// The test's per-stratum rows of `metric` (`""`: exposed units); `schemas` as for
/// [`super::aggregates::aggregates`].
pub async fn strata(
    conn: &mut AnyConnection,
    schemas: &[String],
    test: &str,
    metric: &str,
) -> AppResult<Vec<StratumRow>> {
    let union = super::in_each_file(schemas, "agg_strata")
        .iter()
        .map(|t| {
            format!(
                "SELECT stratum, variant, units, sum, sum_sq FROM {t} \
                 WHERE test = $1 AND metric = $2"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    Ok(sqlx::query_as(&format!(
        "SELECT stratum, variant, CAST(SUM(units) AS BIGINT) AS units, \
         SUM(sum) AS sum, SUM(sum_sq) AS sum_sq \
         FROM ({union}) AS s GROUP BY stratum, variant ORDER BY stratum, variant"
    ))
    .bind(test)
    .bind(metric)
    .fetch_all(&mut *conn)
    .await?)
}
