//! The aggregate tables: reading a test's sufficient statistics, applying deltas, and erasing
//! one unit's contribution (GDPR). Ingestion computes deltas in [`super::events::apply`].

use std::collections::{BTreeMap, HashMap};

use edgewise_shared::metrics::CellChange;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use super::cells::{Cell, StratumCell, Units};
use super::dialect::{values, CHUNK};
use super::sketches::{self, SketchCell};
use super::Dialect;
use crate::error::AppResult;

/// Adds deltas to the aggregate rows (negative deltas subtract, for unit deletion); `schema`
/// names the SQLite file whose rows they are (`""` for the connection's default).
pub(crate) async fn add(
    conn: &mut AnyConnection,
    dialect: Dialect,
    schema: &str,
    exp: &BTreeMap<Cell, Units>,
    met: &BTreeMap<(Cell, String), CellChange>,
    strata: &BTreeMap<StratumCell, CellChange>,
) -> AppResult<()> {
    let rows: Vec<_> = strata.iter().collect();
    for chunk in rows.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO {schema}agg_strata (test, stratum, variant, metric, units, sum, sum_sq) \
             VALUES {} ON CONFLICT (test, stratum, variant, metric) DO UPDATE SET \
             units = agg_strata.units + excluded.units, sum = agg_strata.sum + excluded.sum, \
             sum_sq = agg_strata.sum_sq + excluded.sum_sq",
            values(dialect, chunk.len(), 7)
        );
        let mut q = sqlx::query(&sql);
        for ((t, stratum, v, m), c) in chunk {
            q = q
                .bind(t)
                .bind(*stratum)
                .bind(v)
                .bind(m)
                .bind(c.units)
                .bind(c.sum)
                .bind(c.sum_sq);
        }
        q.execute(&mut *conn).await?;
    }
    let exp: Vec<_> = exp.iter().collect();
    for chunk in exp.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO {schema}agg_exposures (test, variant, device, persona, units, \
             edge_units) VALUES {} \
             ON CONFLICT (test, variant, device, persona) DO UPDATE SET \
             units = agg_exposures.units + excluded.units, \
             edge_units = agg_exposures.edge_units + excluded.edge_units",
            values(dialect, chunk.len(), 6)
        );
        let mut q = sqlx::query(&sql);
        for ((t, v, d, p), n) in chunk {
            q = q.bind(t).bind(v).bind(d).bind(p).bind(n.all).bind(n.edge);
        }
        q.execute(&mut *conn).await?;
    }
    let met: Vec<_> = met.iter().collect();
    for chunk in met.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO {schema}agg_metrics (test, variant, device, persona, metric, units, \
             sum, sum_sq, den_sum, den_sum_sq, sum_product, cov_sum, cov_sum_sq, cov_product) \
             VALUES {} \
             ON CONFLICT (test, variant, device, persona, metric) DO UPDATE SET \
             units = agg_metrics.units + excluded.units, sum = agg_metrics.sum + excluded.sum, \
             sum_sq = agg_metrics.sum_sq + excluded.sum_sq, \
             den_sum = agg_metrics.den_sum + excluded.den_sum, \
             den_sum_sq = agg_metrics.den_sum_sq + excluded.den_sum_sq, \
             sum_product = agg_metrics.sum_product + excluded.sum_product, \
             cov_sum = agg_metrics.cov_sum + excluded.cov_sum, \
             cov_sum_sq = agg_metrics.cov_sum_sq + excluded.cov_sum_sq, \
             cov_product = agg_metrics.cov_product + excluded.cov_product",
            values(dialect, chunk.len(), 14)
        );
        let mut q = sqlx::query(&sql);
        for (((t, v, d, p), m), c) in chunk {
            q = q
                .bind(t)
                .bind(v)
                .bind(d)
                .bind(p)
                .bind(m)
                .bind(c.units)
                .bind(c.sum)
                .bind(c.sum_sq)
                .bind(c.den_sum)
                .bind(c.den_sum_sq)
                .bind(c.sum_product)
                .bind(c.cov_sum)
                .bind(c.cov_sum_sq)
                .bind(c.cov_product);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Exposed units in one test × variant × device × persona cell.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct ExposureCell {
    pub variant: String,
    pub device: String,
    pub persona: String,
    pub units: i64,
    /// Of `units`, those whose counted exposure the edge logged as it served the page (proxy
    /// mode); the others' came from the browser. Not kept in the history tables (0 there).
    #[sqlx(default)]
    pub edge_units: i64,
}

/// Per-unit metric values in one cell: `units` with a counted event; `sum` and `sum_sq` over
/// per-unit values (1 per converted unit for binomial and retention metrics, capped where the
/// metric caps). Exposed units without one count as 0, so the analysis n is the matching
/// [`ExposureCell::units`]. A ratio's row holds its numerator's per-unit values in `sum` and
/// `sum_sq`, its denominator's in `den_sum` and `den_sum_sq`, their products summed in
/// `sum_product`, and counts the units with a nonzero denominator.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct MetricCell {
    pub variant: String,
    pub device: String,
    pub persona: String,
    pub metric: String,
    pub units: i64,
    pub sum: f64,
    pub sum_sq: f64,
    pub den_sum: f64,
    pub den_sum_sq: f64,
    pub sum_product: f64,
    /// CUPED: the covariate's sum and sum of squares over the cell's exposed units, and the
    /// sum of per-unit value × covariate (0 for a metric without a covariate).
    pub cov_sum: f64,
    pub cov_sum_sq: f64,
    pub cov_product: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Aggregates {
    pub exposures: Vec<ExposureCell>,
    pub metrics: Vec<MetricCell>,
    /// The sketches of unit-level quantile and percentile-capped metrics, per cell.
    pub sketches: Vec<SketchCell>,
    /// Per exposure dimension and value, exposed units (metric `""`) and each metric's sums.
    pub dims: Vec<super::dims::DimCell>,
    /// Event-level quantile metrics: every exposed unit's counted events' values, loaded for
    /// results only ([`super::unit_events::load`]).
    #[serde(skip)]
    pub unit_events: Vec<UnitEvents>,
}

/// One exposed unit's counted events of an event-level quantile metric, with its cell.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitEvents {
    pub metric: String,
    pub variant: String,
    pub device: String,
    pub persona: String,
    pub values: Vec<f64>,
}

