//! One running test's evaluation at one tick, pure: its aggregates, the overall series of its
//! closed buckets and its decision settings in; the recommendation, the SRM of every segment
//! and the findings out. The decisions themselves are `edgewise_shared::decide`'s; this module
//! only shapes a test's data into their inputs.

use edgewise_shared::decide::anomaly::{
    broken_tracking, srm, traffic_drop, SegmentSrm, SegmentUnits,
};
use edgewise_shared::decide::{
    recommend, DecisionSettings, Finding, GuardrailInput, Kind, RecommendInput, Recommendation,
    Verdict,
};
use edgewise_shared::snapshot::MetricRole;
use serde::Serialize;

use crate::db::aggregates::Aggregates;
use crate::model::TestRecord;
use crate::results::{
    analysis_input, distinct, exposed, metric_type, percentile_cap, persona_label, variant_inputs,
    Filter,
};

const DAY_MS: f64 = 86_400_000.0;

/// What the monitor concluded about one test at one tick; stored and served as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub test: String,
    pub at: i64,
    pub days_running: f64,
    /// Units entering the test per day: its exposed units over the days it has run.
    pub daily_units: f64,
    pub settings: DecisionSettings,
    /// Absent when the test has no primary metric or its data cannot be analysed yet.
    pub recommendation: Option<Recommendation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation_error: Option<String>,
    pub srm: Vec<SegmentSrm>,
    pub findings: Vec<Finding>,
}

/// Cumulative totals at the end of each closed bucket, oldest first.
pub type Series = [(i64, i64)];

/// New units per bucket from a cumulative series.
fn increments(series: &Series) -> Vec<f64> {
    let mut last = 0;
    series
        .iter()
        .map(|&(_, total)| {
            let new = (total - last).max(0);
            last = total;
            new as f64
        })
        .collect()
}

