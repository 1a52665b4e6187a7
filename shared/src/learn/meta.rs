//! Random-effects meta-analysis of past tests' lifts: DerSimonian–Laird and Paule–Mandel
//! estimates of the mean effect μ and the between-test variance τ², Cochran's Q and I², and
//! each test's shrunken (posterior) estimate.
//!
//! Inputs are `(lift, se)` pairs already checked (finite, se > 0).

use serde::Serialize;

use crate::stats::special::chi2_sf;

/// Which estimator of τ² was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Estimator {
    /// DerSimonian–Laird: the method of moments on Cochran's Q.
    Dl,
    /// Paule–Mandel: τ² such that the generalised Q equals its degrees of freedom.
    Pm,
}

/// A pool's random-effects estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pooled {
    pub mu: f64,
    /// Standard error of `mu`.
    pub se: f64,
    pub tau2: f64,
    pub n_tests: usize,
    pub estimator: Estimator,
}

/// Cochran's Q of a pool and what it says.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Heterogeneity {
    pub q: f64,
    pub df: usize,
    pub p_value: f64,
    /// Share of the variation between tests beyond chance: `max(0, (Q − df) / Q)`.
    pub i2: f64,
}

/// The inverse-variance weighted mean with weights `1 / (se² + tau2)`, and its standard error.
fn weighted(effects: &[(f64, f64)], tau2: f64) -> (f64, f64) {
    let (mut sw, mut swy) = (0.0, 0.0);
    for &(y, se) in effects {
        let w = 1.0 / (se * se + tau2);
        sw += w;
        swy += w * y;
    }
    (swy / sw, (1.0 / sw).sqrt())
}

/// Q at `tau2`: `Σ (y − μ)² / (se² + tau2)` around that weighting's mean.
fn q_at(effects: &[(f64, f64)], tau2: f64) -> f64 {
    let (mu, _) = weighted(effects, tau2);
    effects
        .iter()
        .map(|&(y, se)| (y - mu).powi(2) / (se * se + tau2))
        .sum()
}

/// Cochran's Q (fixed-effect weights) and I².
pub fn heterogeneity(effects: &[(f64, f64)]) -> Heterogeneity {
    let q = q_at(effects, 0.0);
    let df = effects.len().saturating_sub(1);
    Heterogeneity {
        q,
        df,
        p_value: if df > 0 { chi2_sf(q, df as u32) } else { 1.0 },
        i2: if q > 0.0 {
            ((q - df as f64) / q).max(0.0)
        } else {
            0.0
        },
    }
}

/// DerSimonian–Laird: `τ² = max(0, (Q − (k − 1)) / (Σw − Σw² / Σw))`.
pub fn dersimonian_laird(effects: &[(f64, f64)]) -> Option<Pooled> {
    let k = effects.len();
    if k == 0 {
        return None;
    }
    let w: Vec<f64> = effects.iter().map(|&(_, se)| 1.0 / (se * se)).collect();
    let sw: f64 = w.iter().sum();
    let sw2: f64 = w.iter().map(|x| x * x).sum();
    let q = q_at(effects, 0.0);
    let c = sw - sw2 / sw;
    let tau2 = if k > 1 && c > 0.0 {
        ((q - (k - 1) as f64) / c).max(0.0)
    } else {
        0.0
    };
    let (mu, se) = weighted(effects, tau2);
    Some(Pooled {
        mu,
        se,
        tau2,
        n_tests: k,
        estimator: Estimator::Dl,
    })
}

/// Paule–Mandel: the τ² ≥ 0 at which `Q(τ²) = k − 1` (`Q` falls as τ² grows), found by
/// bisection; 0 when even `Q(0) ≤ k − 1`.
pub fn paule_mandel(effects: &[(f64, f64)]) -> Option<Pooled> {
    let k = effects.len();
    if k == 0 {
        return None;
    }
    let target = (k - 1) as f64;
    let tau2 = if k < 2 || q_at(effects, 0.0) <= target {
        0.0
    } else {
        let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
        // The spread of the effects bounds τ²; grow the bracket until Q falls below the target.
        let mut grow = 0;
        while q_at(effects, hi) > target && grow < 200 {
            lo = hi;
            hi *= 4.0;
            grow += 1;
        }
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if q_at(effects, mid) > target {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo <= 1e-15 * hi.max(1e-300) {
                break;
            }
        }
        0.5 * (lo + hi)
    };
    let (mu, se) = weighted(effects, tau2);
    Some(Pooled {
        mu,
        se,
        tau2,
        n_tests: k,
        estimator: Estimator::Pm,
    })
}

/// The predictive distribution of a new test's true lift: a mixture over τ of
/// `N(μ(τ), τ² + var μ(τ))`, each τ weighted by its restricted (REML) likelihood under a flat
/// prior on τ. A point estimate of τ² ignores how uncertain τ² is in a pool of tens of tests
/// and makes predictive intervals too narrow (70% coverage for a nominal 80% in the tests'
/// simulation with DerSimonian–Laird's τ²); integrating over τ does not.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictive {
    /// `(weight, mean, variance)` per grid point of τ; weights sum to 1.
    pub parts: Vec<(f64, f64, f64)>,
}

