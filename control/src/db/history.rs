//! The history tables: each running test's aggregates as they stood at the end of every closed
//! time bucket, written once per bucket from the aggregates (never from raw events), so
//! ingestion pays nothing for them. The monitor closes a bucket at its first tick after the
//! bucket ends ([`close`]); charts and the monitor's drift checks read it back ([`of_test`],
//! [`overall_since`]).

use std::collections::{BTreeMap, HashMap};

use sqlx::{AnyConnection, FromRow};

use super::aggregates::{
    summed_sql, Aggregates, ExposureCell, MetricCell, Table, METRIC_SUMS, RUNNING,
};
use crate::error::AppResult;

/// Copies every running test's aggregates into bucket `bucket` (its start, Unix ms); a bucket
/// already written is left as it is. Returns the rows written.
pub async fn close(conn: &mut AnyConnection, schemas: &[String], bucket: i64) -> AppResult<u64> {
    // `WHERE true` keeps SQLite from reading `ON CONFLICT` as a join constraint.
    let exposures = sqlx::query(&format!(
        "INSERT INTO history_exposures (test, bucket, variant, device, persona, units) \
         SELECT test, $1, variant, device, persona, units FROM ({}) s WHERE true \
         ON CONFLICT DO NOTHING",
        summed_sql(schemas, Table::Exposures, RUNNING)
    ))
    .bind(bucket)
    .execute(&mut *conn)
    .await?;
    let metrics = sqlx::query(&format!(
        "INSERT INTO history_metrics \
         (test, bucket, variant, device, persona, metric, {METRIC_SUMS}) \
         SELECT test, $1, variant, device, persona, metric, {METRIC_SUMS} FROM ({}) s \
         WHERE true ON CONFLICT DO NOTHING",
        summed_sql(schemas, Table::Metrics, RUNNING)
    ))
    .bind(bucket)
    .execute(conn)
    .await?;
    Ok(exposures.rows_affected() + metrics.rows_affected())
}

/// One test's closed buckets, oldest first, each with the cumulative aggregates at its end.
pub async fn of_test(conn: &mut AnyConnection, test: &str) -> AppResult<Vec<(i64, Aggregates)>> {
    #[derive(FromRow)]
    struct E {
        bucket: i64,
        #[sqlx(flatten)]
        cell: ExposureCell,
    }
    #[derive(FromRow)]
    struct M {
        bucket: i64,
        #[sqlx(flatten)]
        cell: MetricCell,
    }
    let mut buckets: BTreeMap<i64, Aggregates> = BTreeMap::new();
    let exposures: Vec<E> = sqlx::query_as(
        "SELECT bucket, variant, device, persona, units FROM history_exposures \
         WHERE test = $1 ORDER BY bucket, variant, device, persona",
    )
    .bind(test)
    .fetch_all(&mut *conn)
    .await?;
    for e in exposures {
        buckets.entry(e.bucket).or_default().exposures.push(e.cell);
    }
    let metrics: Vec<M> = sqlx::query_as(&format!(
        "SELECT bucket, variant, device, persona, metric, {METRIC_SUMS} FROM history_metrics \
             WHERE test = $1 ORDER BY bucket, metric, variant, device, persona"
    ))
    .bind(test)
    .fetch_all(conn)
    .await?;
    for m in metrics {
        buckets.entry(m.bucket).or_default().metrics.push(m.cell);
    }
    Ok(buckets.into_iter().collect())
}

/// Per running test, from bucket `from` on, oldest first: the cumulative exposed units at the
/// end of each closed bucket, all arms and segments together; and per (test, metric) the
/// cumulative converted units.
#[derive(Debug, Default)]
pub struct Overall {
    pub units: HashMap<String, Vec<(i64, i64)>>,
    pub conversions: HashMap<(String, String), Vec<(i64, i64)>>,
}

pub async fn overall_since(conn: &mut AnyConnection, from: i64) -> AppResult<Overall> {
    let mut out = Overall::default();
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
        "SELECT test, bucket, CAST(SUM(units) AS BIGINT) FROM history_exposures \
         WHERE bucket >= $1 AND {RUNNING} GROUP BY test, bucket ORDER BY test, bucket"
    ))
    .bind(from)
    .fetch_all(&mut *conn)
    .await?;
    for (test, bucket, units) in rows {
        out.units.entry(test).or_default().push((bucket, units));
    }
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(&format!(
        "SELECT test, metric, bucket, CAST(SUM(units) AS BIGINT) FROM history_metrics \
         WHERE bucket >= $1 AND {RUNNING} GROUP BY test, metric, bucket \
         ORDER BY test, metric, bucket"
    ))
    .bind(from)
    .fetch_all(conn)
    .await?;
    for (test, metric, bucket, units) in rows {
        out.conversions
            .entry((test, metric))
            .or_default()
            .push((bucket, units));
    }
    Ok(out)
}
