//! Storage: plain async functions per table family over a [`Db`] (sqlx `Any` pools, so the
//! same SQL runs on SQLite and PostgreSQL; see [`dialect`] for where they differ).
//!
//! Every admin mutation runs inside a [`Mutation`]: its first statement bumps the audit
//! counter, which takes the SQLite write lock or the PostgreSQL row lock, so mutations are
//! serialised across threads and processes. That makes the audit hash chain linear and
//! snapshot versions monotonic without gaps, and lets validation read a stable state.

pub mod aggregates;
pub mod approvals;
pub mod audit;
pub mod bandits;
pub(crate) mod cells;
pub mod dialect;
pub mod dims;
pub mod erasure;
pub mod events;
pub mod history;
pub mod learned;
pub mod monitor;
pub mod reports;
pub mod sessions;
pub mod settings;
pub mod sketches;
pub mod snapshots;
pub mod templates;
pub mod tests;
pub mod tokens;
pub mod unit_events;
pub mod webhooks;

use std::sync::Arc;

use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub use dialect::Dialect;

use crate::config::DbArgs;
use crate::error::AppError;

#[derive(Debug, Clone)]
pub struct Db {
    pub writer: AnyPool,
    pub reader: AnyPool,
    pub dialect: Dialect,
    /// SQLite: the files raw events and aggregates are spread over, by [`shard_of`]. The
    /// first is the main database, which also holds everything else; the others are
    /// attached to every pooled connection as `shard1`, `shard2`, …. Empty on PostgreSQL.
    pub sqlite: Vec<SqliteFile>,
}

#[derive(Debug, Clone)]
pub struct SqliteFile {
    pub path: String,
    /// How pooled connections name it: `main`, `shard1`, ….
    pub schema: String,
    pub synchronous: String,
    /// Taken around every write transaction on this file in this process: the ingestion
    /// writer's and sqlx's writer connection then take turns in order instead of polling
    /// SQLite's lock.
    pub gate: Arc<Mutex<()>>,
}

/// The SQLite file (index into [`Db::sqlite`]) that holds one unit's events of one test:
/// MurmurHash3 of the unit and test, so a unit's state for a test never leaves its file.
pub fn shard_of(test: &str, unit_id: &str, shards: usize) -> usize {
    edgewise_shared::hash::hash(unit_id, test) as usize % shards.max(1)
}

/// `table` in each of SQLite's files (`schemas`, see [`Db::shard_schemas`]), or just `table`
/// on PostgreSQL.
pub(crate) fn in_each_file(schemas: &[String], table: &str) -> Vec<String> {
    if schemas.is_empty() {
        return vec![table.to_owned()];
    }
    schemas.iter().map(|s| format!("{s}.{table}")).collect()
}

pub type Tx = Transaction<'static, Any>;

impl Db {
    /// Opens (creating SQLite files if needed) and migrates.
    pub async fn connect(args: &DbArgs, sqlite_synchronous: &str) -> anyhow::Result<Db> {
        let url = args.database_url.as_str();
        let dialect = Dialect::of_url(url)?;
        let sqlite = match dialect {
            Dialect::Sqlite => {
                let path = dialect::sqlite_path(url)?;
                let paths = dialect::prepare_sqlite(&path, args.sqlite_shards).await?;
                paths
                    .into_iter()
                    .enumerate()
                    .map(|(k, path)| SqliteFile {
                        path,
                        schema: if k == 0 {
                            "main".into()
                        } else {
                            format!("shard{k}")
                        },
                        synchronous: sqlite_synchronous.to_owned(),
                        gate: Arc::default(),
                    })
                    .collect()
            }
            Dialect::Postgres => Vec::new(),
        };
        let attach: Vec<(String, String)> = sqlite
            .iter()
            .skip(1)
            .map(|f| (f.path.clone(), f.schema.clone()))
            .collect();
        let (writer, reader) = dialect::open(url, dialect, sqlite_synchronous, &attach).await?;
        if dialect == Dialect::Postgres {
            dialect::migrate_postgres(&writer).await?;
        }
        Ok(Db {
            writer,
            reader,
            dialect,
            sqlite,
        })
    }

