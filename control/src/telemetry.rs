//! What the control plane counts and times, for `GET /metrics` (Prometheus text format): one
//! registry per [`crate::app::App`], so two control planes in one process (the tests) keep
//! their own numbers. Handlers, the publisher and the job runner record into it; the names and
//! what they mean are in docs/operations.md.

use std::time::Duration;

use crate::db::events::Applied;

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Buckets of a latency histogram, in seconds: 1 ms to 10 s.
const LATENCY: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Ingested events by outcome: `accepted`, `duplicate`, `rejected`.
    pub ingest_events: IntCounterVec,
    /// Accepted exposures by who logged them: `browser`, `edge` (the worker, in proxy mode).
    pub ingest_exposures: IntCounterVec,
    /// Time to take one `POST /v1/events` batch, from parsed body to answer.
    pub ingest_batch_seconds: Histogram,
    /// Batches waiting for SQLite's writer threads.
    pub writer_queue: IntGauge,
    /// A `SELECT 1` on the reader pool, timed at each scrape.
    pub db_seconds: Histogram,
    /// Time to compute one test's results.
    pub results_seconds: Histogram,
    /// Snapshot pushes to the edge by outcome: `ok`, `failed`.
    pub publish_attempts: IntCounterVec,
    /// The newest snapshot version an edge accepted from this replica.
    pub published_version: IntGauge,
    pub monitor_tick_seconds: Histogram,
    /// When the last tick ended, in seconds since the epoch.
    pub monitor_last_tick: Gauge,
    /// Webhook delivery attempts by outcome: `delivered`, `failed`.
    pub webhook_deliveries: IntCounterVec,
    /// Requests by matched route, method and status.
    pub http_requests: IntCounterVec,
    pub http_seconds: HistogramVec,
}

fn histogram(name: &str, help: &str) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY.to_vec()))
        .expect("valid histogram")
}

fn counters(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter")
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Registry::new(),
            ingest_events: counters(
                "edgewise_ingest_events_total",
                "Events received at POST /v1/events, by outcome",
                &["outcome"],
            ),
            ingest_exposures: counters(
                "edgewise_ingest_exposures_total",
                "Exposures accepted at POST /v1/events, by who logged them",
                &["logged_by"],
            ),
            ingest_batch_seconds: histogram(
                "edgewise_ingest_batch_seconds",
                "Time to ingest one batch of events",
            ),
            writer_queue: IntGauge::new(
                "edgewise_writer_queue_depth",
                "Batches waiting for SQLite's writer threads",
            )
            .expect("valid gauge"),
            db_seconds: histogram(
                "edgewise_db_ping_seconds",
                "Round trip of a SELECT 1 to the database, timed at each scrape",
            ),
            results_seconds: histogram(
                "edgewise_results_seconds",
                "Time to compute one test's results",
            ),
            publish_attempts: counters(
                "edgewise_publish_attempts_total",
                "Snapshot pushes to an edge, by outcome",
                &["outcome"],
            ),
            published_version: IntGauge::new(
                "edgewise_published_snapshot_version",
                "The newest snapshot version an edge accepted from this replica",
            )
            .expect("valid gauge"),
            monitor_tick_seconds: histogram(
                "edgewise_monitor_tick_seconds",
                "Time of one tick of the job runner (monitor, bandits, ramps, schedules)",
            ),
            monitor_last_tick: Gauge::new(
                "edgewise_monitor_last_tick_timestamp_seconds",
                "When the last tick of this replica ended",
            )
            .expect("valid gauge"),
            webhook_deliveries: counters(
                "edgewise_webhook_deliveries_total",
                "Webhook delivery attempts, by outcome",
                &["outcome"],
            ),
            http_requests: counters(
                "edgewise_http_requests_total",
                "HTTP requests, by matched route, method and status",
                &["route", "method", "status"],
            ),
            http_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "edgewise_http_request_seconds",
                    "HTTP request duration, by matched route",
                )
                .buckets(LATENCY.to_vec()),
                &["route"],
            )
            .expect("valid histogram"),
        };
        let r = &m.registry;
        let all: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.ingest_events.clone()),
            Box::new(m.ingest_exposures.clone()),
            Box::new(m.ingest_batch_seconds.clone()),
            Box::new(m.writer_queue.clone()),
            Box::new(m.db_seconds.clone()),
            Box::new(m.results_seconds.clone()),
            Box::new(m.publish_attempts.clone()),
            Box::new(m.published_version.clone()),
            Box::new(m.monitor_tick_seconds.clone()),
            Box::new(m.monitor_last_tick.clone()),
            Box::new(m.webhook_deliveries.clone()),
            Box::new(m.http_requests.clone()),
            Box::new(m.http_seconds.clone()),
        ];
        for c in all {
            r.register(c).expect("metric names are unique");
        }
        // Every outcome shows from the start, at 0.
        for o in ["accepted", "duplicate", "rejected"] {
            m.ingest_events.with_label_values(&[o]);
        }
        for s in ["browser", "edge"] {
            m.ingest_exposures.with_label_values(&[s]);
        }
        for o in ["ok", "failed"] {
            m.publish_attempts.with_label_values(&[o]);
        }
        for o in ["delivered", "failed"] {
            m.webhook_deliveries.with_label_values(&[o]);
        }
        m
    }

    /// Everything, in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding gathered families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Counts one batch's outcomes and its time.
    pub fn ingested(&self, applied: &Applied, rejected: usize, took: Duration) {
        let add = |counter: &IntCounterVec, label: &str, n: usize| {
            counter
                .with_label_values(&[label])
                .inc_by(u64::try_from(n).unwrap_or(u64::MAX))
        };
        add(&self.ingest_events, "accepted", applied.accepted);
        add(&self.ingest_events, "duplicate", applied.duplicates);
        add(&self.ingest_events, "rejected", rejected);
        let edge = applied.edge_exposures;
        add(&self.ingest_exposures, "browser", applied.exposures - edge);
        add(&self.ingest_exposures, "edge", edge);
        self.ingest_batch_seconds.observe(took.as_secs_f64());
    }
}
