//! Thompson sampling's traffic split: each arm's probability of being the best under its
//! posterior, then a floor per arm.
//!
//! The probability that arm `i` is best is `∫ f_i(x) Π_{j≠i} F_j(x) dx` for independent
//! posteriors with densities `f` and distribution functions `F`. For the Beta and normal
//! posteriors used here both are known in closed form, so the integral is computed by
//! quadrature rather than estimated from random draws: the same input gives the same weights
//! on every machine, far more precisely than the 0.001 a Monte Carlo estimate would need
//! hundreds of thousands of draws for.

use statrs::distribution::{Beta, Continuous, ContinuousCDF};

use statrs::function::erf::erfc;

use crate::stats::special::norm_pdf;
use crate::BUCKETS;

/// An arm's posterior for its metric's mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Posterior {
    /// A conversion rate: `Beta(1 + conversions, 1 + units − conversions)`.
    Beta { a: f64, b: f64 },
    /// A mean (or a period-weighted rate): `Normal(mean, sd²)`.
    Normal { mean: f64, sd: f64 },
}

/// Grid points per arm on each side of its mean (its `±10 sd` in steps of `sd / 6.4`).
const HALF_POINTS: usize = 64;
/// How far either side of its mean an arm's posterior is integrated, in standard deviations.
const REACH: f64 = 10.0;

impl Posterior {
    fn mean_sd(&self) -> (f64, f64) {
        match *self {
            Posterior::Beta { a, b } => {
                let s = a + b;
                (a / s, (a * b / (s * s * (s + 1.0))).sqrt())
            }
            Posterior::Normal { mean, sd } => (mean, sd),
        }
    }

    /// A degenerate posterior (sd 0: say no conversions yet under a normal model) is read
    /// as a very narrow one, so the quadrature still resolves it.
    fn sd_floor(mean: f64, sd: f64) -> f64 {
        sd.max(1e-9 * (1.0 + mean.abs()))
    }
}

/// Density and distribution function of one posterior, ready to evaluate.
enum Curve {
    Beta(Beta),
    Normal { mean: f64, sd: f64 },
}

impl Curve {
    fn new(p: &Posterior) -> Option<Curve> {
        match *p {
            Posterior::Beta { a, b } => Beta::new(a, b).ok().map(Curve::Beta),
            Posterior::Normal { mean, sd } if mean.is_finite() && sd.is_finite() => {
                Some(Curve::Normal {
                    mean,
                    sd: Posterior::sd_floor(mean, sd),
                })
            }
            Posterior::Normal { .. } => None,
        }
    }

    fn pdf_cdf(&self, x: f64) -> (f64, f64) {
        match self {
            Curve::Beta(b) if (0.0..=1.0).contains(&x) => (b.pdf(x), b.cdf(x)),
            Curve::Beta(_) => (0.0, if x > 1.0 { 1.0 } else { 0.0 }),
            Curve::Normal { mean, sd } => {
                let z = (x - mean) / sd;
                // Past 8.3 sd the distribution function is 1 to double precision, and past
                // 38.5 the density underflows: skip the costly evaluations there.
                match z {
                    z if z > 38.5 => (0.0, 1.0),
                    z if z > 8.3 => (norm_pdf(z) / sd, 1.0),
                    z if z < -38.5 => (0.0, 0.0),
                    // statrs's rational erfc: as accurate here as the continued fraction the
                    // gbstats-exact statistics use, and many times faster.
                    z => (norm_pdf(z) / sd, 0.5 * erfc(-z / std::f64::consts::SQRT_2)),
                }
            }
        }
    }
}

