//! A mergeable quantile sketch of per-unit values, kept in the aggregates: logarithmic buckets
//! (DDSketch's mapping), each bucket holding its units and their values' sum and sum of
//! squares. A value's bucket is fixed by the value alone, so the buckets of any cells add up
//! (variants, segments, SQLite's files) and a unit whose value moves leaves one bucket for
//! another: ingestion and erasure update the sketch as they update every other sum.
//!
//! **Accuracy.** A bucket spans values whose ratio is at most γ = (1 + α)/(1 − α) with
//! α = [`RELATIVE_ACCURACY`]; its representative is within α (relative) of every value in it.
//! The sketch's quantile is the representative of the bucket holding the exact nearest-rank
//! order statistic (the ⌈q·n⌉-th smallest value), so it is within 0.1% of that statistic,
//! whatever the data and however many units. Magnitudes below [`MIN_MAGNITUDE`] count as zero
//! and above [`MAX_MAGNITUDE`] as that bound. Buckets per metric and cell are at most
//! 2 × ⌈ln(MAX/MIN)/ln γ⌉ + 1 = 55,265; real data uses far fewer (values spanning four
//! decades: 4,606).
//!
//! **Percentile caps.** The cap is the sketch's quantile of the test's pooled values; a capped
//! sum takes every bucket below the cap's bucket whole and counts every unit from the cap's
//! bucket up as the cap, so a unit within α below the cap counts as the cap (an error of at
//! most α of the cap for those units alone).

use std::collections::BTreeMap;

use serde::Serialize;

/// The sketch's relative accuracy α.
pub const RELATIVE_ACCURACY: f64 = 0.001;
/// Magnitudes below this count as zero.
pub const MIN_MAGNITUDE: f64 = 1e-9;
/// Magnitudes above this count as this.
pub const MAX_MAGNITUDE: f64 = 1e15;

fn gamma() -> f64 {
    (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
}

/// ⌈log_γ m⌉ for a magnitude within the bounds.
fn index(m: f64) -> i32 {
    (m.clamp(MIN_MAGNITUDE, MAX_MAGNITUDE).ln() / gamma().ln()).ceil() as i32
}

/// A value's bucket: 0 for zero, positive for positive values and negative for negative ones,
/// in the values' order.
pub fn bucket(v: f64) -> i32 {
    if v.is_nan() || v.abs() < MIN_MAGNITUDE {
        return 0;
    }
    let k = index(v.abs()) - index(MIN_MAGNITUDE) + 1;
    if v > 0.0 {
        k
    } else {
        -k
    }
}

/// The value a bucket stands for: within α of every value in it.
pub fn representative(bucket: i32) -> f64 {
    if bucket == 0 {
        return 0.0;
    }
    let k = bucket.abs() - 1 + index(MIN_MAGNITUDE);
    let g = gamma();
    let v = 2.0 * g.powi(k) / (1.0 + g);
    if bucket > 0 {
        v
    } else {
        -v
    }
}

/// One bucket's units and their values' sum and sum of squares (a change to them, when
/// negative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Bucket {
    pub units: i64,
    pub sum: f64,
    pub sum_sq: f64,
}

impl Bucket {
    /// One unit worth `v` (`sign` −1 takes it out).
    pub fn unit(v: f64, sign: i64) -> (i32, Bucket) {
        let s = sign as f64;
        (
            bucket(v),
            Bucket {
                units: sign,
                sum: s * v,
                sum_sq: s * v * v,
            },
        )
    }

    pub fn add(&mut self, b: Bucket) {
        self.units += b.units;
        self.sum += b.sum;
        self.sum_sq += b.sum_sq;
    }
}

/// The buckets of some cells, added up.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sketch {
    buckets: BTreeMap<i32, Bucket>,
}

