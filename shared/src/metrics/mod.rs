//! Metric definitions and what a unit's events add up to: pure rules the control plane's
//! ingestion (SQLite's writer and PostgreSQL's batches) and unit erasure apply, so both engines
//! keep the same aggregates.
//!
//! [`definition`] checks a test's metric definitions (one 4xx naming the field) and lists,
//! per beacon event name, the metrics reading it and the ratios built on them ([`Reader`]).
//! [`rule`] turns one metric's events into a per-unit value (converted, counted or summed;
//! within a window after exposure; capped) and a unit's change into the change of its
//! aggregate row ([`CellChange`]): units, the sum and sum of squares of the per-unit values,
//! and for ratio rows the denominator's sums and the cross-product the delta method needs.
//! [`sketch`] keeps a metric's per-unit values in mergeable buckets for unit-level quantiles
//! and percentile caps, and computes event-level quantiles from the events themselves.

pub mod definition;
pub mod rule;
pub mod sketch;

pub use definition::{check, readers, Problem, RatioLink, Reader};
pub use rule::{CellChange, PerUnit, Rule, Totals, Window};
