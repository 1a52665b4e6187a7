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
//! WAL back. [`apply`] turns one group of batches into rows.

mod apply;

use apply::apply;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot, Mutex};

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
    /// Batches (parts of one, per file) waiting for a writer thread.
    pub fn queued(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.max_capacity() - s.capacity())
            .sum()
    }

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
            total.add(a);
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