/// A quantile's estimate and the order statistics of its 95% interval, as gbstats'
/// `QuantileStatistic` takes them (`n_star` = `n`: the interval is computed for the sample's
/// own size rather than GrowthBook's nearest grid size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileArm {
    pub n: u64,
    pub hat: f64,
    pub lower: f64,
    pub upper: f64,
}

/// The levels of the interval's order statistics for quantile `nu` of `n` values: ν ∓
/// z·√(ν(1 − ν)/n), z the normal 97.5% point, kept inside (0, 1) as GrowthBook does.
pub fn interval_levels(nu: f64, n: u64) -> (f64, f64) {
    const Z: f64 = 1.959_963_984_540_054;
    let se = (nu * (1.0 - nu) / n.max(1) as f64).sqrt();
    ((nu - Z * se).max(1e-8), (nu + Z * se).min(0.999_999_99))
}

/// The nearest rank of level `q` among `n` values: ⌈q·n⌉, within 1..=n.
pub fn nearest_rank(q: f64, n: u64) -> u64 {
    ((q * n as f64).ceil() as u64).clamp(1, n.max(1))
}

impl Sketch {
    pub fn add(&mut self, bucket: i32, b: Bucket) {
        self.buckets.entry(bucket).or_default().add(b);
    }

    /// Adds another sketch's buckets (another cell's, another file's).
    pub fn merge(&mut self, other: &Sketch) {
        for (k, b) in &other.buckets {
            self.add(*k, *b);
        }
    }

    /// Units in the sketch.
    pub fn units(&self) -> u64 {
        self.live().map(|(_, b)| b.units as u64).sum()
    }

    fn live(&self) -> impl Iterator<Item = (i32, &Bucket)> {
        self.buckets
            .iter()
            .filter(|(_, b)| b.units > 0)
            .map(|(k, b)| (*k, b))
    }

    /// The value at level `q` of the sketch's values and `zeros` more zeros (units whose
    /// value is zero without a row in the sketch); `None` without any value.
    pub fn quantile(&self, zeros: u64, q: f64) -> Option<f64> {
        let n = self.units() + zeros;
        if n == 0 {
            return None;
        }
        let rank = nearest_rank(q, n);
        let mut seen = 0u64;
        let mut zeros_left = zeros;
        for (k, b) in self.live() {
            if k > 0 && zeros_left > 0 {
                seen += std::mem::take(&mut zeros_left);
                if seen >= rank {
                    return Some(0.0);
                }
            }
            seen += b.units as u64
                + if k == 0 {
                    std::mem::take(&mut zeros_left)
                } else {
                    0
                };
            if seen >= rank {
                return Some(representative(k));
            }
        }
        Some(0.0)
    }

    /// The sketch without its zero bucket (GrowthBook's `ignore_zeros`).
    pub fn without_zeros(&self) -> Sketch {
        let mut s = self.clone();
        s.buckets.remove(&0);
        s
    }

    /// Quantile `nu` with its interval's order statistics, over the sketch and `zeros` more
    /// zeros; `None` without any value.
    pub fn quantile_arm(&self, zeros: u64, nu: f64) -> Option<QuantileArm> {
        let n = self.units() + zeros;
        let (lo, hi) = interval_levels(nu, n);
        Some(QuantileArm {
            n,
            hat: self.quantile(zeros, nu)?,
            lower: self.quantile(zeros, lo)?,
            upper: self.quantile(zeros, hi)?,
        })
    }

    /// The sum and sum of squares of the values capped (winsorised) from above at `cap`.
    pub fn capped_sums(&self, cap: f64) -> (f64, f64) {
        let at = bucket(cap);
        self.live().fold((0.0, 0.0), |(s, s2), (k, b)| {
            if k < at {
                (s + b.sum, s2 + b.sum_sq)
            } else {
                let n = b.units as f64;
                (s + n * cap, s2 + n * cap * cap)
            }
        })
    }
}

