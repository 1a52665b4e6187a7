//! Raw events, per-unit state and the incremental aggregates built from them, on PostgreSQL.
//! (SQLite ingests through [`crate::writer`], one event at a time on its single writer.)
//!
//! [`apply`] ingests a validated batch in the caller's transaction with a handful of multi-row
//! statements: events are inserted `ON CONFLICT DO NOTHING RETURNING`, so only new event ids go
//! on; a unit's first exposure (`exposures`, insert-if-absent) fixes its variant, device and
//! persona; each conversion of an exposed unit counts for every metric reading its event whose
//! window it falls in, and is summed per unit and metric in `unit_metrics` by an upsert that
//! returns the new totals, from which the change to the metric's row follows
//! ([`edgewise_shared::metrics::CellChange`]); the ratios built on a changed metric then take
//! both components' per-unit values, before and after. Because every step is an atomic insert or upsert on a unique key, several
//! processes on one PostgreSQL stay exact. Rows are written in key order so concurrent
//! transactions take row locks in the same order. Reading [`super::aggregates`] never touches
//! raw events.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use std::sync::Arc;

use edgewise_shared::beacon::{EventKind, LoggedBy};
use edgewise_shared::metrics::sketch::Bucket;
use edgewise_shared::metrics::{CellChange, PerUnit, Reader, Rule, Totals};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::cells::{covs_text, logged_by_of, parse_covs, Cell, StratumCell, Units, NO_STRATUM};
use super::dialect::{values, CHUNK};
use super::dims::DimKey;
use super::sketches::SketchKey;
use super::Dialect;
use crate::error::AppResult;

/// One validated event, ready to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: String,
    pub kind: EventKind,
    pub unit_id: String,
    pub test: String,
    pub variant: String,
    pub metric: Option<String>,
    pub value: Option<f64>,
    /// Conversions: the test's metrics that read the event's `metric`.
    pub reads: Arc<[Reader]>,
    pub device: String,
    pub persona: String,
    pub ts: i64,
    pub snapshot_version: Option<i64>,
    /// Exposures to a bandit test: the probability the variant was assigned with, and the
    /// stratum its unit counts in (the snapshot version that assigned it).
    pub propensity: Option<f64>,
    pub stratum: Option<i64>,
    /// Exposures to a test with dimensions: the visitor's value of each, as `(dimension,
    /// value)` pairs in the test's dimensions' order (normalised; `(none)` when not sent).
    pub dims: Vec<(String, String)>,
    /// Exposures to a test with CUPED metrics: per such metric, the unit's covariate (0 when
    /// not sent).
    pub covs: Vec<(String, f64)>,
    /// Who logged it: the browser, or the edge (the worker, as it served a page).
    pub logged_by: LoggedBy,
    /// The site whose ingestion key sent it, and when it arrived (Unix ms).
    pub site: String,
    pub received_at: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub accepted: usize,
    pub duplicates: usize,
    /// Of the accepted, the exposures, and of them those the edge logged (for `/metrics`).
    pub exposures: usize,
    pub edge_exposures: usize,
}

/// (test, unit, metric key).
type UnitMetric<'a> = (&'a str, &'a str, &'a str);

/// What recognises a re-delivered event on both engines: its time, id, test and unit.
pub type EventKey = (i64, String, String, String);

fn borrowed(e: &NewEvent) -> (i64, &str, &str, &str) {
    (e.ts, &e.event_id, &e.test, &e.unit_id)
}

fn key_of(e: &NewEvent) -> EventKey {
    (e.ts, e.event_id.clone(), e.test.clone(), e.unit_id.clone())
}

impl Applied {
    /// Counts for one request's events, given the keys this transaction inserted. A key is
    /// accepted once, for the first event carrying it; every other occurrence is a duplicate.
    pub fn count(events: &[NewEvent], inserted: &mut HashSet<EventKey>) -> Applied {
        let mut applied = Applied::default();
        for e in events.iter().filter(|e| inserted.remove(&key_of(e))) {
            applied.new_event(e);
        }
        applied.duplicates = events.len() - applied.accepted;
        applied
    }

    /// Counts one accepted event.
    pub fn new_event(&mut self, e: &NewEvent) {
        self.accepted += 1;
        if e.kind == EventKind::Exposure {
            self.exposures += 1;
            if e.logged_by == LoggedBy::Edge {
                self.edge_exposures += 1;
            }
        }
    }

    /// Adds another batch's counts.
    pub fn add(&mut self, a: Applied) {
        self.accepted += a.accepted;
        self.duplicates += a.duplicates;
        self.exposures += a.exposures;
        self.edge_exposures += a.edge_exposures;
    }
}

