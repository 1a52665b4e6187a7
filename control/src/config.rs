//! Configuration of `edgewise serve`: flags with environment-variable twins (clap `env`).
//!
//! Secrets (the edge secret) are wrapped in [`Secret`], whose `Debug` never shows the value, so
//! logging the configuration at start-up cannot leak them.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

/// Where the data lives; shared by `serve` and the admin subcommands.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// `sqlite://FILE` (created on first start) or `postgres://user@host:port/db`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://edgewise.db")]
    pub database_url: String,
    /// SQLite: how many files ingestion spreads events over, each with its writer thread
    /// (units are assigned by hash, so the count is fixed when the database is created; an
    /// existing database keeps its own). 1 keeps everything in the one file.
    #[arg(long, env = "EDGEWISE_SQLITE_SHARDS", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=16))]
    pub sqlite_shards: u32,
}

impl DbArgs {
    pub fn new(url: &str) -> Self {
        DbArgs {
            database_url: url.to_owned(),
            sqlite_shards: 2,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, env = "EDGEWISE_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Edge worker base URLs to push snapshots to (comma-separated).
    #[arg(long = "edge-url", env = "EDGEWISE_EDGE_URLS", value_delimiter = ',')]
    pub edge_urls: Vec<String>,
    /// Bearer secret the edge worker expects on `PUT /v1/admin/snapshot`.
    #[arg(
        long,
        env = "EDGEWISE_EDGE_SECRET",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub edge_secret: Secret,
    /// PEM file of extra root certificates the publisher trusts for `https` edge URLs (an edge
    /// behind a private CA); the system's roots are trusted anyway. Read at start: a file that
    /// cannot be read or holds no certificate stops the process.
    #[arg(long, env = "EDGEWISE_EDGE_CA_FILE")]
    pub edge_ca_file: Option<std::path::PathBuf>,
    /// Events older than this many seconds are rejected.
    #[arg(long, env = "EDGEWISE_MAX_EVENT_AGE_SECS", default_value_t = 7 * 24 * 3600)]
    pub max_event_age_secs: u64,
    /// Events timed more than this many seconds in the future are rejected (clock skew).
    #[arg(long, env = "EDGEWISE_MAX_FUTURE_SECS", default_value_t = 300)]
    pub max_future_secs: u64,
    /// SQLite `synchronous` pragma: FULL survives power loss, NORMAL survives process crashes.
    #[arg(long, env = "EDGEWISE_SQLITE_SYNCHRONOUS", default_value = "NORMAL",
          value_parser = ["FULL", "NORMAL"])]
    pub sqlite_synchronous: String,
    /// SQLite: WAL size in MiB at which the checkpointer lets the WAL start over. Each time
    /// costs the writer one short stall; the WAL file keeps its largest size on disk.
    #[arg(long, env = "EDGEWISE_SQLITE_WAL_RESTART_MIB", default_value_t = 2048,
          value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub sqlite_wal_restart_mib: u64,
    /// Largest accepted `POST /v1/events` body, in bytes.
    #[arg(long, env = "EDGEWISE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Bearer token `GET /metrics` asks for; empty (the default) leaves it open, like
    /// `/healthz`, for a scraper on a private network.
    #[arg(
        long,
        env = "EDGEWISE_METRICS_TOKEN",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub metrics_token: Secret,
    /// Log as JSON lines (production) instead of human-readable text.
    #[arg(long, env = "EDGEWISE_LOG_JSON")]
    pub log_json: bool,
    /// OpenTelemetry collector to export spans to over OTLP/HTTP (`http://collector:4318`);
    /// needs a build with the `otlp` feature. Empty (the default): no export.
    #[arg(long, env = "EDGEWISE_OTLP_ENDPOINT", default_value = "")]
    pub otlp_endpoint: String,
    /// Seconds between the monitor's ticks (on the replica that leads it).
    #[arg(long, env = "EDGEWISE_MONITOR_INTERVAL_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub monitor_interval_secs: u64,
    /// Length of a history bucket in seconds: the monitor keeps each test's aggregates as
    /// they stood at the end of every bucket.
    #[arg(long, env = "EDGEWISE_HISTORY_BUCKET_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub history_bucket_secs: u64,
}

impl ServeArgs {
    /// Defaults for a given database, as tests and embedders need them.
    pub fn for_database(url: &str) -> Self {
        ServeArgs {
            db: DbArgs::new(url),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            edge_urls: Vec::new(),
            edge_secret: Secret::default(),
            edge_ca_file: None,
            max_event_age_secs: 7 * 24 * 3600,
            max_future_secs: 300,
            sqlite_synchronous: "NORMAL".into(),
            sqlite_wal_restart_mib: 2048,
            max_body_bytes: 1024 * 1024,
            log_json: false,
            otlp_endpoint: String::new(),
            metrics_token: Secret::default(),
            monitor_interval_secs: 60,
            history_bucket_secs: 3600,
        }
    }

    pub fn max_event_age(&self) -> Duration {
        Duration::from_secs(self.max_event_age_secs)
    }
}

/// A string that never prints.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
