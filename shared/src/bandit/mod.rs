//! Bandits: moving traffic toward the better arm while a test runs.
//!
//! [`update`](update::update) is one bandit update: each arm's posterior from its per-period
//! aggregates, its probability of being best ([`thompson`]), and the traffic split with a
//! floor per arm. The control plane's bandit job calls it on a test's aggregates;
//! `edgewise bandit` calls it on a file's. [`periods`] turns per-period aggregates into
//! period-weighted estimates, unbiased when the baseline drifts while traffic moves. These
//! need the `stats` feature. [`sticky`] is the edge's memory of each visitor's arm, so changing
//! weights only steers new visitors.
//!
//! Everything here is pure: aggregates and settings in, weights out.

#[cfg(feature = "stats")]
pub mod periods;
#[cfg(feature = "stats")]
mod settings;
pub mod sticky;
#[cfg(feature = "stats")]
pub mod thompson;
#[cfg(feature = "stats")]
mod update;

#[cfg(feature = "stats")]
pub use settings::{Allocation, BanditSettings, SettingError, MAX_UPDATE_INTERVAL_SECONDS};
#[cfg(feature = "stats")]
pub use update::{check_floor, posteriors, run, update, BanditInput, Update, DEFAULT_FLOOR};
