//! Raw events, per-unit state and the incremental aggregates built from them.
//!
//! [`apply`] ingests a validated batch in the caller's transaction with a handful of multi-row
//! statements: events are inserted `ON CONFLICT DO NOTHING RETURNING`, so only new event ids go
//! on; a unit's first exposure (`exposures`, insert-if-absent) fixes its variant, device and
//! persona; conversions of exposed units are summed per unit and metric in `unit_metrics` by an
//! upsert that returns the new totals, from which the change to n, sum and sum of squares
//! follows. Because every step is an atomic insert or upsert on a unique key, several
//! processes on one PostgreSQL stay exact. Rows are written in key order so concurrent
//! transactions take row locks in the same order. Reading [`aggregates`] never touches events.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use edgewise_shared::beacon::EventKind;
use edgewise_shared::snapshot::MetricKind;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, FromRow, Row};

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
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub accepted: usize,
    pub duplicates: usize,
}

/// Rows per multi-row statement; keeps parameters far below both engines' limits.
const CHUNK: usize = 200;

/// `($s+1, …, $s+cols), (…)` for `rows` rows.
fn values(rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            s.push('$');
            s.push_str(&(r * cols + c + 1).to_string());
        }
        s.push(')');
    }
    s
}

type Cell = (String, String, String, String); // test, variant, device, persona
/// (test, unit, metric) → (conversions, summed value, is a value metric).
type ConvKey<'a> = (&'a str, &'a str, &'a str);
type ConvDelta = (i64, f64, bool);

pub async fn apply(
    conn: &mut AnyConnection,
    site: &str,
    received_at: i64,
    events: &[NewEvent],
) -> AppResult<Applied> {
    let mut seen = HashSet::new();
    let mut uniq: Vec<&NewEvent> = events
        .iter()
        .filter(|e| seen.insert(e.event_id.as_str()))
        .collect();
    uniq.sort_by(|a, b| a.event_id.cmp(&b.event_id));

    let mut inserted: HashSet<String> = HashSet::with_capacity(uniq.len());
    for chunk in uniq.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO events (event_id, kind, unit_id, test, variant, metric, value, device, \
             persona, ts, snapshot_version, site, received_at) VALUES {} \
             ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            values(chunk.len(), 13)
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
                .bind(e.metric.as_deref())
                .bind(e.value)
                .bind(&e.device)
                .bind(&e.persona)
                .bind(e.ts)
                .bind(e.snapshot_version)
                .bind(site)
                .bind(received_at);
        }
        inserted.extend(q.fetch_all(&mut *conn).await?);
    }
    let applied = Applied {
        accepted: inserted.len(),
        duplicates: events.len() - inserted.len(),
    };
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
            values(chunk.len(), 6)
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
                values(chunk.len(), 2)
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
            let sql = format!(
                "INSERT INTO unit_metrics (test, unit_id, metric, conversions, value) VALUES {} \
                 ON CONFLICT (test, unit_id, metric) DO UPDATE SET \
                 conversions = unit_metrics.conversions + excluded.conversions, \
                 value = unit_metrics.value + excluded.value \
                 RETURNING test, unit_id, metric, conversions, value",
                values(chunk.len(), 5)
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
                let newly = total == k;
                let (dn, ds, dss) = if is_value {
                    // Per-unit value moves from value-dv to value: sum changes by dv and the
                    // sum of squares by value² - (value-dv)² = dv·(2·value - dv).
                    (i64::from(newly), dv, dv * (2.0 * value - dv))
                } else if newly {
                    (1, 1.0, 1.0)
                } else {
                    continue;
                };
                let a = agg_met
                    .entry(((t, v.clone(), d.clone(), p.clone()), m))
                    .or_default();
                a.0 += dn;
                a.1 += ds;
                a.2 += dss;
            }
        }
    }
    add_aggregates(conn, &agg_exp, &agg_met).await?;
    Ok(applied)
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

