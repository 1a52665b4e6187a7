//! GDPR erasure of one unit: its per-unit state, its share of every aggregate and its raw
//! events.
//!
//! Raw events are kept in time order without an index on the unit (one would cost a page
//! write per event at ingest), so finding a unit's takes a scan of every file. [`erase`]
//! keeps ingestion waiting only for the short steps: under every file's write turn it takes
//! the unit's state and aggregate share out and pins a read snapshot of the raw events as
//! they stand; it then scans that snapshot with no turn held, while ingestion goes on; and
//! last, file by file in that file's turn, deletes what it found by key. Events of the unit stored
//! after the first step are new data (their state and aggregates were made after the erasure
//! too) and stay. PostgreSQL has no turns: there ingestion transactions hold the advisory lock
//! [`LOCK_KEY`] shared, and the first step holds it alone, which serves the same purpose
//! across replicas.

use std::collections::{BTreeMap, HashMap};

use edgewise_shared::metrics::sketch::Bucket;
use edgewise_shared::metrics::{CellChange, Totals};
use edgewise_shared::snapshot::MetricDef;
use serde::Serialize;
use sqlx::AnyConnection;

use super::aggregates::add;
use super::cells::{logged_by_of, Cell, StratumCell, Units, NO_STRATUM};
use super::dialect::{CHUNK, DEFAULT_CACHE, READER_CACHE};
use super::dims::DimKey;
use super::sketches::{self, SketchKey};
use super::{tests, Actor, Db, Dialect, Mutation, Tx};
use crate::error::AppResult;

/// Erases `unit_id` everywhere, audited as `unit.delete` by `actor` (the unit named by its
/// hash only). Repeating it removes nothing more; a call that failed half-way is completed by
/// repeating it.
pub async fn erase(db: &Db, actor: &Actor, unit_id: &str) -> AppResult<Deleted> {
    let files = super::in_each_file(&db.shard_schemas(), "events");
    let started = std::time::Instant::now();
    let mut m = Mutation::begin(db).await?;
    let turns = db.shard_turns().await;
    if db.dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LOCK_KEY)
            .execute(&mut *m.tx)
            .await?;
    }
    let snapshot = pin(db, &files).await?;
    let metrics: HashMap<_, _> = tests::list(&mut m.tx, None)
        .await?
        .into_iter()
        .map(|t| (t.spec.key, t.spec.metrics))
        .collect();
    let mut deleted = erase_state(
        &mut m.tx,
        db.dialect,
        &db.shard_schemas(),
        unit_id,
        &metrics,
    )
    .await?;
    // Raw events are counted once found, after this entry.
    let after = serde_json::json!({
        "exposures": deleted.exposures,
        "metric_rows": deleted.metric_rows,
    });
    let target = format!("unit:sha256:{}", super::tokens::sha256_hex(unit_id));
    m.finish(actor, "unit.delete", &target, None, Some(&after))
        .await?;
    drop(turns);
    let state = started.elapsed();

    let found = scan(snapshot, db.dialect, &files, unit_id).await?;
    let scanned = started.elapsed();

    // File by file, each in its own writer's turn only.
    for (k, (table, keys)) in found.iter().enumerate() {
        if keys.is_empty() {
            continue;
        }
        let _turn = match db.sqlite.get(k) {
            Some(f) => Some(f.gate.clone().lock_owned().await),
            None => None,
        };
        let mut tx = db.writer.begin().await?;
        deleted.events += delete_events(&mut tx, db.dialect, table, unit_id, keys).await?;
        tx.commit().await?;
    }
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    tracing::info!(
        events = deleted.events,
        state_ms = ms(state),
        scan_ms = ms(scanned - state),
        delete_ms = ms(started.elapsed() - scanned),
        "unit erased; ingestion waited only for state_ms and delete_ms"
    );
    Ok(deleted)
}

/// A read snapshot of the raw events in `files`, taken while no one can store one (the
/// caller holds the turns, or on PostgreSQL the lock alone), so it holds exactly the events
/// stored before the erasure.
async fn pin(db: &Db, files: &[String]) -> AppResult<Tx> {
    let mut snapshot = db.reader.begin().await?;
    match db.dialect {
        Dialect::Postgres => {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *snapshot)
                .await?;
            sqlx::query("SELECT 1").execute(&mut *snapshot).await?;
        }
        // A read transaction starts on each file at its first read. The scan would fill the
        // connection's page caches for nothing: they stay small until it is done.
        Dialect::Sqlite => {
            for table in files {
                sqlx::query(&format!("PRAGMA {}.cache_size = -1024", schema(table)))
                    .execute(&mut *snapshot)
                    .await?;
                sqlx::query(&format!("SELECT 1 FROM {table} LIMIT 1"))
                    .fetch_optional(&mut *snapshot)
                    .await?;
            }
        }
    }
    Ok(snapshot)
}

