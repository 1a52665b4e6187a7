//! Period-weighted (stratified) estimates for a bandit's arms.
//!
//! A bandit changes its traffic split over time, so an arm's units come mostly from the
//! periods it was favoured in. If the baseline drifts (weekends convert better, say), pooling
//! an arm's units over the whole test weights each period by the arm's own traffic, not by the
//! population's, and a drifting baseline can fake a winner (Simpson's paradox). Here each
//! period's arm mean is weighted by the period's share of all units instead, which estimates
//! what every arm would have scored over the same population.
//!
//! Periods in which some arm has fewer than [`MIN_STRATUM_UNITS`] units are merged with the
//! following ones (the last with the one before). Merging as little as that matters: the
//! next period's weights depend on this one's outcomes, so a mean pooled over several
//! periods is biased the way adaptively collected data is, while each period's own mean is
//! not.

use serde::Serialize;

use crate::stats::special::norm_isf;

/// The fewest units every arm must have in a stratum.
pub const MIN_STRATUM_UNITS: u64 = 2;

/// One arm's sufficient statistics in one period: units, and the sum and sum of squares of
/// the per-unit value (conversions for a conversion rate, where both sums are conversions).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ArmSums {
    pub units: u64,
    pub sum: f64,
    pub sum_sq: f64,
}

impl ArmSums {
    fn add(&mut self, o: &ArmSums) {
        self.units += o.units;
        self.sum += o.sum;
        self.sum_sq += o.sum_sq;
    }
}

/// One arm's estimate over the whole test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ArmEstimate {
    pub units: u64,
    /// Period-weighted mean (a conversion rate for binomial metrics).
    pub mean: f64,
    pub se: f64,
    /// Two-sided `1 − alpha` interval of `mean`.
    pub ci: [f64; 2],
    /// The pooled mean (all the arm's units together), biased when the baseline drifts while
    /// traffic moves; shown for comparison only.
    pub pooled_mean: f64,
}

/// Per-period aggregates from per-stratum rows. A stratum is the snapshot version that
/// assigned the unit; `starts[p - 1]` is the first version of period `p` (period 0, the
/// starting weights, runs up to `starts[0]`). `exposures` are `(stratum, arm, units)`,
/// `values` `(stratum, arm, sum, sum_sq)` of the metric. Every period is there, one per start
/// and period 0 (without units if nobody arrived); rows naming an arm past `arms` are ignored.
pub fn by_period(
    arms: usize,
    starts: &[i64],
    exposures: &[(i64, usize, u64)],
    values: &[(i64, usize, f64, f64)],
) -> Vec<Vec<ArmSums>> {
    let period_of = |stratum: i64| starts.partition_point(|&s| s <= stratum);
    let mut periods = vec![vec![ArmSums::default(); arms]; starts.len() + 1];
    for &(stratum, arm, units) in exposures.iter().filter(|r| r.1 < arms) {
        periods[period_of(stratum)][arm].units += units;
    }
    for &(stratum, arm, sum, sum_sq) in values.iter().filter(|r| r.1 < arms) {
        let cell = &mut periods[period_of(stratum)][arm];
        cell.sum += sum;
        cell.sum_sq += sum_sq;
    }
    periods
}

/// Each arm's expected share of all units when period `p` ran with `weights[p]`: the periods'
/// weights, each weighted by its units. This is what a sample-ratio check compares a bandit's
/// units with. `None` without units.
pub fn expected_split(periods: &[Vec<ArmSums>], weights: &[Vec<f64>]) -> Option<Vec<f64>> {
    let arms = weights.first()?.len();
    let mut split = vec![0.0; arms];
    let mut total = 0.0;
    for (p, w) in periods.iter().zip(weights) {
        let n: u64 = p.iter().map(|a| a.units).sum();
        let sum: f64 = w.iter().sum();
        if n == 0 || sum <= 0.0 || w.len() != arms {
            continue;
        }
        for (s, x) in split.iter_mut().zip(w) {
            *s += n as f64 * x / sum;
        }
        total += n as f64;
    }
    (total > 0.0).then(|| split.iter().map(|s| s / total).collect())
}