/// Adds deltas to the aggregate rows (negative deltas subtract, for unit deletion).
async fn add_aggregates(
    conn: &mut AnyConnection,
    exp: &BTreeMap<Cell, i64>,
    met: &BTreeMap<(Cell, String), (i64, f64, f64)>,
) -> AppResult<()> {
    let exp: Vec<_> = exp.iter().collect();
    for chunk in exp.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO agg_exposures (test, variant, device, persona, units) VALUES {} \
             ON CONFLICT (test, variant, device, persona) DO UPDATE SET \
             units = agg_exposures.units + excluded.units",
            values(chunk.len(), 5)
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
            "INSERT INTO agg_metrics (test, variant, device, persona, metric, units, sum, sum_sq) \
             VALUES {} ON CONFLICT (test, variant, device, persona, metric) DO UPDATE SET \
             units = agg_metrics.units + excluded.units, sum = agg_metrics.sum + excluded.sum, \
             sum_sq = agg_metrics.sum_sq + excluded.sum_sq",
            values(chunk.len(), 8)
        );
        let mut q = sqlx::query(&sql);
        for (((t, v, d, p), m), (n, s, ss)) in chunk {
            q = q
                .bind(t)
                .bind(v)
                .bind(d)
                .bind(p)
                .bind(m)
                .bind(*n)
                .bind(*s)
                .bind(*ss);
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

/// Per-unit metric values in one cell: `units` converted at least once; `sum` and `sum_sq`
/// over per-unit values (1 per converted unit for binomial metrics). Exposed units that never
/// converted count as 0, so the analysis n is the matching [`ExposureCell::units`].
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct MetricCell {
    pub variant: String,
    pub device: String,
    pub persona: String,
    pub metric: String,
    pub units: i64,
    pub sum: f64,
    pub sum_sq: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Aggregates {
    pub exposures: Vec<ExposureCell>,
    pub metrics: Vec<MetricCell>,
}

/// A test's aggregates, from the aggregate tables only.
pub async fn aggregates(conn: &mut AnyConnection, test: &str) -> AppResult<Aggregates> {
    let exposures = sqlx::query_as(
        "SELECT variant, device, persona, units FROM agg_exposures WHERE test = $1 \
         ORDER BY variant, device, persona",
    )
    .bind(test)
    .fetch_all(&mut *conn)
    .await?;
    let metrics = sqlx::query_as(
        "SELECT variant, device, persona, metric, units, sum, sum_sq FROM agg_metrics \
         WHERE test = $1 ORDER BY metric, variant, device, persona",
    )
    .bind(test)
    .fetch_all(conn)
    .await?;
    Ok(Aggregates { exposures, metrics })
}

/// What deleting a unit removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Deleted {
    pub events: u64,
    pub exposures: u64,
    pub metric_rows: u64,
}

/// Removes a unit's events and per-unit state and subtracts its contribution from every
/// aggregate. `kinds` maps (test, metric) to the metric's kind; binomial per-unit values are 1.
pub async fn delete_unit(
    conn: &mut AnyConnection,
    unit_id: &str,
    kinds: &HashMap<(String, String), MetricKind>,
) -> AppResult<Deleted> {
    let exps: Vec<Cell> =
        sqlx::query_as("SELECT test, variant, device, persona FROM exposures WHERE unit_id = $1")
            .bind(unit_id)
            .fetch_all(&mut *conn)
            .await?;
    let mets: Vec<(String, String, i64, f64)> = sqlx::query_as(
        "SELECT test, metric, conversions, value FROM unit_metrics WHERE unit_id = $1",
    )
    .bind(unit_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut agg_exp = BTreeMap::new();
    let cells: HashMap<&str, &Cell> = exps.iter().map(|c| (c.0.as_str(), c)).collect();
    for c in &exps {
        agg_exp.insert(c.clone(), -1);
    }
    let mut agg_met = BTreeMap::new();
    for (test, metric, conversions, value) in &mets {
        let Some(cell) = cells.get(test.as_str()) else {
            continue;
        };
        if *conversions <= 0 {
            continue;
        }
        let per_unit = match kinds.get(&(test.clone(), metric.clone())) {
            Some(MetricKind::Value) => *value,
            _ => 1.0,
        };
        agg_met.insert(
            ((*cell).clone(), metric.clone()),
            (-1, -per_unit, -per_unit * per_unit),
        );
    }
    add_aggregates(conn, &agg_exp, &agg_met).await?;
    let mut deleted = Deleted::default();
    for (table, slot) in [
        ("events", &mut deleted.events),
        ("exposures", &mut deleted.exposures),
        ("unit_metrics", &mut deleted.metric_rows),
    ] {
        *slot = sqlx::query(&format!("DELETE FROM {table} WHERE unit_id = $1"))
            .bind(unit_id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(deleted)
}

/// Counts stored events (tests and operators checking totals).
pub async fn count_events(conn: &mut AnyConnection) -> AppResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_numbers_placeholders_row_by_row() {
        assert_eq!(super::values(2, 2), "($1,$2),($3,$4)");
    }
}
