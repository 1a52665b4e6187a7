//! The few places SQLite and PostgreSQL differ, kept together.
//!
//! All queries use `$N` placeholders and SQL both engines accept (`ON CONFLICT`, `RETURNING`,
//! row values). What differs is how connections are opened (SQLite pragmas, one writer), which
//! migrations apply, and which errors mean "try the transaction again".

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Connection, Executor};

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
/// SQLite allows one writer at a time per file. The writer pool has a single connection, for
/// admin changes; ingestion writes on connections of its own ([`crate::writer`]), and they
/// take turns per file through [`super::SqliteFile::gate`]. WAL lets readers proceed beside
/// them. `attach` lists SQLite's other files as `(path, schema)`; every pooled connection
/// attaches them. PostgreSQL uses one pool for both: row locks and `ON CONFLICT` keep
/// concurrent writers exact, also across processes.
pub async fn open(
    url: &str,
    dialect: Dialect,
    synchronous: &str,
    attach: &[(String, String)],
) -> anyhow::Result<(AnyPool, AnyPool)> {
    sqlx::any::install_default_drivers();
    match dialect {
        Dialect::Postgres => {
            // A request waits at most this long for a connection: while the database is down
            // it is answered 503 (send again) rather than held until the client gives up.
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            Ok((pool.clone(), pool))
        }
        Dialect::Sqlite => {
            let base = url.split('?').next().unwrap_or(url);
            // The admin connection's page caches of the other files stay small: it writes
            // little there. Each file's `synchronous` is its own: without this the other
            // files kept SQLite's FULL, and every admin commit there waited for an fsync
            // (an erasure's last step, 46 ms under load).
            let small: String = attach
                .iter()
                .map(|(_, schema)| {
                    format!(
                        " PRAGMA {schema}.cache_size = -1024; \
                         PRAGMA {schema}.synchronous = {synchronous};"
                    )
                })
                .collect();
            let attach: String = attach
                .iter()
                .map(|(path, schema)| {
                    format!(
                        " ATTACH DATABASE '{}' AS {schema};",
                        path.replace('\'', "''")
                    )
                })
                .collect();
            // Nor does it checkpoint: under load every file's WAL is far above any threshold
            // (it starts over at --sqlite-wal-restart-mib), so each admin commit ran a
            // checkpoint pass of its own while holding the file's write turn. The writer's
            // checkpointer threads copy the WAL (crate::writer); SQLite copies it all when the
            // last connection closes.
            let pragmas = format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
                 PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                 PRAGMA cache_size = -2048; PRAGMA wal_autocheckpoint = 0;{attach}{small}"
            );
            let reader_pragmas =
                format!("PRAGMA busy_timeout = 10000; PRAGMA cache_size = {READER_CACHE};{attach}");
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
                    let p = reader_pragmas.clone();
                    Box::pin(async move {
                        conn.execute(p.as_str()).await?;
                        Ok(())
                    })
                })
                .connect_with(AnyConnectOptions::from_str(&format!("{base}?mode=ro"))?)
                .await?;
            Ok((writer, reader))
        }
    }
}

/// SQLite: creates and migrates the main file, settles how many files events are spread over,
/// and creates and migrates the others (`FILE.shard1`, …, each with the whole schema, of
/// which only the event and aggregate tables fill). Returns every path, the main file first.
///
/// The count is fixed when the database is created and kept in `counters` as
/// `sqlite_shards`: units are assigned to files by hash, so changing it would split a unit's
/// state. A database that already held events before there were shards keeps 1. The files
/// are created before their count is recorded, so a first start that dies in between
/// leaves no count, and the next start decides again.
pub async fn prepare_sqlite(path: &str, requested: u32) -> anyhow::Result<Vec<String>> {
    sqlx::any::install_default_drivers();
    let shard = |k: i64| format!("{path}.shard{k}");
    let mut main = open_migrated(path).await?;
    const RECORDED: &str = "SELECT value FROM counters WHERE name = 'sqlite_shards'";
    let recorded: Option<i64> = sqlx::query_scalar(RECORDED)
        .fetch_optional(&mut main)
        .await?;
    if recorded.is_none() {
        let has_events: i64 = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events)")
            .fetch_one(&mut main)
            .await?;
        let n = if has_events == 1 {
            1
        } else {
            i64::from(requested)
        };
        for k in 1..n {
            open_migrated(&shard(k)).await?.close().await?;
        }
        // Another process starting at the same time may record its count first (having
        // created its files first too); then that count holds.
        sqlx::query(
            "INSERT INTO counters (name, value) VALUES ('sqlite_shards', $1) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(n)
        .execute(&mut main)
        .await?;
    }
    let shards: i64 = sqlx::query_scalar(RECORDED).fetch_one(&mut main).await?;
    main.close().await?;
    let mut paths = vec![path.to_owned()];
    for k in 1..shards {
        let shard = shard(k);
        anyhow::ensure!(
            std::path::Path::new(&shard).exists(),
            "{shard} is missing: this database spreads its events over {shards} files"
        );
        // Existing files get the migrations added since they were created.
        open_migrated(&shard).await?.close().await?;
        paths.push(shard);
    }
    Ok(paths)
}

