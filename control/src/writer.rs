//! Ingestion on SQLite: one writer thread per file, with group commit.
//!
//! SQLite has one writer at a time per file, and one writer thread was the limit on a
//! machine with cores to spare, so events are spread over several files by unit and test
//! ([`crate::db::shard_of`], `--sqlite-shards`): a request's batch is split, each part goes
//! to its file's writer, and the request is answered once every part is committed. Each file
//! holds its units' events and its own aggregate rows, so each commit stays self-contained;
//! readers add the files' aggregates up.
//!
//! Per file, a thread owns a queue and a connection of its own (rusqlite, beside sqlx's
//! pools, on the same SQLite library): it takes every batch waiting (up to
//! [`MAX_GROUP_EVENTS`] events), applies them in one transaction and commits once, then
//! answers each request. Nobody is answered before the commit. If a group fails, its
//! batches are retried one by one so a single bad batch cannot fail the others.
//!
//! Events are applied one by one with cached prepared statements. Raw events are keyed by
//! time (`migrations/sqlite/0003_events_by_time.sql`), so new rows fill the pages at the
//! table's end; inserting them `ON CONFLICT DO NOTHING` says per row whether the event was
//! new. The per-unit state (`exposures`, `unit_metrics`) is read for every event and written
//! only when it changes, so a repeated exposure dirties no page of its own. Only the
//! aggregate deltas are kept in memory, and written once per group. Exposures go first,
//! earliest first, then conversions, as on PostgreSQL ([`crate::db::events::apply`]).
//!
//! Admin changes write through sqlx's own connection; both take [`crate::db::SqliteFile`]'s
//! gate first, so neither waits on SQLite's busy handler nor starves the other.
//!
//! Per file, a second thread checkpoints (see [`Checkpointer`]), so commits never copy the
//! WAL back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::db::{cells, dims};
use edgewise_shared::beacon::EventKind;
use edgewise_shared::metrics::sketch::Bucket;
use edgewise_shared::metrics::{CellChange, PerUnit, Totals};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::db::cells::{Cell, StratumCell};
use crate::db::events::{Applied, NewEvent};
use crate::db::{shard_of, SqliteFile};
use crate::error::{AppError, AppResult};

/// Events one transaction may carry before the rest wait for the next.
const MAX_GROUP_EVENTS: usize = 5000;

/// A pass that copies fewer pages than this has caught up with the writer closely enough.
const CLOSE_ENOUGH: i64 = 2_000;

#[derive(Debug)]
struct Job {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Applied, String>>,
}

/// The writers' page caches together, in KiB, split evenly between the files. With two
/// files, 40 MiB ingested as fast as 48 or 64 MiB and kept the server's RSS under 100 MB
/// after 10 million units (BENCHMARKS.md).
const CACHE_KIB: usize = 40_960;

/// A handle to the writer threads, one per SQLite file ([`crate::db::Db::sqlite`]); cheap to
/// clone. The threads end when the last handle is dropped, after answering what they were
/// given.
#[derive(Debug, Clone)]
pub struct Writer {
    shards: Vec<mpsc::Sender<Job>>,
}

impl Writer {
    /// Whether every file's writer thread is still taking batches.
    pub fn running(&self) -> bool {
        self.shards.iter().all(|s| !s.is_closed())
    }

    /// Opens a connection per file and starts its writer thread and its checkpointer, which
    /// lets the WAL start over once it holds `restart_bytes` (`--sqlite-wal-restart-mib`).
    ///
    /// Each restart stalls that file's writer for one short pass, so larger means rarer
    /// stalls, and lets the page cache absorb more rewrites of one page; the cost is disk
    /// space (the WAL file keeps its largest size). BENCHMARKS.md has 256 MiB to 4 GiB
    /// measured. The files get equal shares of events, so their WALs fill in step: the
    /// first restart of file k comes at (k+1)/n of the size, and from then on the restarts
    /// take turns instead of stalling every writer at once.
    pub fn spawn(files: &[SqliteFile], restart_bytes: u64) -> anyhow::Result<Writer> {
        let n = files.len();
        let cache_kib = CACHE_KIB / n.max(1);
        let shards = files
            .iter()
            .enumerate()
            .map(|(k, file)| spawn_file(file, k, n, cache_kib, restart_bytes))
            .collect::<anyhow::Result<_>>()?;
        Ok(Writer { shards })
    }

