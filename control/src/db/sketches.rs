//! The quantile sketches' table, `agg_sketch` ([`edgewise_shared::metrics::sketch`]): per
//! cell and metric, the buckets of the per-unit values of unit-level quantile and
//! percentile-capped metrics. Ingestion and erasure add bucket changes; reads load each cell's
//! buckets as one text value per cell, since decoding a row per bucket through sqlx costs
//! several µs each and a test's sketches hold tens of thousands of buckets (BENCHMARKS.md,
//! results).

use std::collections::BTreeMap;

use edgewise_shared::metrics::sketch::{Bucket, Sketch};
use serde::Serialize;
use sqlx::AnyConnection;

use super::cells::Cell;
use super::dialect::{values, CHUNK};
use super::Dialect;
use crate::error::AppResult;

/// A sketch bucket's key: cell, metric, bucket.
pub(crate) type SketchKey = (Cell, String, i32);

/// A metric's sketch in one variant × device × persona cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SketchCell {
    pub variant: String,
    pub device: String,
    pub persona: String,
    pub metric: String,
    pub sketch: Sketch,
}

/// Adds changes to the sketches' buckets; `schema` names the SQLite file whose rows they are
/// (`""` for the connection's default).
pub(crate) async fn add(
    conn: &mut AnyConnection,
    dialect: Dialect,
    schema: &str,
    changes: &BTreeMap<SketchKey, Bucket>,
) -> AppResult<()> {
    let rows: Vec<_> = changes.iter().filter(|(_, b)| b.units != 0).collect();
    for chunk in rows.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO {schema}agg_sketch (test, variant, device, persona, metric, bucket, \
             units, sum, sum_sq) VALUES {} \
             ON CONFLICT (test, metric, variant, device, persona, bucket) DO UPDATE SET \
             units = agg_sketch.units + excluded.units, sum = agg_sketch.sum + excluded.sum, \
             sum_sq = agg_sketch.sum_sq + excluded.sum_sq",
            values(dialect, chunk.len(), 9)
        );
        let mut q = sqlx::query(&sql);
        for (((t, v, d, p), m, k), b) in chunk {
            q = q
                .bind(t)
                .bind(v)
                .bind(d)
                .bind(p)
                .bind(m)
                .bind(i64::from(*k))
                .bind(b.units)
                .bind(b.sum)
                .bind(b.sum_sq);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The sketches of the tests `cond` selects (a condition on `test`, binding `test` as `$1`
/// when given), added up over SQLite's files (`schemas`; empty on PostgreSQL): per test, one
/// cell per variant × device × persona × metric, or per variant × metric with device and
/// persona empty unless `by_segment`.
pub(crate) async fn load(
    conn: &mut AnyConnection,
    schemas: &[String],
    cond: &str,
    test: Option<&str>,
    by_segment: bool,
) -> AppResult<Vec<(String, SketchCell)>> {
    // Each bucket written `bucket units sum sum_sq`, space-separated, the sums exactly:
    // SQLite's default text of a REAL keeps 15 digits, PostgreSQL's the shortest exact one.
    let (concat, sum, sum_sq) = if schemas.is_empty() {
        ("string_agg", "CAST(sum AS TEXT)", "CAST(sum_sq AS TEXT)")
    } else {
        (
            "group_concat",
            "printf('%!.17g', sum)",
            "printf('%!.17g', sum_sq)",
        )
    };
    type Key = (String, String, String, String, String);
    let mut cells: BTreeMap<Key, Sketch> = BTreeMap::new();
    for table in super::in_each_file(schemas, "agg_sketch") {
        let sql = format!(
            "SELECT test, metric, variant, device, persona, \
             {concat}(CAST(bucket AS TEXT) || ' ' || CAST(units AS TEXT) || ' ' || {sum} \
             || ' ' || {sum_sq}, ' ') AS buckets FROM {table} \
             WHERE {cond} AND units <> 0 GROUP BY test, metric, variant, device, persona"
        );
        let mut q = sqlx::query_as::<_, (String, String, String, String, String, String)>(&sql);
        if let Some(t) = test {
            q = q.bind(t);
        }
        for (test, metric, variant, device, persona, buckets) in q.fetch_all(&mut *conn).await? {
            let (device, persona) = if by_segment {
                (device, persona)
            } else {
                (String::new(), String::new())
            };
            let sketch = cells
                .entry((test, metric, variant, device, persona))
                .or_default();
            let mut fields = buckets.split(' ');
            while let (Some(k), Some(n), Some(s), Some(s2)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            {
                let bad = |x: &str| anyhow::anyhow!("agg_sketch: unreadable `{x}`");
                sketch.add(
                    k.parse().map_err(|_| bad(k))?,
                    Bucket {
                        units: n.parse().map_err(|_| bad(n))?,
                        sum: s.parse().map_err(|_| bad(s))?,
                        sum_sq: s2.parse().map_err(|_| bad(s2))?,
                    },
                );
            }
        }
    }
    Ok(cells
        .into_iter()
        .map(|((test, metric, variant, device, persona), sketch)| {
            (
                test,
                SketchCell {
                    variant,
                    device,
                    persona,
                    metric,
                    sketch,
                },
            )
        })
        .collect())
}