/// Merges periods (in time order; each a slice with one entry per arm) into strata in which
/// every arm has at least [`MIN_STRATUM_UNITS`] units.
pub fn strata(periods: &[Vec<ArmSums>]) -> Vec<Vec<ArmSums>> {
    let arms = periods.iter().map(Vec::len).max().unwrap_or(0);
    let mut out: Vec<Vec<ArmSums>> = Vec::new();
    let mut open = vec![ArmSums::default(); arms];
    let full = |s: &[ArmSums]| s.iter().all(|a| a.units >= MIN_STRATUM_UNITS);
    for period in periods {
        for (acc, a) in open.iter_mut().zip(period) {
            acc.add(a);
        }
        if full(&open) {
            out.push(std::mem::replace(&mut open, vec![ArmSums::default(); arms]));
        }
    }
    if open.iter().any(|a| a.units > 0) {
        match out.last_mut() {
            Some(last) => {
                for (acc, a) in last.iter_mut().zip(&open) {
                    acc.add(a);
                }
            }
            None => out.push(open),
        }
    }
    out
}

/// A stratum's within-arm sum of squares and its degrees of freedom.
fn within(s: &[ArmSums]) -> (f64, u64) {
    let ss = s
        .iter()
        .filter(|a| a.units > 0)
        .map(|a| a.sum_sq - a.sum * a.sum / a.units as f64)
        .sum::<f64>()
        .max(0.0);
    let n: u64 = s.iter().map(|a| a.units).sum();
    let groups = s.iter().filter(|a| a.units > 0).count() as u64;
    (ss, n.saturating_sub(groups))
}

