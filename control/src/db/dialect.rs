//! The few places SQLite and PostgreSQL differ, kept together.
//!
//! All queries use `$N` placeholders and SQL both engines accept (`ON CONFLICT`, `RETURNING`,
//! row values). What differs is how connections are opened (SQLite pragmas, one writer), which
//! migrations apply, and which errors mean "try the transaction again".

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn of_url(url: &str) -> anyhow::Result<Dialect> {
        if url.starts_with("sqlite:") {
            Ok(Dialect::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Dialect::Postgres)
        } else {
            anyhow::bail!("database URL must start with sqlite:// or postgres://")
        }
    }
}

/// The file of a `sqlite://` URL (`sqlite:FILE` works too); a file is needed because the
/// ingestion writer opens a connection of its own to the same database.
pub fn sqlite_path(url: &str) -> anyhow::Result<String> {
    let base = url.split('?').next().unwrap_or(url);
    let path = base
        .strip_prefix("sqlite://")
        .or_else(|| base.strip_prefix("sqlite:"))
        .unwrap_or(base);
    anyhow::ensure!(
        !path.is_empty() && !path.contains(":memory:"),
        "SQLite needs a file (sqlite://FILE), not an in-memory database"
    );
    Ok(path.to_owned())
}

/// Opens the pools: `(writer, reader)`.
///
/// SQLite allows one writer at a time. The writer pool has a single connection, for admin
/// changes; ingestion writes on a connection of its own ([`crate::writer`]), and the two take
/// turns through [`super::SqliteFile::gate`]. WAL lets readers proceed beside them. PostgreSQL uses one pool for both: row locks and `ON CONFLICT` keep
/// concurrent writers exact, also across processes.
pub async fn open(
    url: &str,
    dialect: Dialect,
    synchronous: &str,
) -> anyhow::Result<(AnyPool, AnyPool)> {
    sqlx::any::install_default_drivers();
    match dialect {
        Dialect::Postgres => {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                .connect(url)
                .await?;
            Ok((pool.clone(), pool))
        }
        Dialect::Sqlite => {
            let base = url.split('?').next().unwrap_or(url);
            let pragmas = format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
                 PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                 PRAGMA cache_size = -8192; PRAGMA wal_autocheckpoint = 50000;"
            );
            let p = pragmas.clone();
            let writer = AnyPoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(Duration::from_secs(60))
                .after_connect(move |conn, _| {
                    let p = p.clone();
                    Box::pin(async move {
                        conn.execute(p.as_str()).await?;
                        Ok(())
                    })
                })
                .connect_with(AnyConnectOptions::from_str(&format!("{base}?mode=rwc"))?)
                .await?;
            let reader = AnyPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA busy_timeout = 10000; PRAGMA cache_size = -16384;")
                            .await?;
                        Ok(())
                    })
                })
                .connect_with(AnyConnectOptions::from_str(&format!("{base}?mode=ro"))?)
                .await?;
            Ok((writer, reader))
        }
    }
}

pub async fn migrate(pool: &AnyPool, dialect: Dialect) -> anyhow::Result<()> {
    match dialect {
        Dialect::Sqlite => sqlx::migrate!("../migrations/sqlite").run(pool).await?,
        Dialect::Postgres => sqlx::migrate!("../migrations/postgres").run(pool).await?,
    }
    Ok(())
}

/// Whether a failed transaction may simply be run again: PostgreSQL deadlocks and
/// serialization failures, SQLite busy/locked.
pub fn is_retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            Some("40001" | "40P01" | "5" | "6" | "517")
        ),
        _ => false,
    }
}
