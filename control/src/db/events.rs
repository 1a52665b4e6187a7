//! Raw events, per-unit state and the incremental aggregates built from them.
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
//!
//! On SQLite, whose single writer makes "look, then write" just as exact, the same steps skip
//! `RETURNING` (every returned row is a thread hand-off in the driver): events are inserted
//! inside a savepoint and only looked up when some ids were already known, and first
//! exposures are counted inside the database by an `INSERT … SELECT`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use edgewise_shared::beacon::EventKind;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

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

/// Rows per multi-row statement; keeps parameters far below both engines' limits.
pub(crate) const CHUNK: usize = 400;

/// Splits rows into statements of [`CHUNK`] rows. On SQLite the remainder goes out in
/// power-of-two sizes, so a statement only ever has one of a dozen row counts: the driver
/// caches prepared statements by SQL text (100 per connection), and the group-commit writer's
/// arbitrary remainders made nearly every group prepare its large statements afresh.
/// PostgreSQL requests are one client batch each, whose sizes repeat; there, fewer
/// round trips win.
pub(crate) fn pieces<T>(dialect: Dialect, mut items: &[T]) -> Vec<&[T]> {
    if dialect == Dialect::Postgres {
        return items.chunks(CHUNK).collect();
    }
    let mut out = Vec::new();
    while items.len() >= CHUNK {
        let (head, rest) = items.split_at(CHUNK);
        out.push(head);
        items = rest;
    }
    let mut size = 256;
    while !items.is_empty() {
        if items.len() >= size {
            let (head, rest) = items.split_at(size);
            out.push(head);
            items = rest;
        }
        size /= 2;
    }
    out
}

/// `($1, …, $cols), (…)` for `rows` rows; plain `?` on SQLite, whose parameter-name lookup is
/// a linear scan per parameter and made numbered placeholders quadratic in batch size.
pub(crate) fn values(dialect: Dialect, rows: usize, cols: usize) -> String {
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
            match dialect {
                Dialect::Sqlite => s.push('?'),
                Dialect::Postgres => {
                    s.push('$');
                    s.push_str(&(r * cols + c + 1).to_string());
                }
            }
        }
        s.push(')');
    }
    s
}

pub(crate) type Cell = (String, String, String, String); // test, variant, device, persona
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

