//! gbstats 0.8.0's `EffectBayesianABTest`: a Gaussian model on the effect (absolute difference
//! or relative lift). With the default flat prior the posterior is N(estimate, variance) from
//! the frequentist delta method; with a proper prior N(m, s²) on the relative lift (rescaled by
//! the control mean for the absolute difference) the two combine by precision weighting.
//!
//! Chance to win is P(effect > 0); the credible interval is the equal-tailed 1 − α interval;
//! risk is the expected loss of each choice: choosing control loses E[max(Δ, 0)], choosing the
//! variant loses E[max(−Δ, 0)]. gbstats forms these as P·truncated-normal-mean; the closed form
//! σ(φ(z) + zΦ(z)), z = μ/σ, is the same quantity without the 0·∞ of far tails.

use super::frequentist::{effect_variance, point_estimate};
use super::special::{norm_isf, norm_pdf, norm_sf};
use super::statistic::ArmStatistic;
use super::{BayesEstimate, Difference, Outcome, Prior, Refusal};

pub fn effect_test(
    a: &ArmStatistic,
    b: &ArmStatistic,
    difference: Difference,
    alpha: f64,
    prior: Option<&Prior>,
) -> Outcome<BayesEstimate> {
    effect_test_given_normal(a, b, difference, norm_isf(0.5 * alpha), prior)
}

/// [`effect_test`] with `z_half = norm_isf(alpha / 2)` computed once by the caller.
pub(crate) fn effect_test_given_normal(
    a: &ArmStatistic,
    b: &ArmStatistic,
    difference: Difference,
    z_half: f64,
    prior: Option<&Prior>,
) -> Outcome<BayesEstimate> {
    let control_mean = a.unadjusted_mean();
    let zero_control = a.mean() == 0.0 || control_mean == 0.0;
    // gbstats' order of checks: a zero control mean first for the lift; for the difference it
    // gets past the other checks and then raises while rescaling its (even improper) relative
    // prior by the control mean, which we report as the same refusal.
    if zero_control && difference == Difference::Relative {
        return Outcome::refused(Refusal::ZeroControlMean);
    }
    if a.n() == 0.0 || b.n() == 0.0 {
        return Outcome::refused(Refusal::NoUnits);
    }
    if a.has_zero_variance() || b.has_zero_variance() {
        return Outcome::refused(Refusal::ZeroVariance);
    }
    if control_mean == 0.0 {
        return Outcome::refused(Refusal::ZeroControlMean);
    }
    let data_variance = effect_variance(a, b, difference);
    let data_mean = point_estimate(a, b, difference);
    let (mean, std) = match prior {
        None => (data_mean, (1.0 / (1.0 / data_variance)).sqrt()),
        Some(p) => {
            let (prior_mean, prior_variance) = match difference {
                Difference::Relative => (p.mean, p.stddev.powi(2)),
                Difference::Absolute => (
                    p.mean * control_mean.abs(),
                    p.stddev.powi(2) * control_mean.powi(2),
                ),
            };
            let post_prec = 1.0 / data_variance + 1.0 / prior_variance;
            (
                (data_mean / data_variance + prior_mean / prior_variance) / post_prec,
                (1.0 / post_prec).sqrt(),
            )
        }
    };
    let z = mean / std;
    // One tail evaluation serves all three: s = P(Z > |z|) is accurate however small.
    let s = norm_sf(z.abs());
    let chance_to_win = if z >= 0.0 { 1.0 - s } else { s };
    // E[max(Z − |z|, 0)] = φ(z) − |z|·s is the smaller expected loss; the other is |z| more,
    // since E[max(X, 0)] − E[max(−X, 0)] = E[X].
    let small = (norm_pdf(z) - z.abs() * s).max(0.0);
    let large = small + z.abs();
    let (risk_control, risk_variant) = if z >= 0.0 {
        (large, small)
    } else {
        (small, large)
    };
    Outcome::checked(BayesEstimate {
        chance_to_win,
        ci: [mean - std * z_half, mean + std * z_half],
        risk: [std * risk_control, std * risk_variant],
        estimate: mean,
        std_error: std,
    })
}