/// Stores one request's `events` and updates the aggregates; returns the keys that were new.
pub async fn apply(conn: &mut AnyConnection, events: &[NewEvent]) -> AppResult<HashSet<EventKey>> {
    const PG: Dialect = Dialect::Postgres;
    let mut seen = HashSet::new();
    let mut uniq: Vec<&NewEvent> = events.iter().filter(|e| seen.insert(borrowed(e))).collect();
    // One order for every transaction's inserts, so concurrent ones do not deadlock.
    uniq.sort_by(|a, b| borrowed(a).cmp(&borrowed(b)));

    // An erasure waits for the batches under way and holds the next ones while it takes a
    // unit out (a few milliseconds: its scan runs after; see super::erasure).
    sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
        .bind(super::erasure::LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    // Insert-if-absent tells us atomically, even across processes, which events are new.
    let mut inserted: HashSet<EventKey> = HashSet::with_capacity(uniq.len());
    for chunk in uniq.chunks(CHUNK) {
        inserted.extend(insert_events(conn, chunk).await?);
    }
    let fresh: Vec<&NewEvent> = uniq
        .into_iter()
        .filter(|e| inserted.contains(&key_of(e)))
        .collect();

    // First exposure per (test, unit) in this batch: the earliest wins.
    let mut first: BTreeMap<(&str, &str), &NewEvent> = BTreeMap::new();
    for e in fresh.iter().filter(|e| e.kind == EventKind::Exposure) {
        first
            .entry((e.test.as_str(), e.unit_id.as_str()))
            .and_modify(|f| {
                if e.ts < f.ts {
                    *f = e;
                }
            })
            .or_insert(e);
    }
    let mut agg_exp: BTreeMap<Cell, Units> = BTreeMap::new();
    let mut agg_strata: BTreeMap<StratumCell, CellChange> = BTreeMap::new();
    let mut agg_dims: BTreeMap<DimKey, CellChange> = BTreeMap::new();
    let mut agg_met: BTreeMap<(Cell, String), CellChange> = BTreeMap::new();
    let exposures: Vec<&NewEvent> = first.into_values().collect();
    // Each exposure's dimension values as they will be stored: kept, or `(other)`.
    let mut admission = super::dims::Admission::default();
    let mut stored_dims: Vec<String> = Vec::with_capacity(exposures.len());
    for e in &exposures {
        let mut pairs = Vec::with_capacity(e.dims.len());
        for (dim, value) in &e.dims {
            let stored = match admission.decided(&e.test, dim, value) {
                Some(v) => v.to_owned(),
                None => {
                    let (known, kept): (i64, i64) = sqlx::query_as(&super::dims::known_sql(""))
                        .bind(&e.test)
                        .bind(dim)
                        .bind(value)
                        .fetch_one(&mut *conn)
                        .await?;
                    admission.decide(&e.test, dim, value, known, kept)
                }
            };
            pairs.push((dim.clone(), stored));
        }
        stored_dims.push(super::dims::text(&pairs));
    }
    for (chunk, dims) in exposures.chunks(CHUNK).zip(stored_dims.chunks(CHUNK)) {
        let sql = format!(
            "INSERT INTO exposures (test, unit_id, variant, device, persona, ts, stratum, \
             propensity, dims, covs, logged_by) VALUES {} ON CONFLICT (test, unit_id) DO NOTHING \
             RETURNING test, variant, device, persona, stratum, dims, covs, logged_by",
            values(PG, chunk.len(), 11),
        );
        type Row = (String, String, String, String, i64, String, String, String);
        let mut q = sqlx::query_as::<_, Row>(&sql);
        for (e, d) in chunk.iter().zip(dims) {
            // No NULL binds in multi-row statements (see insert_events): a unit outside any
            // bandit is stored with stratum -1 and propensity 0.
            q = q
                .bind(&e.test)
                .bind(&e.unit_id)
                .bind(&e.variant)
                .bind(&e.device)
                .bind(&e.persona)
                .bind(e.ts)
                .bind(e.stratum.unwrap_or(NO_STRATUM))
                .bind(e.propensity.unwrap_or(0.0))
                .bind(d)
                .bind(covs_text(&e.covs))
                .bind(e.logged_by.as_str());
        }
        for (t, v, d, p, stratum, dims, covs, logged_by) in q.fetch_all(&mut *conn).await? {
            for (metric, x) in parse_covs(&covs) {
                let cell = (t.clone(), v.clone(), d.clone(), p.clone());
                agg_met
                    .entry((cell, metric))
                    .or_default()
                    .add(CellChange::covariate(x, 1.0));
            }
            if stratum != NO_STRATUM {
                agg_strata
                    .entry((t.clone(), stratum, v.clone(), String::new()))
                    .or_default()
                    .units += 1;
            }
            let one = CellChange {
                units: 1,
                ..CellChange::default()
            };
            super::dims::record(&mut agg_dims, &t, &v, &super::dims::parse(&dims), "", one);
            agg_exp
                .entry((t, v, d, p))
                .or_default()
                .add(Units::one(1, logged_by_of(&logged_by)));
        }
    }

    // Conversions count for exposed units only, per metric reading them (within its window).
    let conversions: Vec<&NewEvent> = fresh
        .iter()
        .copied()
        .filter(|e| e.kind == EventKind::Conversion && !e.reads.is_empty())
        .collect();
    let mut agg_sketch: BTreeMap<SketchKey, Bucket> = BTreeMap::new();
    if !conversions.is_empty() {
        let units: BTreeSet<(&str, &str)> = conversions
            .iter()
            .map(|e| (e.test.as_str(), e.unit_id.as_str()))
            .collect();
        let exposed = exposed_cells(conn, &units.into_iter().collect::<Vec<_>>()).await?;
        // Per (test, unit, metric): events and their summed value, and the metric's reader.
        let mut conv: BTreeMap<UnitMetric, (i64, f64, &Reader)> = BTreeMap::new();
        for e in conversions {
            let Some(unit) = exposed.get(&(e.test.clone(), e.unit_id.clone())) else {
                continue;
            };
            for r in e.reads.iter().filter(|r| r.rule.counts(unit.at, e.ts)) {
                let c = conv
                    .entry((e.test.as_str(), e.unit_id.as_str(), r.key.as_str()))
                    .or_insert((0, 0.0, r));
                c.0 += 1;
                c.1 += e.value.unwrap_or(0.0);
            }
        }
        // Each changed (test, unit, metric)'s totals before and after this batch.
        let mut changed: Vec<(String, String, String, Totals, Totals)> = Vec::new();
        let (once, added): (Vec<_>, Vec<_>) = conv
            .iter()
            .partition(|(_, (_, _, r))| r.rule.per_unit == PerUnit::Converted);
        // A converted unit's row is written once: nothing more about it counts (as on
        // SQLite, so both engines hold the same unit rows).
        for chunk in once.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO unit_metrics (test, unit_id, metric, conversions, value) VALUES {} \
                 ON CONFLICT (test, unit_id, metric) DO NOTHING RETURNING test, unit_id, metric",
                values(PG, chunk.len(), 5),
            );
            let mut q = sqlx::query_as::<_, (String, String, String)>(&sql);
            for ((t, u, m), _) in chunk {
                q = q.bind(*t).bind(*u).bind(*m).bind(1i64).bind(0.0f64);
            }
            for (t, u, m) in q.fetch_all(&mut *conn).await? {
                changed.push((t, u, m, Totals::default(), Totals::default().plus(1, 0.0)));
            }
        }
        for chunk in added.chunks(CHUNK) {
            // The upsert returns the unit's totals after it, atomically.
            let sql = format!(
                "INSERT INTO unit_metrics (test, unit_id, metric, conversions, value) VALUES {} \
                 ON CONFLICT (test, unit_id, metric) DO UPDATE SET \
                 conversions = unit_metrics.conversions + excluded.conversions, \
                 value = unit_metrics.value + excluded.value \
                 RETURNING test, unit_id, metric, conversions, value",
                values(PG, chunk.len(), 5),
            );
            let mut q = sqlx::query(&sql);
            for ((t, u, m), (k, dv, _)) in chunk {
                q = q.bind(*t).bind(*u).bind(*m).bind(*k).bind(*dv);
            }
            for row in q.fetch_all(&mut *conn).await? {
                let (t, u, m, after) = unit_metric_row(&row)?;
                if let Some(&(k, dv, _)) = conv.get(&(t.as_str(), u.as_str(), m.as_str())) {
                    changed.push((t, u, m, after.plus(-k, -dv), after));
                }
            }
        }
        let mut moved: HashMap<(String, String, String), (Totals, Totals)> = HashMap::new();
        for (t, u, m, before, after) in changed {
            let Some(&(_, _, reader)) = conv.get(&(t.as_str(), u.as_str(), m.as_str())) else {
                continue;
            };
            let unit = exposed.get(&(t.clone(), u.clone()));
            if let Some(u) = unit {
                for (b, change) in reader.rule.sketch_moves(before, after) {
                    agg_sketch
                        .entry((u.cell.clone(), m.clone(), b))
                        .or_default()
                        .add(change);
                }
            }
            if let (Some(u), Some(mut change)) =
                (unit, CellChange::metric(&reader.rule, before, after))
            {
                if let Some(x) = u.covs.get(&m) {
                    change = change.with_covariate(*x);
                }
                agg_met
                    .entry((u.cell.clone(), m.clone()))
                    .or_default()
                    .add(change);
                if u.stratum != NO_STRATUM {
                    agg_strata
                        .entry((t.clone(), u.stratum, u.cell.1.clone(), m.clone()))
                        .or_default()
                        .add(change);
                }
                super::dims::record(&mut agg_dims, &t, &u.cell.1, &u.dims, &m, change);
            }
            moved.insert((t, u, m), (before, after));
        }
        ratio_changes(conn, &conv, &moved, &exposed, &mut agg_met, &mut agg_dims).await?;
    }
    super::aggregates::add(conn, PG, "", &agg_exp, &agg_met, &agg_strata).await?;
    super::sketches::add(conn, PG, "", &agg_sketch).await?;
    super::dims::add(conn, PG, "", &agg_dims).await?;
    Ok(inserted)
}

