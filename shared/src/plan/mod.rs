//! Planning a test before it starts: [`templates`] (built-in variant skeletons with their
//! metrics, decision settings and tags), the draft a template, a baseline and a minimum
//! detectable effect give ([`plan`]: variants and weights, coverage, the sample size per arm
//! from the power analysis, the expected duration at the targeted traffic, the trade-off of
//! coverage against duration), its [`risk`] score, and the [`checks`] a test must pass before it
//! starts, with the [`approvals`] its risk calls for, and the [`ramp`] of its coverage once it
//! runs. Pure: the control plane feeds it the
//! observed traffic, baselines and learned priors; `edgewise plan` feeds it arguments.

pub mod approvals;
pub mod checks;
pub mod ramp;
pub mod risk;
pub mod templates;

use serde::Serialize;
use serde_json::{json, Value};

pub use risk::{approvals_needed, score, ApprovalThresholds, Factor, Risk, RiskInput};
pub use templates::Template;

use crate::stats::power::{sample_size, PowerError, PowerInput};

/// What a plan is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInput {
    /// The test's key.
    pub key: String,
    /// The primary metric's baseline conversion rate.
    pub baseline: f64,
    /// Relative minimum detectable effect.
    pub mde: f64,
    /// Units a day reaching the targeted pages.
    pub daily_units: f64,
    /// Arms, control included.
    pub variants: u32,
    pub coverage: f64,
    pub alpha: f64,
    pub power: f64,
}

/// Expected days at one coverage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tradeoff {
    pub coverage: f64,
    pub expected_days: u64,
}

/// A draft test and what it takes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub template: String,
    /// The test to create (`POST /api/v1/tests` takes it as it is).
    pub draft: Value,
    pub n_per_arm: u64,
    pub expected_days: u64,
    /// Expected days at other coverages.
    pub tradeoffs: Vec<Tradeoff>,
    pub risk: Risk,
    pub approvals_needed: u32,
}

/// The coverages the trade-off table shows.
pub const TRADEOFF_COVERAGES: [f64; 5] = [0.1, 0.25, 0.5, 0.75, 1.0];

/// The draft test from `template`: `variants` arms (the control's content, then skeletons with
/// the template's content keys to fill), equal weights, the template's metrics, decision and
/// tags; sized by the two-proportion power analysis (`edgewise power`'s numbers).
pub fn plan(t: &Template, input: &PlanInput) -> Result<Plan, PowerError> {
    let power = |coverage: f64| {
        sample_size(&PowerInput {
            baseline: input.baseline,
            mde: input.mde,
            alpha: input.alpha,
            power: input.power,
            stddev: None,
            daily_traffic: Some(input.daily_units),
            coverage,
            arms: input.variants,
        })
    };
    let sized = power(input.coverage)?;
    let tradeoffs = TRADEOFF_COVERAGES
        .iter()
        .filter_map(|c| {
            Some(Tradeoff {
                coverage: *c,
                expected_days: power(*c).ok()?.days_ceil?,
            })
        })
        .collect();
    let variants: Vec<Value> = (0..input.variants)
        .map(|i| {
            let (key, content) = if i == 0 {
                ("control".to_owned(), t.control.clone())
            } else {
                let blank: serde_json::Map<String, Value> = t
                    .content_keys
                    .iter()
                    .map(|k| (k.clone(), Value::String(String::new())))
                    .collect();
                (format!("variant_{i}"), Value::Object(blank))
            };
            json!({"key": key, "weight": 1, "content": content})
        })
        .collect();
    let mut draft = json!({
        "key": input.key,
        "description": t.description,
        "coverage": input.coverage,
        "variants": variants,
        "metrics": t.metrics,
        "tags": t.tags,
    });
    if t.decision.as_object().is_some_and(|d| !d.is_empty()) {
        draft["decision"] = t.decision.clone();
    }
    let guardrails = t
        .metrics
        .as_array()
        .map_or(0, |m| m.iter().filter(|m| m["role"] == "guardrail").count());
    let revenue = t
        .metrics
        .as_array()
        .is_some_and(|m| m.iter().any(|m| m["kind"] == "value"));
    let risk = score(&RiskInput {
        coverage: input.coverage,
        surfaces: 1,
        sensitive_page: t.sensitive || revenue,
        guardrails,
        all_devices: true,
        history: None,
        downside: None,
    });
    Ok(Plan {
        template: t.name.clone(),
        draft,
        n_per_arm: sized.n_per_arm_ceil,
        expected_days: sized.days_ceil.unwrap_or(0),
        tradeoffs,
        approvals_needed: approvals_needed(risk.score, ApprovalThresholds::RECOMMENDED),
        risk,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PlanInput {
        PlanInput {
            key: "h".into(),
            baseline: 0.1,
            mde: 0.1,
            daily_units: 5_000.0,
            variants: 3,
            coverage: 0.5,
            alpha: 0.05,
            power: 0.8,
        }
    }

    #[test]
    fn a_plan_is_sized_as_the_power_analysis_says() {
        let t = templates::named("headline").unwrap();
        let p = plan(&t, &input()).unwrap();
        let direct = sample_size(&PowerInput {
            baseline: 0.1,
            mde: 0.1,
            alpha: 0.05,
            power: 0.8,
            stddev: None,
            daily_traffic: Some(5_000.0),
            coverage: 0.5,
            arms: 3,
        })
        .unwrap();
        assert_eq!(p.n_per_arm, direct.n_per_arm_ceil);
        assert_eq!(Some(p.expected_days), direct.days_ceil);
        // More coverage, fewer days.
        let days: Vec<u64> = p.tradeoffs.iter().map(|t| t.expected_days).collect();
        assert!(days.windows(2).all(|w| w[0] >= w[1]), "{days:?}");
        assert_eq!(p.draft["variants"].as_array().unwrap().len(), 3);
        assert_eq!(p.draft["variants"][2]["content"]["headline"], "");
        assert_eq!(p.draft["tags"], json!(["headline", "copy"]));
    }

    #[test]
    fn sensitive_templates_score_higher() {
        let plain = plan(&templates::named("headline").unwrap(), &input()).unwrap();
        let checkout = plan(&templates::named("checkout_step").unwrap(), &input()).unwrap();
        assert!(checkout.risk.score > plain.risk.score);
        assert!(checkout.approvals_needed >= plain.approvals_needed);
        assert!(plan(
            &templates::named("headline").unwrap(),
            &PlanInput {
                baseline: 1.5,
                ..input()
            }
        )
        .is_err());
    }
}
