//! What to do with a test now: [`recommend`] reads one metric's aggregates per arm (the
//! `edgewise stats` input), the guardrails', how long the test has run and its daily traffic,
//! and answers `keep_running`, `ship`, `stop_no_winner` or `stop_guardrail` with its reasons.
//!
//! Significance comes from the sequential (always-valid) confidence sequence, so asking at every
//! tick does not inflate false positives: a variant is a winner when the sequence's interval for
//! its relative lift lies above zero. A guardrail regresses when its one-sided interval (level
//! 1 − 2α of the same sequence) lies entirely below −`max_regression` (above it, for a metric
//! where lower is better). A variant is futile when its interval excludes the MDE — its upper end
//! is below +MDE — or when its conditional power to reach significance by the planned sample size
//! under the current trend is below 10%.

use serde::{Deserialize, Serialize};

use crate::stats::power::{sample_size, PowerInput};
use crate::stats::special::{norm_cdf, norm_isf};
use crate::stats::statistic::Moments;
use crate::stats::{analyze, AnalysisInput, AnalysisOutput, InputError, MetricType, VariantInput};

use super::settings::DecisionSettings;

/// Conditional power below this makes a variant futile.
pub const FUTILE_POWER: f64 = 0.1;

/// One guardrail metric's aggregates per arm, in the primary's arm order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailInput {
    pub key: String,
    pub metric_type: MetricType,
    /// The relative drop allowed; the decision settings' when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_regression: Option<f64>,
    /// False for a metric where lower is better (errors, latency): a rise regresses.
    #[serde(default = "yes")]
    pub higher_is_better: bool,
    pub variants: Vec<VariantInput>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecommendInput {
    /// The primary metric, as `edgewise stats` reads it. Its `alpha` is replaced by the
    /// decision settings'.
    pub primary: AnalysisInput,
    pub days_running: f64,
    /// Units entering the test per day, all arms together.
    pub daily_units: f64,
    pub decision: DecisionSettings,
    pub guardrails: Vec<GuardrailInput>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    KeepRunning,
    Ship,
    StopNoWinner,
    StopGuardrail,
}

/// One variant against the control on the primary metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmVerdict {
    pub variant: String,
    pub units: u64,
    /// Relative lift and its sequential interval; absent when the analysis refused.
    pub lift: Option<f64>,
    pub ci: Option<[f64; 2]>,
    pub significant: bool,
    pub futile: bool,
    pub conditional_power: Option<f64>,
}

/// One variant against the control on one guardrail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardrailVerdict {
    pub key: String,
    pub variant: String,
    pub lift: f64,
    /// The one-sided sequential interval (level 1 − 2α).
    pub ci: [f64; 2],
    pub max_regression: f64,
    pub regressed: bool,
    /// −log10 of the one-sided p-value that the lift is no worse than the allowed regression:
    /// how sure the regression is, for comparing findings over time.
    pub severity: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub recommendation: Verdict,
    pub variant: Option<String>,
    pub days_remaining: Option<f64>,
    pub reasons: Vec<String>,
    /// Units per arm the test is sized for (MDE, α, power, the control's baseline).
    pub planned_units_per_arm: Option<u64>,
    pub arms: Vec<ArmVerdict>,
    pub guardrails: Vec<GuardrailVerdict>,
}

fn pct(x: f64) -> String {
    format!("{:+.2}%", 100.0 * x)
}

