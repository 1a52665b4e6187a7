//! What every handler shares: the database, the ingestion catalog and limits, the SQLite
//! writer threads, the job runner, and the publisher's wake-up. It sits below the routers, which
//! take it as axum state; [`crate::app`] builds it and the router over it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use edgewise_shared::metrics::Reader;
use tokio::sync::{Notify, RwLock};

use crate::config::ServeArgs;
use crate::db::Db;
use crate::jobs::{Jobs, JobsConfig};
use crate::model::Status;
use crate::writer::Writer;

/// What ingestion needs to know about one test.
#[derive(Debug, Clone)]
pub struct CatalogTest {
    pub status: Status,
    pub variants: HashSet<String>,
    /// Per conversion event name, the metrics reading it.
    pub metrics: HashMap<String, Arc<[Reader]>>,
    /// A bandit: its exposures carry their stratum (snapshot version) and propensity.
    pub bandit: bool,
    /// Its exposure dimensions ([`edgewise_shared::dimensions`]).
    pub dimensions: Vec<String>,
    /// CUPED: each metric with a covariate, and the covariate's name.
    pub covariates: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// The audit counter this catalog was loaded at.
    pub version: i64,
    pub tests: HashMap<String, CatalogTest>,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_age_ms: i64,
    pub max_future_ms: i64,
}

#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub catalog: Arc<RwLock<Arc<Catalog>>>,
    pub limits: Limits,
    /// Wakes the publisher after a new snapshot version.
    pub publish: Arc<Notify>,
    /// Valid ingestion keys seen since the audit counter was at the version it holds:
    /// key hash → site. Any admin change, a revocation included, empties it.
    pub ingest_keys: Arc<RwLock<(i64, std::collections::HashMap<String, String>)>>,
    /// Largest accepted `POST /v1/events` body.
    pub max_body_bytes: usize,
    /// SQLite's ingestion writer threads; PostgreSQL ingests on the request's own connection.
    pub writer: Option<Writer>,
    /// The job runner (the monitor's ticks, webhook deliveries).
    pub jobs: Arc<Jobs>,
    /// What `GET /metrics` shows.
    pub metrics: Arc<crate::telemetry::Metrics>,
    /// The bearer token `GET /metrics` asks for, if any.
    pub metrics_token: crate::config::Secret,
    /// What changed, for the live stream's subscribers ([`crate::hub`]).
    pub hub: Arc<crate::hub::Hub>,
}

impl AppState {
    /// Opens the SQLite ingestion writers' connections and starts their threads.
    pub fn new(db: Db, config: &ServeArgs) -> anyhow::Result<Self> {
        let secs = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        let restart_bytes = config.sqlite_wal_restart_mib.saturating_mul(1 << 20);
        let writer = (!db.sqlite.is_empty())
            .then(|| Writer::spawn(&db.sqlite, restart_bytes))
            .transpose()?;
        let publish = Arc::new(Notify::new());
        let metrics = Arc::new(crate::telemetry::Metrics::new());
        let jobs = Arc::new(Jobs::new(
            db.clone(),
            JobsConfig {
                interval: std::time::Duration::from_secs(config.monitor_interval_secs),
                bucket: std::time::Duration::from_secs(config.history_bucket_secs),
            },
            publish.clone(),
            metrics.clone(),
        ));
        Ok(AppState {
            writer,
            jobs,
            metrics,
            metrics_token: config.metrics_token.clone(),
            hub: Arc::default(),
            ingest_keys: Arc::default(),
            max_body_bytes: config.max_body_bytes,
            db,
            catalog: Arc::new(RwLock::new(Arc::new(Catalog {
                version: -1,
                ..Catalog::default()
            }))),
            limits: Limits {
                max_age_ms: secs(config.max_event_age_secs),
                max_future_ms: secs(config.max_future_secs),
            },
            publish,
        })
    }
}
