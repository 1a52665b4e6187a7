//! The wire snapshot: the JSON document the control plane publishes and the edge serves from.
//!
//! It is documented field by field in `docs/snapshot.md`, with `docs/example-snapshot.json`.
//! Deserialising checks only shape; [`crate::compile`] checks meaning. Unknown fields are
//! ignored so an older edge can read a newer control plane's additions within one
//! `schema_version`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::condition::Condition;
use crate::device::DeviceClass;

/// The schema this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// A complete, versioned configuration of every published test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub schema_version: u32,
    /// Monotonically increasing; the edge refuses a snapshot that is not newer than its own.
    pub snapshot_version: u64,
    /// Which bucketing algorithm decides buckets (see [`crate::hash`]).
    pub hash_version: u32,
    /// When the control plane produced it (RFC 3339); informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<String>,
    #[serde(default)]
    pub tests: Vec<TestDef>,
    /// Mutual-exclusion layers; tests name one and own a slot of its bucket space.
    #[serde(default)]
    pub layers: Vec<LayerDef>,
    /// A share of all visitors that sees no test at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<HoldoutDef>,
    /// Ordered persona rules: the first that matches names the visitor's persona.
    #[serde(default)]
    pub personas: Vec<PersonaDef>,
    /// Origins allowed to call the edge from a browser (CORS).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

/// One experiment as the edge sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestDef {
    pub key: String,
    /// What bucketing hashes; defaults to `key`. Immutable once the test has run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_id: Option<String>,
    pub status: TestStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<String>,
    /// Share of eligible traffic that enters the test, in `[0, 1]`.
    #[serde(default = "full_coverage")]
    pub coverage: f64,
    /// 2 to 10 variants; the first is the control.
    pub variants: Vec<VariantDef>,
    #[serde(default)]
    pub targeting: Targeting,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerSlot>,
    #[serde(default)]
    pub metrics: Vec<MetricDef>,
    /// Remember each visitor's variant at the edge (bandit tests, whose weights change while
    /// they run): weights then steer new visitors only, and decisions carry the probability
    /// their variant was assigned with.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sticky: bool,
    /// Exposure dimensions results are broken down by (`country`, `browser`, `source`,
    /// `attr.NAME`; at most 5): the edge stamps the visitor's value of each on exposures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<String>,
}

fn full_coverage() -> f64 {
    1.0
}

/// Whether a published test assigns visitors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestStatus {
    Running,
    /// Everyone sees the control content; nobody is counted.
    Paused,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantDef {
    pub key: String,
    /// Relative weight, `>= 0`; weights are normalised over the test.
    pub weight: f64,
    /// Arbitrary JSON the site renders for this variant.
    #[serde(default)]
    pub content: Value,
    #[serde(default, skip_serializing_if = "Overrides::is_empty")]
    pub overrides: Overrides,
}

/// Content patches (JSON merge patch, RFC 7386) applied over a variant's content.
/// A persona patch applies after a device patch, so it wins where both set a field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overrides {
    #[serde(default)]
    pub device: BTreeMap<DeviceClass, Value>,
    #[serde(default)]
    pub persona: BTreeMap<String, Value>,
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        self.device.is_empty() && self.persona.is_empty()
    }
}

/// Who is eligible. Empty lists mean "any"; all parts must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Targeting {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceClass>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub personas: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
}

/// A test's slot in a layer: buckets `range[0]..range[1]` of the layer's own hash space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerSlot {
    pub key: String,
    #[serde(deserialize_with = "whole_numbers")]
    pub range: [u32; 2],
}

/// Two whole numbers, written `5000` or `5000.0` (JSON does not tell them apart, and neither does
/// JSON Schema's `integer`).
fn whole_numbers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<[u32; 2], D::Error> {
    let [a, b] = <[f64; 2]>::deserialize(d)?;
    Ok([whole(a)?, whole(b)?])
}

/// An optional whole number written `7` or `7.0` (JSON does not tell them apart, nor does JSON
/// Schema's `integer`).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Option::<f64>::deserialize(d)?.map(whole).transpose()
}