/// An exposed unit: its cell, when it was first exposed, and its bandit stratum.
struct ExposedUnit {
    cell: Cell,
    at: i64,
    stratum: i64,
    /// Its dimension values ([`super::dims`]).
    dims: Vec<(String, String)>,
    /// Its CUPED covariates, per metric.
    covs: HashMap<String, f64>,
}

/// (test, unit) → the exposed unit.
type Exposed = HashMap<(String, String), ExposedUnit>;

/// The exposure cells of `units`, those exposed.
async fn exposed_cells(conn: &mut AnyConnection, units: &[(&str, &str)]) -> AppResult<Exposed> {
    let mut exposed = HashMap::new();
    for chunk in units.chunks(CHUNK) {
        let sql = format!(
            "SELECT test, unit_id, variant, device, persona, ts, COALESCE(stratum, -1), dims, \
             covs \
             FROM exposures \
             WHERE (test, unit_id) IN (VALUES {})",
            values(Dialect::Postgres, chunk.len(), 2)
        );
        type Row = (
            String,
            String,
            String,
            String,
            String,
            i64,
            i64,
            String,
            String,
        );
        let mut q = sqlx::query_as::<_, Row>(&sql);
        for (t, u) in chunk {
            q = q.bind(*t).bind(*u);
        }
        for (t, u, v, d, p, at, stratum, dims, covs) in q.fetch_all(&mut *conn).await? {
            let cell = (t.clone(), v, d, p);
            exposed.insert(
                (t, u),
                ExposedUnit {
                    cell,
                    at,
                    stratum,
                    dims: super::dims::parse(&dims),
                    covs: parse_covs(&covs),
                },
            );
        }
    }
    Ok(exposed)
}