/// Stores `events` (any number of requests' batches) and updates the aggregates; returns the
/// ids that were new.
pub async fn apply(
    conn: &mut AnyConnection,
    dialect: Dialect,
    events: &[NewEvent],
) -> AppResult<HashSet<String>> {
    let mut seen = HashSet::new();
    let mut uniq: Vec<&NewEvent> = events
        .iter()
        .filter(|e| seen.insert(e.event_id.as_str()))
        .collect();
    uniq.sort_by(|a, b| a.event_id.cmp(&b.event_id));

    // PostgreSQL: insert-if-absent tells us atomically, even across processes, which ids are
    // new. SQLite has one writer, so looking first is just as exact and avoids streaming every
    // inserted id back through the driver (a thread hand-off per row).
    let returning = dialect == Dialect::Postgres;
    let mut inserted: HashSet<String> = HashSet::with_capacity(uniq.len());
    for chunk in pieces(dialect, &uniq) {
        if returning {
            inserted.extend(insert_events(conn, dialect, chunk).await?.0);
            continue;
        }
        // SQLite: try the common case (all new) in one statement; if some ids were known,
        // undo it and insert only the unknown ones.
        sqlx::query("SAVEPOINT ew_events")
            .execute(&mut *conn)
            .await?;
        let (_, n) = insert_events(conn, dialect, chunk).await?;
        if n != chunk.len() as u64 {
            sqlx::query("ROLLBACK TO ew_events")
                .execute(&mut *conn)
                .await?;
            let sql = format!(
                "SELECT event_id FROM events WHERE event_id IN ({})",
                vec!["?"; chunk.len()].join(",")
            );
            let mut q = sqlx::query_scalar::<_, String>(&sql);
            for e in chunk {
                q = q.bind(&e.event_id);
            }
            let known: HashSet<String> = q.fetch_all(&mut *conn).await?.into_iter().collect();
            let rest: Vec<&NewEvent> = chunk
                .iter()
                .copied()
                .filter(|e| !known.contains(&e.event_id))
                .collect();
            if !rest.is_empty() {
                insert_events(conn, dialect, &rest).await?;
            }
            inserted.extend(rest.iter().map(|e| e.event_id.clone()));
        } else {
            inserted.extend(chunk.iter().map(|e| e.event_id.clone()));
        }
        sqlx::query("RELEASE ew_events").execute(&mut *conn).await?;
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
    if !returning {
        // SQLite: count the not-yet-exposed units per cell inside the database, then insert;
        // nothing streams back through the driver (repeat visitors made that the bulk of it).
        for chunk in pieces(dialect, &exposures) {
            let sql = format!(
                "INSERT INTO agg_exposures (test, variant, device, persona, units) \
                 SELECT column1, column3, column4, column5, COUNT(*) FROM (VALUES {}) AS v \
                 WHERE NOT EXISTS (SELECT 1 FROM exposures x \
                   WHERE x.test = v.column1 AND x.unit_id = v.column2) \
                 GROUP BY column1, column3, column4, column5 \
                 ON CONFLICT (test, variant, device, persona) DO UPDATE SET \
                 units = agg_exposures.units + excluded.units",
                values(dialect, chunk.len(), 5)
            );
            let mut q = sqlx::query(&sql);
            for e in chunk {
                q = q
                    .bind(&e.test)
                    .bind(&e.unit_id)
                    .bind(&e.variant)
                    .bind(&e.device)
                    .bind(&e.persona);
            }
            q.execute(&mut *conn).await?;
        }
    }
    for chunk in pieces(dialect, &exposures) {
        let sql = format!(
            "INSERT INTO exposures (test, unit_id, variant, device, persona, ts) VALUES {} \
             ON CONFLICT (test, unit_id) DO NOTHING{}",
            values(dialect, chunk.len(), 6),
            if returning {
                " RETURNING test, variant, device, persona"
            } else {
                ""
            }
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
        // Empty on SQLite, whose new exposures were counted above.
        let new_cells = q.fetch_all(&mut *conn).await?;
        for cell in new_cells {
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
        for chunk in pieces(dialect, &units) {
            let sql = format!(
                "SELECT test, unit_id, variant, device, persona FROM exposures \
                 WHERE (test, unit_id) IN (VALUES {})",
                values(dialect, chunk.len(), 2)
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
        for chunk in pieces(dialect, &counted) {
            // Totals after the upsert: PostgreSQL returns them atomically; on SQLite (one
            // writer) the totals before plus this batch's deltas are the same thing.
            let mut before: HashMap<(String, String, String), (i64, f64)> = HashMap::new();
            if !returning {
                let sql = format!(
                    "SELECT test, unit_id, metric, conversions, value FROM unit_metrics \
                     WHERE (test, unit_id, metric) IN (VALUES {})",
                    values(dialect, chunk.len(), 3)
                );
                let mut q = sqlx::query(&sql);
                for (key, _) in chunk {
                    q = q.bind(key.0).bind(key.1).bind(key.2);
                }
                for row in q.fetch_all(&mut *conn).await? {
                    let (t, u, m, c, v) = unit_metric_row(&row)?;
                    before.insert((t, u, m), (c, v));
                }
            }
            let sql =
                format!(
                "INSERT INTO unit_metrics (test, unit_id, metric, conversions, value) VALUES {} \
                 ON CONFLICT (test, unit_id, metric) DO UPDATE SET \
                 conversions = unit_metrics.conversions + excluded.conversions, \
                 value = unit_metrics.value + excluded.value{}",
                values(dialect, chunk.len(), 5),
                if returning { " RETURNING test, unit_id, metric, conversions, value" } else { "" }
            );
            let mut q = sqlx::query(&sql);
            let mut delta: HashMap<ConvKey, ConvDelta> = HashMap::new();
            for (key, d) in chunk {
                q = q.bind(key.0).bind(key.1).bind(key.2).bind(d.0).bind(d.1);
                delta.insert(*key, *d);
            }
            let totals: Vec<(String, String, String, i64, f64)> = if returning {
                q.fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(unit_metric_row)
                    .collect::<Result<_, _>>()?
            } else {
                q.execute(&mut *conn).await?;
                chunk
                    .iter()
                    .map(|((t, u, m), (k, dv, _))| {
                        let key = (t.to_string(), u.to_string(), m.to_string());
                        let (c, v) = before.get(&key).copied().unwrap_or((0, 0.0));
                        (key.0, key.1, key.2, c + k, v + dv)
                    })
                    .collect()
            };
            for (t, u, m, total, value) in totals {
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
    super::aggregates::add(conn, dialect, &agg_exp, &agg_met).await?;
    Ok(inserted)
}

/// Inserts raw events, skipping known ids. Returns the new ids on PostgreSQL (`RETURNING`),
/// and on SQLite only how many rows went in.
async fn insert_events(
    conn: &mut AnyConnection,
    dialect: Dialect,
    chunk: &[&NewEvent],
) -> AppResult<(Vec<String>, u64)> {
    let returning = dialect == Dialect::Postgres;
    let sql = format!(
        "INSERT INTO events (event_id, kind, unit_id, test, variant, metric, value, device, \
         persona, ts, snapshot_version, site, received_at) VALUES {} \
         ON CONFLICT (event_id) DO NOTHING{}",
        values(dialect, chunk.len(), 13),
        if returning { " RETURNING event_id" } else { "" }
    );
    let mut q = sqlx::query(&sql);
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
    if returning {
        let rows = q.fetch_all(&mut *conn).await?;
        let ids = rows
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
        let n = ids.len() as u64;
        Ok((ids, n))
    } else {
        Ok((Vec::new(), q.execute(&mut *conn).await?.rows_affected()))
    }
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

/// Counts stored events (tests and operators checking totals).
pub async fn count_events(conn: &mut AnyConnection) -> AppResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pieces_cover_everything_in_few_sizes() {
        let items: Vec<u32> = (0..1234).collect();
        let parts = super::pieces(super::Dialect::Sqlite, &items);
        let sizes: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        assert_eq!(sizes, [400, 400, 400, 32, 2]);
        assert_eq!(parts.concat(), items);
        assert!(super::pieces::<u8>(super::Dialect::Sqlite, &[]).is_empty());
        assert_eq!(super::pieces(super::Dialect::Postgres, &items).len(), 4);
    }

    #[test]
    fn values_numbers_placeholders_row_by_row() {
        use super::Dialect;
        assert_eq!(super::values(Dialect::Postgres, 2, 2), "($1,$2),($3,$4)");
        assert_eq!(super::values(Dialect::Sqlite, 1, 2), "(?,?)");
    }
}