    /// Stores one batch; returns after every file it touched committed its part.
    ///
    /// If one file fails after another committed, the caller gets an error and sends the
    /// batch again; the events already stored then count as duplicates, never twice.
    pub async fn submit(&self, events: Vec<NewEvent>) -> AppResult<Applied> {
        let n = self.shards.len();
        let mut parts: Vec<Vec<NewEvent>> = vec![Vec::new(); n];
        for e in events {
            parts[shard_of(&e.test, &e.unit_id, n)].push(e);
        }
        // Queue every part before waiting for any, so the files work on them at once.
        let mut answers = Vec::with_capacity(n);
        for (jobs, events) in self.shards.iter().zip(parts) {
            if events.is_empty() {
                continue;
            }
            let (reply, answer) = oneshot::channel();
            jobs.send(Job { events, reply })
                .await
                .map_err(|_| anyhow::anyhow!("the writer has stopped"))?;
            answers.push(answer);
        }
        let mut total = Applied::default();
        for answer in answers {
            let a = answer
                .await
                .map_err(|_| anyhow::anyhow!("the writer dropped the batch"))?
                .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
            total.accepted += a.accepted;
            total.duplicates += a.duplicates;
        }
        Ok(total)
    }
}

/// File `k` of `n`: its writer thread and its checkpointer thread; returns the writer's queue.
fn spawn_file(
    file: &SqliteFile,
    k: usize,
    n: usize,
    cache_kib: usize,
    restart_bytes: u64,
) -> anyhow::Result<mpsc::Sender<Job>> {
    let open = |cache_kib: usize| -> rusqlite::Result<Connection> {
        let conn = Connection::open(&file.path)?;
        conn.execute_batch(&format!(
            "PRAGMA synchronous = {}; PRAGMA busy_timeout = 10000; \
             PRAGMA cache_size = -{cache_kib};",
            file.synchronous
        ))?;
        Ok(conn)
    };
    let conn = open(cache_kib)?;
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let restart_pages = (i64::try_from(restart_bytes)? / page_size).max(1);
    // The writer checkpoints by itself only if the checkpointer falls far behind.
    conn.execute_batch(&format!(
        "PRAGMA wal_autocheckpoint = {};",
        2 * restart_pages
    ))?;
    conn.set_prepared_statement_cache_capacity(16);
    let mut checkpointer = Checkpointer {
        name: file.schema.clone(),
        conn: open(1_024)?,
        pin: open(64)?,
        db: std::fs::File::open(&file.path)?,
        gate: file.gate.clone(),
        restart_pages,
        next_restart: (restart_pages * (k as i64 + 1) / n as i64).max(1),
        pinned: false,
        copied: 0,
    };
    let (jobs, rx) = mpsc::channel(256);
    let stop = Arc::new(AtomicBool::new(false));
    let (gate, stopped) = (file.gate.clone(), stop.clone());
    std::thread::Builder::new()
        .name(format!("sqlite-writer{k}"))
        .spawn(move || {
            run(conn, &gate, rx);
            stopped.store(true, Ordering::Relaxed);
        })?;
    std::thread::Builder::new()
        .name(format!("sqlite-ckpt{k}"))
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                if let Err(e) = checkpointer.step() {
                    tracing::debug!(error = %e, "checkpoint skipped");
                }
            }
        })?;
    Ok(jobs)
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

/// Copies the WAL into the database file beside the writer, and now and then lets the WAL
/// start over.
///
/// SQLite fsyncs the database file at the end of a checkpoint pass that copied the whole
/// WAL, and only then marks it all copied; a write transaction that starts with all of it
/// copied rewinds the WAL. A pass every 50 ms copying whatever is new often caught up
/// between two commits and fsynced the few thousand pages it had just written, scattered
/// over the file (about 1.5 pages per event with random unit ids): the disk's random writes
/// were the limit. So each pass copies only up to a *pin*, a read transaction taken at the
/// end of the previous pass. The writer commits in the 50 ms between, so the pass does not
/// catch up and does not fsync: the copied pages wait in the OS page cache, where a page
/// rewritten many times costs one disk write.
///
/// Once the WAL holds `restart_bytes` ([`Writer::spawn`]), [`Checkpointer::restart`] fsyncs
/// what was copied outside the writer's turn, then in the writer's turn a last pass copies
/// the rest and SQLite fsyncs the pages written since; the writer's next transaction
/// rewinds the WAL.
///
/// Durability stays SQLite's own rule: nothing is marked all copied before an fsync, and
/// the WAL is not rewound before that.
#[derive(Debug)]
struct Checkpointer {
    /// The file's schema name, for the log.
    name: String,
    /// Runs the passes.
    conn: Connection,
    /// Holds the pin's read transaction.
    pin: Connection,
    /// The database file, to fsync it outside the writer's turn.
    db: std::fs::File,
    gate: Arc<Mutex<()>>,
    /// The WAL size that triggers a restart, in pages of this database.
    restart_pages: i64,
    /// The size that triggers the next one (the first comes early in all but the last file).
    next_restart: i64,
    pinned: bool,
    /// Frames marked copied after the last pass, to tell how many a pass copied.
    copied: i64,
}