/// The changes to the ratios built on the metrics this batch moved: per (test, unit, ratio),
/// both components' per-unit values before and after the batch (a component the batch did
/// not move is read as it stands).
async fn ratio_changes(
    conn: &mut AnyConnection,
    conv: &BTreeMap<UnitMetric<'_>, (i64, f64, &Reader)>,
    moved: &HashMap<(String, String, String), (Totals, Totals)>,
    exposed: &Exposed,
    agg_met: &mut BTreeMap<(Cell, String), CellChange>,
    agg_dims: &mut BTreeMap<DimKey, CellChange>,
) -> AppResult<()> {
    // (test, unit, ratio) → (numerator key and rule, denominator key and rule).
    type Parts<'a> = ((&'a str, Rule), (&'a str, Rule));
    let mut ratios: BTreeMap<(&str, &str, &str), Parts> = BTreeMap::new();
    for ((t, u, m), (_, _, reader)) in conv {
        for link in &reader.ratios {
            let (mine, other) = ((*m, reader.rule), (link.other.as_str(), link.other_rule));
            let parts = if link.numerator {
                (mine, other)
            } else {
                (other, mine)
            };
            ratios.insert((t, u, link.ratio.as_str()), parts);
        }
    }
    if ratios.is_empty() {
        return Ok(());
    }
    let key = |t: &str, u: &str, m: &str| (t.to_owned(), u.to_owned(), m.to_owned());
    let still: Vec<(&str, &str, &str)> = ratios
        .iter()
        .flat_map(|((t, u, _), ((n, _), (d, _)))| [(*t, *u, *n), (*t, *u, *d)])
        .filter(|(t, u, m)| !moved.contains_key(&key(t, u, m)))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut standing: HashMap<(String, String, String), Totals> = HashMap::new();
    for chunk in still.chunks(CHUNK) {
        let sql = format!(
            "SELECT test, unit_id, metric, conversions, value FROM unit_metrics \
             WHERE (test, unit_id, metric) IN (VALUES {})",
            values(Dialect::Postgres, chunk.len(), 3)
        );
        let mut q = sqlx::query(&sql);
        for (t, u, m) in chunk {
            q = q.bind(*t).bind(*u).bind(*m);
        }
        for row in q.fetch_all(&mut *conn).await? {
            let (t, u, m, totals) = unit_metric_row(&row)?;
            standing.insert((t, u, m), totals);
        }
    }
    let values_of = |t: &str, u: &str, (m, rule): (&str, Rule)| {
        let k = key(t, u, m);
        let (before, after) = moved.get(&k).copied().unwrap_or_else(|| {
            let now = standing.get(&k).copied().unwrap_or_default();
            (now, now)
        });
        (rule.value(before), rule.value(after))
    };
    for ((t, u, ratio), (num, den)) in ratios {
        let Some(unit) = exposed.get(&(t.to_owned(), u.to_owned())) else {
            continue;
        };
        if let Some(change) = CellChange::ratio(values_of(t, u, num), values_of(t, u, den)) {
            agg_met
                .entry((unit.cell.clone(), ratio.to_owned()))
                .or_default()
                .add(change);
            super::dims::record(agg_dims, t, &unit.cell.1, &unit.dims, ratio, change);
        }
    }
    Ok(())
}

