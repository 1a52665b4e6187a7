//! A draft test's prediction from past tests: the predictive distribution of its true lift
//! ([`Predictive`]: integrated over the uncertainty of τ), the chance it is positive, the
//! chance a fixed-horizon test reaches significance by a day (assurance: power averaged over
//! the predictive distribution), and the days 80% power needs at the expected lift.

use serde::{Deserialize, Serialize};

use super::meta::{Pooled, Predictive};
use super::{prior_for, Learned, PastTest};
use crate::stats::special::{norm_cdf, norm_isf};
use crate::stats::InputError;

/// The input of `edgewise predict --draft`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    pub metric: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The control's conversion rate, in (0, 1).
    pub baseline: f64,
    /// Units a day entering the test, all arms together.
    pub daily_units: f64,
    /// Arms, the control included.
    #[serde(default = "two", deserialize_with = "crate::stats::whole")]
    pub variants: u32,
    #[serde(default = "five_percent")]
    pub alpha: f64,
    /// The day the chance of significance is asked for.
    pub days: f64,
}

fn two() -> u32 {
    2
}

fn five_percent() -> f64 {
    0.05
}

/// Which prior a prediction used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriorUsed {
    /// `tag:<tag>`, `metric`, or `flat` (fewer than the minimum of past tests).
    pub source: String,
    pub n_tests: usize,
    pub mu: Option<f64>,
    pub tau2: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiftPrediction {
    pub mean: Option<f64>,
    pub sd: Option<f64>,
    pub interval_80: Option<[f64; 2]>,
}

/// What `edgewise predict` prints (`None` as `null` under the flat prior).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub lift: LiftPrediction,
    pub p_positive: Option<f64>,
    /// The chance of significance by day `days`, under the stable name `p_significant_by_day_N`.
    #[serde(rename = "p_significant_by_day_N")]
    pub p_significant_by_day_n: Option<f64>,
    /// Days a fixed-horizon test needs for 80% power at the expected lift.
    pub expected_days_to_significance: Option<f64>,
    pub days: f64,
    pub prior: PriorUsed,
}

fn bad(field: &str, message: &str) -> InputError {
    InputError {
        field: field.into(),
        message: message.into(),
    }
}

impl Draft {
    pub fn check(&self) -> Result<(), InputError> {
        if !(self.baseline > 0.0 && self.baseline < 1.0) {
            return Err(bad("baseline", "must be a conversion rate in (0, 1)"));
        }
        if !(self.daily_units > 0.0 && self.daily_units.is_finite()) {
            return Err(bad("daily_units", "must be positive"));
        }
        if self.variants < 2 {
            return Err(bad(
                "variants",
                "needs the control and at least one variant",
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 0.5) {
            return Err(bad("alpha", "must be in (0, 0.5)"));
        }
        if !(self.days > 0.0 && self.days.is_finite()) {
            return Err(bad("days", "must be positive"));
        }
        Ok(())
    }
}

/// The predictive distribution of a new test's lift on `metric` with `tags`: the pool of its
/// first tag with a prior on the metric, else the metric's pool, with where it came from and
/// the pool; `None` under the flat prior (too few past tests).
pub fn predictive(
    metric: &str,
    tags: &[String],
    tests: &[PastTest],
    learned: &Learned,
) -> Option<(String, Predictive, Pooled)> {
    let (source, prior) = prior_for(learned, metric, tags)?;
    let tag = source.strip_prefix("tag:");
    let effects: Vec<(f64, f64)> = tests
        .iter()
        .filter(|t| t.metric == metric)
        .filter(|t| tag.is_none_or(|tag| t.tags.iter().any(|x| x == tag)))
        .map(|t| (t.lift, t.se))
        .collect();
    Some((source, Predictive::new(&effects)?, prior))
}

/// The prediction for `draft` from a history's tests and what was learned from them: the
/// pool of the draft's first tag with a prior on its metric, else the metric's pool, else the
/// flat prior (no prediction, said so).
pub fn predict(draft: &Draft, tests: &[PastTest], learned: &Learned) -> Prediction {
    let Some((source, predictive, prior)) = predictive(&draft.metric, &draft.tags, tests, learned)
    else {
        let n_metric = tests.iter().filter(|t| t.metric == draft.metric).count();
        return Prediction {
            lift: LiftPrediction {
                mean: None,
                sd: None,
                interval_80: None,
            },
            p_positive: None,
            p_significant_by_day_n: None,
            expected_days_to_significance: None,
            days: draft.days,
            prior: PriorUsed {
                source: "flat".into(),
                n_tests: n_metric,
                mu: None,
                tau2: None,
            },
        };
    };
    let mean = predictive.mean();
    let k = f64::from(draft.variants);
    let p = draft.baseline;
    // The standard error of the relative lift estimated from n units per arm at the baseline.
    let n = draft.daily_units * draft.days / k;
    let se = (2.0 * (1.0 - p) / (n * p)).sqrt();
    let z = norm_isf(draft.alpha / 2.0);
    // Over each part of the predictive mixture the estimate is N(m, v + se²): significant
    // when beyond ±z·se.
    let assurance: f64 = predictive
        .parts
        .iter()
        .map(|&(w, m, v)| {
            let spread = (v + se * se).sqrt();
            w * (norm_cdf((m - z * se) / spread) + norm_cdf((-m - z * se) / spread))
        })
        .sum();
    let z_power = norm_isf(0.2);
    let days_needed = (mean != 0.0).then(|| {
        let n = (z + z_power).powi(2) * 2.0 * (1.0 - p) / (p * mean * mean);
        n * k / draft.daily_units
    });
    Prediction {
        lift: LiftPrediction {
            mean: Some(mean),
            sd: Some(predictive.sd()),
            interval_80: Some([predictive.quantile(0.1), predictive.quantile(0.9)]),
        },
        p_positive: Some(1.0 - predictive.cdf(0.0)),
        p_significant_by_day_n: Some(assurance.clamp(0.0, 1.0)),
        expected_days_to_significance: days_needed,
        days: draft.days,
        prior: PriorUsed {
            source,
            n_tests: prior.n_tests,
            mu: Some(prior.mu),
            tau2: Some(prior.tau2),
        },
    }
}
