//! The Edgewise control plane: the axum + sqlx service behind `edgewise serve`.
//!
//! [`app`] builds the router over the [`state`] every handler shares, and runs it; [`api`] holds the admin routes under `/api/v1`,
//! [`ingest`] the beacon endpoint (on SQLite through the
//! [`writer`] thread), [`publish`] the task that pushes snapshots to edge workers.
//! [`hub`] reads what changed for the live stream.
//! [`lifecycle`] moves a test through its states (for the API and the control plane itself);
//! [`results`] turns aggregates into statistics, [`report`] shapes them into rows and pages;
//! [`checks`] runs the checks a test must pass
//! before it starts; [`sim`] is `edgewise simulate`'s traffic generator.
//! [`ui`] serves the dashboard, embedded, at `/`.
//! [`model`] holds the pure rules (lifecycle, validation through the shared compiler, snapshot
//! building); [`db`] the storage functions, one module per table family, over SQLite or
//! PostgreSQL. [`config`] is the command line, [`error`] the one error type.

pub mod api;
pub mod app;
pub mod auth;
pub mod checks;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod hub;
pub mod ingest;
pub mod jobs;
pub mod lifecycle;
pub mod model;
pub mod publish;
pub mod report;
pub mod results;
pub mod sim;
pub mod state;
pub mod telemetry;
pub mod traces;
pub mod ui;
pub mod writer;