/// The SQLite schema of `schema.table`.
fn schema(table: &str) -> &str {
    table.split('.').next().unwrap_or("main")
}

/// The keys of `unit_id`'s raw events in each of `files`, read from the pinned `snapshot`
/// (ingestion goes on meanwhile: nothing here waits for a turn).
async fn scan(
    mut snapshot: Tx,
    dialect: Dialect,
    files: &[String],
    unit_id: &str,
) -> AppResult<Vec<(String, Vec<EventKey>)>> {
    let mut found = Vec::new();
    for table in files {
        let keys: Vec<EventKey> = sqlx::query_as(&format!(
            "SELECT ts, event_id, test FROM {table} WHERE unit_id = $1"
        ))
        .bind(unit_id)
        .fetch_all(&mut *snapshot)
        .await?;
        found.push((table.clone(), keys));
    }
    if dialect == Dialect::Sqlite {
        for table in files {
            let size = match schema(table) {
                "main" => READER_CACHE,
                _ => DEFAULT_CACHE,
            };
            sqlx::query(&format!("PRAGMA {}.cache_size = {size}", schema(table)))
                .execute(&mut *snapshot)
                .await?;
        }
    }
    snapshot.rollback().await?;
    Ok(found)
}

/// The PostgreSQL advisory lock ingestion holds shared and an erasure alone ("erasure" in
/// ASCII).
pub(crate) const LOCK_KEY: i64 = 0x65_7261_7375_7265;

/// A raw event's key, but for its unit: time, id and test.
type EventKey = (i64, String, String);

/// Deletes these events of `unit_id` from `table` by key; returns how many there were. Keys
/// are ORed, which both engines answer with primary-key lookups (a row-value `IN` made SQLite
/// scan the table).
async fn delete_events(
    conn: &mut AnyConnection,
    dialect: Dialect,
    table: &str,
    unit_id: &str,
    keys: &[EventKey],
) -> AppResult<u64> {
    let mut gone = 0;
    for chunk in keys.chunks(CHUNK / 4) {
        let mut n = 0;
        let mut param = || {
            n += 1;
            match dialect {
                Dialect::Sqlite => "?".to_owned(),
                Dialect::Postgres => format!("${n}"),
            }
        };
        let or: Vec<String> = chunk
            .iter()
            .map(|_| {
                format!(
                    "(ts = {} AND event_id = {} AND test = {} AND unit_id = {})",
                    param(),
                    param(),
                    param(),
                    param()
                )
            })
            .collect();
        let sql = format!("DELETE FROM {table} WHERE {}", or.join(" OR "));
        let mut q = sqlx::query(&sql);
        for (ts, id, test) in chunk {
            q = q
                .bind(*ts)
                .bind(id.as_str())
                .bind(test.as_str())
                .bind(unit_id);
        }
        gone += q.execute(&mut *conn).await?.rows_affected();
    }
    Ok(gone)
}

/// Changes to a file's `agg_exposures`, `agg_metrics`, `agg_strata`, `agg_sketch` and
/// `agg_dims` rows.
#[derive(Default)]
struct Deltas {
    exposures: BTreeMap<Cell, Units>,
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

/// Removes a unit's per-unit state and subtracts its contribution from every aggregate.
/// `metrics` maps each test to its metric definitions, whose rules turn the unit's stored
/// totals into the per-unit values it added. Per-unit state is found by key, test by test, in
/// `exposures` and `unit_metrics`; on SQLite in the file of `schemas` that holds the unit for
/// that test ([`super::shard_of`]), whose aggregate rows then change. The caller holds every
/// file's write turn.
async fn erase_state(
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
            "SELECT variant, device, persona, stratum, dims, covs, logged_by FROM {prefix}exposures \
             WHERE test = $1 AND unit_id = $2"
        );
        let metrics_sql = format!(
            "SELECT metric, conversions, value FROM {prefix}unit_metrics \
             WHERE test = $1 AND unit_id = $2 AND conversions > 0"
        );
        type Row = (String, String, String, Option<i64>, String, String, String);
        let cell: Option<Row> = sqlx::query_as(&cell_sql)
            .bind(test)
            .bind(unit_id)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some((variant, device, persona, stratum, unit_dims, unit_covs, logged_by)) = cell {
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
            agg_exp.insert(cell.clone(), Units::one(-1, logged_by_of(&logged_by)));
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
