//! Sample-ratio mismatch: does the observed split of units match the configured weights?
//! gbstats' `check_srm`: Pearson's χ² over the arms with a positive weight, k − 1 degrees of
//! freedom for k arms, p-value from the χ² survival function (exact closed form, since k − 1 is
//! an integer). A tiny p-value means assignment or tracking is broken and results can't be
//! trusted.

use super::special::chi2_sf;

/// The SRM p-value for observed `units` per arm against `weights` (any positive scale).
/// No units at all gives 1, like gbstats.
pub fn srm_p_value(units: &[f64], weights: &[f64]) -> f64 {
    let total: f64 = units.iter().sum();
    if total == 0.0 {
        return 1.0;
    }
    let total_weight: f64 = weights.iter().sum();
    let mut x = 0.0;
    for (&o, &w) in units.iter().zip(weights) {
        // gbstats skips arms expected to get nothing (but still counts them in the df).
        if w <= 0.0 {
            continue;
        }
        let e = w / total_weight * total;
        x += (o - e).powi(2) / e;
    }
    let df = u32::try_from(units.len().saturating_sub(1)).unwrap_or(u32::MAX);
    chi2_sf(x, df)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_split_has_p_one_and_a_broken_one_p_near_zero() {
        assert_eq!(srm_p_value(&[500.0, 500.0], &[0.5, 0.5]), 1.0);
        assert!(srm_p_value(&[5_000.0, 5_400.0], &[1.0, 1.0]) < 1e-4);
        assert_eq!(srm_p_value(&[0.0, 0.0], &[1.0, 1.0]), 1.0);
    }
}