/// Each arm's probability of being the best (highest mean); they sum to 1. `None` when a
/// posterior is not a proper distribution (a non-positive Beta parameter, a non-finite mean).
pub fn probability_best(posteriors: &[Posterior]) -> Option<Vec<f64>> {
    let curves: Vec<Curve> = posteriors.iter().map(Curve::new).collect::<Option<_>>()?;
    let k = curves.len();
    if k == 0 {
        return None;
    }
    if k == 1 {
        return Some(vec![1.0]);
    }
    // One grid per arm, fine where that arm's density lives; merged, they resolve every
    // arm's density and every steep distribution function the integrands multiply.
    let mut xs = Vec::with_capacity(k * (2 * HALF_POINTS + 1));
    for p in posteriors {
        let (mean, sd) = p.mean_sd();
        let sd = Posterior::sd_floor(mean, sd);
        let step = REACH * sd / HALF_POINTS as f64;
        for i in 0..=2 * HALF_POINTS {
            let x = mean + (i as f64 - HALF_POINTS as f64) * step;
            match p {
                Posterior::Beta { .. } => xs.push(x.clamp(0.0, 1.0)),
                Posterior::Normal { .. } => xs.push(x),
            }
        }
    }
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    // Trapezoids over the merged grid.
    let mut totals = vec![0.0; k];
    let mut previous: Option<(f64, Vec<f64>)> = None;
    let mut pdf = vec![0.0; k];
    let mut cdf = vec![0.0; k];
    for &x in &xs {
        for (j, c) in curves.iter().enumerate() {
            (pdf[j], cdf[j]) = c.pdf_cdf(x);
        }
        let integrand: Vec<f64> = (0..k)
            .map(|i| {
                let others: f64 = (0..k).filter(|&j| j != i).map(|j| cdf[j]).product();
                pdf[i] * others
            })
            .collect();
        if let Some((x0, f0)) = &previous {
            let h = x - x0;
            for i in 0..k {
                totals[i] += 0.5 * h * (f0[i] + integrand[i]);
            }
        }
        previous = Some((x, integrand));
    }
    let sum: f64 = totals.iter().map(|t| t.max(0.0)).sum();
    if !(sum > 0.0 && sum.is_finite()) {
        return None;
    }
    Some(totals.iter().map(|t| t.max(0.0) / sum).collect())
}

