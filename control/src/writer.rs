//! Ingestion on SQLite: one writer thread with group commit.
//!
//! SQLite has one writer at a time, so concurrent ingestion requests queue anyway. A thread
//! of its own owns that queue and a connection of its own (rusqlite, beside sqlx's pools, on
//! the same SQLite library): it takes every batch waiting (up to [`MAX_GROUP_EVENTS`] events),
//! applies them in one transaction and commits once, then answers each request. Nobody is
//! answered before the commit. If a group fails, its batches are retried one by one so a
//! single bad batch cannot fail the others.
//!
//! Events are applied one by one with cached prepared statements, against the events table
//! clustered by test and unit (`migrations/sqlite/0002_events_by_unit.sql`): a unit's first
//! exposure and its metric totals are read from the page its new event is written to, so
//! each event dirties one leaf page, plus its share of page splits. Inserting
//! `ON CONFLICT DO NOTHING` says per row whether the event was new. Only the aggregate deltas are kept in memory, and written once
//! per group. Exposures go first, earliest first, then conversions, as on PostgreSQL
//! ([`crate::db::events::apply`]).
//!
//! Admin changes write through sqlx's own connection; both take [`crate::db::SqliteFile`]'s
//! gate first, so neither waits on SQLite's busy handler nor starves the other.
//!
//! A second thread checkpoints (see [`checkpoint`]), so commits never copy the WAL back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use edgewise_shared::beacon::EventKind;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::db::events::{add_change, metric_change, Applied, Cell, NewEvent};
use crate::db::SqliteFile;
use crate::error::{AppError, AppResult};

/// Events one transaction may carry before the rest wait for the next.
const MAX_GROUP_EVENTS: usize = 5000;

/// WAL size (pages, 256 MiB) at which the checkpointer brings the WAL back to its start:
/// larger means rarer stalls, at the cost of disk and longer WAL lookups.
const RESTART_PAGES: i64 = 65_536;

/// The writer's own checkpoint inside a commit, should the checkpointer ever fall behind.
const BACKSTOP_PAGES: i64 = 4 * RESTART_PAGES;

#[derive(Debug)]
struct Job {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Applied, String>>,
}

/// A handle to the writer thread; cheap to clone. The thread ends when the last handle is
/// dropped, after answering what it was given.
#[derive(Debug, Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Opens the writer's connection and starts its thread.
    pub fn spawn(file: &SqliteFile) -> anyhow::Result<Writer> {
        let open = |cache_kib: u32| -> rusqlite::Result<Connection> {
            let conn = Connection::open(&file.path)?;
            conn.execute_batch(&format!(
                "PRAGMA synchronous = {}; PRAGMA busy_timeout = 10000; \
                 PRAGMA cache_size = -{cache_kib}; PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES};",
                file.synchronous
            ))?;
            Ok(conn)
        };
        let conn = open(65_536)?;
        conn.set_prepared_statement_cache_capacity(16);
        let checkpointer = open(1_024)?;
        let (jobs, rx) = mpsc::channel(256);
        let stop = Arc::new(AtomicBool::new(false));
        let (gate, stopped) = (file.gate.clone(), stop.clone());
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                run(conn, &gate, rx);
                stopped.store(true, Ordering::Relaxed);
            })?;
        let gate = file.gate.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpt".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    if let Err(e) = checkpoint(&checkpointer, &gate) {
                        tracing::debug!(error = %e, "checkpoint skipped");
                    }
                }
            })?;
        Ok(Writer { jobs })
    }

    /// Stores one batch; returns after it is committed.
    pub async fn submit(&self, events: Vec<NewEvent>) -> AppResult<Applied> {
        let (reply, answer) = oneshot::channel();
        let job = Job { events, reply };
        self.jobs
            .send(job)
            .await
            .map_err(|_| anyhow::anyhow!("the writer has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the writer dropped the batch"))?
            .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))
    }
}