/// Which aggregate table.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Table {
    Exposures,
    Metrics,
}

/// An `agg_metrics` row's sums.
pub(crate) const METRIC_SUMS: &str =
    "units, sum, sum_sq, den_sum, den_sum_sq, sum_product, cov_sum, cov_sum_sq, cov_product";

/// SQL selecting `test`, the cell's columns and its sums from `table`, for the tests `cond` (a
/// condition on `test`, which may bind `$1`) selects: on SQLite summed over every file
/// (`schemas`, see [`super::Db::shard_schemas`]), with the condition inside each file's part
/// so it uses the table's key; on PostgreSQL straight from the one table.
pub(crate) fn summed_sql(schemas: &[String], table: Table, cond: &str) -> String {
    let (name, cell, sums, summed) = match table {
        Table::Exposures => (
            "agg_exposures",
            "test, variant, device, persona",
            "units, edge_units",
            "CAST(SUM(units) AS BIGINT) AS units, CAST(SUM(edge_units) AS BIGINT) AS edge_units",
        ),
        Table::Metrics => (
            "agg_metrics",
            "test, variant, device, persona, metric",
            METRIC_SUMS,
            "CAST(SUM(units) AS BIGINT) AS units, SUM(sum) AS sum, SUM(sum_sq) AS sum_sq, \
             SUM(den_sum) AS den_sum, SUM(den_sum_sq) AS den_sum_sq, \
             SUM(sum_product) AS sum_product, SUM(cov_sum) AS cov_sum, \
             SUM(cov_sum_sq) AS cov_sum_sq, SUM(cov_product) AS cov_product",
        ),
    };
    if schemas.is_empty() {
        // One table, one row per cell: nothing to add up.
        return format!("SELECT {cell}, {sums} FROM {name} WHERE {cond}");
    }
    let parts: Vec<String> = super::in_each_file(schemas, name)
        .iter()
        .map(|t| format!("SELECT {cell}, {sums} FROM {t} WHERE {cond}"))
        .collect();
    format!(
        "SELECT {cell}, {summed} FROM ({}) a GROUP BY {cell}",
        parts.join(" UNION ALL ")
    )
}

/// A test's aggregates, from the aggregate tables only. `schemas` names SQLite's files
/// ([`super::Db::shard_schemas`]), whose rows add up; empty on PostgreSQL.
pub async fn aggregates(
    conn: &mut AnyConnection,
    schemas: &[String],
    test: &str,
) -> AppResult<Aggregates> {
    let exposures = sqlx::query_as(&format!(
        "SELECT variant, device, persona, units, edge_units FROM ({}) s \
         ORDER BY variant, device, persona",
        summed_sql(schemas, Table::Exposures, "test = $1")
    ))
    .bind(test)
    .fetch_all(&mut *conn)
    .await?;
    let metrics = sqlx::query_as(&format!(
        "SELECT variant, device, persona, metric, {METRIC_SUMS} FROM ({}) s \
         ORDER BY metric, variant, device, persona",
        summed_sql(schemas, Table::Metrics, "test = $1")
    ))
    .bind(test)
    .fetch_all(&mut *conn)
    .await?;
    let sketches = sketches::load(&mut *conn, schemas, "test = $1", Some(test), true)
        .await?
        .into_iter()
        .map(|(_, cell)| cell)
        .collect();
    let dims = super::dims::load(conn, schemas, test).await?;
    Ok(Aggregates {
        exposures,
        metrics,
        sketches,
        dims,
        unit_events: Vec::new(),
    })
}

/// What changes whenever ingestion (or an erasure) changes a test's aggregates: its exposed
/// units and its metrics' summed units and values. [`crate::hub`] compares two readings to
/// tell which tests' results moved, without a write on the ingestion path.
#[derive(Debug, Clone, Copy, Default, PartialEq, FromRow)]
pub struct Fingerprint {
    pub exposed: i64,
    pub converted: i64,
    pub sum: f64,
    pub den_sum: f64,
}