/// Grid points of τ.
const TAU_GRID: usize = 200;

impl Predictive {
    /// `None` for fewer than two effects.
    pub fn new(effects: &[(f64, f64)]) -> Option<Predictive> {
        if effects.len() < 2 {
            return None;
        }
        let (lo, hi) = effects
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(y, _)| {
                (a.min(y), b.max(y))
            });
        let max_se = effects.iter().map(|e| e.1).fold(0.0, f64::max);
        // τ beyond the whole range of the lifts plus their largest error has no likelihood.
        let tau_max = 2.0 * ((hi - lo) + max_se);
        let mut parts = Vec::with_capacity(TAU_GRID);
        let mut best = f64::NEG_INFINITY;
        let mut logs = Vec::with_capacity(TAU_GRID);
        for g in 0..TAU_GRID {
            let tau = tau_max * (g as f64 + 0.5) / TAU_GRID as f64;
            let t2 = tau * tau;
            let (mu, se) = weighted(effects, t2);
            // −½ log Σ 1/v = ½ log var μ: the restricted likelihood's extra term.
            let mut log_l = 0.5 * (se * se).ln();
            for &(y, s) in effects {
                let v = s * s + t2;
                log_l += -0.5 * v.ln() - 0.5 * (y - mu).powi(2) / v;
            }
            best = best.max(log_l);
            logs.push(log_l);
            parts.push((0.0, mu, t2 + se * se));
        }
        let mut total = 0.0;
        for (p, l) in parts.iter_mut().zip(&logs) {
            p.0 = (l - best).exp();
            total += p.0;
        }
        for p in &mut parts {
            p.0 /= total;
        }
        // Points with no weight to speak of only cost time.
        parts.retain(|p| p.0 > 1e-12);
        Some(Predictive { parts })
    }

    pub fn mean(&self) -> f64 {
        self.parts.iter().map(|(w, m, _)| w * m).sum()
    }

    pub fn sd(&self) -> f64 {
        let m = self.mean();
        let second: f64 = self.parts.iter().map(|(w, mu, v)| w * (v + mu * mu)).sum();
        (second - m * m).max(0.0).sqrt()
    }

    /// P(true lift ≤ x).
    pub fn cdf(&self, x: f64) -> f64 {
        self.parts
            .iter()
            .map(|(w, m, v)| w * 0.5 * statrs::function::erf::erfc((m - x) / (2.0 * v).sqrt()))
            .sum()
    }

    /// The `q` quantile, by bisection on the mixture's distribution function.
    pub fn quantile(&self, q: f64) -> f64 {
        let (m, s) = (self.mean(), self.sd().max(1e-12));
        let (mut lo, mut hi) = (m - 50.0 * s, m + 50.0 * s);
        for _ in 0..64 {
            let mid = 0.5 * (lo + hi);
            if self.cdf(mid) < q {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }
}

/// One test's estimate shrunk toward the pool: the normal posterior of its true lift under
/// the prior `N(mu, tau2)`, `(lift, se)`. With `tau2 = 0` every test is the pool's mean.
pub fn shrink(lift: f64, se: f64, prior: &Pooled) -> (f64, f64) {
    if prior.tau2 <= 0.0 {
        return (prior.mu, prior.se);
    }
    let (a, b) = (1.0 / (se * se), 1.0 / prior.tau2);
    ((a * lift + b * prior.mu) / (a + b), (1.0 / (a + b)).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_effects_have_no_heterogeneity() {
        let e = [(0.1, 0.02), (0.1, 0.03), (0.1, 0.05)];
        let dl = dersimonian_laird(&e).unwrap();
        assert_eq!(dl.tau2, 0.0);
        assert!((dl.mu - 0.1).abs() < 1e-15);
        assert_eq!(paule_mandel(&e).unwrap().tau2, 0.0);
        assert_eq!(heterogeneity(&e).i2, 0.0);
    }

    #[test]
    fn paule_mandel_solves_its_equation() {
        let e = [
            (0.02, 0.01),
            (0.10, 0.02),
            (-0.05, 0.015),
            (0.20, 0.03),
            (0.0, 0.01),
        ];
        let pm = paule_mandel(&e).unwrap();
        assert!(pm.tau2 > 0.0);
        assert!((q_at(&e, pm.tau2) - 4.0).abs() < 1e-9);
    }

    #[test]
    fn shrinking_pulls_noisy_tests_further() {
        let prior = Pooled {
            mu: 0.0,
            se: 0.01,
            tau2: 0.01 * 0.01,
            n_tests: 10,
            estimator: Estimator::Dl,
        };
        let (precise, _) = shrink(0.05, 0.005, &prior);
        let (noisy, _) = shrink(0.05, 0.05, &prior);
        assert!(precise > noisy && noisy > 0.0 && precise < 0.05);
    }
}