fn bad(field: &str, message: &str) -> InputError {
    InputError {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// The recommendation, or the input field that makes one impossible.
pub fn recommend(input: &RecommendInput) -> Result<Recommendation, InputError> {
    let d = &input.decision;
    d.check()
        .map_err(|e| bad(&format!("decision.{}", e.field), e.message))?;
    if !(input.days_running >= 0.0 && input.days_running.is_finite()) {
        return Err(bad("days_running", "must be a number >= 0"));
    }
    if !(input.daily_units >= 0.0 && input.daily_units.is_finite()) {
        return Err(bad("daily_units", "must be a number >= 0"));
    }
    let primary = AnalysisInput {
        alpha: d.alpha,
        ..input.primary.clone()
    };
    let out = analyze(&primary)?;
    let control = primary.control_index;
    let units: Vec<u64> = primary.variants.iter().map(|v| v.n).collect();
    let planned = planned_units(&primary, d);
    let arms = arm_verdicts(&primary, &out, d, planned);
    let guardrails = guardrail_verdicts(input, control)?;

    let mut reasons = Vec::new();
    let min_units = units.iter().copied().min().unwrap_or(0);
    let runtime_met = input.days_running >= d.min_runtime_days;
    let units_met = min_units >= d.min_units_per_arm;
    reasons.push(format!(
        "ran {:.1} of at least {} days; smallest arm {} of at least {} units",
        input.days_running, d.min_runtime_days, min_units, d.min_units_per_arm
    ));
    // A winner waits only for the minimums; otherwise the test also needs its planned units.
    let to_minimums = days_remaining(input, &units, None);
    let to_plan = days_remaining(input, &units, planned);
    let answer = |verdict, variant: Option<String>, days, reasons| Recommendation {
        recommendation: verdict,
        variant,
        days_remaining: days,
        reasons,
        planned_units_per_arm: planned,
        arms: arms.clone(),
        guardrails: guardrails.clone(),
    };

    if let Some(g) = guardrails.iter().find(|g| g.regressed) {
        reasons.push(format!(
            "guardrail `{}` regressed for `{}`: {} (one-sided interval {} to {}) against at most {} allowed",
            g.key,
            g.variant,
            pct(g.lift),
            pct(g.ci[0]),
            pct(g.ci[1]),
            pct(-g.max_regression)
        ));
        return Ok(answer(
            Verdict::StopGuardrail,
            Some(g.variant.clone()),
            None,
            reasons,
        ));
    }
    for a in &arms {
        if let (Some(l), Some(ci)) = (a.lift, a.ci) {
            reasons.push(format!(
                "`{}`: lift {} (sequential {:.0}% interval {} to {}){}",
                a.variant,
                pct(l),
                100.0 * (1.0 - d.alpha),
                pct(ci[0]),
                pct(ci[1]),
                if a.significant {
                    ", significant"
                } else if a.futile {
                    ", futile"
                } else {
                    ""
                }
            ));
        }
    }
    let winner = arms
        .iter()
        .filter(|a| a.significant)
        .max_by(|a, b| a.lift.unwrap_or(0.0).total_cmp(&b.lift.unwrap_or(0.0)));
    if let Some(w) = winner {
        if runtime_met && units_met {
            return Ok(answer(
                Verdict::Ship,
                Some(w.variant.clone()),
                None,
                reasons,
            ));
        }
        reasons.push(format!(
            "`{}` leads significantly, but the minimum runtime or units are not reached",
            w.variant
        ));
        return Ok(answer(Verdict::KeepRunning, None, to_minimums, reasons));
    }
    if runtime_met && units_met && !arms.is_empty() && arms.iter().all(|a| a.futile) {
        reasons.push(format!(
            "no variant can reach a lift of {} (or its conditional power is below {:.0}%)",
            pct(d.mde),
            100.0 * FUTILE_POWER
        ));
        return Ok(answer(Verdict::StopNoWinner, None, None, reasons));
    }
    Ok(answer(Verdict::KeepRunning, None, to_plan, reasons))
}

/// Units per arm to detect the MDE at α and power, from the control's baseline.
fn planned_units(input: &AnalysisInput, d: &DecisionSettings) -> Option<u64> {
    let c = input.variants.get(input.control_index)?;
    if c.n == 0 {
        return None;
    }
    let n = c.n as f64;
    let (baseline, stddev) = match input.metric_type {
        MetricType::Binomial => (c.conversions? as f64 / n, None),
        MetricType::Mean => {
            let mean = c.sum? / n;
            let var = (c.sum_squares? - n * mean * mean) / (n - 1.0).max(1.0);
            (mean, Some(var.max(0.0).sqrt()))
        }
        // A quantile is not sized here: no plan, so only the interval decides.
        MetricType::Quantile => return None,
        // The delta method's per-unit variance of the ratio, sized like a mean.
        MetricType::Ratio => {
            let m = Moments::Ratio {
                n,
                m_sum: c.numerator_sum?,
                m_sum_squares: c.numerator_sum_squares?,
                d_sum: c.denominator_sum?,
                d_sum_squares: c.denominator_sum_squares?,
                md_sum_product: c.numerator_denominator_sum_product?,
            };
            (m.mean(), Some(m.variance().max(0.0).sqrt()))
        }
    };
    let out = sample_size(&PowerInput {
        baseline,
        mde: d.mde,
        alpha: d.alpha,
        power: d.power,
        stddev,
        daily_traffic: None,
        coverage: 1.0,
        arms: u32::try_from(input.variants.len()).ok()?,
    })
    .ok()?;
    Some(out.n_per_arm_ceil)
}

fn arm_verdicts(
    input: &AnalysisInput,
    out: &AnalysisOutput,
    d: &DecisionSettings,
    planned: Option<u64>,
) -> Vec<ArmVerdict> {
    let z = norm_isf(0.5 * d.alpha);
    out.comparisons
        .iter()
        .map(|c| {
            let units = input
                .variants
                .iter()
                .find(|v| v.name == c.variant)
                .map_or(0, |v| v.n);
            let seq = c.sequential.relative.value();
            let fixed = c.frequentist.relative.value();
            let significant = seq.is_some_and(|e| e.ci[0] > 0.0);
            // Conditional power under the current trend (B-value): with information
            // fraction t and the fixed-horizon z, CP = Φ((z_t/√t − z_{α/2}) / √(1 − t)).
            let control = input.variants.get(input.control_index).map_or(0, |v| v.n);
            let conditional_power = match (fixed, planned) {
                (Some(e), Some(p)) if p > 0 && e.std_error > 0.0 => {
                    let zt = e.estimate / e.std_error;
                    let t = (units.min(control) as f64 / p as f64).min(1.0);
                    Some(if t >= 1.0 {
                        if zt > z {
                            1.0
                        } else {
                            0.0
                        }
                    } else if t <= 0.0 {
                        1.0
                    } else {
                        norm_cdf((zt / t.sqrt() - z) / (1.0 - t).sqrt())
                    })
                }
                _ => None,
            };
            let futile = !significant
                && (seq.is_some_and(|e| e.ci[1] < d.mde)
                    || conditional_power.is_some_and(|p| p < FUTILE_POWER));
            ArmVerdict {
                variant: c.variant.clone(),
                units,
                lift: seq.map(|e| e.estimate),
                ci: seq.map(|e| e.ci),
                significant,
                futile,
                conditional_power,
            }
        })
        .collect()
}

fn guardrail_verdicts(
    input: &RecommendInput,
    control: usize,
) -> Result<Vec<GuardrailVerdict>, InputError> {
    let d = &input.decision;
    let mut verdicts = Vec::new();
    for (i, g) in input.guardrails.iter().enumerate() {
        let max_regression = g
            .max_regression
            .unwrap_or_else(|| d.max_regression_of(&g.key));
        if !(0.0..=10.0).contains(&max_regression) {
            return Err(bad(
                &format!("guardrails[{i}].max_regression"),
                "must be a relative drop in [0, 10]",
            ));
        }
        let analysis = AnalysisInput {
            metric_type: g.metric_type,
            alpha: 2.0 * d.alpha,
            expected_weights: input.primary.expected_weights.clone(),
            sequential_tuning_parameter: input.primary.sequential_tuning_parameter,
            control_index: control,
            prior: None,
            correction: None,
            variants: g.variants.clone(),
        };
        let out = analyze(&analysis).map_err(|e| InputError {
            field: format!("guardrails[{i}].{}", e.field),
            message: e.message,
        })?;
        for c in &out.comparisons {
            let (Some(seq), Some(fixed)) = (
                c.sequential.relative.value(),
                c.frequentist.relative.value(),
            ) else {
                continue;
            };
            // Distance past the allowed regression, in the direction that hurts.
            let (regressed, beyond) = if g.higher_is_better {
                (
                    seq.ci[1] < -max_regression,
                    -fixed.estimate - max_regression,
                )
            } else {
                (seq.ci[0] > max_regression, fixed.estimate - max_regression)
            };
            let p = if fixed.std_error > 0.0 {
                1.0 - norm_cdf(beyond / fixed.std_error)
            } else {
                1.0
            };
            verdicts.push(GuardrailVerdict {
                key: g.key.clone(),
                variant: c.variant.clone(),
                lift: seq.estimate,
                ci: seq.ci,
                max_regression,
                regressed,
                severity: -p.max(1e-300).log10(),
            });
        }
    }
    Ok(verdicts)
}

/// Days until the minimum runtime is reached and every arm has the minimum units (and the
/// `planned` units, if given), at the observed daily traffic split by the arms' weights;
/// `None` without traffic to get there.
fn days_remaining(input: &RecommendInput, units: &[u64], planned: Option<u64>) -> Option<f64> {
    let d = &input.decision;
    let runtime = (d.min_runtime_days - input.days_running).max(0.0);
    let target = planned.unwrap_or(0).max(d.min_units_per_arm);
    let weights: Vec<f64> = match &input.primary.expected_weights {
        Some(w) if w.len() == units.len() => w.clone(),
        _ => vec![1.0; units.len()],
    };
    let total: f64 = weights.iter().sum();
    let mut days = runtime;
    for (n, w) in units.iter().zip(&weights) {
        if *n < target {
            let per_day = input.daily_units * w / total;
            if per_day.is_nan() || per_day <= 0.0 {
                return None;
            }
            days = days.max((target - n) as f64 / per_day);
        }
    }
    Some(days)
}