fn run(mut conn: Connection, gate: &Arc<Mutex<()>>, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut size = first.events.len();
        let mut jobs = vec![first];
        while size < MAX_GROUP_EVENTS {
            match rx.try_recv() {
                Ok(job) => {
                    size += job.events.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let mut in_turn = |batches: &[&[NewEvent]]| {
            let _turn = gate.blocking_lock();
            commit(&mut conn, batches)
        };
        let batches: Vec<&[NewEvent]> = jobs.iter().map(|j| j.events.as_slice()).collect();
        let result = in_turn(&batches);
        match result {
            Ok(applied) => {
                for (job, a) in jobs.into_iter().zip(applied) {
                    let _ = job.reply.send(Ok(a));
                }
            }
            Err(e) if jobs.len() > 1 => {
                tracing::warn!(error = %e, batches = jobs.len(), "group commit failed; retrying batches alone");
                for job in jobs {
                    let result = in_turn(&[&job.events]);
                    let _ = job
                        .reply
                        .send(result.map(|a| a[0]).map_err(|e| e.to_string()));
                }
            }
            Err(e) => {
                for job in jobs {
                    let _ = job.reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

/// Copies the WAL into the database file, and now and then lets the WAL start over.
///
/// A PASSIVE checkpoint copies beside the writer without blocking it. But SQLite only
/// rewinds the WAL when a write transaction starts with every page of it copied, which never
/// happens while the writer keeps committing. Left to itself, the writer checkpoints inside a
/// commit once the WAL reaches its limit, and that commit's requests wait for the whole copy
/// and its fsyncs (measured: 100–300 ms stalls). So once the WAL holds [`RESTART_PAGES`],
/// a second pass copies, in the writer's turn, what was written during the first; the
/// writer's next transaction then rewinds the WAL. That pass still stalls the writer
/// (50–120 ms measured under load; BENCHMARKS.md), once per [`RESTART_PAGES`] written.
fn checkpoint(conn: &Connection, gate: &Mutex<()>) -> rusqlite::Result<()> {
    let pass = || conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1));
    if pass()? >= RESTART_PAGES {
        let _turn = gate.blocking_lock();
        pass()?;
    }
    Ok(())
}

/// One transaction for all the batches; per batch, how many events were new.
fn commit(conn: &mut Connection, batches: &[&[NewEvent]]) -> rusqlite::Result<Vec<Applied>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let applied = apply(&tx, batches)?;
    tx.commit()?;
    Ok(applied)
}

/// Test, variant, device, persona and metric of an `agg_metrics` row.
type MetricCell = (Cell, String);

fn apply(conn: &Connection, batches: &[&[NewEvent]]) -> rusqlite::Result<Vec<Applied>> {
    let mut order: Vec<(usize, &NewEvent)> = batches
        .iter()
        .enumerate()
        .flat_map(|(i, b)| b.iter().map(move |e| (i, e)))
        .collect();
    // Stable: events of one kind and time keep their order, so of two copies of one event
    // the first sent is the one accepted.
    order.sort_by_key(|(_, e)| (e.kind == EventKind::Conversion, e.ts));

    let mut cell_of = conn.prepare_cached(
        "SELECT variant, device, persona FROM events \
         WHERE test = ?1 AND unit_id = ?2 AND kind = 'exposure' AND counted = 1",
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO events (test, unit_id, event_id, kind, variant, metric, value, device, \
         persona, ts, snapshot_version, site, received_at, counted) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
         ON CONFLICT DO NOTHING",
    )?;
    let mut totals = conn.prepare_cached(
        "SELECT COUNT(*), TOTAL(value) FROM events WHERE test = ?1 AND unit_id = ?2 \
         AND kind = 'conversion' AND metric = ?3 AND counted = 1",
    )?;

    let mut applied = vec![Applied::default(); batches.len()];
    let mut agg_exp: BTreeMap<Cell, i64> = BTreeMap::new();
    let mut agg_met: BTreeMap<MetricCell, (i64, f64, f64)> = BTreeMap::new();
    for (batch, e) in order {
        let cell: Option<(String, String, String)> = cell_of
            .query_row(params![e.test, e.unit_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let exposure = e.kind == EventKind::Exposure;
        // An exposure counts if it is the unit's first; a conversion if the unit was exposed.
        let counted = if exposure {
            cell.is_none()
        } else {
            cell.is_some()
        };
        let new = insert.execute(params![
            e.test,
            e.unit_id,
            e.event_id,
            if exposure { "exposure" } else { "conversion" },
            e.variant,
            e.metric,
            e.value,
            e.device,
            e.persona,
            e.ts,
            e.snapshot_version,
            e.site,
            e.received_at,
            counted,
        ])? == 1;
        if !new {
            applied[batch].duplicates += 1;
            continue;
        }
        applied[batch].accepted += 1;
        if !counted {
            continue;
        }
        if exposure {
            let cell = (
                e.test.clone(),
                e.variant.clone(),
                e.device.clone(),
                e.persona.clone(),
            );
            *agg_exp.entry(cell).or_default() += 1;
            continue;
        }
        let (Some((variant, device, persona)), Some(metric)) = (cell, e.metric.as_ref()) else {
            continue;
        };
        // This unit's counted conversions for the metric, this one included.
        let (n, value): (i64, f64) = totals.query_row(params![e.test, e.unit_id, metric], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        let dv = e.value.unwrap_or(0.0);
        let Some(change) = metric_change(e.value_metric, n == 1, dv, value) else {
            continue;
        };
        add_change(
            agg_met
                .entry(((e.test.clone(), variant, device, persona), metric.clone()))
                .or_default(),
            change,
        );
    }

    let mut add_exp = conn.prepare_cached(
        "INSERT INTO agg_exposures (test, variant, device, persona, units) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (test, variant, device, persona) \
         DO UPDATE SET units = units + excluded.units",
    )?;
    for ((t, v, d, p), n) in &agg_exp {
        add_exp.execute(params![t, v, d, p, n])?;
    }
    let mut add_met = conn.prepare_cached(
        "INSERT INTO agg_metrics (test, variant, device, persona, metric, units, sum, sum_sq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (test, variant, device, persona, metric) DO UPDATE SET \
         units = units + excluded.units, sum = sum + excluded.sum, \
         sum_sq = sum_sq + excluded.sum_sq",
    )?;
    for (((t, v, d, p), m), (n, s, ss)) in &agg_met {
        add_met.execute(params![t, v, d, p, m, n, s, ss])?;
    }
    Ok(applied)
}