fn whole<E: serde::de::Error>(x: f64) -> Result<u32, E> {
    (x.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&x))
        .then_some(x as u32)
        .ok_or_else(|| {
            E::custom(format!(
                "expected a whole number in 0..=4294967295, got {x}"
            ))
        })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerDef {
    pub key: String,
    /// Defaults to `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutDef {
    /// Share of all visitors held out, in `[0, 1]`.
    pub share: f64,
    /// Defaults to `"edgewise-holdout"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_id: Option<String>,
}

pub const DEFAULT_HOLDOUT_HASH_ID: &str = "edgewise-holdout";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonaDef {
    pub key: String,
    pub when: Condition,
}

/// A metric of a test: which beacons it reads and how a unit's events add up to its value.
/// `edgewise_shared::metrics` checks the definitions and turns them into per-unit rules;
/// docs/control.md describes every field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricDef {
    pub key: String,
    pub kind: MetricKind,
    #[serde(default = "secondary")]
    pub role: MetricRole,
    /// False for a metric where lower is better (errors, latency): the monitor then reads a
    /// rise as a regression. The edge does not use it.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub higher_is_better: bool,
    /// The conversion beacons' `metric` this metric reads; its key when absent, so several
    /// metrics can read one event (with different windows, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Ratio metrics: the keys of two other metrics of the test whose per-unit values are the
    /// numerator and the denominator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator: Option<String>,
    /// Counts only events at least this many hours after the unit's first exposure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_hours: Option<f64>,
    /// Counts only events within this many hours after the delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_window_hours: Option<f64>,
    /// Retention metrics: the unit had an event between these days after its first exposure
    /// (`from_day` included, `to_day` not).
    #[serde(
        default,
        deserialize_with = "whole_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub from_day: Option<u32>,
    #[serde(
        default,
        deserialize_with = "whole_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub to_day: Option<u32>,
    /// Value and count metrics: each unit's value is capped (winsorised) at this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Cap>,
    /// Quantile metrics: which quantile of which values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<QuantileDef>,
    /// CUPED: the name of a pre-exposure value each unit's exposure carries in `covariates`
    /// (its revenue over the 30 days before, say); 0 for a unit whose exposure has none.
    /// Binomial, retention, value and count metrics only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covariate: Option<String>,
}

/// How a unit's value is capped: `{"type": "absolute", "value": 100}`, or at a percentile of
/// the test's pooled per-unit values at analysis time: `{"type": "percentile", "value": 0.99,
/// "ignore_zeros": true}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    #[serde(rename = "type")]
    pub kind: CapKind,
    pub value: f64,
    /// Percentile caps: the percentile of the units with a nonzero value only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_zeros: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapKind {
    /// At a fixed value.
    Absolute,
    /// At a percentile (`value` in (0, 1)) of the test's per-unit values.
    Percentile,
}

/// A quantile metric: level `nu` in (0, 1) of each unit's summed value (`unit`) or of the
/// individual events' values (`event`, clustered by unit), zeros left out with
/// `ignore_zeros`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantileDef {
    pub nu: f64,
    #[serde(default)]
    pub level: QuantileLevel,
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_zeros: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantileLevel {
    #[default]
    Unit,
    Event,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn secondary() -> MetricRole {
    MetricRole::Secondary
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Did the unit convert at all (counted once per unit).
    Binomial,
    /// A value summed per unit, such as revenue.
    Value,
    /// The number of the unit's events, such as pageviews.
    Count,
    /// Two other metrics' per-unit values, summed over units and divided (clicks per
    /// pageview, revenue per order), analysed by the delta method.
    Ratio,
    /// Did the unit come back: an event between two days after its first exposure.
    Retention,
    /// A quantile (p50, p90, p99) of per-unit or per-event values.
    Quantile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricRole {
    Primary,
    Secondary,
    Guardrail,
}

impl TestDef {
    pub fn hash_id(&self) -> &str {
        self.hash_id.as_deref().unwrap_or(&self.key)
    }
}
