//! Marginal aggregates per exposure dimension (`agg_dims`, [`edgewise_shared::dimensions`]):
//! per test, dimension, metric and value, a variant's sums as `agg_metrics` keeps them per
//! cell, metric `""` counting exposed units. A unit's values are fixed at its first exposure
//! (`exposures.dims`, a JSON object). A test keeps at most [`MAX_VALUES`] values per
//! dimension (per SQLite file); a value first seen past them counts as `(other)`, so the rows
//! stay bounded whatever sites send.

use std::collections::{BTreeMap, HashMap};

use edgewise_shared::dimensions::OTHER;
use edgewise_shared::metrics::CellChange;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use super::dialect::{values, CHUNK};
use super::Dialect;
use crate::error::AppResult;

/// Values kept per test and dimension.
pub const MAX_VALUES: i64 = 1000;

/// An `agg_dims` row's key: test, dimension, metric (`""` for exposures), value, variant.
pub(crate) type DimKey = (String, String, String, String, String);

/// SQL telling whether `$3` is a kept value of test `$1`'s dimension `$2` (rows with it), and
/// how many values are kept.
pub(crate) fn known_sql(schema: &str) -> String {
    format!(
        "SELECT (SELECT COUNT(*) FROM {schema}agg_dims WHERE test = $1 AND dimension = $2 \
         AND metric = '' AND value = $3), \
         (SELECT COUNT(DISTINCT value) FROM {schema}agg_dims WHERE test = $1 \
         AND dimension = $2 AND metric = '')"
    )
}

/// Which value a first exposure's dimension value is stored as, within one batch: a kept
/// value stays, a new one is kept while fewer than [`MAX_VALUES`] are, else it is `(other)`.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    decided: HashMap<(String, String, String), String>,
    /// Values kept in this batch, not yet in the table.
    added: HashMap<(String, String), i64>,
}

impl Admission {
    /// The decision already taken in this batch.
    pub fn decided(&self, test: &str, dim: &str, value: &str) -> Option<&str> {
        self.decided
            .get(&(test.to_owned(), dim.to_owned(), value.to_owned()))
            .map(String::as_str)
    }

    /// Decides from the table: `known` rows with the value, `kept` values.
    pub fn decide(&mut self, test: &str, dim: &str, value: &str, known: i64, kept: i64) -> String {
        let added = self
            .added
            .entry((test.to_owned(), dim.to_owned()))
            .or_default();
        let stored = if known > 0 || value == OTHER {
            value.to_owned()
        } else if kept + *added < MAX_VALUES {
            *added += 1;
            value.to_owned()
        } else {
            OTHER.to_owned()
        };
        self.decided.insert(
            (test.to_owned(), dim.to_owned(), value.to_owned()),
            stored.clone(),
        );
        stored
    }
}

/// A unit's stored dimension values (`exposures.dims`): `(dimension, value)` pairs.
pub(crate) fn parse(dims: &str) -> Vec<(String, String)> {
    if dims.is_empty() {
        return Vec::new();
    }
    serde_json::from_str::<BTreeMap<String, String>>(dims)
        .map(|m| m.into_iter().collect())
        .unwrap_or_default()
}

/// The stored text of a unit's dimension values.
pub(crate) fn text(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let m: BTreeMap<&str, &str> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    serde_json::to_string(&m).unwrap_or_default()
}

/// Adds `change` to every dimension row of a unit (`pairs`) for `metric` (`""`: exposures).
pub(crate) fn record(
    into: &mut BTreeMap<DimKey, CellChange>,
    test: &str,
    variant: &str,
    pairs: &[(String, String)],
    metric: &str,
    change: CellChange,
) {
    for (dim, value) in pairs {
        into.entry((
            test.to_owned(),
            dim.clone(),
            metric.to_owned(),
            value.clone(),
            variant.to_owned(),
        ))
        .or_default()
        .add(change);
    }
}

