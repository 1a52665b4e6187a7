//! Frequentist comparisons of one variant against control: gbstats 0.8.0's `TwoSidedTTest`
//! (Welch's unequal-variance t-test, Welch–Satterthwaite degrees of freedom) and
//! `SequentialTwoSidedTTest` (the asymptotic confidence sequence of Waudby-Smith et al. 2023,
//! eqs. 9, 155 and 161 of arXiv:2103.06476v7), on the absolute difference or the relative lift.
//!
//! The relative lift (ȳ_b − ȳ_a)/ȳ_a gets its variance by the delta method,
//! var_b/(ȳ_a² n_b) + var_a ȳ_b²/(ȳ_a⁴ n_a), using unadjusted means (CUPED changes only the
//! numerator). Formulas are in gbstats' order of operations so results agree to the last bits;
//! only the t tail and quantile differ, being computed accurately (see [`super::special`]).

use super::special::{t_isf, t_isf_given_normal, t_sf};
use super::statistic::ArmStatistic;
use super::{Difference, Effects, Estimate, Outcome, Refusal};

/// Point estimate and its variance, shared by every method. `None` plus a reason when gbstats
/// refuses: a zero control mean (the lift is undefined) or a zero or negative variance (the
/// test statistic is undefined).
pub(crate) fn effect(
    a: &ArmStatistic,
    b: &ArmStatistic,
    difference: Difference,
) -> Result<(f64, f64), Refusal> {
    if a.mean() == 0.0 || a.unadjusted_mean() == 0.0 {
        return Err(Refusal::ZeroControlMean);
    }
    if a.has_zero_variance() || b.has_zero_variance() {
        return Err(Refusal::ZeroVariance);
    }
    Ok((
        point_estimate(a, b, difference),
        effect_variance(a, b, difference),
    ))
}

pub(crate) fn point_estimate(a: &ArmStatistic, b: &ArmStatistic, difference: Difference) -> f64 {
    match difference {
        Difference::Relative => (b.mean() - a.mean()) / a.unadjusted_mean(),
        Difference::Absolute => b.mean() - a.mean(),
    }
}

pub(crate) fn effect_variance(a: &ArmStatistic, b: &ArmStatistic, difference: Difference) -> f64 {
    let (var_a, mean_a, n_a) = (a.variance(), a.unadjusted_mean(), a.n());
    let (var_b, mean_b, n_b) = (b.variance(), b.unadjusted_mean(), b.n());
    match difference {
        Difference::Relative => {
            var_b / (mean_a.powi(2) * n_b) + var_a * mean_b.powi(2) / (mean_a.powi(4) * n_a)
        }
        Difference::Absolute => var_b / n_b + var_a / n_a,
    }
}

/// Welch–Satterthwaite degrees of freedom. Both variances are positive and both n > 1 here
/// (a one-unit arm has variance 0 and was refused).
fn welch_df(a: &ArmStatistic, b: &ArmStatistic) -> f64 {
    let (va, na, vb, nb) = (a.variance(), a.n(), b.variance(), b.n());
    (vb / nb + va / na).powi(2)
        / (vb.powi(2) / (nb.powi(2) * (nb - 1.0)) + va.powi(2) / (na.powi(2) * (na - 1.0)))
}

/// Two-sided Welch t-test at level `alpha`.
pub fn t_test(
    a: &ArmStatistic,
    b: &ArmStatistic,
    difference: Difference,
    alpha: f64,
) -> Outcome<Estimate> {
    let critical = |df: f64| t_isf(0.5 * alpha, df);
    t_test_with(a, b, difference, &critical)
}

/// Both effect types of the t-test, sharing the degrees of freedom and the critical value
/// (the costly part); `z_half = norm_isf(alpha / 2)` is computed once per analysis.
pub(crate) fn t_tests(
    a: &ArmStatistic,
    b: &ArmStatistic,
    alpha: f64,
    z_half: f64,
) -> Effects<Estimate> {
    let cached = std::cell::Cell::new(None);
    let critical = |df: f64| match cached.get() {
        Some(t) => t,
        None => {
            let t = t_isf_given_normal(0.5 * alpha, z_half, df);
            cached.set(Some(t));
            t
        }
    };
    Effects {
        relative: t_test_with(a, b, Difference::Relative, &critical),
        absolute: t_test_with(a, b, Difference::Absolute, &critical),
    }
}

fn t_test_with(
    a: &ArmStatistic,
    b: &ArmStatistic,
    difference: Difference,
    critical: &dyn Fn(f64) -> f64,
) -> Outcome<Estimate> {
    let (estimate, variance) = match effect(a, b, difference) {
        Ok(v) => v,
        Err(reason) => return Outcome::refused(reason),
    };
    let df = welch_df(a, b);
    let se = variance.sqrt();
    let z = estimate / se;
    // gbstats: 2 * (1 - t.cdf(|z|)); the tail keeps small p-values' digits.
    let p_value = (2.0 * t_sf(z.abs(), df)).min(1.0);
    let width = critical(df) * se;
    Outcome::checked(Estimate {
        estimate,
        ci: [estimate - width, estimate + width],
        p_value,
        std_error: se,
        p_value_adjusted: None,
    })
}

/// gbstats' sequential test: an always-valid confidence sequence and p-value, tuned by
/// `tuning` (the sample size where the sequence is tightest; gbstats' default is 5,000).
pub fn sequential_test(
    a: &ArmStatistic,
    b: &ArmStatistic,
    difference: Difference,
    alpha: f64,
    tuning: f64,
) -> Outcome<Estimate> {
    let (estimate, variance) = match effect(a, b, difference) {
        Ok(v) => v,
        Err(reason) => return Outcome::refused(reason),
    };
    let n = a.n() + b.n();
    let rho = ((-2.0 * alpha.ln() + (-2.0 * alpha.ln() + 1.0).ln()) / tuning).sqrt();
    let s2 = variance * n;
    let n_rho2_1 = n * rho.powi(2) + 1.0;
    let width = s2.sqrt()
        * ((2.0 * n_rho2_1) * ((n_rho2_1.sqrt() / alpha).ln()) / (n * rho).powi(2)).sqrt();
    let st2 = estimate.powi(2) * n / variance;
    // p = min(1/e, 1) with e = exp(ρ² st²/(2(Nρ²+1)))/√(Nρ²+1); in logs so a huge e-value
    // gives p = 0 rather than 1/inf.
    let ln_evalue = rho.powi(2) * st2 / (2.0 * n_rho2_1) - 0.5 * n_rho2_1.ln();
    let p_value = (-ln_evalue).exp().min(1.0);
    Outcome::checked(Estimate {
        estimate,
        ci: [estimate - width, estimate + width],
        p_value,
        std_error: variance.sqrt(),
        p_value_adjusted: None,
    })
}
