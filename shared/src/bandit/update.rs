//! One bandit update ([`update`]) and `edgewise bandit`'s input ([`run`]).

use serde::{Deserialize, Serialize};

use super::periods::{estimates, strata, ArmSums};
use super::thompson::{apply_floor, probability_best, Posterior};
use crate::stats::{InputError, MetricType, VariantInput};

/// The default floor: each arm keeps at least 1% of the traffic.
pub const DEFAULT_FLOOR: f64 = 0.01;

/// The weights of one update and the probabilities they came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Update {
    pub weights: Vec<f64>,
    pub probability_best: Vec<f64>,
}

/// Each arm's posterior from its per-period aggregates (`periods[p][arm]`, in time order).
///
/// While every arm's units fall in one stratum (see [`super::periods::strata`]) a conversion rate's
/// posterior is `Beta(1 + conversions, 1 + units − conversions)` and a mean's is normal around
/// the sample mean; afterwards both are normal around the period-weighted estimate, with its
/// standard error. `None` when some arm has no estimate yet (a mean needs two units).
pub fn posteriors(metric: MetricType, periods: &[Vec<ArmSums>]) -> Option<Vec<Posterior>> {
    let strata = strata(periods);
    if metric == MetricType::Binomial && strata.len() <= 1 {
        let arms = periods.first().map_or(0, Vec::len);
        let totals = strata
            .first()
            .cloned()
            .unwrap_or_else(|| vec![ArmSums::default(); arms]);
        return Some(
            totals
                .iter()
                .map(|a| Posterior::Beta {
                    a: 1.0 + a.sum,
                    b: 1.0 + a.units as f64 - a.sum,
                })
                .collect(),
        );
    }
    estimates(periods, 0.05)
        .into_iter()
        .map(|e| {
            e.map(|e| Posterior::Normal {
                mean: e.mean,
                sd: e.se,
            })
        })
        .collect()
}

/// One bandit update: probabilities of being best and the floored traffic split.
pub fn update(metric: MetricType, periods: &[Vec<ArmSums>], floor: f64) -> Option<Update> {
    let probability_best = probability_best(&posteriors(metric, periods)?)?;
    Some(Update {
        weights: apply_floor(&probability_best, floor),
        probability_best,
    })
}

/// The input of `edgewise bandit` (docs/bandits.md): one period's aggregates per arm, in the
/// shape `edgewise stats` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BanditInput {
    pub metric_type: MetricType,
    pub variants: Vec<VariantInput>,
    #[serde(default = "default_floor")]
    pub floor: f64,
    /// Kept for the interface: the posteriors here are integrated exactly, so no draws are made
    /// and the seed does not change the weights.
    #[serde(default)]
    pub seed: u64,
}

fn default_floor() -> f64 {
    DEFAULT_FLOOR
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> InputError {
    InputError {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks a floor for `arms` arms: `[0, 1 / arms]`.
pub fn check_floor(floor: f64, arms: usize) -> Result<(), String> {
    if !(0.0..=1.0).contains(&floor) {
        return Err("must be between 0 and 1".into());
    }
    if floor * arms as f64 > 1.0 + 1e-12 {
        return Err(format!(
            "{arms} arms × floor {floor} exceeds all of the traffic"
        ));
    }
    Ok(())
}

/// `edgewise bandit`: checks the input and runs [`update`] on it as one period.
pub fn run(input: &BanditInput) -> Result<Update, InputError> {
    let k = input.variants.len();
    if k < 2 {
        return Err(bad("variants", "needs at least two arms"));
    }
    check_floor(input.floor, k).map_err(|m| bad("floor", m))?;
    let mut period = Vec::with_capacity(k);
    for (i, v) in input.variants.iter().enumerate() {
        let field = |name: &str| format!("variants[{i}].{name}");
        let arm = match input.metric_type {
            MetricType::Binomial => {
                let c = v
                    .conversions
                    .ok_or_else(|| bad(field("conversions"), "is required"))?;
                if c > v.n {
                    return Err(bad(field("conversions"), "exceeds n"));
                }
                ArmSums {
                    units: v.n,
                    sum: c as f64,
                    sum_sq: c as f64,
                }
            }
            MetricType::Mean => {
                let sum = v.sum.ok_or_else(|| bad(field("sum"), "is required"))?;
                let sum_sq = v
                    .sum_squares
                    .ok_or_else(|| bad(field("sum_squares"), "is required"))?;
                if !sum.is_finite() {
                    return Err(bad(field("sum"), "must be a finite number"));
                }
                if !(sum_sq.is_finite() && sum_sq >= 0.0) {
                    return Err(bad(field("sum_squares"), "must be a finite number >= 0"));
                }
                if v.n < 2 {
                    return Err(bad(field("n"), "a mean needs at least 2 units"));
                }
                ArmSums {
                    units: v.n,
                    sum,
                    sum_sq,
                }
            }
            other => {
                return Err(bad(
                    "metric_type",
                    format!("bandits take binomial or mean metrics, not {other:?}").to_lowercase(),
                ))
            }
        };
        period.push(arm);
    }
    update(input.metric_type, &[period], input.floor).ok_or_else(|| {
        bad(
            "variants",
            "the arms' posteriors are not proper distributions",
        )
    })
}
