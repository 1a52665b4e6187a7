//! The monitor's decisions, pure: inputs in, decisions out, no clock, I/O or randomness (time
//! comes in as days run and buckets). The control plane's monitor job
//! (`control/src/jobs/monitor.rs`) loads a test's aggregates and their time buckets and calls
//! these; `edgewise recommend` calls [`recommend`] on a file.
//!
//! [`settings`] holds the decision settings (org defaults, per-test overrides);
//! [`recommend`](recommend::recommend) what to do with a test (`keep_running`, `ship`,
//! `stop_no_winner`, `stop_guardrail`); [`anomaly`] what looks broken (SRM by segment, traffic
//! drop, broken tracking); [`act`] what to do about findings, once each.

pub mod act;
pub mod anomaly;
pub mod recommend;
pub mod settings;

pub use act::{plan, Action, Finding, Kind, Memory, Plan};
pub use recommend::{recommend, GuardrailInput, RecommendInput, Recommendation, Verdict};
pub use settings::{DecisionOverrides, DecisionSettings, Response};