/// Period-weighted estimates per arm; `None` for an arm without units or when every arm has
/// fewer than two units in total (no variance to estimate).
///
/// An arm's variance within a stratum is the stratum's variance (all arms' units, within
/// arms) times the arm's own variance relative to everyone's, both pooled over the strata:
/// a floored arm may have two units in a stratum, but the stratum's hundreds say how much the
/// baseline's drift changed the variance there (a rate of 14% varies more than one of 10%).
pub fn estimates(periods: &[Vec<ArmSums>], alpha: f64) -> Vec<Option<ArmEstimate>> {
    let strata = strata(periods);
    let arms = strata.first().map_or(0, Vec::len);
    let total: u64 = strata.iter().flatten().map(|a| a.units).sum();
    let z = norm_isf(alpha / 2.0);
    let per_stratum: Vec<(f64, u64)> = strata.iter().map(|s| within(s)).collect();
    let (ss_all, df_all) = per_stratum
        .iter()
        .fold((0.0, 0u64), |(ss, df), (s, d)| (ss + s, df + d));
    let var_all = ss_all / df_all.max(1) as f64;
    let stratum_var: Vec<f64> = per_stratum
        .iter()
        .map(|&(ss, df)| if df > 0 { ss / df as f64 } else { var_all })
        .collect();
    (0..arms)
        .map(|arm| {
            let cells: Vec<(f64, &ArmSums)> = strata
                .iter()
                .map(|s| {
                    let n: u64 = s.iter().map(|a| a.units).sum();
                    (n as f64 / total as f64, &s[arm])
                })
                .collect();
            let units: u64 = cells.iter().map(|(_, a)| a.units).sum();
            if units < 2 || cells.iter().any(|(_, a)| a.units == 0) {
                return None;
            }
            let mean: f64 = cells.iter().map(|(w, a)| w * a.sum / a.units as f64).sum();
            let ss: f64 = cells
                .iter()
                .map(|(_, a)| a.sum_sq - a.sum * a.sum / a.units as f64)
                .sum();
            let df = units.saturating_sub(cells.len() as u64).max(1);
            let own = (ss / df as f64).max(0.0);
            let relative = if var_all > 0.0 { own / var_all } else { 0.0 };
            let var_of_mean: f64 = cells
                .iter()
                .zip(&stratum_var)
                .map(|((w, a), v)| w * w * relative * v / a.units as f64)
                .sum();
            let se = var_of_mean.max(0.0).sqrt();
            let pooled_sum: f64 = cells.iter().map(|(_, a)| a.sum).sum();
            Some(ArmEstimate {
                units,
                mean,
                se,
                ci: [mean - z * se, mean + z * se],
                pooled_mean: pooled_sum / units as f64,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(units: u64, conversions: u64) -> ArmSums {
        ArmSums {
            units,
            sum: conversions as f64,
            sum_sq: conversions as f64,
        }
    }

    #[test]
    fn small_periods_merge_forward_and_the_tail_merges_back() {
        let periods = vec![
            vec![arm(1, 1), arm(20, 2)],
            vec![arm(1, 0), arm(20, 2)],
            vec![arm(30, 3), arm(30, 3)],
            vec![arm(1, 0), arm(1, 0)],
        ];
        let s = strata(&periods);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0], vec![arm(2, 1), arm(40, 4)]);
        assert_eq!(s[1], vec![arm(31, 3), arm(31, 3)]);
    }

    #[test]
    fn one_period_is_the_plain_mean_and_its_standard_error() {
        let e = estimates(&[vec![arm(1000, 100), arm(1000, 120)]], 0.05);
        let a = e[1].unwrap();
        assert!((a.mean - 0.12).abs() < 1e-12);
        let var = (120.0 - 120.0 * 120.0 / 1000.0) / 999.0;
        assert!((a.se - (var / 1000.0_f64).sqrt()).abs() < 1e-12);
        assert!((a.ci[0] - (0.12 - 1.959_963_984_540_054 * a.se)).abs() < 1e-9);
        assert_eq!(a.pooled_mean, a.mean);
    }

    #[test]
    fn a_drifting_baseline_does_not_fake_a_winner() {
        // Both arms convert at 10% on weekdays and 20% at weekends. Arm 1 got most traffic at
        // the weekend: pooled, it looks far better; period-weighted, the arms are equal.
        let periods = vec![
            vec![arm(900, 90), arm(100, 10)],  // weekday
            vec![arm(100, 20), arm(900, 180)], // weekend
        ];
        let e = estimates(&periods, 0.05);
        let (a, b) = (e[0].unwrap(), e[1].unwrap());
        assert!((a.mean - 0.15).abs() < 1e-12 && (b.mean - 0.15).abs() < 1e-12);
        assert!((a.pooled_mean - 0.11).abs() < 1e-12);
        assert!((b.pooled_mean - 0.19).abs() < 1e-12);
    }

    #[test]
    fn strata_fall_into_the_period_whose_weights_assigned_them() {
        // Period 1 starts at version 10, period 2 at 14; version 12 is another test's edit.
        let exposures = [
            (3, 0, 5),
            (9, 1, 5),
            (10, 0, 7),
            (12, 1, 1),
            (14, 1, 9),
            (20, 0, 2),
        ];
        let values = [(3, 0, 1.0, 1.0), (12, 1, 1.0, 1.0), (20, 0, 2.0, 2.0)];
        let p = by_period(2, &[10, 14], &exposures, &values);
        let cell = |units, sum: f64| ArmSums {
            units,
            sum,
            sum_sq: sum,
        };
        assert_eq!(
            p,
            vec![
                vec![cell(5, 1.0), cell(5, 0.0)],
                vec![cell(7, 0.0), cell(1, 1.0)],
                vec![cell(2, 2.0), cell(9, 0.0)],
            ]
        );
        // A period nobody arrived in is there, empty.
        let p = by_period(2, &[10, 14], &[(3, 0, 1), (15, 1, 1)], &[]);
        assert_eq!(p[1], vec![ArmSums::default(); 2]);
        // 100 units under 50/50, then 300 under 10/90: 20% and 80% expected overall.
        let p = vec![
            vec![cell(50, 0.0), cell(50, 0.0)],
            vec![cell(20, 0.0), cell(280, 0.0)],
        ];
        let split = expected_split(&p, &[vec![0.5, 0.5], vec![0.1, 0.9]]).unwrap();
        assert!((split[0] - 0.2).abs() < 1e-12 && (split[1] - 0.8).abs() < 1e-12);
    }

    #[test]
    fn an_arm_without_units_has_no_estimate() {
        let e = estimates(&[vec![arm(100, 10), arm(0, 0)]], 0.05);
        assert!(e[0].is_some());
        assert!(e[1].is_none());
    }
}
