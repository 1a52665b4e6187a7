//! Differential impact: for one segment (a value of a dimension, e.g. `device = mobile`), the
//! variant's relative lift inside it against its relative lift over the rest of the test. The
//! two groups share no unit, so the lifts are independent; the test compares them on the log
//! scale, ln(1 + lift) (the log of the ratio of means, standard error se/(1 + lift) by the
//! delta method), because the lift of a small segment is skewed and a plain z-test on it
//! flags A/A tests twice as often as it should. Its two-sided normal p-value, adjusted by
//! Benjamini–Hochberg over every segment × variant × metric of the test ([`flag`]), flags a
//! segment when q < [`FLAG_Q`].
//! Statsig corrects the same family with Bonferroni; the false discovery rate keeps the power
//! to find the one segment that really differs.
//!
//! The lifts and their standard errors are the fixed-horizon relative estimates of
//! [`analyze`] (gbstats' delta method), so a segment's lift here is the one its own results
//! show. A comparison either side refuses (zero control mean, zero variance, no units) is left
//! out: it has no lift to compare, and so is a lift of −100% or less (no log).

use serde::Serialize;

use crate::stats::correction::benjamini_hochberg;
use crate::stats::special::norm_sf;
use crate::stats::{analyze, AnalysisInput, Outcome};

/// Flag a segment when its Benjamini–Hochberg q-value is below this.
pub const FLAG_Q: f64 = 0.05;

/// Where a segment is: the metric analysed and the dimension's value.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub metric: &'a str,
    pub dimension: &'a str,
    pub value: &'a str,
}

/// One variant's differential impact in one segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Impact {
    pub metric: String,
    pub dimension: String,
    pub segment: String,
    pub variant: String,
    /// The variant's relative lift over control inside the segment.
    pub segment_lift: f64,
    /// The same lift over every unit outside the segment.
    pub rest_lift: f64,
    /// `segment_lift − rest_lift`.
    pub difference: f64,
    /// Two-sided p-value of "the segment's lift equals the rest's", tested on the log of the
    /// ratio of means: ln(1 + lift), whose standard error is the lift's over (1 + lift).
    pub p_value: f64,
    /// Benjamini–Hochberg over the family passed to [`flag`] (the raw p-value until then).
    pub q_value: f64,
    pub flagged: bool,
}

/// Every variant's impact in `segment`, whose arms are `inside`, against `rest` (the same arms
/// over all other units). Inputs the statistics reject give no impacts.
pub fn impacts(segment: Segment<'_>, inside: &AnalysisInput, rest: &AnalysisInput) -> Vec<Impact> {
    let (Ok(inside), Ok(rest)) = (analyze(inside), analyze(rest)) else {
        return Vec::new();
    };
    inside
        .comparisons
        .iter()
        .filter_map(|c| {
            let r = rest.comparisons.iter().find(|r| r.variant == c.variant)?;
            let (Outcome::Value(s), Outcome::Value(r)) =
                (&c.frequentist.relative, &r.frequentist.relative)
            else {
                return None;
            };
            // Tested on the log of the ratio of means, whose distribution is far closer to
            // normal than the lift's in small segments.
            let (ls, lr) = ((1.0 + s.estimate).ln(), (1.0 + r.estimate).ln());
            let log_se = (s.std_error / (1.0 + s.estimate)).hypot(r.std_error / (1.0 + r.estimate));
            if !(log_se > 0.0 && log_se.is_finite() && ls.is_finite() && lr.is_finite()) {
                return None;
            }
            let p_value = (2.0 * norm_sf(((ls - lr) / log_se).abs())).min(1.0);
            let difference = s.estimate - r.estimate;
            Some(Impact {
                metric: segment.metric.to_owned(),
                dimension: segment.dimension.to_owned(),
                segment: segment.value.to_owned(),
                variant: c.variant.clone(),
                segment_lift: s.estimate,
                rest_lift: r.estimate,
                difference,
                p_value,
                q_value: p_value,
                flagged: false,
            })
        })
        .collect()
}

