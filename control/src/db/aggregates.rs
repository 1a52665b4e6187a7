//! The aggregate tables: reading a test's sufficient statistics, applying deltas, and erasing
//! one unit's contribution (GDPR). Ingestion computes deltas in [`super::events::apply`].

use std::collections::{BTreeMap, HashMap};

use edgewise_shared::metrics::sketch::Bucket;
use edgewise_shared::metrics::{CellChange, Totals};
use edgewise_shared::snapshot::MetricDef;
use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use super::cells::{Cell, StratumCell, NO_STRATUM};
use super::dialect::{values, CHUNK};
use super::dims::DimKey;
use super::sketches::{self, SketchCell, SketchKey};
use super::Dialect;
use crate::error::AppResult;

/// Adds deltas to the aggregate rows (negative deltas subtract, for unit deletion); `schema`
/// names the SQLite file whose rows they are (`""` for the connection's default).
pub(crate) async fn add(
    conn: &mut AnyConnection,
    dialect: Dialect,
    schema: &str,
    exp: &BTreeMap<Cell, i64>,
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
            "INSERT INTO {schema}agg_exposures (test, variant, device, persona, units) VALUES {} \
             ON CONFLICT (test, variant, device, persona) DO UPDATE SET \
             units = agg_exposures.units + excluded.units",
            values(dialect, chunk.len(), 5)
        );
        let mut q = sqlx::query(&sql);
        for ((t, v, d, p), n) in chunk {
            q = q.bind(t).bind(v).bind(d).bind(p).bind(**n);
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
            "units",
            "CAST(SUM(units) AS BIGINT) AS units",
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
        "SELECT variant, device, persona, units FROM ({}) s \
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

/// Changes to a file's `agg_exposures`, `agg_metrics`, `agg_strata`, `agg_sketch` and
/// `agg_dims` rows.
#[derive(Default)]
struct Deltas {
    exposures: BTreeMap<Cell, i64>,
    metrics: BTreeMap<(Cell, String), CellChange>,
    strata: BTreeMap<StratumCell, CellChange>,
    sketch: BTreeMap<SketchKey, Bucket>,
    dims: BTreeMap<DimKey, CellChange>,
}

/// What deleting a unit removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Deleted {
    pub events: u64,
    pub exposures: u64,
    pub metric_rows: u64,
}