    /// SQLite: the schema names of the files events are spread over; empty on PostgreSQL.
    pub fn shard_schemas(&self) -> Vec<String> {
        self.sqlite.iter().map(|f| f.schema.clone()).collect()
    }

    /// SQLite: waits for this process's turn to write the main file (see
    /// [`SqliteFile::gate`]).
    pub async fn write_turn(&self) -> Option<OwnedMutexGuard<()>> {
        match self.sqlite.first() {
            Some(f) => Some(f.gate.clone().lock_owned().await),
            None => None,
        }
    }

    /// SQLite: the turns to write every other file too, for a change that reaches into
    /// all of them. Take [`Db::write_turn`] first: the writers take one turn each, so
    /// taking them in file order cannot deadlock.
    pub async fn shard_turns(&self) -> Vec<OwnedMutexGuard<()>> {
        let mut turns = Vec::new();
        for f in self.sqlite.iter().skip(1) {
            turns.push(f.gate.clone().lock_owned().await);
        }
        turns
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Who did it, as recorded in the audit log.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

/// The actor of what the control plane does by itself (start-up checks, skipped items).
pub const SYSTEM: &str = "system";

/// The actor of what the job runner decides (the monitor's actions, bandit updates).
pub const MONITOR: &str = "monitor";

/// An admin change in progress: one transaction that ends with an audit entry and, when the
/// change affects assignment, a new snapshot version.
#[derive(Debug)]
pub struct Mutation {
    pub tx: Tx,
    pub seq: i64,
    pub at: i64,
    /// Set by a rollback, whose snapshot deliberately differs from the tables.
    pub skip_refresh: bool,
    /// Items a snapshot stored in this mutation left out that the version before it served;
    /// [`Mutation::finish`] audits each.
    pub skipped: Vec<edgewise_shared::Warning>,
    /// Held until the transaction ends (declared after `tx`, so dropped after it).
    _turn: Option<OwnedMutexGuard<()>>,
}

impl Mutation {
    pub async fn begin(db: &Db) -> Result<Mutation, AppError> {
        let turn = db.write_turn().await;
        let mut tx = db.writer.begin().await?;
        let seq: i64 = sqlx::query_scalar(
            "UPDATE counters SET value = value + 1 WHERE name = 'audit' RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await?;
        Ok(Mutation {
            tx,
            seq,
            at: now_ms(),
            skip_refresh: false,
            skipped: Vec::new(),
            _turn: turn,
        })
    }

    /// Appends the audit entry, publishes a new snapshot version if assignment changed, and
    /// commits. Returns the new snapshot version, if any. Each item the new version had to
    /// leave out gets an audit entry of its own, `snapshot.skip` by actor [`SYSTEM`].
    pub async fn finish(
        mut self,
        actor: &Actor,
        action: &str,
        target: &str,
        before: Option<&serde_json::Value>,
        after: Option<&serde_json::Value>,
    ) -> Result<Option<i64>, AppError> {
        let version = if self.skip_refresh {
            None
        } else {
            let published = snapshots::refresh(&mut self.tx, self.at, &actor.0, action).await?;
            published.map(|p| {
                self.skipped.extend(p.newly_skipped);
                p.version
            })
        };
        audit::append(
            &mut self.tx,
            audit::Entry {
                seq: self.seq,
                at: self.at,
                actor: &actor.0,
                action,
                target,
                before,
                after,
            },
        )
        .await?;
        for w in std::mem::take(&mut self.skipped) {
            let seq: i64 = sqlx::query_scalar(
                "UPDATE counters SET value = value + 1 WHERE name = 'audit' RETURNING value",
            )
            .fetch_one(&mut *self.tx)
            .await?;
            let after = serde_json::json!({ "warning": w.to_string(), "detail": w });
            audit::append(
                &mut self.tx,
                audit::Entry {
                    seq,
                    at: self.at,
                    actor: SYSTEM,
                    action: "snapshot.skip",
                    target: w.path(),
                    before: None,
                    after: Some(&after),
                },
            )
            .await?;
        }
        self.tx.commit().await?;
        Ok(version)
    }
}
