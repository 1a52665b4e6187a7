//! Weights and coverage → bucket ranges.
//!
//! Variant `i` owns the slice `[start_i, start_i + len_i)` of `0..10000`, where `start_i` is the
//! cumulative normalised weight of the variants before it and `len_i = floor(width_i ×
//! coverage)`. Raising coverage only lengthens each slice from its fixed start, so a visitor
//! already in the test never changes variant (GrowthBook's layout; property-tested).

use crate::BUCKETS;

#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// `(start, end)` bucket range per variant; `end - start` may be 0.
    ranges: Vec<(u32, u32)>,
}

impl Allocation {
    /// `weights` must be finite, non-negative and not all zero; `coverage` in `[0, 1]`.
    pub fn new(weights: &[f64], coverage: f64) -> Allocation {
        let total: f64 = weights.iter().sum();
        let mut cumulative = 0.0;
        let mut start = 0u32;
        let ranges = weights
            .iter()
            .map(|w| {
                cumulative += w;
                let end = ((cumulative / total) * f64::from(BUCKETS)).round() as u32;
                let end = end.min(BUCKETS);
                let len = (f64::from(end - start) * coverage).floor() as u32;
                let range = (start, start + len);
                start = end;
                range
            })
            .collect();
        Allocation { ranges }
    }

    /// The variant index owning `bucket`, or `None` when it falls outside coverage.
    pub fn variant_for(&self, bucket: u32) -> Option<usize> {
        self.ranges
            .iter()
            .position(|&(start, end)| bucket >= start && bucket < end)
    }

    /// The probability a visitor in the test gets variant `i`: its share of the covered
    /// buckets.
    pub fn share(&self, i: usize) -> f64 {
        let covered: u32 = self.ranges.iter().map(|(s, e)| e - s).sum();
        match self.ranges.get(i) {
            Some((s, e)) if covered > 0 => f64::from(e - s) / f64::from(covered),
            _ => 0.0,
        }
    }

    #[cfg(test)]
    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn full_coverage_tiles_the_space() {
        let a = Allocation::new(&[1.0, 1.0, 2.0], 1.0);
        assert_eq!(a.ranges(), &[(0, 2500), (2500, 5000), (5000, 10000)]);
        assert_eq!(a.variant_for(0), Some(0));
        assert_eq!(a.variant_for(9999), Some(2));
    }

    #[test]
    fn coverage_shortens_each_slice_from_its_start() {
        let a = Allocation::new(&[0.5, 0.5], 0.2);
        assert_eq!(a.ranges(), &[(0, 1000), (5000, 6000)]);
        assert_eq!(a.variant_for(1000), None);
    }

    proptest! {
        #[test]
        fn raising_coverage_never_moves_an_assigned_bucket(
            weights in prop::collection::vec(0.0f64..100.0, 2..=10),
            c1 in 0.0f64..=1.0,
            c2 in 0.0f64..=1.0,
            bucket in 0u32..BUCKETS,
        ) {
            prop_assume!(weights.iter().sum::<f64>() > 0.0);
            let (lo, hi) = if c1 <= c2 { (c1, c2) } else { (c2, c1) };
            let before = Allocation::new(&weights, lo).variant_for(bucket);
            let after = Allocation::new(&weights, hi).variant_for(bucket);
            if let Some(v) = before {
                prop_assert_eq!(after, Some(v));
            }
        }

        #[test]
        fn slices_never_overlap(weights in prop::collection::vec(0.0f64..100.0, 2..=10), c in 0.0f64..=1.0) {
            prop_assume!(weights.iter().sum::<f64>() > 0.0);
            let a = Allocation::new(&weights, c);
            for w in a.ranges().windows(2) {
                prop_assert!(w[0].1 <= w[1].0);
            }
            prop_assert!(a.ranges().last().map_or(0, |r| r.1) <= BUCKETS);
        }
    }
}
