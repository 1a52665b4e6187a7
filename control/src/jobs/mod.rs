//! The job runner: one loop per process that, while this process leads, runs the monitor's tick,
//! the bandit updates ([`bandit`]) and the ramps ([`ramp`]) every `monitor_interval`, and
//! delivers webhook payloads; it starts and stops scheduled tests ([`schedule`]).
//!
//! Leadership: on SQLite the one process leads. On PostgreSQL, with several replicas, the one
//! holding the advisory lock [`LOCK_KEY`] on a connection of its own leads; the lock goes with
//! the connection, so when the leader dies its connection closes and another replica takes
//! the lock at its next attempt, within one interval.

pub mod bandit;
pub mod evaluate;
pub mod monitor;
pub mod ramp;
pub mod schedule;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyConnection;
use tokio::sync::{watch, Mutex, Notify};

use crate::db::{now_ms, Db, Dialect};
use monitor::TickReport;

/// The PostgreSQL advisory lock the leading replica holds ("edgewise" in ASCII).
pub const LOCK_KEY: i64 = 0x6564_6765_7769_7365;

/// How often the runner works and how long a history bucket is.
#[derive(Debug, Clone, Copy)]
pub struct JobsConfig {
    pub interval: Duration,
    pub bucket: Duration,
}

/// The runner's shared state: the API runs a tick through it too.
#[derive(Debug)]
pub struct Jobs {
    pub db: Db,
    pub config: JobsConfig,
    /// Wakes the snapshot publisher after an action changed assignment.
    publish: Arc<Notify>,
    /// Wakes the webhook deliverer after a tick raised alerts.
    deliver: Notify,
    /// One tick at a time in this process.
    ticking: Mutex<()>,
    /// PostgreSQL: the connection holding the advisory lock, while this replica leads.
    lock: Mutex<Option<AnyConnection>>,
    pub metrics: Arc<crate::telemetry::Metrics>,
}

impl Jobs {
    pub fn new(
        db: Db,
        config: JobsConfig,
        publish: Arc<Notify>,
        metrics: Arc<crate::telemetry::Metrics>,
    ) -> Jobs {
        Jobs {
            metrics,
            db,
            config,
            publish,
            deliver: Notify::new(),
            ticking: Mutex::new(()),
            lock: Mutex::new(None),
        }
    }

    /// Whether this process leads, taking the lead if nobody holds it.
    pub async fn lead(&self) -> bool {
        if self.db.dialect == Dialect::Sqlite {
            return true;
        }
        let mut held = self.lock.lock().await;
        if let Some(conn) = held.as_mut() {
            if sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok() {
                return true;
            }
            tracing::warn!("lost the monitor lock's connection");
            *held = None;
        }
        let Ok(mut conn) = self.db.writer.acquire().await else {
            return false;
        };
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LOCK_KEY)
            .fetch_one(&mut *conn)
            .await
            .unwrap_or(false);
        if got {
            // Its own connection from now on: the lock lives as long as it does.
            *held = Some(conn.detach());
            tracing::info!("this replica leads the monitor");
        }
        got
    }

    /// Whether this process leads now, without trying to.
    pub async fn leads(&self) -> bool {
        self.db.dialect == Dialect::Sqlite || self.lock.lock().await.is_some()
    }

    /// One monitor tick now.
    pub async fn tick(&self) -> anyhow::Result<TickReport> {
        let _one = self.ticking.lock().await;
        let started = std::time::Instant::now();
        let bucket_ms = i64::try_from(self.config.bucket.as_millis()).unwrap_or(i64::MAX);
        let mut report = monitor::tick(&self.db, now_ms(), bucket_ms).await?;
        report.bandits = bandit::tick(&self.db, now_ms()).await?.updated;
        report.ramps = ramp::tick(&self.db, now_ms()).await?;
        report.scheduled = schedule::tick(&self.db, now_ms()).await?;
        if report.published
            || !report.bandits.is_empty()
            || !report.ramps.is_empty()
            || !report.scheduled.is_empty()
        {
            self.publish.notify_one();
        }
        if report.alerts > 0 {
            self.deliver.notify_one();
        }
        self.metrics
            .monitor_tick_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics.monitor_last_tick.set(now_ms() as f64 / 1000.0);
        Ok(report)
    }
}

/// Runs until `shutdown` turns true: ticks while leading, and delivers webhooks. It takes the
/// lead at once (deliveries wait for it) but ticks first one interval after start: ticks run
/// on the schedule and on demand (`POST /api/v1/monitor/run`), never in a burst at start-up
/// that could land at any moment of whatever the caller does next.
pub async fn run(jobs: Arc<Jobs>, mut shutdown: watch::Receiver<bool>) {
    let deliverer = tokio::spawn(deliver(jobs.clone(), shutdown.clone()));
    jobs.lead().await;
    let mut next = tokio::time::Instant::now() + jobs.config.interval;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = shutdown.changed() => break,
        }
        next += jobs.config.interval;
        if jobs.lead().await {
            if let Err(e) = jobs.tick().await {
                tracing::error!(error = format!("{e:#}"), "monitor tick failed");
            }
        }
        // After a long tick, start the next one from now rather than catching up.
        next = next.max(tokio::time::Instant::now());
    }
    deliverer.abort();
}

/// Delivers due webhook payloads while this process leads: woken by new alerts, and every
/// second for retries.
async fn deliver(jobs: Arc<Jobs>, mut shutdown: watch::Receiver<bool>) {
    let client = match reqwest::Client::builder().build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client; no webhooks");
            return;
        }
    };
    loop {
        if jobs.leads().await {
            if let Err(e) = webhooks::deliver_due(&jobs.db, &client, &jobs.metrics).await {
                tracing::warn!(error = format!("{e:#}"), "webhook delivery round failed");
            }
        }
        tokio::select! {
            _ = jobs.deliver.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
