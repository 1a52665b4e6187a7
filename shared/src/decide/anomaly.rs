//! What looks broken in a running test, from its aggregates and their time buckets:
//! - [`srm`]: a sample-ratio mismatch overall or within any device class or persona, with
//!   Holm's correction across the segments, so a persona-only imbalance is caught while the
//!   overall split looks fine, and many segments do not raise false alarms;
//! - [`traffic_drop`]: the last closed bucket's new exposures far below the trailing median;
//! - [`broken_tracking`]: a metric that had conversions gets none for several buckets while
//!   exposures go on, when the conversions its own history predicts make silence improbable.
//!
//! Guardrail regressions come from [`super::recommend`]. Each finding carries a severity on a
//! log scale (one unit = ten times less likely by chance), which [`super::act`] compares over
//! time.

use serde::Serialize;

use crate::stats::correction::holm_bonferroni;
use crate::stats::srm::srm_p_value;

/// A segment's units per arm, named `overall`, `device:<class>` or `persona:<key>`.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentUnits {
    pub segment: String,
    pub units: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentSrm {
    pub segment: String,
    pub p_value: f64,
    /// Holm-adjusted across every segment checked.
    pub p_adjusted: f64,
    pub anomaly: bool,
}

/// SRM in every segment; `anomaly` where the adjusted p-value is below `threshold`.
pub fn srm(segments: &[SegmentUnits], weights: &[f64], threshold: f64) -> Vec<SegmentSrm> {
    let raw: Vec<f64> = segments
        .iter()
        .map(|s| srm_p_value(&s.units, weights))
        .collect();
    let adjusted = holm_bonferroni(&raw);
    segments
        .iter()
        .zip(raw)
        .zip(adjusted)
        .map(|((s, p), a)| SegmentSrm {
            segment: s.segment.clone(),
            p_value: p,
            p_adjusted: a,
            anomaly: a < threshold,
        })
        .collect()
}

/// Buckets of baseline a traffic-drop check needs before the last one.
pub const DROP_MIN_BASELINE_BUCKETS: usize = 3;
/// At most this many buckets before the last form its baseline.
pub const DROP_BASELINE_BUCKETS: usize = 24;
/// The baseline's median must be at least this many units per bucket.
pub const DROP_MIN_UNITS: f64 = 20.0;
/// The last bucket is a drop below this share of the baseline's median.
pub const DROP_RATIO: f64 = 0.2;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrafficDrop {
    pub last: f64,
    pub baseline_median: f64,
    pub severity: f64,
}

/// `new_units`: new exposures per closed bucket, oldest first.
pub fn traffic_drop(new_units: &[f64]) -> Option<TrafficDrop> {
    let (&last, before) = new_units.split_last()?;
    if before.len() < DROP_MIN_BASELINE_BUCKETS {
        return None;
    }
    let mut baseline: Vec<f64> = before
        .iter()
        .rev()
        .take(DROP_BASELINE_BUCKETS)
        .copied()
        .collect();
    baseline.sort_by(f64::total_cmp);
    let median = baseline[baseline.len() / 2];
    (median >= DROP_MIN_UNITS && last < DROP_RATIO * median).then(|| TrafficDrop {
        last,
        baseline_median: median,
        severity: (median / last.max(1.0)).log10(),
    })
}

/// Silent buckets needed before tracking counts as broken.
pub const SILENT_MIN_BUCKETS: usize = 2;
/// Conversions the metric's own rate predicts over the silent buckets: with this many
/// expected, seeing none has a probability of e⁻¹⁰ ≈ 4.5·10⁻⁵.
pub const SILENT_MIN_EXPECTED: f64 = 10.0;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokenTracking {
    pub silent_buckets: usize,
    /// Conversions the metric's earlier rate predicts over the silent buckets.
    pub expected: f64,
    pub severity: f64,
}

/// `new_units` and `new_conversions`: new exposed and converting units per closed bucket,
/// oldest first.
pub fn broken_tracking(new_units: &[f64], new_conversions: &[f64]) -> Option<BrokenTracking> {
    let n = new_units.len().min(new_conversions.len());
    let silent = new_conversions[..n]
        .iter()
        .rev()
        .take_while(|c| **c <= 0.0)
        .count();
    if silent < SILENT_MIN_BUCKETS || silent == n {
        return None;
    }
    let split = n - silent;
    let (units_before, conv_before): (f64, f64) = (
        new_units[..split].iter().sum(),
        new_conversions[..split].iter().sum(),
    );
    if units_before <= 0.0 || conv_before <= 0.0 {
        return None;
    }
    let units_silent: f64 = new_units[split..n].iter().sum();
    let expected = conv_before / units_before * units_silent;
    (expected >= SILENT_MIN_EXPECTED).then(|| BrokenTracking {
        silent_buckets: silent,
        expected,
        // −log10 P(0 | Poisson(expected)).
        severity: expected / std::f64::consts::LN_10,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persona_only_imbalance_is_caught_while_overall_looks_fine() {
        let seg = |s: &str, a: f64, b: f64| SegmentUnits {
            segment: s.into(),
            units: vec![a, b],
        };
        // 2% of one persona's variant exposures lost: overall p ≈ 0.003 (0.008 after Holm),
        // the persona's ≈ 4e-8.
        let found = srm(
            &[
                seg("overall", 500_000.0, 497_000.0),
                seg("persona:P", 150_000.0, 147_000.0),
                seg("persona:none", 350_000.0, 350_000.0),
            ],
            &[1.0, 1.0],
            0.001,
        );
        assert!(!found[0].anomaly, "{found:?}");
        assert!(found[1].anomaly, "{found:?}");
        assert!(!found[2].anomaly);
    }

    #[test]
    fn traffic_drop_needs_a_baseline_and_a_real_drop() {
        assert!(traffic_drop(&[100.0, 5.0]).is_none());
        assert!(traffic_drop(&[100.0, 110.0, 90.0, 50.0]).is_none());
        let d = traffic_drop(&[100.0, 110.0, 90.0, 10.0]).unwrap();
        assert_eq!(d.baseline_median, 100.0);
        assert!(
            traffic_drop(&[10.0, 12.0, 9.0, 0.0]).is_none(),
            "too little traffic"
        );
    }

    #[test]
    fn silence_counts_only_when_conversions_were_expected() {
        let units = [1000.0, 1000.0, 1000.0, 1000.0];
        assert!(broken_tracking(&units, &[50.0, 48.0, 0.0, 0.0]).is_some());
        assert!(broken_tracking(&units, &[50.0, 48.0, 51.0, 0.0]).is_none());
        assert!(
            broken_tracking(&units, &[1.0, 0.0, 0.0, 0.0]).is_none(),
            "rare metric"
        );
        assert!(
            broken_tracking(&units, &[0.0, 0.0, 0.0, 0.0]).is_none(),
            "never converted"
        );
    }
}