impl Fingerprint {
    /// Whether `other` differs; sums compare to 1e-9 relative, so a sum the database adds
    /// up in another order does not count as a change.
    pub fn differs(&self, other: &Fingerprint) -> bool {
        let far = |a: f64, b: f64| (a - b).abs() > 1e-9 * a.abs().max(b.abs()).max(1.0);
        self.exposed != other.exposed
            || self.converted != other.converted
            || far(self.sum, other.sum)
            || far(self.den_sum, other.den_sum)
    }
}

/// Per test `cond` selects (a condition on `test`, such as [`RUNNING`] or `1 = 1`), its
/// [`Fingerprint`]: two scans of the aggregate tables, never raw events. Each file's table is
/// summed per test in its key order before the files' sums are added: summing cell by cell
/// first (as [`summed_sql`] must for the results) sorts every cell, 12× slower at 1,000 tests
/// (320 → 27 ms on SQLite, BENCHMARKS.md), and the live stream runs this every 0.5 s.
pub async fn fingerprints(
    conn: &mut AnyConnection,
    schemas: &[String],
    cond: &str,
) -> AppResult<HashMap<String, Fingerprint>> {
    let per_test = |table: &str, sums: &str| {
        let parts: Vec<String> = super::in_each_file(schemas, table)
            .iter()
            .map(|t| format!("SELECT test, {sums} FROM {t} WHERE {cond} GROUP BY test"))
            .collect();
        parts.join(" UNION ALL ")
    };
    let exposed: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT test, CAST(SUM(u) AS BIGINT) FROM ({}) s GROUP BY test",
        per_test("agg_exposures", "SUM(units) AS u")
    ))
    .fetch_all(&mut *conn)
    .await?;
    let mut all: HashMap<String, Fingerprint> = exposed
        .into_iter()
        .map(|(t, n)| {
            let fp = Fingerprint {
                exposed: n,
                ..Fingerprint::default()
            };
            (t, fp)
        })
        .collect();
    let metrics: Vec<(String, i64, f64, f64)> = sqlx::query_as(&format!(
        "SELECT test, CAST(SUM(u) AS BIGINT), CAST(SUM(s) AS DOUBLE PRECISION), \
         CAST(SUM(d) AS DOUBLE PRECISION) FROM ({}) s GROUP BY test",
        per_test(
            "agg_metrics",
            "SUM(units) AS u, SUM(sum) AS s, SUM(den_sum) AS d"
        )
    ))
    .fetch_all(conn)
    .await?;
    for (t, converted, sum, den_sum) in metrics {
        let fp = all.entry(t).or_default();
        fp.converted = converted;
        fp.sum = sum;
        fp.den_sum = den_sum;
    }
    Ok(all)
}

/// The condition on `test` that selects the running tests.
pub(crate) const RUNNING: &str = "test IN (SELECT key FROM tests WHERE status = 'running')";

/// The aggregates of every running test, in two queries however many tests run: exposures per
/// cell (the monitor checks the split in every segment), metrics summed over the segments into
/// one cell per variant with device and persona empty (it analyses metrics overall).
pub async fn of_running_tests(
    conn: &mut AnyConnection,
    schemas: &[String],
) -> AppResult<HashMap<String, Aggregates>> {
    #[derive(FromRow)]
    struct E {
        test: String,
        #[sqlx(flatten)]
        cell: ExposureCell,
    }
    #[derive(FromRow)]
    struct M {
        test: String,
        #[sqlx(flatten)]
        cell: MetricCell,
    }
    let mut all: HashMap<String, Aggregates> = HashMap::new();
    let exposures: Vec<E> = sqlx::query_as(&format!(
        "{} ORDER BY test, variant, device, persona",
        summed_sql(schemas, Table::Exposures, RUNNING)
    ))
    .fetch_all(&mut *conn)
    .await?;
    for e in exposures {
        all.entry(e.test).or_default().exposures.push(e.cell);
    }
    let metrics: Vec<M> = sqlx::query_as(&format!(
        "SELECT test, variant, '' AS device, '' AS persona, metric, \
         CAST(SUM(units) AS BIGINT) AS units, SUM(sum) AS sum, SUM(sum_sq) AS sum_sq, \
         SUM(den_sum) AS den_sum, SUM(den_sum_sq) AS den_sum_sq, \
         SUM(sum_product) AS sum_product, SUM(cov_sum) AS cov_sum, \
         SUM(cov_sum_sq) AS cov_sum_sq, SUM(cov_product) AS cov_product \
         FROM ({}) s GROUP BY test, metric, variant ORDER BY test, metric, variant",
        summed_sql(schemas, Table::Metrics, RUNNING)
    ))
    .fetch_all(&mut *conn)
    .await?;
    for m in metrics {
        all.entry(m.test).or_default().metrics.push(m.cell);
    }
    for (test, cell) in sketches::load(conn, schemas, RUNNING, None, false).await? {
        all.entry(test).or_default().sketches.push(cell);
    }
    Ok(all)
}