/// Adjusts the p-values of one family (all segments of a test) by Benjamini–Hochberg and flags
/// the impacts with q < [`FLAG_Q`].
pub fn flag(family: &mut [Impact]) {
    let p: Vec<f64> = family.iter().map(|i| i.p_value).collect();
    for (impact, q) in family.iter_mut().zip(benjamini_hochberg(&p)) {
        impact.q_value = q;
        impact.flagged = q < FLAG_Q;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{MetricType, VariantInput};

    fn binomial(arms: &[(u64, u64)]) -> AnalysisInput {
        AnalysisInput {
            metric_type: MetricType::Binomial,
            alpha: 0.05,
            expected_weights: None,
            sequential_tuning_parameter: 5_000.0,
            control_index: 0,
            prior: None,
            correction: None,
            variants: arms
                .iter()
                .enumerate()
                .map(|(i, &(n, c))| VariantInput {
                    name: format!("v{i}"),
                    n,
                    conversions: Some(c),
                    ..VariantInput::default()
                })
                .collect(),
        }
    }

    const AT: Segment<'static> = Segment {
        metric: "buy",
        dimension: "country",
        value: "FR",
    };

    #[test]
    fn the_difference_is_tested_on_the_log_of_the_ratio_of_means() {
        let inside = binomial(&[(10_000, 1_000), (10_000, 1_200)]);
        let rest = binomial(&[(50_000, 5_000), (50_000, 5_050)]);
        let out = impacts(AT, &inside, &rest);
        assert_eq!(out.len(), 1);
        let i = &out[0];
        let (s, r) = (analyze(&inside).unwrap(), analyze(&rest).unwrap());
        let (Outcome::Value(se), Outcome::Value(re)) = (
            &s.comparisons[0].frequentist.relative,
            &r.comparisons[0].frequentist.relative,
        ) else {
            panic!("refused")
        };
        assert_eq!(i.segment_lift, se.estimate);
        assert_eq!(i.rest_lift, re.estimate);
        assert!((i.difference - (0.2 - 0.01)).abs() < 1e-12, "{i:?}");
        let z = (1.2f64.ln() - 1.01f64.ln()) / (se.std_error / 1.2).hypot(re.std_error / 1.01);
        assert!((i.p_value - 2.0 * norm_sf(z)).abs() < 1e-12, "{i:?}");
        assert!(i.p_value < 1e-3, "{i:?}");
        assert_eq!((i.segment.as_str(), i.variant.as_str()), ("FR", "v1"));
    }

    #[test]
    fn a_refused_side_gives_no_impact() {
        // No conversions in the segment's control: zero control mean, no lift to compare.
        let inside = binomial(&[(100, 0), (100, 3)]);
        let rest = binomial(&[(5_000, 500), (5_000, 520)]);
        assert!(impacts(AT, &inside, &rest).is_empty());
        let empty = binomial(&[(0, 0), (0, 0)]);
        assert!(impacts(AT, &empty, &rest).is_empty());
    }

    #[test]
    fn flagging_adjusts_over_the_whole_family() {
        let mk = |p: f64| Impact {
            metric: "m".into(),
            dimension: "d".into(),
            segment: "s".into(),
            variant: "v".into(),
            segment_lift: 0.0,
            rest_lift: 0.0,
            difference: 0.0,
            p_value: p,
            q_value: p,
            flagged: false,
        };
        // 0.01 alone would pass; among 20 comparisons its q is 0.2.
        let mut family: Vec<Impact> = std::iter::once(mk(0.01))
            .chain((0..19).map(|i| mk(0.3 + 0.03 * i as f64)))
            .collect();
        flag(&mut family);
        assert!((family[0].q_value - 0.2).abs() < 1e-12);
        assert!(family.iter().all(|i| !i.flagged));
        family[0].p_value = 0.001;
        flag(&mut family);
        assert!((family[0].q_value - 0.02).abs() < 1e-12);
        assert!(family[0].flagged);
        assert_eq!(family.iter().filter(|i| i.flagged).count(), 1);
    }
}
