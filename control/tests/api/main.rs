//! API tests for the control plane, compiled into one binary. Each test runs on a fresh
//! database, once on SQLite and once on PostgreSQL (`EDGEWISE_TEST_PG_URL`; the PostgreSQL
//! variants fail unless it is set or `EDGEWISE_SKIP_PG=1`). `binary` drives the real
//! `edgewise` executable: kill -9 mid-load, and two processes on one PostgreSQL;
//! `schedule_replicas` runs a schedule under two replicas of it.

mod approvals;
mod audit;
mod bandits;
mod binary;
mod common;
mod credentials;
mod cuped;
mod dimensions;
mod erasure;
mod exports;
mod hardening;
mod health;
mod ingest;
mod learning;
mod lifecycle;
mod listing;
mod logged_by;
mod metrics;
mod monitor;
mod openapi;
mod outage;
mod page_changes;
mod parity;
mod plans;
mod publish;
mod quantiles;
mod ramps;
mod reports;
mod results;
mod roles;
mod schedule_replicas;
mod schedules;
mod sessions;
mod shards;
mod snapshots;
mod stream;
mod system;
mod telemetry;
mod templates;
mod webhooks;