/// Evaluates `rec` with its units expected in the split `weights` (the variants' weights, or a
/// bandit's split over its periods).
pub fn evaluate(
    rec: &TestRecord,
    weights: &[f64],
    agg: &Aggregates,
    units_series: &Series,
    conversions_series: &dyn Fn(&str) -> Vec<(i64, i64)>,
    settings: &DecisionSettings,
    now: i64,
) -> Evaluation {
    let spec = &rec.spec;
    let days_running = rec
        .started_at
        .map_or(0.0, |s| ((now - s) as f64 / DAY_MS).max(0.0));
    let units = exposed(&spec.variants, &agg.exposures, Filter::All);
    let total: u64 = units.iter().sum();
    let daily_units = total as f64 / days_running.max(1.0 / 24.0);
    let mut findings = Vec::new();

    // The SRM of every segment, Holm-adjusted across them.
    let as_f64 = |u: Vec<u64>| u.into_iter().map(|n| n as f64).collect::<Vec<_>>();
    let mut segments = vec![SegmentUnits {
        segment: "overall".into(),
        units: as_f64(units),
    }];
    for d in distinct(agg.exposures.iter().map(|c| c.device.as_str())) {
        segments.push(SegmentUnits {
            segment: format!("device:{d}"),
            units: as_f64(exposed(&spec.variants, &agg.exposures, Filter::Device(d))),
        });
    }
    for p in distinct(agg.exposures.iter().map(|c| persona_label(&c.persona))) {
        segments.push(SegmentUnits {
            segment: format!("persona:{p}"),
            units: as_f64(exposed(&spec.variants, &agg.exposures, Filter::Persona(p))),
        });
    }
    let srm = srm(&segments, weights, settings.srm_p);
    for (s, seg) in srm.iter().zip(&segments) {
        if s.anomaly {
            findings.push(Finding {
                key: format!("srm:{}", s.segment),
                kind: Kind::Srm,
                severity: -s.p_adjusted.max(1e-300).log10(),
                message: format!(
                    "sample ratio mismatch in {}: units {:?} against weights {:?}, p = {:.2e} \
                     ({:.2e} after Holm across {} segments)",
                    s.segment,
                    seg.units,
                    weights,
                    s.p_value,
                    s.p_adjusted,
                    segments.len()
                ),
                detail: serde_json::json!({
                    "segment": s.segment, "units": seg.units, "weights": weights,
                    "p_value": s.p_value, "p_adjusted": s.p_adjusted,
                }),
                variant: None,
            });
        }
    }

    // The recommendation, with the guardrails' verdicts.
    let (mut recommendation, mut recommendation_error) = (None, None);
    match spec.metrics.iter().find(|m| m.role == MetricRole::Primary) {
        None => recommendation_error = Some("the test has no primary metric".to_owned()),
        Some(primary) => {
            let input = RecommendInput {
                primary: analysis_input(
                    primary.kind,
                    settings.alpha,
                    weights,
                    variant_inputs(
                        spec,
                        agg,
                        primary,
                        percentile_cap(spec, agg, primary),
                        Filter::All,
                    ),
                ),
                days_running,
                daily_units,
                decision: settings.clone(),
                guardrails: spec
                    .metrics
                    .iter()
                    .filter(|m| m.role == MetricRole::Guardrail)
                    .map(|m| GuardrailInput {
                        key: m.key.clone(),
                        metric_type: metric_type(m.kind),
                        max_regression: None,
                        higher_is_better: m.higher_is_better,
                        variants: variant_inputs(
                            spec,
                            agg,
                            m,
                            percentile_cap(spec, agg, m),
                            Filter::All,
                        ),
                    })
                    .collect(),
            };
            match recommend(&input) {
                Ok(r) => recommendation = Some(r),
                Err(e) => recommendation_error = Some(e.to_string()),
            }
        }
    }
    if let Some(r) = &recommendation {
        for g in r.guardrails.iter().filter(|g| g.regressed) {
            findings.push(Finding {
                key: format!("guardrail:{}:{}", g.key, g.variant),
                kind: Kind::Guardrail,
                severity: g.severity,
                message: format!(
                    "guardrail `{}` regressed for `{}`: lift {:+.2}% (interval {:+.2}% to {:+.2}%), \
                     at most {:.2}% allowed",
                    g.key,
                    g.variant,
                    100.0 * g.lift,
                    100.0 * g.ci[0],
                    100.0 * g.ci[1],
                    100.0 * g.max_regression
                ),
                detail: serde_json::to_value(g).unwrap_or_default(),
                variant: Some(g.variant.clone()),
            });
        }
        if let (Verdict::Ship, Some(winner)) = (r.recommendation, &r.variant) {
            findings.push(Finding {
                key: format!("ship:{winner}"),
                kind: Kind::Ship,
                severity: 0.0,
                message: format!(
                    "`{winner}` wins on the primary metric: {}",
                    r.reasons.join("; ")
                ),
                detail: serde_json::to_value(&r.arms).unwrap_or_default(),
                variant: Some(winner.clone()),
            });
        }
    }

    // Drift over the closed buckets.
    let new_units = increments(units_series);
    if let Some(d) = traffic_drop(&new_units) {
        findings.push(Finding {
            key: "traffic_drop".into(),
            kind: Kind::TrafficDrop,
            severity: d.severity,
            message: format!(
                "traffic drop: {} new units in the last bucket against a median of {} before",
                d.last, d.baseline_median
            ),
            detail: serde_json::to_value(&d).unwrap_or_default(),
            variant: None,
        });
    }
    for m in &spec.metrics {
        let conversions = conversions_series(&m.key);
        // Align on the buckets the exposure series has; a bucket with no row converted none.
        let by_bucket: std::collections::HashMap<i64, i64> = conversions.into_iter().collect();
        let mut last = 0;
        let new_conversions: Vec<f64> = units_series
            .iter()
            .map(|(b, _)| {
                let total = by_bucket.get(b).copied().unwrap_or(last);
                let new = (total - last).max(0);
                last = total;
                new as f64
            })
            .collect();
        if let Some(b) = broken_tracking(&new_units, &new_conversions) {
            findings.push(Finding {
                key: format!("broken_tracking:{}", m.key),
                kind: Kind::BrokenTracking,
                severity: b.severity,
                message: format!(
                    "metric `{}` got no conversions for {} buckets while about {:.0} were expected",
                    m.key, b.silent_buckets, b.expected
                ),
                detail: serde_json::to_value(&b).unwrap_or_default(),
                variant: None,
            });
        }
    }

    Evaluation {
        test: spec.key.clone(),
        at: now,
        days_running,
        daily_units,
        settings: settings.clone(),
        recommendation,
        recommendation_error,
        srm,
        findings,
    }
}
