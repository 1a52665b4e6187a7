//! Raw events, per-unit state and the incremental aggregates built from them, on PostgreSQL.
//! (SQLite ingests through [`crate::writer`], one event at a time on its single writer.)
//!
//! [`apply`] ingests a validated batch in the caller's transaction with a handful of multi-row
//! statements: events are inserted `ON CONFLICT DO NOTHING RETURNING`, so only new event ids go
//! on; a unit's first exposure (`exposures`, insert-if-absent) fixes its variant, device and
//! persona; conversions of exposed units are summed per unit and metric in `unit_metrics` by an
//! upsert that returns the new totals, from which the change to n, sum and sum of squares
//! follows. Because every step is an atomic insert or upsert on a unique key, several
//! processes on one PostgreSQL stay exact. Rows are written in key order so concurrent
//! transactions take row locks in the same order. Reading [`super::aggregates`] never touches
//! raw events.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use edgewise_shared::beacon::EventKind;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::aggregates::Cell;
use super::dialect::{values, CHUNK};
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
    /// Conversions: whether the metric sums values (else it is binomial).
    pub value_metric: bool,
    pub device: String,
    pub persona: String,
    pub ts: i64,
    pub snapshot_version: Option<i64>,
    /// The site whose ingestion key sent it, and when it arrived (Unix ms).
    pub site: String,
    pub received_at: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub accepted: usize,
    pub duplicates: usize,
}

/// (test, unit, metric) → (conversions, summed value, is a value metric).
type ConvKey<'a> = (&'a str, &'a str, &'a str);
type ConvDelta = (i64, f64, bool);

impl Applied {
    /// Counts for one request's events, given the ids this transaction inserted. An id is
    /// accepted once, for the first event carrying it; every other occurrence is a duplicate.
    pub fn count(events: &[NewEvent], inserted: &mut HashSet<String>) -> Applied {
        let accepted = events
            .iter()
            .filter(|e| inserted.remove(&e.event_id))
            .count();
        Applied {
            accepted,
            duplicates: events.len() - accepted,
        }
    }
}