/// The traffic split from probabilities of being best: every arm gets at least `floor`, the
/// rest is shared in proportion to the probabilities, and the result is whole buckets (each
/// weight a multiple of 1/10000, so the edge's bucket ranges hold exactly these shares and
/// the floor survives rounding). `floor × arms` must be at most 1.
pub fn apply_floor(probabilities: &[f64], floor: f64) -> Vec<f64> {
    let k = probabilities.len();
    if k == 0 {
        return Vec::new();
    }
    let total = f64::from(BUCKETS);
    let min_buckets = (floor.max(0.0) * total - 1e-9).ceil().max(0.0) as u64;
    if min_buckets * k as u64 >= u64::from(BUCKETS) {
        return vec![1.0 / k as f64; k];
    }
    // Water-filling: arms below the floor are raised to it, the others scaled to what is left.
    let mut pinned = vec![false; k];
    let mut shares = probabilities.to_vec();
    loop {
        let free = 1.0 - floor * pinned.iter().filter(|p| **p).count() as f64;
        let mass: f64 = (0..k)
            .filter(|&i| !pinned[i])
            .map(|i| probabilities[i])
            .sum();
        let unpinned = pinned.iter().filter(|p| !**p).count() as f64;
        for i in 0..k {
            shares[i] = if pinned[i] {
                floor
            } else if mass > 0.0 {
                probabilities[i] * free / mass
            } else {
                free / unpinned
            };
        }
        let low: Vec<usize> = (0..k)
            .filter(|&i| !pinned[i] && shares[i] < floor)
            .collect();
        if low.is_empty() {
            break;
        }
        for i in low {
            pinned[i] = true;
        }
    }
    // Whole buckets by largest remainder, never below the floor's buckets.
    let exact: Vec<f64> = shares.iter().map(|s| s * total).collect();
    let mut buckets: Vec<u64> = exact
        .iter()
        .map(|x| (x.floor() as u64).max(min_buckets))
        .collect();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let target = u64::from(BUCKETS);
    let mut assigned: u64 = buckets.iter().sum();
    let mut turn = 0;
    while assigned < target {
        buckets[order[turn % k]] += 1;
        assigned += 1;
        turn += 1;
    }
    while assigned > target {
        // Take from the largest arm that stays above the floor.
        let Some(i) = (0..k)
            .filter(|&i| buckets[i] > min_buckets)
            .max_by_key(|&i| buckets[i])
        else {
            break;
        };
        buckets[i] -= 1;
        assigned -= 1;
    }
    buckets.iter().map(|&b| b as f64 / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn two_normals_match_the_closed_form() {
        // P(B > A) = Φ((μB − μA) / √(σA² + σB²)).
        let (a, b) = ((0.10, 0.004), (0.11, 0.003));
        let p = probability_best(&[
            Posterior::Normal { mean: a.0, sd: a.1 },
            Posterior::Normal { mean: b.0, sd: b.1 },
        ])
        .unwrap();
        let exact = crate::stats::special::norm_cdf((b.0 - a.0) / (a.1 * a.1 + b.1 * b.1).sqrt());
        assert!(close(p[1], exact, 1e-6), "{} vs {exact}", p[1]);
        assert!(close(p[0] + p[1], 1.0, 1e-12));
    }

    #[test]
    fn two_betas_match_the_closed_form() {
        // Evan Miller's exact sum: P(B > A) = Σ_{i<αB} B(αA+i, βA+βB) / ((βB+i) B(1+i, βB) B(αA, βA)).
        let (aa, ba, ab, bb) = (13.0_f64, 90.0_f64, 21.0_f64, 85.0_f64);
        let lnb = |x: f64, y: f64| {
            statrs::function::gamma::ln_gamma(x) + statrs::function::gamma::ln_gamma(y)
                - statrs::function::gamma::ln_gamma(x + y)
        };
        let exact: f64 = (0..ab as u64)
            .map(|i| {
                let i = i as f64;
                (lnb(aa + i, ba + bb) - (bb + i).ln() - lnb(1.0 + i, bb) - lnb(aa, ba)).exp()
            })
            .sum();
        let p = probability_best(&[
            Posterior::Beta { a: aa, b: ba },
            Posterior::Beta { a: ab, b: bb },
        ])
        .unwrap();
        assert!(close(p[1], exact, 1e-6), "{} vs {exact}", p[1]);
    }

    #[test]
    fn identical_arms_share_equally_and_a_narrow_arm_is_resolved() {
        let same = Posterior::Normal { mean: 1.0, sd: 0.2 };
        let p = probability_best(&[same, same, same]).unwrap();
        for x in &p {
            assert!(close(*x, 1.0 / 3.0, 1e-6), "{p:?}");
        }
        // One arm a hundred times narrower than the others, at the same mean: by symmetry
        // the wide arms split the chance of being best, the narrow one has 1/4
        // (P(both wide below it) = 1/2 · 1/2).
        let wide = Posterior::Normal { mean: 0.0, sd: 1.0 };
        let narrow = Posterior::Normal {
            mean: 0.0,
            sd: 0.01,
        };
        let p = probability_best(&[wide, narrow, wide]).unwrap();
        assert!(close(p[1], 0.25, 1e-3), "{p:?}");
        assert!(close(p[0], p[2], 1e-9), "{p:?}");
    }

    #[test]
    fn improper_posteriors_are_refused() {
        assert!(probability_best(&[Posterior::Beta { a: 0.0, b: 1.0 }]).is_none());
        assert!(probability_best(&[
            Posterior::Normal {
                mean: f64::NAN,
                sd: 1.0
            },
            Posterior::Normal { mean: 0.0, sd: 1.0 },
        ])
        .is_none());
    }

    #[test]
    fn the_floor_holds_after_rounding_and_weights_are_whole_buckets() {
        let w = apply_floor(&[0.0, 0.0005, 0.9995], 0.01);
        assert_eq!(w, vec![0.01, 0.01, 0.98]);
        let w = apply_floor(&[0.2, 0.3, 0.5], 0.01);
        assert_eq!(w, vec![0.2, 0.3, 0.5]);
        let w = apply_floor(&[1.0 / 3.0; 3], 0.05);
        assert!(close(w.iter().sum::<f64>(), 1.0, 1e-12), "{w:?}");
        for x in &w {
            assert_eq!((x * 10_000.0).round() / 10_000.0, *x);
        }
        // A floor that takes everything splits evenly.
        assert_eq!(apply_floor(&[0.9, 0.1], 0.5), vec![0.5, 0.5]);
    }

    #[test]
    fn the_floor_redistributes_in_proportion() {
        // 0.004 goes up to 0.05; the others share 0.95 in proportion 0.496 : 0.5.
        let w = apply_floor(&[0.004, 0.496, 0.5], 0.05);
        assert_eq!(w[0], 0.05);
        assert!(close(w[1], 0.95 * 0.496 / 0.996, 1e-4), "{w:?}");
        assert!(close(w[1] + w[2], 0.95, 1e-12), "{w:?}");
    }
}