/// Adds changes to `agg_dims`; `schema` names the SQLite file (`""` for the default).
pub(crate) async fn add(
    conn: &mut AnyConnection,
    dialect: Dialect,
    schema: &str,
    changes: &BTreeMap<DimKey, CellChange>,
) -> AppResult<()> {
    let rows: Vec<_> = changes.iter().collect();
    for chunk in rows.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO {schema}agg_dims (test, dimension, metric, value, variant, units, sum, \
             sum_sq, den_sum, den_sum_sq, sum_product) VALUES {} \
             ON CONFLICT (test, dimension, metric, value, variant) DO UPDATE SET \
             units = agg_dims.units + excluded.units, sum = agg_dims.sum + excluded.sum, \
             sum_sq = agg_dims.sum_sq + excluded.sum_sq, \
             den_sum = agg_dims.den_sum + excluded.den_sum, \
             den_sum_sq = agg_dims.den_sum_sq + excluded.den_sum_sq, \
             sum_product = agg_dims.sum_product + excluded.sum_product",
            values(dialect, chunk.len(), 11)
        );
        let mut q = sqlx::query(&sql);
        for ((t, d, m, v, var), c) in chunk {
            q = q
                .bind(t)
                .bind(d)
                .bind(m)
                .bind(v)
                .bind(var)
                .bind(c.units)
                .bind(c.sum)
                .bind(c.sum_sq)
                .bind(c.den_sum)
                .bind(c.den_sum_sq)
                .bind(c.sum_product);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// One `agg_dims` row of a test, summed over SQLite's files.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct DimCell {
    pub dimension: String,
    pub metric: String,
    pub value: String,
    pub variant: String,
    pub units: i64,
    pub sum: f64,
    pub sum_sq: f64,
    pub den_sum: f64,
    pub den_sum_sq: f64,
    pub sum_product: f64,
}

/// A test's dimension rows. `schemas` names SQLite's files; empty on PostgreSQL.
pub async fn load(
    conn: &mut AnyConnection,
    schemas: &[String],
    test: &str,
) -> AppResult<Vec<DimCell>> {
    const COLS: &str = "dimension, metric, value, variant";
    let parts: Vec<String> = super::in_each_file(schemas, "agg_dims")
        .iter()
        .map(|t| {
            format!(
                "SELECT {COLS}, units, sum, sum_sq, den_sum, den_sum_sq, sum_product FROM {t} \
                 WHERE test = $1"
            )
        })
        .collect();
    let sql = format!(
        "SELECT {COLS}, CAST(SUM(units) AS BIGINT) AS units, SUM(sum) AS sum, \
         SUM(sum_sq) AS sum_sq, SUM(den_sum) AS den_sum, SUM(den_sum_sq) AS den_sum_sq, \
         SUM(sum_product) AS sum_product FROM ({}) a GROUP BY {COLS} ORDER BY {COLS}",
        parts.join(" UNION ALL ")
    );
    Ok(sqlx::query_as(&sql).bind(test).fetch_all(conn).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_past_the_kept_ones_count_as_other() {
        let mut a = Admission::default();
        assert_eq!(a.decide("t", "country", "US", 3, MAX_VALUES), "US");
        assert_eq!(a.decide("t", "country", "FR", 0, MAX_VALUES - 2), "FR");
        assert_eq!(a.decide("t", "country", "DE", 0, MAX_VALUES - 2), "DE");
        assert_eq!(a.decide("t", "country", "IT", 0, MAX_VALUES - 2), OTHER);
        assert_eq!(a.decided("t", "country", "IT"), Some(OTHER));
        assert_eq!(a.decide("t", "browser", "Chrome", 0, 0), "Chrome");
        let pairs = vec![("browser".to_owned(), "Chrome".to_owned())];
        assert_eq!(parse(&text(&pairs)), pairs);
        assert!(parse("").is_empty());
    }
}