async fn open_migrated(path: &str) -> anyhow::Result<AnyConnection> {
    let options = AnyConnectOptions::from_str(&format!("sqlite://{path}?mode=rwc"))?;
    let mut conn = AnyConnection::connect_with(&options).await?;
    conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000;")
        .await?;
    sqlx::migrate!("../migrations/sqlite")
        .run(&mut conn)
        .await?;
    Ok(conn)
}

/// The newest migration this build carries for `dialect`, and the newest applied on `conn`'s
/// database (main file on SQLite): equal once start-up has migrated.
pub async fn migration_versions(
    conn: &mut AnyConnection,
    dialect: Dialect,
) -> anyhow::Result<(i64, Option<i64>)> {
    let expected = match dialect {
        Dialect::Sqlite => sqlx::migrate!("../migrations/sqlite"),
        Dialect::Postgres => sqlx::migrate!("../migrations/postgres"),
    }
    .iter()
    .map(|m| m.version)
    .max()
    .unwrap_or(0);
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *conn)
            .await?;
    Ok((expected, applied))
}

/// The database's size on disk, in bytes, and per part: on SQLite each file with its `-wal`
/// and `-shm` (named by schema: `main`, `shard1`, …), on PostgreSQL `pg_database_size`.
pub async fn size(db: &super::Db) -> anyhow::Result<(i64, Vec<(String, i64)>)> {
    if db.dialect == Dialect::Postgres {
        let mut conn = db.reader.acquire().await?;
        let bytes: i64 =
            sqlx::query_scalar("SELECT CAST(pg_database_size(current_database()) AS BIGINT)")
                .fetch_one(&mut *conn)
                .await?;
        return Ok((bytes, Vec::new()));
    }
    let mut parts = Vec::new();
    for f in &db.sqlite {
        let mut bytes = 0;
        for suffix in ["", "-wal", "-shm"] {
            if let Ok(m) = tokio::fs::metadata(format!("{}{suffix}", f.path)).await {
                bytes += i64::try_from(m.len()).unwrap_or(i64::MAX);
            }
        }
        parts.push((f.schema.clone(), bytes));
    }
    Ok((parts.iter().map(|(_, b)| b).sum(), parts))
}

/// PostgreSQL's migrations (SQLite's run file by file in [`prepare_sqlite`]).
pub async fn migrate_postgres(pool: &AnyPool) -> anyhow::Result<()> {
    sqlx::migrate!("../migrations/postgres").run(pool).await?;
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

/// The page cache of each reader connection's main file, in SQLite's `cache_size` terms
/// (negative: KiB); the other files keep SQLite's default, [`DEFAULT_CACHE`].
pub(crate) const READER_CACHE: i64 = -16384;
pub(crate) const DEFAULT_CACHE: i64 = -2000;

/// Rows per multi-row statement; keeps parameters far below both engines' limits.
pub(crate) const CHUNK: usize = 400;

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

#[cfg(test)]
mod tests {
    #[test]
    fn values_numbers_placeholders_row_by_row() {
        use super::Dialect;
        assert_eq!(super::values(Dialect::Postgres, 2, 2), "($1,$2),($3,$4)");
        assert_eq!(super::values(Dialect::Sqlite, 1, 2), "(?,?)");
    }
}