impl Checkpointer {
    fn step(&mut self) -> anyhow::Result<()> {
        let (frames, _) = self.pass()?;
        if frames >= self.next_restart {
            self.restart()?;
            self.next_restart = self.restart_pages;
        }
        self.unpin()?;
        self.pin.execute_batch("BEGIN")?;
        self.pinned = true;
        self.pin
            .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
        Ok(())
    }

    /// Copies and fsyncs nearly all of the WAL beside the writer, then the rest in its turn.
    fn restart(&mut self) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        self.unpin()?;
        self.catch_up()?;
        self.db.sync_data()?;
        self.catch_up()?;
        let gate = self.gate.clone();
        let _turn = gate.blocking_lock();
        let in_turn = std::time::Instant::now();
        let (frames, last) = self.pass()?;
        tracing::debug!(
            file = %self.name,
            total_ms = started.elapsed().as_millis(),
            writer_waited_ms = in_turn.elapsed().as_millis(),
            frames,
            last,
            "WAL copied for a restart"
        );
        Ok(())
    }

    /// Passes until one finds little new to copy.
    fn catch_up(&mut self) -> rusqlite::Result<()> {
        for _ in 0..8 {
            if self.pass()?.1 < CLOSE_ENOUGH {
                break;
            }
        }
        Ok(())
    }

    /// One PASSIVE pass: the WAL's size in frames, and how many frames this pass copied.
    fn pass(&mut self) -> rusqlite::Result<(i64, i64)> {
        let (log, done): (i64, i64) =
            self.conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((r.get(1)?, r.get(2)?))
                })?;
        // After a rewind the count starts again from zero.
        let copied = if done >= self.copied {
            done - self.copied
        } else {
            done
        };
        self.copied = done;
        Ok((log, copied))
    }

    fn unpin(&mut self) -> rusqlite::Result<()> {
        if std::mem::take(&mut self.pinned) {
            self.pin.execute_batch("COMMIT")?;
        }
        Ok(())
    }
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

    let mut insert = conn.prepare_cached(
        "INSERT INTO events (event_id, kind, unit_id, test, variant, metric, value, device, \
         persona, ts, snapshot_version, site, received_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT DO NOTHING",
    )?;
    let mut expose = conn.prepare_cached(
        "INSERT INTO exposures (test, unit_id, variant, device, persona, ts, stratum, \
         propensity, dims, covs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT DO NOTHING",
    )?;
    let mut cell_of = conn.prepare_cached(
        "SELECT variant, device, persona, ts, stratum, dims, covs FROM exposures \
         WHERE test = ?1 AND unit_id = ?2",
    )?;
    let mut dim_known = conn.prepare_cached(&dims::known_sql(""))?;
    let mut admission = dims::Admission::default();
    let mut agg_dims: BTreeMap<dims::DimKey, CellChange> = BTreeMap::new();
    let mut convert_once = conn.prepare_cached(
        "INSERT INTO unit_metrics (test, unit_id, metric, conversions, value) \
         VALUES (?1, ?2, ?3, 1, 0) ON CONFLICT DO NOTHING",
    )?;
    let mut add_value = conn.prepare_cached(
        "INSERT INTO unit_metrics (test, unit_id, metric, conversions, value) \
         VALUES (?1, ?2, ?3, 1, ?4) ON CONFLICT (test, unit_id, metric) DO UPDATE SET \
         conversions = conversions + 1, value = value + excluded.value \
         RETURNING conversions, value",
    )?;
    let mut totals_of = conn.prepare_cached(
        "SELECT conversions, value FROM unit_metrics \
         WHERE test = ?1 AND unit_id = ?2 AND metric = ?3",
    )?;

    let mut applied = vec![Applied::default(); batches.len()];
    let mut agg_exp: BTreeMap<Cell, i64> = BTreeMap::new();
    let mut agg_met: BTreeMap<MetricCell, CellChange> = BTreeMap::new();
    let mut agg_strata: BTreeMap<StratumCell, CellChange> = BTreeMap::new();
    let mut agg_sketch: BTreeMap<(MetricCell, i32), Bucket> = BTreeMap::new();
    for (batch, e) in order {
        let exposure = e.kind == EventKind::Exposure;
        let new = insert.execute(params![
            e.event_id,
            if exposure { "exposure" } else { "conversion" },
            e.unit_id,
            e.test,
            e.variant,
            e.metric,
            e.value,
            e.device,
            e.persona,
            e.ts,
            e.snapshot_version,
            e.site,
            e.received_at,
        ])? == 1;
        if !new {
            applied[batch].duplicates += 1;
            continue;
        }
        applied[batch].accepted += 1;
        if exposure {
            // The unit's dimension values as they will be stored: kept, or `(other)`.
            let mut pairs = Vec::with_capacity(e.dims.len());
            for (dim, value) in &e.dims {
                let stored = match admission.decided(&e.test, dim, value) {
                    Some(v) => v.to_owned(),
                    None => {
                        let (known, kept) = dim_known
                            .query_row(params![e.test, dim, value], |r| {
                                Ok((r.get(0)?, r.get(1)?))
                            })?;
                        admission.decide(&e.test, dim, value, known, kept)
                    }
                };
                pairs.push((dim.clone(), stored));
            }
            // Counts if it is the unit's first.
            if expose.execute(params![
                e.test,
                e.unit_id,
                e.variant,
                e.device,
                e.persona,
                e.ts,
                e.stratum,
                e.propensity,
                dims::text(&pairs),
                cells::covs_text(&e.covs)
            ])? == 1
            {
                for (metric, x) in &e.covs {
                    let cell = (
                        e.test.clone(),
                        e.variant.clone(),
                        e.device.clone(),
                        e.persona.clone(),
                    );
                    agg_met
                        .entry((cell, metric.clone()))
                        .or_default()
                        .add(CellChange::covariate(*x, 1.0));
                }
                let one = CellChange {
                    units: 1,
                    ..CellChange::default()
                };
                dims::record(&mut agg_dims, &e.test, &e.variant, &pairs, "", one);
                if let Some(stratum) = e.stratum {
                    agg_strata
                        .entry((e.test.clone(), stratum, e.variant.clone(), String::new()))
                        .or_default()
                        .units += 1;
                }
                let cell = (
                    e.test.clone(),
                    e.variant.clone(),
                    e.device.clone(),
                    e.persona.clone(),
                );
                *agg_exp.entry(cell).or_default() += 1;
            }
            continue;
        }
        // A conversion counts if the unit was exposed, for each metric reading it whose
        // window it falls in.
        if e.reads.is_empty() {
            continue;
        }
        let Some((variant, device, persona, exposed_at, stratum, unit_dims, unit_covs)) = cell_of
            .query_row(params![e.test, e.unit_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .optional()?
        else {
            continue;
        };
        let pairs = dims::parse(&unit_dims);
        let covs = cells::parse_covs(&unit_covs);
        let stratum_cell =
            |metric: &str| stratum.map(|s| (e.test.clone(), s, variant.clone(), metric.to_owned()));
        let cell: Cell = (e.test.clone(), variant.clone(), device, persona);
        let dv = e.value.unwrap_or(0.0);
        for r in e.reads.iter().filter(|r| r.rule.counts(exposed_at, e.ts)) {
            let (before, after) = if r.rule.per_unit == PerUnit::Converted {
                // Written once: nothing more about a converted unit counts.
                if convert_once.execute(params![e.test, e.unit_id, r.key])? == 0 {
                    continue;
                }
                (Totals::default(), Totals::default().plus(1, 0.0))
            } else {
                // The unit's totals for the metric, this conversion included.
                let after = add_value.query_row(params![e.test, e.unit_id, r.key, dv], |r| {
                    Ok(Totals {
                        conversions: r.get(0)?,
                        value: r.get(1)?,
                    })
                })?;
                (after.plus(-1, -dv), after)
            };
            for (b, change) in r.rule.sketch_moves(before, after) {
                agg_sketch
                    .entry(((cell.clone(), r.key.clone()), b))
                    .or_default()
                    .add(change);
            }
            if let Some(mut change) = CellChange::metric(&r.rule, before, after) {
                if let Some(x) = covs.get(&r.key) {
                    change = change.with_covariate(*x);
                }
                agg_met
                    .entry((cell.clone(), r.key.clone()))
                    .or_default()
                    .add(change);
                if let Some(c) = stratum_cell(&r.key) {
                    agg_strata.entry(c).or_default().add(change);
                }
                dims::record(&mut agg_dims, &e.test, &variant, &pairs, &r.key, change);
            }
            let x = (r.rule.value(before), r.rule.value(after));
            for link in &r.ratios {
                let other = totals_of
                    .query_row(params![e.test, e.unit_id, link.other], |r| {
                        Ok(Totals {
                            conversions: r.get(0)?,
                            value: r.get(1)?,
                        })
                    })
                    .optional()?
                    .unwrap_or_default();
                let y = link.other_rule.value(other);
                let change = if link.numerator {
                    CellChange::ratio(x, (y, y))
                } else {
                    CellChange::ratio((y, y), x)
                };
                if let Some(change) = change {
                    agg_met
                        .entry((cell.clone(), link.ratio.clone()))
                        .or_default()
                        .add(change);
                    dims::record(
                        &mut agg_dims,
                        &e.test,
                        &variant,
                        &pairs,
                        &link.ratio,
                        change,
                    );
                }
            }
        }
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
        "INSERT INTO agg_metrics (test, variant, device, persona, metric, units, sum, sum_sq, \
         den_sum, den_sum_sq, sum_product, cov_sum, cov_sum_sq, cov_product) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
         ON CONFLICT (test, variant, device, persona, metric) DO UPDATE SET \
         units = units + excluded.units, sum = sum + excluded.sum, \
         sum_sq = sum_sq + excluded.sum_sq, den_sum = den_sum + excluded.den_sum, \
         den_sum_sq = den_sum_sq + excluded.den_sum_sq, \
         sum_product = sum_product + excluded.sum_product, \
         cov_sum = cov_sum + excluded.cov_sum, cov_sum_sq = cov_sum_sq + excluded.cov_sum_sq, \
         cov_product = cov_product + excluded.cov_product",
    )?;
    let mut add_stratum = conn.prepare_cached(
        "INSERT INTO agg_strata (test, stratum, variant, metric, units, sum, sum_sq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (test, stratum, variant, metric) \
         DO UPDATE SET units = units + excluded.units, sum = sum + excluded.sum, \
         sum_sq = sum_sq + excluded.sum_sq",
    )?;
    for ((t, stratum, v, m), c) in &agg_strata {
        add_stratum.execute(params![t, stratum, v, m, c.units, c.sum, c.sum_sq])?;
    }
    for (((t, v, d, p), m), c) in &agg_met {
        add_met.execute(params![
            t,
            v,
            d,
            p,
            m,
            c.units,
            c.sum,
            c.sum_sq,
            c.den_sum,
            c.den_sum_sq,
            c.sum_product,
            c.cov_sum,
            c.cov_sum_sq,
            c.cov_product
        ])?;
    }
    let mut add_sketch = conn.prepare_cached(
        "INSERT INTO agg_sketch (test, variant, device, persona, metric, bucket, units, sum, \
         sum_sq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (test, metric, variant, device, persona, bucket) DO UPDATE SET \
         units = units + excluded.units, sum = sum + excluded.sum, \
         sum_sq = sum_sq + excluded.sum_sq",
    )?;
    for ((((t, v, d, p), m), k), b) in agg_sketch.iter().filter(|(_, b)| b.units != 0) {
        add_sketch.execute(params![t, v, d, p, m, k, b.units, b.sum, b.sum_sq])?;
    }
    let mut add_dim = conn.prepare_cached(
        "INSERT INTO agg_dims (test, dimension, metric, value, variant, units, sum, sum_sq, \
         den_sum, den_sum_sq, sum_product) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (test, dimension, metric, value, variant) DO UPDATE SET \
         units = units + excluded.units, sum = sum + excluded.sum, \
         sum_sq = sum_sq + excluded.sum_sq, den_sum = den_sum + excluded.den_sum, \
         den_sum_sq = den_sum_sq + excluded.den_sum_sq, \
         sum_product = sum_product + excluded.sum_product",
    )?;
    for ((t, d, m, v, var), c) in &agg_dims {
        add_dim.execute(params![
            t,
            d,
            m,
            v,
            var,
            c.units,
            c.sum,
            c.sum_sq,
            c.den_sum,
            c.den_sum_sq,
            c.sum_product
        ])?;
    }
    Ok(applied)
}