/// An event-level quantile of one arm, exactly, from every counted event's value grouped by
/// unit: the nearest-rank estimate, its interval's order statistics, and the clustering by
/// unit gbstats' `QuantileClusteredStatistic` takes (per unit, its events at or below the
/// estimate and all its events). `silent_units` are exposed units without a counted event:
/// clusters of zero events. `None` without any event.
pub fn event_quantile(
    units: &[Vec<f64>],
    silent_units: u64,
    nu: f64,
) -> Option<(QuantileArm, EventClusters)> {
    let mut all: Vec<f64> = units.iter().flatten().copied().collect();
    if all.is_empty() {
        return None;
    }
    all.sort_by(f64::total_cmp);
    let n = all.len() as u64;
    let at = |q: f64| all[(nearest_rank(q, n) - 1) as usize];
    let (lo, hi) = interval_levels(nu, n);
    let arm = QuantileArm {
        n,
        hat: at(nu),
        lower: at(lo),
        upper: at(hi),
    };
    let mut c = EventClusters {
        n_clusters: units.len() as u64 + silent_units,
        ..EventClusters::default()
    };
    for u in units {
        let main = u.iter().filter(|v| **v <= arm.hat).count() as f64;
        let events = u.len() as f64;
        c.main_sum += main;
        c.main_sum_squares += main * main;
        c.denominator_sum += events;
        c.denominator_sum_squares += events * events;
        c.main_denominator_sum_product += main * events;
    }
    Some((arm, c))
}