/// Inserts raw events, skipping known ones; returns the new ones' keys.
async fn insert_events(conn: &mut AnyConnection, chunk: &[&NewEvent]) -> AppResult<Vec<EventKey>> {
    let sql = format!(
        "INSERT INTO events (event_id, kind, unit_id, test, variant, metric, value, device, \
         persona, ts, snapshot_version, site, received_at, logged_by) VALUES {} \
         ON CONFLICT (ts, event_id, test, unit_id) DO NOTHING \
         RETURNING ts, event_id, test, unit_id",
        values(Dialect::Postgres, chunk.len(), 14),
    );
    let mut q = sqlx::query_as::<_, EventKey>(&sql);
    for e in chunk {
        q = q
            .bind(&e.event_id)
            .bind(match e.kind {
                EventKind::Exposure => "exposure",
                EventKind::Conversion => "conversion",
            })
            .bind(&e.unit_id)
            .bind(&e.test)
            .bind(&e.variant)
            // No NULL binds in multi-row statements: through sqlx's Any driver a NULL is
            // declared untyped, and PostgreSQL's cached statement then rejects a later
            // float in the same slot. Absent values are stored as '' and 0.
            .bind(e.metric.as_deref().unwrap_or(""))
            .bind(e.value.unwrap_or(0.0))
            .bind(&e.device)
            .bind(&e.persona)
            .bind(e.ts)
            .bind(e.snapshot_version.unwrap_or(0))
            .bind(&e.site)
            .bind(e.received_at)
            .bind(e.logged_by.as_str());
    }
    Ok(q.fetch_all(&mut *conn).await?)
}

fn unit_metric_row(row: &AnyRow) -> Result<(String, String, String, Totals), sqlx::Error> {
    Ok((
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        Totals {
            conversions: row.try_get(3)?,
            value: row.try_get(4)?,
        },
    ))
}

/// Counts stored events (tests and operators checking totals); `schemas` as for
/// [`super::aggregates::aggregates`].
pub async fn count_events(conn: &mut AnyConnection, schemas: &[String]) -> AppResult<i64> {
    let mut total = 0;
    for table in super::in_each_file(schemas, "events") {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut *conn)
            .await?;
        total += n;
    }
    Ok(total)
}

/// Stored events whose time (`ts`) is at or after `since`, and the newest event's time: a
/// range at the end of the events' key (it starts with `ts` on both engines), so cheap.
pub async fn recent(
    conn: &mut AnyConnection,
    schemas: &[String],
    since: i64,
) -> AppResult<(i64, Option<i64>)> {
    let (mut count, mut newest) = (0, None);
    for table in super::in_each_file(schemas, "events") {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE ts >= $1"
        ))
        .bind(since)
        .fetch_one(&mut *conn)
        .await?;
        let max: Option<i64> = sqlx::query_scalar(&format!("SELECT MAX(ts) FROM {table}"))
            .fetch_one(&mut *conn)
            .await?;
        count += n;
        newest = newest.max(max);
    }
    Ok((count, newest))
}

#[cfg(test)]
mod tests {}
