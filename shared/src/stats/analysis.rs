//! One metric's analysis: validated per-arm aggregates in, SRM and every variant-vs-control
//! comparison out. This is what `edgewise stats` prints and what the control plane computes per
//! segment, so the types here *are* the JSON contract (see `docs/statistics.md`).
//!
//! Input is checked once, here: a bad field comes back as an [`InputError`] naming its JSON path
//! (`variants[2].conversions`), never as a panic or a NaN further down.

use serde::{Deserialize, Serialize};

use super::bayesian::effect_test_given_normal;
use super::correction::{benjamini_hochberg, holm_bonferroni};
use super::frequentist::{sequential_test, t_tests};
use super::special::norm_isf;
use super::srm::srm_p_value;
use super::statistic::{pair, Clusters, Covariate, Moments};
use super::{BayesEstimate, Difference, Estimate, Outcome, Prior};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricType {
    /// Per arm: units and conversions.
    Binomial,
    /// Per arm: units, sum and sum of squares of a per-unit value.
    Mean,
    /// Per arm: units and the sums, sums of squares and cross-products of per-unit numerator
    /// and denominator totals (the delta method, gbstats' `RatioStatistic`).
    Ratio,
    /// Per arm: a quantile's estimate and the order statistics of its interval (gbstats'
    /// `QuantileStatistic`), clustered by unit for an event-level quantile
    /// (`QuantileClusteredStatistic`, with `n_clusters` and the per-unit sums).
    Quantile,
}

/// Opt-in multiple-comparison correction over the variants' fixed-horizon p-values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Correction {
    HolmBonferroni,
    BenjaminiHochberg,
}

fn default_alpha() -> f64 {
    0.05
}

