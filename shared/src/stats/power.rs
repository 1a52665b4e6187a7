//! Sample size before a test starts. For a conversion rate: the classic two-sided two-proportion
//! formula with the null's pooled variance (Fleiss, Levin & Paik, no continuity correction),
//!   n = (z₁₋α/₂ √(2 p̄ q̄) + z₁₋β √(p₁q₁ + p₂q₂))² / (p₂ − p₁)²,  p̄ = (p₁ + p₂)/2;
//! for a mean with standard deviation σ: n = 2σ²(z₁₋α/₂ + z₁₋β)²/δ². The minimum detectable
//! effect is relative (p₂ = p₁(1 + mde), δ = mean · mde). Duration follows from the daily
//! traffic that enters the test (traffic × coverage) split over all arms.

use serde::Serialize;

use super::special::norm_isf;

/// What to size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerInput {
    /// Baseline conversion rate, or the baseline mean when `stddev` is given.
    pub baseline: f64,
    /// Relative minimum detectable effect (0.05 = +5%); negative detects a drop.
    pub mde: f64,
    pub alpha: f64,
    pub power: f64,
    /// Per-unit standard deviation: makes this a mean metric.
    pub stddev: Option<f64>,
    /// Units per day reaching the experiment's pages, and the share of them the test takes.
    pub daily_traffic: Option<f64>,
    pub coverage: f64,
    /// Number of arms, control included.
    pub arms: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PowerOutput {
    pub n_per_arm: f64,
    pub n_per_arm_ceil: u64,
    pub n_total: u64,
    /// The variant's expected value under the alternative.
    pub target: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_ceil: Option<u64>,
}

/// An input the formula cannot use; the message names the argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PowerError {
    pub field: &'static str,
    pub message: &'static str,
}

fn bad(field: &'static str, message: &'static str) -> PowerError {
    PowerError { field, message }
}

pub fn sample_size(input: &PowerInput) -> Result<PowerOutput, PowerError> {
    let PowerInput {
        baseline,
        mde,
        alpha,
        power,
        ..
    } = *input;
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(bad("alpha", "must be between 0 and 1"));
    }
    if !(power > 0.0 && power < 1.0) {
        return Err(bad("power", "must be between 0 and 1"));
    }
    if !(mde.is_finite() && mde != 0.0) {
        return Err(bad("mde", "must be a non-zero number"));
    }
    if input.arms < 2 {
        return Err(bad("arms", "must be at least 2"));
    }
    let z_alpha = norm_isf(0.5 * alpha);
    let z_beta = norm_isf(1.0 - power);
    let target = baseline * (1.0 + mde);
    let n = match input.stddev {
        None => {
            if !(baseline > 0.0 && baseline < 1.0) {
                return Err(bad("baseline", "must be a rate between 0 and 1"));
            }
            if !(target > 0.0 && target < 1.0) {
                return Err(bad("mde", "moves the rate outside 0..1"));
            }
            let (p1, p2) = (baseline, target);
            let pbar = 0.5 * (p1 + p2);
            let num = z_alpha * (2.0 * pbar * (1.0 - pbar)).sqrt()
                + z_beta * (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt();
            num.powi(2) / (p2 - p1).powi(2)
        }
        Some(sd) => {
            if !(sd > 0.0 && sd.is_finite()) {
                return Err(bad("stddev", "must be positive"));
            }
            if !(baseline.is_finite() && baseline != 0.0) {
                return Err(bad("baseline", "must be a non-zero mean"));
            }
            let delta = baseline * mde;
            2.0 * sd.powi(2) * (z_alpha + z_beta).powi(2) / delta.powi(2)
        }
    };
    if !n.is_finite() {
        return Err(bad("mde", "too small: the sample size overflows"));
    }
    let n_ceil = n.ceil() as u64;
    let n_total = n_ceil.saturating_mul(u64::from(input.arms));
    let days = match input.daily_traffic {
        None => None,
        Some(traffic) => {
            if !(traffic > 0.0 && traffic.is_finite()) {
                return Err(bad("daily_traffic", "must be positive"));
            }
            if !(input.coverage > 0.0 && input.coverage <= 1.0) {
                return Err(bad("coverage", "must be in (0, 1]"));
            }
            Some(n_total as f64 / (traffic * input.coverage))
        }
    };
    Ok(PowerOutput {
        n_per_arm: n,
        n_per_arm_ceil: n_ceil,
        n_total,
        target,
        days,
        days_ceil: days.map(|d| d.ceil() as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(baseline: f64, mde: f64) -> PowerInput {
        PowerInput {
            baseline,
            mde,
            alpha: 0.05,
            power: 0.8,
            stddev: None,
            daily_traffic: Some(10_000.0),
            coverage: 0.5,
            arms: 2,
        }
    }

    #[test]
    fn smaller_effects_need_more_units_and_more_days() {
        let big = sample_size(&input(0.1, 0.2)).unwrap();
        let small = sample_size(&input(0.1, 0.05)).unwrap();
        assert!(small.n_per_arm > big.n_per_arm);
        assert!(small.days.unwrap() > big.days.unwrap());
        // Duration: both arms' units at 5,000 test units a day.
        assert_eq!(big.days.unwrap(), big.n_total as f64 / 5_000.0);
    }

    #[test]
    fn impossible_inputs_name_the_argument() {
        assert_eq!(sample_size(&input(1.5, 0.1)).unwrap_err().field, "baseline");
        assert_eq!(sample_size(&input(0.9, 0.2)).unwrap_err().field, "mde");
        assert_eq!(sample_size(&input(0.1, 0.0)).unwrap_err().field, "mde");
    }
}
