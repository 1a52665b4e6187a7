//! Edgewise's pure core, shared by the edge worker and the control plane.
//!
//! A wire [`Snapshot`](snapshot::Snapshot) (the JSON contract the control plane publishes) is
//! compiled once into a [`CompiledSnapshot`](compile::CompiledSnapshot): weights become bucket
//! ranges, conditions are parsed and regexes built, content overrides are pre-merged. Problems in
//! one test come back as typed [`Warning`](compile::Warning)s and only that test is skipped.
//! [`assign`](compile::CompiledSnapshot::assign) then decides, for one [`Visitor`](visitor::Visitor),
//! a variant of every test: [`hash`] buckets the visitor (MurmurHash3, Optimizely's scheme),
//! [`device`] classifies the User-Agent, [`condition`] evaluates targeting and persona rules,
//! [`content`] resolves per-device/per-persona overrides. [`beacon`] holds the event wire types;
//! [`dimensions`] the other exposure dimensions (country, browser, source, attributes) results
//! are broken down by.
//!
//! [`decide`] (feature `stats`) holds the monitor's decisions: recommendations, anomalies and
//! what to do about them. [`bandit`] moves traffic toward the best arm (the update needs
//! `stats`; the edge's memory of each visitor's arm does not). [`learn`] (feature `stats`)
//! learns priors and predictions from past tests; [`plan`] (feature `stats`) drafts a test
//! from a template, sizes it and scores its risk. [`limits`] holds every limit on what
//! Edgewise accepts. [`rewrite`] holds what a variant does to a proxied page (element
//! changes, split URLs) and which of those apply to a visitor.
//!
//! Nothing here does I/O, reads a clock or draws randomness: time comes in as an argument, so the
//! same inputs give the same decisions natively and on `wasm32-unknown-unknown`.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod bandit;
pub mod beacon;
pub mod compile;
pub mod condition;
pub mod content;
#[cfg(feature = "stats")]
pub mod decide;
pub mod device;
pub mod dimensions;
pub mod hash;
#[cfg(feature = "stats")]
pub mod learn;
pub mod limits;
pub mod metrics;
#[cfg(feature = "stats")]
pub mod plan;
pub mod rewrite;
#[cfg(feature = "stats")]
pub mod segments;
pub mod snapshot;
#[cfg(feature = "stats")]
pub mod stats;
pub mod visitor;

mod allocation;
mod assign;
pub mod timestamp;

pub use assign::{Assignment, Decision, Reason};
pub use compile::{CompiledSnapshot, SnapshotError, Warning};
pub use device::DeviceClass;
pub use snapshot::Snapshot;
pub use visitor::Visitor;

/// Buckets per hash space: a bucket is in `0..BUCKETS`, a share of 1% is 100 buckets.
pub const BUCKETS: u32 = 10_000;
