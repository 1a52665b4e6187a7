//! A bandit test's settings and their checks.

use serde::{Deserialize, Serialize};

use super::update::{check_floor, DEFAULT_FLOOR};
use crate::snapshot::{MetricDef, MetricKind, MetricRole};
use crate::stats::MetricType;

/// How a test's traffic is split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Allocation {
    /// By the variants' weights, as set.
    #[default]
    Fixed,
    /// By Thompson sampling on a metric, updated while the test runs.
    Bandit,
}

impl Allocation {
    pub fn is_fixed(&self) -> bool {
        *self == Allocation::Fixed
    }
}

/// A bandit's settings; every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BanditSettings {
    /// The metric whose best arm gets the traffic; the test's primary metric when absent. A
    /// conversion rate (binomial, retention) or a mean (value, count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Units every arm needs before the weights first move.
    #[serde(
        default = "default_burn_in_units",
        deserialize_with = "crate::stats::whole"
    )]
    pub burn_in_units: i64,
    /// Hours the test must have run before the weights first move.
    #[serde(default)]
    pub burn_in_hours: f64,
    /// The least share of traffic each arm keeps.
    #[serde(default = "default_floor")]
    pub floor: f64,
    /// Seconds between updates.
    #[serde(default = "default_interval", deserialize_with = "crate::stats::whole")]
    pub update_interval_seconds: i64,
    /// Recorded with each update; the posteriors are integrated exactly, so it changes nothing.
    #[serde(default, deserialize_with = "crate::stats::whole")]
    pub seed: u64,
}

fn default_burn_in_units() -> i64 {
    100
}

fn default_floor() -> f64 {
    DEFAULT_FLOOR
}

fn default_interval() -> i64 {
    300
}

impl Default for BanditSettings {
    fn default() -> Self {
        BanditSettings {
            metric: None,
            burn_in_units: default_burn_in_units(),
            burn_in_hours: 0.0,
            floor: default_floor(),
            update_interval_seconds: default_interval(),
            seed: 0,
        }
    }
}

/// The longest update interval: a week.
pub const MAX_UPDATE_INTERVAL_SECONDS: i64 = 7 * 86_400;

/// A problem with one setting: the field under `bandit.` and what is wrong.
pub type SettingError = (&'static str, String);

impl BanditSettings {
    /// Checks the settings for a test with `arms` variants and these metrics; returns the
    /// metric the bandit optimises and how it is analysed.
    pub fn check<'m>(
        &self,
        arms: usize,
        metrics: &'m [MetricDef],
    ) -> Result<(&'m MetricDef, MetricType), SettingError> {
        check_floor(self.floor, arms).map_err(|m| ("floor", m))?;
        if self.burn_in_units < 0 {
            return Err(("burn_in_units", "must not be negative".into()));
        }
        if !(self.burn_in_hours.is_finite() && self.burn_in_hours >= 0.0) {
            return Err(("burn_in_hours", "must not be negative".into()));
        }
        if !(1..=MAX_UPDATE_INTERVAL_SECONDS).contains(&self.update_interval_seconds) {
            return Err((
                "update_interval_seconds",
                format!("must be between 1 and {MAX_UPDATE_INTERVAL_SECONDS}"),
            ));
        }
        let metric = match &self.metric {
            Some(key) => metrics
                .iter()
                .find(|m| &m.key == key)
                .ok_or_else(|| ("metric", format!("the test has no metric `{key}`")))?,
            None => metrics
                .iter()
                .find(|m| m.role == MetricRole::Primary)
                .ok_or_else(|| {
                    (
                        "metric",
                        "a bandit needs a metric: name one, or mark one primary".to_owned(),
                    )
                })?,
        };
        let refuse = |what: &str| {
            Err((
                "metric",
                format!(
                    "`{}` is {what}; a bandit optimises a rate or a mean",
                    metric.key
                ),
            ))
        };
        let kind = match metric.kind {
            MetricKind::Binomial | MetricKind::Retention => MetricType::Binomial,
            MetricKind::Value | MetricKind::Count if metric.percentile_cap().is_some() => {
                return refuse("capped at a percentile known only at analysis")
            }
            MetricKind::Value | MetricKind::Count => MetricType::Mean,
            MetricKind::Ratio => return refuse("a ratio"),
            MetricKind::Quantile => return refuse("a quantile"),
        };
        Ok((metric, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_may_be_written_as_floats() {
        let s: BanditSettings = serde_json::from_str(
            r#"{"burn_in_units": -3.0, "update_interval_seconds": 60.0, "seed": 18446744073709551615}"#,
        )
        .unwrap();
        assert_eq!(
            (s.burn_in_units, s.update_interval_seconds, s.seed),
            (-3, 60, u64::MAX)
        );
        assert!(serde_json::from_str::<BanditSettings>(r#"{"burn_in_units": 1.5}"#).is_err());
        assert!(serde_json::from_str::<BanditSettings>(r#"{"seed": -1}"#).is_err());
    }
}
