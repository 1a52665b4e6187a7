//! A test's risk score, 0 to 100, as the sum of seven factors, each shown with the points it
//! adds (docs/automation.md prints the table):
//!
//! | factor | points |
//! |---|---|
//! | `traffic_share`: the share of traffic the test takes (coverage) | 25 × coverage |
//! | `surfaces`: pages or surfaces it changes beyond the first | 5 each, at most 10 |
//! | `sensitive_page`: a checkout or pricing page, or a revenue metric | 20 |
//! | `guardrails`: guardrail metrics watching it | 15 with none, 5 with one, 0 with more |
//! | `device_mix`: every device class sees it (rather than one targeted class) | 5 |
//! | `history`: share of past tests with its tags that regressed a guardrail | 15 × share (7.5 without history) |
//! | `predicted_downside`: probability the lift is negative under the learned predictive distribution | 10 × P(lift < 0) (5 without a prior) |
//!
//! The score sets the approvals a test needs before it starts ([`approvals_needed`]).

use serde::{Deserialize, Serialize};

/// What the score is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskInput {
    pub coverage: f64,
    pub surfaces: u32,
    pub sensitive_page: bool,
    pub guardrails: usize,
    /// Whether targeting leaves every device class in.
    pub all_devices: bool,
    /// Past tests sharing a tag: how many regressed a guardrail, of how many.
    pub history: Option<(u32, u32)>,
    /// The probability that the lift is negative, from what past tests taught
    /// ([`crate::learn::predictive`]); `None` under the flat prior.
    pub downside: Option<f64>,
}

/// One factor's part of the score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factor {
    pub factor: &'static str,
    /// What was measured (a share, a count, a probability; `null` when unknown).
    pub value: Option<f64>,
    pub points: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Risk {
    /// The factors' points summed and rounded, 0 to 100.
    pub score: u32,
    pub factors: Vec<Factor>,
}

/// Scores at or above these need one, then two approvals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalThresholds {
    #[serde(deserialize_with = "crate::stats::whole")]
    pub one: u32,
    #[serde(deserialize_with = "crate::stats::whole")]
    pub two: u32,
}

impl ApprovalThresholds {
    /// The thresholds `edgewise plan` reports against: one approval from 40, two from 70.
    pub const RECOMMENDED: ApprovalThresholds = ApprovalThresholds { one: 40, two: 70 };
    /// No approvals ever (a score never reaches 101): the control plane's default until an
    /// admin sets thresholds.
    pub const OFF: ApprovalThresholds = ApprovalThresholds { one: 101, two: 101 };
}

impl Default for ApprovalThresholds {
    fn default() -> Self {
        ApprovalThresholds::OFF
    }
}

/// How many approvals a test with this score needs.
pub fn approvals_needed(score: u32, t: ApprovalThresholds) -> u32 {
    u32::from(score >= t.one) + u32::from(score >= t.two)
}

pub fn score(input: &RiskInput) -> Risk {
    let coverage = input.coverage.clamp(0.0, 1.0);
    let extra_surfaces = f64::from(input.surfaces.saturating_sub(1));
    let guardrail_points = match input.guardrails {
        0 => 15.0,
        1 => 5.0,
        _ => 0.0,
    };
    let history = input
        .history
        .filter(|(_, of)| *of > 0)
        .map(|(bad, of)| f64::from(bad.min(of)) / f64::from(of));
    let downside = input.downside.filter(|p| (0.0..=1.0).contains(p));
    let factors = vec![
        Factor {
            factor: "traffic_share",
            value: Some(coverage),
            points: 25.0 * coverage,
            max: 25.0,
        },
        Factor {
            factor: "surfaces",
            value: Some(f64::from(input.surfaces)),
            points: (5.0 * extra_surfaces).min(10.0),
            max: 10.0,
        },
        Factor {
            factor: "sensitive_page",
            value: Some(f64::from(u8::from(input.sensitive_page))),
            points: if input.sensitive_page { 20.0 } else { 0.0 },
            max: 20.0,
        },
        Factor {
            factor: "guardrails",
            value: Some(input.guardrails as f64),
            points: guardrail_points,
            max: 15.0,
        },
        Factor {
            factor: "device_mix",
            value: Some(f64::from(u8::from(input.all_devices))),
            points: if input.all_devices { 5.0 } else { 0.0 },
            max: 5.0,
        },
        Factor {
            factor: "history",
            value: history,
            points: history.map_or(7.5, |h| 15.0 * h),
            max: 15.0,
        },
        Factor {
            factor: "predicted_downside",
            value: downside,
            points: downside.map_or(5.0, |p| 10.0 * p),
            max: 10.0,
        },
    ];
    let total: f64 = factors.iter().map(|f| f.points).sum();
    Risk {
        score: total.round().clamp(0.0, 100.0) as u32,
        factors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> RiskInput {
        RiskInput {
            coverage: 1.0,
            surfaces: 1,
            sensitive_page: false,
            guardrails: 2,
            all_devices: true,
            history: None,
            downside: None,
        }
    }

    #[test]
    fn the_factors_add_up_and_bound_the_score() {
        // 25 + 0 + 0 + 0 + 5 + 7.5 + 5.
        assert_eq!(score(&base()).score, 43);
        let worst = RiskInput {
            surfaces: 9,
            sensitive_page: true,
            guardrails: 0,
            history: Some((4, 4)),
            downside: Some(1.0),
            ..base()
        };
        assert_eq!(score(&worst).score, 100);
        let calm = RiskInput {
            coverage: 0.0,
            all_devices: false,
            history: Some((0, 10)),
            downside: Some(0.0),
            ..base()
        };
        assert_eq!(score(&calm).score, 0);
        let max: f64 = score(&worst).factors.iter().map(|f| f.max).sum();
        assert_eq!(max, 100.0);
    }

    #[test]
    fn an_even_chance_of_a_loss_is_half_the_downside() {
        let r = score(&RiskInput {
            downside: Some(0.5),
            ..base()
        });
        let f = r
            .factors
            .iter()
            .find(|f| f.factor == "predicted_downside")
            .unwrap();
        assert!((f.points - 5.0).abs() < 1e-12);
        assert_eq!(f.value, Some(0.5));
    }

    #[test]
    fn approvals_follow_the_thresholds() {
        let t = ApprovalThresholds::RECOMMENDED;
        assert_eq!(
            [0, 39, 40, 69, 70, 100].map(|s| approvals_needed(s, t)),
            [0, 0, 1, 1, 2, 2]
        );
        assert_eq!(approvals_needed(100, ApprovalThresholds::default()), 0);
    }
}