/// gbstats' clustering sums of an event-level quantile.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EventClusters {
    pub n_clusters: u64,
    pub main_sum: f64,
    pub main_sum_squares: f64,
    pub denominator_sum: f64,
    pub denominator_sum_squares: f64,
    pub main_denominator_sum_product: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), enough for spreads of values.
    fn values(seed: u64, n: usize, f: impl Fn(f64) -> f64) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                f((x >> 11) as f64 / (1u64 << 53) as f64)
            })
            .collect()
    }

    fn sketch_of(v: &[f64]) -> Sketch {
        let mut s = Sketch::default();
        for &x in v {
            let (k, b) = Bucket::unit(x, 1);
            s.add(k, b);
        }
        s
    }

    fn exact(v: &[f64], q: f64) -> f64 {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[(nearest_rank(q, v.len() as u64) - 1) as usize]
    }

    #[test]
    fn buckets_keep_the_order_of_values_and_represent_them_within_alpha() {
        let mut prev = i32::MIN;
        for v in [
            -1e20, -5e6, -1.0, -1e-9, -1e-12, 0.0, 1e-10, 1e-9, 0.5, 1.0, 1.002, 7e14, 1e16,
        ] {
            let k = bucket(v);
            assert!(k >= prev, "{v}");
            prev = k;
        }
        for v in values(1, 10_000, |u| (u * 50.0 - 20.0).exp()) {
            let r = representative(bucket(v));
            assert!(
                (r - v).abs() <= RELATIVE_ACCURACY * v * 1.000_001,
                "{v} {r}"
            );
        }
        assert_eq!(representative(bucket(-3.0)), -representative(bucket(3.0)));
        assert_eq!(bucket(1e-10), 0);
        let span = bucket(MAX_MAGNITUDE) - bucket(-MAX_MAGNITUDE) + 1;
        assert_eq!(span, 55_265);
    }

    #[test]
    fn quantiles_are_within_alpha_of_the_exact_order_statistic() {
        // Log-normal revenue, with a third of the units at zero.
        let v = values(7, 50_000, |u| if u < 0.33 { 0.0 } else { (u * 8.0).exp() });
        let s = sketch_of(&v);
        for q in [0.01, 0.2, 0.33, 0.34, 0.5, 0.9, 0.99, 0.999] {
            let (e, got) = (exact(&v, q), s.quantile(0, q).unwrap());
            assert!(
                (got - e).abs() <= RELATIVE_ACCURACY * e.abs() + 1e-12,
                "{q}: {e} {got}"
            );
        }
        // Zeros kept outside the sketch count as zeros.
        let nonzero: Vec<f64> = v.iter().copied().filter(|x| *x != 0.0).collect();
        let zeros = (v.len() - nonzero.len()) as u64;
        let s2 = sketch_of(&nonzero);
        for q in [0.2, 0.5, 0.9] {
            assert_eq!(s2.quantile(zeros, q), s.quantile(0, q));
        }
        assert_eq!(s.without_zeros(), s2);
        assert_eq!(Sketch::default().quantile(0, 0.5), None);
        assert_eq!(Sketch::default().quantile(3, 0.5), Some(0.0));
    }

    #[test]
    fn a_unit_moving_between_buckets_and_merges_add_up() {
        let mut s = sketch_of(&[1.0, 2.0, 3.0]);
        // The unit worth 2 becomes worth 10.
        for (k, b) in [Bucket::unit(2.0, -1), Bucket::unit(10.0, 1)] {
            s.add(k, b);
        }
        assert_eq!(s.units(), 3);
        let direct = sketch_of(&[1.0, 3.0, 10.0]);
        assert_eq!(s.quantile(0, 1.0), direct.quantile(0, 1.0));
        assert_eq!(s.capped_sums(1e9), direct.capped_sums(1e9));
        let mut merged = sketch_of(&[1.0]);
        for (k, b) in [Bucket::unit(3.0, 1), Bucket::unit(10.0, 1)] {
            merged.add(k, b);
        }
        assert_eq!(merged.capped_sums(5.0), direct.capped_sums(5.0));
    }

    #[test]
    fn capped_sums_winsorise_from_the_cap_bucket_up() {
        let s = sketch_of(&[1.0, 2.0, 50.0, 80.0]);
        let (sum, sq) = s.capped_sums(20.0);
        assert_eq!((sum, sq), (1.0 + 2.0 + 40.0, 1.0 + 4.0 + 800.0));
        let v = values(3, 20_000, |u| (u * 10.0).exp());
        let cap = s_quantile(&v, 0.99);
        let (sum, _) = sketch_of(&v).capped_sums(cap);
        let exact: f64 = v.iter().map(|x| x.min(cap)).sum();
        assert!((sum - exact).abs() <= RELATIVE_ACCURACY * cap * 200.0);
    }

    fn s_quantile(v: &[f64], q: f64) -> f64 {
        sketch_of(v).quantile(0, q).unwrap()
    }

    #[test]
    fn interval_levels_follow_growthbook() {
        let (lo, hi) = interval_levels(0.5, 10_000);
        assert!((lo - (0.5 - 1.959_963_984_540_054 * 0.005)).abs() < 1e-15);
        assert!((hi - (0.5 + 1.959_963_984_540_054 * 0.005)).abs() < 1e-15);
        let (lo, hi) = interval_levels(0.99, 10);
        assert!((lo - 0.928_331).abs() < 1e-6, "{lo}");
        assert_eq!(hi, 0.999_999_99);
        assert_eq!(interval_levels(0.001, 10).0, 1e-8);
    }

    #[test]
    fn event_quantiles_cluster_by_unit() {
        let units = vec![vec![1.0, 5.0], vec![2.0], vec![3.0, 4.0, 6.0]];
        let (arm, c) = event_quantile(&units, 2, 0.5).unwrap();
        assert_eq!((arm.n, arm.hat), (6, 3.0));
        assert_eq!(c.n_clusters, 5);
        // At or below 3: one of the first unit's, the second's, one of the third's.
        assert_eq!((c.main_sum, c.main_sum_squares), (3.0, 3.0));
        assert_eq!((c.denominator_sum, c.denominator_sum_squares), (6.0, 14.0));
        assert_eq!(c.main_denominator_sum_product, 2.0 + 1.0 + 3.0);
        assert_eq!(event_quantile(&[vec![]], 4, 0.5), None);
    }
}