fn default_tuning() -> f64 {
    5_000.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisInput {
    pub metric_type: MetricType,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Configured traffic weights per arm; equal when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_weights: Option<Vec<f64>>,
    #[serde(default = "default_tuning")]
    pub sequential_tuning_parameter: f64,
    #[serde(default)]
    pub control_index: usize,
    /// A proper prior on the relative lift for the Bayesian model; flat when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<Prior>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correction: Option<Correction>,
    pub variants: Vec<VariantInput>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    pub name: String,
    pub n: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversions: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum_squares: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covariate_sum: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covariate_sum_squares: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum_product_metric_covariate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerator_sum: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerator_sum_squares: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator_sum: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator_sum_squares: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerator_denominator_sum_product: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_star: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile_hat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile_lower: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile_upper: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_clusters: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_sum: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_sum_squares: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_denominator_sum_product: Option<f64>,
}

/// Both effect types of one method.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effects<T> {
    pub relative: Outcome<T>,
    pub absolute: Outcome<T>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub variant: String,
    pub frequentist: Effects<Estimate>,
    pub sequential: Effects<Estimate>,
    pub bayesian: Effects<BayesEstimate>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalysisOutput {
    pub srm_p_value: f64,
    pub control: String,
    /// Whether CUPED adjusted the comparisons (every arm carried a covariate).
    pub cuped: bool,
    pub comparisons: Vec<Comparison>,
}

/// A field the analysis cannot use, by JSON path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InputError {
    pub field: String,
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> InputError {
    InputError {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks the input and turns each arm into its moments and optional covariate.
fn arms(input: &AnalysisInput) -> Result<Vec<(Moments, Option<Covariate>)>, InputError> {
    if !(input.alpha > 0.0 && input.alpha < 1.0) {
        return Err(bad("alpha", "must be between 0 and 1"));
    }
    if !(input.sequential_tuning_parameter > 0.0 && input.sequential_tuning_parameter.is_finite()) {
        return Err(bad("sequential_tuning_parameter", "must be positive"));
    }
    if input.variants.len() < 2 {
        return Err(bad("variants", "needs a control and at least one variant"));
    }
    if input.control_index >= input.variants.len() {
        return Err(bad("control_index", "is not the index of a variant"));
    }
    if let Some(prior) = &input.prior {
        if !prior.mean.is_finite() {
            return Err(bad("prior.mean", "must be a number"));
        }
        if !(prior.stddev > 0.0 && prior.stddev.is_finite()) {
            return Err(bad("prior.stddev", "must be positive"));
        }
    }
    if let Some(weights) = &input.expected_weights {
        if weights.len() != input.variants.len() {
            return Err(bad("expected_weights", "needs one weight per variant"));
        }
        if let Some(i) = weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(bad(format!("expected_weights[{i}]"), "must be >= 0"));
        }
        if !weights.iter().any(|w| *w > 0.0) {
            return Err(bad("expected_weights", "needs a positive weight"));
        }
    }
    let mut out = Vec::with_capacity(input.variants.len());
    for (i, v) in input.variants.iter().enumerate() {
        let field = |name: &str| format!("variants[{i}].{name}");
        let finite = |name: &str, value: Option<f64>| match value {
            Some(x) if !x.is_finite() => Err(bad(field(name), "must be a finite number")),
            _ => Ok(value),
        };
        let n = v.n as f64;
        let moments = match input.metric_type {
            MetricType::Binomial => {
                if v.sum.is_some() || v.sum_squares.is_some() {
                    return Err(bad(
                        field("sum"),
                        "not used by a binomial metric (conversions)",
                    ));
                }
                let c = v.conversions.ok_or_else(|| {
                    bad(field("conversions"), "is required for a binomial metric")
                })?;
                if c > v.n {
                    return Err(bad(field("conversions"), "must not exceed n"));
                }
                Moments::Proportion { n, sum: c as f64 }
            }
            MetricType::Quantile => {
                if v.conversions.is_some() || v.sum.is_some() || v.sum_squares.is_some() {
                    return Err(bad(
                        field("quantile_hat"),
                        "a quantile metric takes n_star, nu and quantile_* fields, not \
                         conversions or sum",
                    ));
                }
                if v.covariate_sum.is_some()
                    || v.covariate_sum_squares.is_some()
                    || v.sum_product_metric_covariate.is_some()
                {
                    return Err(bad(
                        field("covariate_sum"),
                        "CUPED is not available for quantile metrics (gbstats 0.8.0 has none)",
                    ));
                }
                let get = |name: &str, value: Option<f64>| {
                    finite(name, value)?
                        .ok_or_else(|| bad(field(name), "is required for a quantile metric"))
                };
                let n_star = v
                    .n_star
                    .ok_or_else(|| bad(field("n_star"), "is required for a quantile metric"))?;
                let nu = get("nu", v.nu)?;
                if !(nu > 0.0 && nu < 1.0) {
                    return Err(bad(field("nu"), "must be in (0, 1)"));
                }
                let clusters = match v.n_clusters {
                    None => None,
                    Some(k) => {
                        let c = Clusters {
                            n_clusters: k as f64,
                            main_sum: get("main_sum", v.main_sum)?,
                            main_sum_squares: get("main_sum_squares", v.main_sum_squares)?,
                            denominator_sum: get("denominator_sum", v.denominator_sum)?,
                            denominator_sum_squares: get(
                                "denominator_sum_squares",
                                v.denominator_sum_squares,
                            )?,
                            main_denominator_sum_product: get(
                                "main_denominator_sum_product",
                                v.main_denominator_sum_product,
                            )?,
                        };
                        for (name, value) in [
                            ("main_sum_squares", c.main_sum_squares),
                            ("denominator_sum_squares", c.denominator_sum_squares),
                        ] {
                            if value < 0.0 {
                                return Err(bad(field(name), "must be >= 0"));
                            }
                        }
                        Some(c)
                    }
                };
                Moments::Quantile {
                    n,
                    n_star: n_star as f64,
                    nu,
                    hat: get("quantile_hat", v.quantile_hat)?,
                    lower: get("quantile_lower", v.quantile_lower)?,
                    upper: get("quantile_upper", v.quantile_upper)?,
                    clusters,
                }
            }
            MetricType::Ratio => {
                if v.conversions.is_some() || v.sum.is_some() || v.sum_squares.is_some() {
                    return Err(bad(
                        field("numerator_sum"),
                        "a ratio metric takes numerator_* and denominator_* fields, not \
                         conversions or sum",
                    ));
                }
                if v.covariate_sum.is_some()
                    || v.covariate_sum_squares.is_some()
                    || v.sum_product_metric_covariate.is_some()
                {
                    return Err(bad(
                        field("covariate_sum"),
                        "CUPED is not available for ratio metrics (gbstats 0.8.0 has none)",
                    ));
                }
                let get = |name: &str, value: Option<f64>| {
                    finite(name, value)?
                        .ok_or_else(|| bad(field(name), "is required for a ratio metric"))
                };
                let m_sum = get("numerator_sum", v.numerator_sum)?;
                let m_sum_squares = get("numerator_sum_squares", v.numerator_sum_squares)?;
                let d_sum = get("denominator_sum", v.denominator_sum)?;
                let d_sum_squares = get("denominator_sum_squares", v.denominator_sum_squares)?;
                let md_sum_product = get(
                    "numerator_denominator_sum_product",
                    v.numerator_denominator_sum_product,
                )?;
                for (name, value) in [
                    ("numerator_sum_squares", m_sum_squares),
                    ("denominator_sum_squares", d_sum_squares),
                ] {
                    if value < 0.0 {
                        return Err(bad(field(name), "must be >= 0"));
                    }
                }
                Moments::Ratio {
                    n,
                    m_sum,
                    m_sum_squares,
                    d_sum,
                    d_sum_squares,
                    md_sum_product,
                }
            }
            MetricType::Mean => {
                if v.conversions.is_some() {
                    return Err(bad(field("conversions"), "not used by a mean metric (sum)"));
                }
                let sum = finite("sum", v.sum)?
                    .ok_or_else(|| bad(field("sum"), "is required for a mean metric"))?;
                let sum_squares = finite("sum_squares", v.sum_squares)?
                    .ok_or_else(|| bad(field("sum_squares"), "is required for a mean metric"))?;
                if sum_squares < 0.0 {
                    return Err(bad(field("sum_squares"), "must be >= 0"));
                }
                Moments::Sample {
                    n,
                    sum,
                    sum_squares,
                }
            }
        };
        let covariate = match (
            finite("covariate_sum", v.covariate_sum)?,
            finite("covariate_sum_squares", v.covariate_sum_squares)?,
            finite(
                "sum_product_metric_covariate",
                v.sum_product_metric_covariate,
            )?,
        ) {
            (None, None, None) => None,
            (Some(sum), Some(sum_squares), Some(sum_product)) => {
                if sum_squares < 0.0 {
                    return Err(bad(field("covariate_sum_squares"), "must be >= 0"));
                }
                Some(Covariate {
                    sum,
                    sum_squares,
                    sum_product,
                })
            }
            _ => {
                return Err(bad(
                    field("covariate_sum"),
                    "CUPED needs covariate_sum, covariate_sum_squares and \
                     sum_product_metric_covariate together",
                ))
            }
        };
        out.push((moments, covariate));
    }
    let with_covariate = out.iter().filter(|(_, c)| c.is_some()).count();
    if with_covariate != 0 && with_covariate != out.len() {
        return Err(bad(
            "variants",
            "CUPED needs the covariate fields on every variant or on none",
        ));
    }
    Ok(out)
}

/// Analyses one metric: SRM over all arms, then each non-control arm against control with every
/// method, both as a relative lift and an absolute difference.
pub fn analyze(input: &AnalysisInput) -> Result<AnalysisOutput, InputError> {
    let arms = arms(input)?;
    // An event-level quantile's n counts events; its split is over units (its clusters).
    let units: Vec<f64> = arms
        .iter()
        .map(|(m, _)| match m {
            Moments::Quantile {
                clusters: Some(c), ..
            } => c.n_clusters,
            m => m.n(),
        })
        .collect();
    let equal = vec![1.0; arms.len()];
    let weights = input.expected_weights.as_deref().unwrap_or(&equal);
    let srm_p_value = srm_p_value(&units, weights);
    let control = arms[input.control_index];
    // The normal quantile of the level is shared by every comparison: compute it once.
    let z_half = norm_isf(0.5 * input.alpha);
    let mut comparisons = Vec::with_capacity(arms.len() - 1);
    for (i, arm) in arms.iter().enumerate() {
        if i == input.control_index {
            continue;
        }
        let (a, b) = pair(control, *arm);
        let (alpha, tuning, prior) = (
            input.alpha,
            input.sequential_tuning_parameter,
            input.prior.as_ref(),
        );
        let both = |f: &dyn Fn(Difference) -> Outcome<Estimate>| Effects {
            relative: f(Difference::Relative),
            absolute: f(Difference::Absolute),
        };
        comparisons.push(Comparison {
            variant: input.variants[i].name.clone(),
            frequentist: t_tests(&a, &b, alpha, z_half),
            sequential: both(&|d| sequential_test(&a, &b, d, alpha, tuning)),
            bayesian: Effects {
                relative: effect_test_given_normal(&a, &b, Difference::Relative, z_half, prior),
                absolute: effect_test_given_normal(&a, &b, Difference::Absolute, z_half, prior),
            },
        });
    }
    if let Some(correction) = input.correction {
        adjust(&mut comparisons, correction);
    }
    Ok(AnalysisOutput {
        srm_p_value,
        control: input.variants[input.control_index].name.clone(),
        cuped: arms.iter().all(|(_, c)| c.is_some()),
        comparisons,
    })
}

/// Adjusts the fixed-horizon p-values across variants, separately for the relative and the
/// absolute family; refused comparisons are not part of the family.
fn adjust(comparisons: &mut [Comparison], correction: Correction) {
    type Pick = fn(&mut Effects<Estimate>) -> &mut Outcome<Estimate>;
    let picks: [Pick; 2] = [|e| &mut e.relative, |e| &mut e.absolute];
    for pick in picks {
        let raw: Vec<f64> = comparisons
            .iter_mut()
            .filter_map(|c| pick(&mut c.frequentist).value().map(|e| e.p_value))
            .collect();
        let adjusted = match correction {
            Correction::HolmBonferroni => holm_bonferroni(&raw),
            Correction::BenjaminiHochberg => benjamini_hochberg(&raw),
        };
        let mut next = adjusted.into_iter();
        for c in comparisons.iter_mut() {
            if let Outcome::Value(e) = pick(&mut c.frequentist) {
                e.p_value_adjusted = next.next();
            }
        }
    }
}
