//! The admin API under `/api/v1`, one module per resource family, each exposing its own
//! router. Handlers check the role first, then do their work inside a
//! [`crate::db::Mutation`] (writes) or on a reader connection (reads).

pub mod admin;
pub mod alerts;
pub mod approvals;
pub mod bandits;
pub mod credentials;
pub mod exports;
pub mod health;
pub mod learn;
pub mod metrics;
pub mod monitor;
pub mod openapi;
pub mod plans;
pub mod reports;
pub mod session;
pub mod settings;
pub mod snapshots;
pub mod stream;
pub mod system;
pub mod templates;
pub mod tests;
pub mod webhooks;