/// Removes a unit's events and per-unit state and subtracts its contribution from every
/// aggregate. `metrics` maps each test to its metric definitions, whose rules turn the unit's
/// stored totals into the per-unit values it added.
/// Per-unit state is found by key, test by test, in `exposures` and `unit_metrics`; on SQLite
/// in the file of `schemas` that holds the unit for that test ([`super::shard_of`]), whose
/// aggregate rows then change. Raw events are kept in time order, so finding the unit's takes
/// a scan of each file. The caller holds every file's write turn.
pub async fn delete_unit(
    conn: &mut AnyConnection,
    dialect: Dialect,
    schemas: &[String],
    unit_id: &str,
    metrics: &HashMap<String, Vec<MetricDef>>,
) -> AppResult<Deleted> {
    // Per file (its table prefix), the deltas to its aggregate rows.
    let mut deltas: BTreeMap<String, Deltas> = BTreeMap::new();
    let mut deleted = Deleted::default();
    let mut tests: Vec<&String> = metrics.keys().collect();
    tests.sort();
    for test in tests {
        let prefix = match dialect {
            Dialect::Postgres => String::new(),
            Dialect::Sqlite => format!(
                "{}.",
                schemas[super::shard_of(test, unit_id, schemas.len())]
            ),
        };
        let cell_sql = format!(
            "SELECT variant, device, persona, stratum, dims, covs FROM {prefix}exposures \
             WHERE test = $1 AND unit_id = $2"
        );
        let metrics_sql = format!(
            "SELECT metric, conversions, value FROM {prefix}unit_metrics \
             WHERE test = $1 AND unit_id = $2 AND conversions > 0"
        );
        type Row = (String, String, String, Option<i64>, String, String);
        let cell: Option<Row> = sqlx::query_as(&cell_sql)
            .bind(test)
            .bind(unit_id)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some((variant, device, persona, stratum, unit_dims, unit_covs)) = cell {
            let d = deltas.entry(prefix.clone()).or_default();
            let (agg_exp, agg_met, agg_strata, agg_sketch) = (
                &mut d.exposures,
                &mut d.metrics,
                &mut d.strata,
                &mut d.sketch,
            );
            let pairs = super::dims::parse(&unit_dims);
            let gone = CellChange {
                units: -1,
                ..CellChange::default()
            };
            super::dims::record(&mut d.dims, test, &variant, &pairs, "", gone);
            let stratum = stratum.filter(|s| *s != NO_STRATUM);
            let stratum_cell = |metric: &str| {
                stratum.map(|s| (test.clone(), s, variant.clone(), metric.to_owned()))
            };
            if let Some(c) = stratum_cell("") {
                agg_strata.insert(
                    c,
                    CellChange {
                        units: -1,
                        ..CellChange::default()
                    },
                );
            }
            let cell: Cell = (test.clone(), variant.clone(), device, persona);
            agg_exp.insert(cell.clone(), -1);
            deleted.exposures += 1;
            let rows: Vec<(String, i64, f64)> = sqlx::query_as(&metrics_sql)
                .bind(test)
                .bind(unit_id)
                .fetch_all(&mut *conn)
                .await?;
            deleted.metric_rows += rows.len() as u64;
            let totals: HashMap<String, Totals> = rows
                .into_iter()
                .map(|(m, conversions, value)| (m, Totals { conversions, value }))
                .collect();
            let covs = super::cells::parse_covs(&unit_covs);
            for (metric, x) in &covs {
                agg_met
                    .entry((cell.clone(), metric.clone()))
                    .or_default()
                    .add(CellChange::covariate(*x, -1.0));
            }
            for (metric, change) in unit_share(&metrics[test], &totals) {
                let change = covs
                    .get(&metric)
                    .map_or(change, |x| change.with_covariate(*x));
                // Ratios are not kept per stratum.
                let ratio = metrics[test]
                    .iter()
                    .any(|d| d.key == metric && d.rule().is_none());
                if let Some(c) = stratum_cell(&metric).filter(|_| !ratio) {
                    agg_strata.insert(c, change);
                }
                super::dims::record(&mut d.dims, test, &variant, &pairs, &metric, change);
                agg_met
                    .entry((cell.clone(), metric))
                    .or_default()
                    .add(change);
            }
            for d in &metrics[test] {
                let (Some(rule), Some(t)) = (d.rule(), totals.get(&d.key)) else {
                    continue;
                };
                for (k, b) in rule.sketch_moves(*t, Totals::default()) {
                    agg_sketch
                        .entry((cell.clone(), d.key.clone(), k))
                        .or_default()
                        .add(b);
                }
            }
        }
        for table in ["exposures", "unit_metrics"] {
            sqlx::query(&format!(
                "DELETE FROM {prefix}{table} WHERE test = $1 AND unit_id = $2"
            ))
            .bind(test)
            .bind(unit_id)
            .execute(&mut *conn)
            .await?;
        }
    }
    for (prefix, d) in &deltas {
        add(conn, dialect, prefix, &d.exposures, &d.metrics, &d.strata).await?;
        sketches::add(conn, dialect, prefix, &d.sketch).await?;
        super::dims::add(conn, dialect, prefix, &d.dims).await?;
    }
    for table in super::in_each_file(schemas, "events") {
        deleted.events += sqlx::query(&format!("DELETE FROM {table} WHERE unit_id = $1"))
            .bind(unit_id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(deleted)
}

/// What a unit with these stored totals takes out of each metric's row when it goes.
fn unit_share(defs: &[MetricDef], totals: &HashMap<String, Totals>) -> Vec<(String, CellChange)> {
    let value = |key: &Option<String>| {
        let def = defs.iter().find(|d| Some(&d.key) == key.as_ref())?;
        Some(def.rule()?.value(*totals.get(&def.key)?))
    };
    defs.iter()
        .filter_map(|d| {
            let change = match d.rule() {
                Some(rule) => CellChange::metric(&rule, *totals.get(&d.key)?, Totals::default()),
                None => CellChange::ratio(
                    (value(&d.numerator).unwrap_or(0.0), 0.0),
                    (value(&d.denominator).unwrap_or(0.0), 0.0),
                ),
            };
            Some((d.key.clone(), change?))
        })
        .collect()
}