/// Stores one request's `events` and updates the aggregates; returns the ids that were new.
pub async fn apply(conn: &mut AnyConnection, events: &[NewEvent]) -> AppResult<HashSet<String>> {
    const PG: Dialect = Dialect::Postgres;
    let mut seen = HashSet::new();
    let mut uniq: Vec<&NewEvent> = events
        .iter()
        .filter(|e| seen.insert(e.event_id.as_str()))
        .collect();
    uniq.sort_by(|a, b| a.event_id.cmp(&b.event_id));

    // Insert-if-absent tells us atomically, even across processes, which ids are new.
    let mut inserted: HashSet<String> = HashSet::with_capacity(uniq.len());
    for chunk in uniq.chunks(CHUNK) {
        inserted.extend(insert_events(conn, chunk).await?);
    }
    let fresh: Vec<&NewEvent> = uniq
        .into_iter()
        .filter(|e| inserted.contains(&e.event_id))
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
    let mut agg_exp: BTreeMap<Cell, i64> = BTreeMap::new();
    let exposures: Vec<&NewEvent> = first.into_values().collect();
    for chunk in exposures.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO exposures (test, unit_id, variant, device, persona, ts) VALUES {} \
             ON CONFLICT (test, unit_id) DO NOTHING RETURNING test, variant, device, persona",
            values(PG, chunk.len(), 6),
        );
        let mut q = sqlx::query_as::<_, Cell>(&sql);
        for e in chunk {
            q = q
                .bind(&e.test)
                .bind(&e.unit_id)
                .bind(&e.variant)
                .bind(&e.device)
                .bind(&e.persona)
                .bind(e.ts);
        }
        for cell in q.fetch_all(&mut *conn).await? {
            *agg_exp.entry(cell).or_default() += 1;
        }
    }

    // Conversions: per (test, unit, metric) how many and how much, then only exposed units.
    let mut conv: BTreeMap<ConvKey, ConvDelta> = BTreeMap::new();
    for e in fresh.iter().filter(|e| e.kind == EventKind::Conversion) {
        let Some(metric) = e.metric.as_deref() else {
            continue;
        };
        let c = conv
            .entry((e.test.as_str(), e.unit_id.as_str(), metric))
            .or_insert((0, 0.0, e.value_metric));
        c.0 += 1;
        if e.value_metric {
            c.1 += e.value.unwrap_or(0.0);
        }
    }
    let mut agg_met: BTreeMap<(Cell, String), (i64, f64, f64)> = BTreeMap::new();
    if !conv.is_empty() {
        let units: Vec<(&str, &str)> = conv
            .keys()
            .map(|(t, u, _)| (*t, *u))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut exposed: HashMap<(String, String), (String, String, String)> = HashMap::new();
        for chunk in units.chunks(CHUNK) {
            let sql = format!(
                "SELECT test, unit_id, variant, device, persona FROM exposures \
                 WHERE (test, unit_id) IN (VALUES {})",
                values(PG, chunk.len(), 2)
            );
            let mut q = sqlx::query_as::<_, (String, String, String, String, String)>(&sql);
            for (t, u) in chunk {
                q = q.bind(*t).bind(*u);
            }
            for (t, u, v, d, p) in q.fetch_all(&mut *conn).await? {
                exposed.insert((t, u), (v, d, p));
            }
        }
        let counted: Vec<(ConvKey, ConvDelta)> = conv
            .into_iter()
            .filter(|((t, u, _), _)| exposed.contains_key(&(t.to_string(), u.to_string())))
            .collect();
        for chunk in counted.chunks(CHUNK) {
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
            let mut delta: HashMap<ConvKey, ConvDelta> = HashMap::new();
            for (key, d) in chunk {
                q = q.bind(key.0).bind(key.1).bind(key.2).bind(d.0).bind(d.1);
                delta.insert(*key, *d);
            }
            for row in q.fetch_all(&mut *conn).await? {
                let (t, u, m, total, value) = unit_metric_row(&row)?;
                let Some(&(k, dv, is_value)) = delta.get(&(t.as_str(), u.as_str(), m.as_str()))
                else {
                    continue;
                };
                let Some((v, d, p)) = exposed.get(&(t.clone(), u.clone())) else {
                    continue;
                };
                let Some(change) = metric_change(is_value, total == k, dv, value) else {
                    continue;
                };
                add_change(
                    agg_met
                        .entry(((t, v.clone(), d.clone(), p.clone()), m))
                        .or_default(),
                    change,
                );
            }
        }
    }
    super::aggregates::add(conn, PG, "", &agg_exp, &agg_met).await?;
    Ok(inserted)
}

/// What a unit's conversion changes in its metric cell's `(units, sum, sum_sq)`: `newly` if it
/// is the unit's first counted conversion of the metric, `dv` the value it adds, `value` the
/// unit's total after it. `None` when nothing changes (a binomial unit counted before).
pub(crate) fn metric_change(
    is_value: bool,
    newly: bool,
    dv: f64,
    value: f64,
) -> Option<(i64, f64, f64)> {
    if is_value {
        // The unit's value moves from value-dv to value: the sum changes by dv and the sum
        // of squares by value² - (value-dv)² = dv·(2·value - dv).
        Some((i64::from(newly), dv, dv * (2.0 * value - dv)))
    } else {
        newly.then_some((1, 1.0, 1.0))
    }
}

pub(crate) fn add_change(cell: &mut (i64, f64, f64), change: (i64, f64, f64)) {
    cell.0 += change.0;
    cell.1 += change.1;
    cell.2 += change.2;
}

/// Inserts raw events, skipping known ids; returns the new ids.
async fn insert_events(conn: &mut AnyConnection, chunk: &[&NewEvent]) -> AppResult<Vec<String>> {
    let sql = format!(
        "INSERT INTO events (event_id, kind, unit_id, test, variant, metric, value, device, \
         persona, ts, snapshot_version, site, received_at) VALUES {} \
         ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        values(Dialect::Postgres, chunk.len(), 13),
    );
    let mut q = sqlx::query_scalar::<_, String>(&sql);
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
            .bind(e.received_at);
    }
    Ok(q.fetch_all(&mut *conn).await?)
}

fn unit_metric_row(row: &AnyRow) -> Result<(String, String, String, i64, f64), sqlx::Error> {
    Ok((
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
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

#[cfg(test)]
mod tests {}
