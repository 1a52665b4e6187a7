//! The statistics engine: every number an experimenter reads, reproducing GrowthBook's `gbstats`
//! 0.8.0 to 1e-9 (checked against fixtures that `scripts/gbstats_fixtures.py` writes from it).
//!
//! [`analyze`] is the entry point: one metric's per-arm aggregates in ([`AnalysisInput`]),
//! every comparison out ([`AnalysisOutput`]), serialising to the `edgewise stats` JSON contract.
//! Per arm, [`statistic`] forms means and variances (with CUPED's regression adjustment); per
//! comparison, [`frequentist`] runs Welch's t-test and the sequential confidence sequence and
//! [`bayesian`] the Gaussian effect model; [`srm`] checks the traffic split, [`correction`]
//! adjusts p-values for multiple comparisons, [`power`] sizes a test before it starts.
//! [`special`] holds the distribution functions, written here because `statrs`' are not
//! accurate enough at the extremes 10M-unit tests reach.
//!
//! Nothing panics and no number is NaN or infinite: where gbstats refuses (zero control mean,
//! zero variance, empty arm) the method returns a [`Refusal`] instead of numbers.

mod analysis;
pub mod bayesian;
pub mod correction;
pub mod frequentist;
pub mod power;
pub mod special;
pub mod srm;
pub mod statistic;

pub use analysis::{
    analyze, AnalysisInput, AnalysisOutput, Comparison, Correction, Effects, InputError,
    MetricType, VariantInput,
};

use serde::{Deserialize, Serialize};

/// Which effect a method estimates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Difference {
    /// (variant − control) / control.
    Relative,
    /// variant − control.
    Absolute,
}

/// Why a method gave no numbers, mirroring gbstats' error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The control mean is zero (gbstats: ZERO_NEGATIVE_BASELINE_VARIATION): the lift divides
    /// by it.
    ZeroControlMean,
    /// An arm's variance is zero or negative (gbstats: ZERO_NEGATIVE_VARIANCE): no test
    /// statistic exists (e.g. no conversions, or every unit converted).
    ZeroVariance,
    /// An arm has no units (gbstats: NO_UNITS_IN_VARIATION).
    NoUnits,
    /// Inputs so extreme that a result overflowed; never produced by realistic data.
    NonFinite,
}

/// A method's result or the reason it has none; serialises as the numbers or `{"error": …}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Outcome<T> {
    Value(T),
    Refused { error: Refusal },
}

impl<T: Finite> Outcome<T> {
    pub(crate) fn refused(error: Refusal) -> Self {
        Outcome::Refused { error }
    }

    /// The last guard of "never NaN in output".
    pub(crate) fn checked(value: T) -> Self {
        if value.is_finite() {
            Outcome::Value(value)
        } else {
            Outcome::refused(Refusal::NonFinite)
        }
    }

    pub fn value(&self) -> Option<&T> {
        match self {
            Outcome::Value(v) => Some(v),
            Outcome::Refused { .. } => None,
        }
    }
}

/// Whether every number in a result is finite (safe to print as JSON).
pub trait Finite {
    fn is_finite(&self) -> bool;
}

/// A frequentist or sequential estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub estimate: f64,
    pub ci: [f64; 2],
    pub p_value: f64,
    /// Standard error of the estimate.
    pub std_error: f64,
    /// The p-value after the requested multiple-comparison correction, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value_adjusted: Option<f64>,
}

impl Finite for Estimate {
    fn is_finite(&self) -> bool {
        self.estimate.is_finite()
            && self.ci.iter().all(|v| v.is_finite())
            && self.p_value.is_finite()
            && self.std_error.is_finite()
    }
}

/// A Bayesian posterior summary.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BayesEstimate {
    /// P(variant beats control).
    pub chance_to_win: f64,
    /// Equal-tailed credible interval.
    pub ci: [f64; 2],
    /// Expected loss of choosing control, then of choosing the variant.
    pub risk: [f64; 2],
    /// Posterior mean of the effect.
    pub estimate: f64,
    /// Posterior standard deviation of the effect.
    pub std_error: f64,
}

impl Finite for BayesEstimate {
    fn is_finite(&self) -> bool {
        self.chance_to_win.is_finite()
            && self
                .ci
                .iter()
                .chain(self.risk.iter())
                .all(|v| v.is_finite())
            && self.estimate.is_finite()
            && self.std_error.is_finite()
    }
}

/// A proper Gaussian prior on the relative lift (gbstats' `prior_type = "relative"`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prior {
    pub mean: f64,
    pub stddev: f64,
}

/// A whole number written `7` or `7.0` (JSON does not tell them apart, nor does JSON Schema's
/// `integer`).
pub(crate) fn whole<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Signed(i64),
        Unsigned(u64),
        Float(f64),
    }
    let out_of_range = || serde::de::Error::custom("expected a whole number in range");
    match Number::deserialize(d)? {
        Number::Signed(i) => T::try_from(i).map_err(|_| out_of_range()),
        Number::Unsigned(u) => T::try_from(u).map_err(|_| out_of_range()),
        Number::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            T::try_from(f as i64).map_err(|_| out_of_range())
        }
        Number::Float(f) => Err(serde::de::Error::custom(format!(
            "expected a whole number, got {f}"
        ))),
    }
}
