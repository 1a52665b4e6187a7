//! Storage: plain async functions per table family over a [`Db`] (sqlx `Any` pools, so the
//! same SQL runs on SQLite and PostgreSQL; see [`dialect`] for where they differ).
//!
//! Every admin mutation runs inside a [`Mutation`]: its first statement bumps the audit
//! counter, which takes the SQLite write lock or the PostgreSQL row lock, so mutations are
//! serialised across threads and processes. That makes the audit hash chain linear and
//! snapshot versions monotonic without gaps, and lets validation read a stable state.

pub mod aggregates;
pub mod audit;
pub mod dialect;
pub mod events;
pub mod settings;
pub mod snapshots;
pub mod tests;
pub mod tokens;

use sqlx::{Any, AnyPool, Transaction};

pub use dialect::Dialect;

use crate::error::AppError;

#[derive(Debug, Clone)]
pub struct Db {
    pub writer: AnyPool,
    pub reader: AnyPool,
    pub dialect: Dialect,
}

pub type Tx = Transaction<'static, Any>;

impl Db {
    /// Opens (creating a SQLite file if needed) and migrates.
    pub async fn connect(url: &str, sqlite_synchronous: &str) -> anyhow::Result<Db> {
        let dialect = Dialect::of_url(url)?;
        let (writer, reader) = dialect::open(url, dialect, sqlite_synchronous).await?;
        dialect::migrate(&writer, dialect).await?;
        Ok(Db {
            writer,
            reader,
            dialect,
        })
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

/// An admin change in progress: one transaction that ends with an audit entry and, when the
/// change affects assignment, a new snapshot version.
#[derive(Debug)]
pub struct Mutation {
    pub tx: Tx,
    pub seq: i64,
    pub at: i64,
    /// Set by a rollback, whose snapshot deliberately differs from the tables.
    pub skip_refresh: bool,
}

impl Mutation {
    pub async fn begin(db: &Db) -> Result<Mutation, AppError> {
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
        })
    }

    /// Appends the audit entry, publishes a new snapshot version if assignment changed, and
    /// commits. Returns the new snapshot version, if any.
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
            snapshots::refresh(&mut self.tx, self.at, &actor.0, action).await?
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
        self.tx.commit().await?;
        Ok(version)
    }
}
