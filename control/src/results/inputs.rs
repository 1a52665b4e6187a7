//! One metric's per-variant analysis inputs in a segment, from the aggregates: conversions,
//! sums of per-unit values (capped at a fixed value or at the test's percentile), ratio sums,
//! or a quantile's order statistics (from the metric's sketch for a unit-level quantile, from
//! the counted events for an event-level one).

use edgewise_shared::metrics::sketch::{event_quantile, QuantileArm, Sketch};
use edgewise_shared::metrics::CellChange;
use edgewise_shared::snapshot::{MetricDef, MetricKind, QuantileLevel, VariantDef};
use edgewise_shared::stats::{AnalysisInput, MetricType, VariantInput};

use super::Filter;
use crate::db::aggregates::{Aggregates, ExposureCell, MetricCell};
use crate::model::TestSpec;

/// Exposed units per variant in the cells `f` keeps.
pub fn exposed(variants: &[VariantDef], cells: &[ExposureCell], f: Filter<'_>) -> Vec<u64> {
    variants
        .iter()
        .map(|v| {
            cells
                .iter()
                .filter(|c| c.variant == v.key && f.keeps(&c.device, &c.persona))
                .map(|c| u64::try_from(c.units).unwrap_or(0))
                .sum()
        })
        .collect()
}

/// A metric's sketch over the cells of `variant` (every variant when `None`) that `f` keeps.
fn sketch(agg: &Aggregates, metric: &str, variant: Option<&str>, f: Filter<'_>) -> Sketch {
    let mut s = Sketch::default();
    for c in agg.sketches.iter().filter(|c| {
        c.metric == metric
            && variant.is_none_or(|v| v == c.variant)
            && f.keeps(&c.device, &c.persona)
    }) {
        s.merge(&c.sketch);
    }
    s
}

/// The value a percentile-capped metric is capped at: the percentile of the test's pooled
/// per-unit values (every variant and segment; units without an event count as zeros unless
/// the cap ignores zeros). `None` for other metrics, or before any unit has a value.
pub fn percentile_cap(spec: &TestSpec, agg: &Aggregates, metric: &MetricDef) -> Option<f64> {
    let cap = metric.percentile_cap()?;
    let pooled = sketch(agg, &metric.key, None, Filter::All);
    if cap.ignore_zeros {
        return pooled.without_zeros().quantile(0, cap.value);
    }
    let units: u64 = exposed(&spec.variants, &agg.exposures, Filter::All)
        .iter()
        .sum();
    pooled.quantile(units.saturating_sub(pooled.units()), cap.value)
}

/// One metric's per-variant analysis inputs in the cells `f` keeps; `cap` is the metric's
/// [`percentile_cap`], computed once for the whole test.
pub fn variant_inputs(
    spec: &TestSpec,
    agg: &Aggregates,
    metric: &MetricDef,
    cap: Option<f64>,
    f: Filter<'_>,
) -> Vec<VariantInput> {
    let units = exposed(&spec.variants, &agg.exposures, f);
    spec.variants
        .iter()
        .zip(units)
        .map(|(v, n)| {
            let base = VariantInput {
                name: v.key.clone(),
                n,
                ..VariantInput::default()
            };
            if metric.kind == MetricKind::Quantile {
                return quantile_input(agg, metric, &v.key, n, f, base);
            }
            let mut c = metric_sums(agg, &metric.key, &v.key, f);
            if let Some(cap) = cap {
                (c.sum, c.sum_sq) = sketch(agg, &metric.key, Some(&v.key), f).capped_sums(cap);
            }
            input_of(metric.kind, metric.covariate.is_some(), base, c)
        })
        .collect()
}

/// A metric's sums in `variant`'s cells that `f` keeps.
fn metric_sums(agg: &Aggregates, metric: &str, variant: &str, f: Filter<'_>) -> CellChange {
    let mut c = CellChange::default();
    for cell in agg.metrics.iter().filter(|c: &&MetricCell| {
        c.metric == metric && c.variant == variant && f.keeps(&c.device, &c.persona)
    }) {
        c.add(CellChange {
            units: cell.units,
            sum: cell.sum,
            sum_sq: cell.sum_sq,
            den_sum: cell.den_sum,
            den_sum_sq: cell.den_sum_sq,
            sum_product: cell.sum_product,
            cov_sum: cell.cov_sum,
            cov_sum_sq: cell.cov_sum_sq,
            cov_product: cell.cov_product,
        });
    }
    c
}

/// A variant's input (`base`: its name and n) from its sums, with the CUPED covariate's
/// when `cuped`.
fn input_of(kind: MetricKind, cuped: bool, base: VariantInput, c: CellChange) -> VariantInput {
    let base = if cuped {
        VariantInput {
            covariate_sum: Some(c.cov_sum),
            covariate_sum_squares: Some(c.cov_sum_sq),
            sum_product_metric_covariate: Some(c.cov_product),
            ..base
        }
    } else {
        base
    };
    match metric_type(kind) {
        MetricType::Binomial => VariantInput {
            conversions: Some(u64::try_from(c.units).unwrap_or(0).min(base.n)),
            ..base
        },
        MetricType::Ratio => VariantInput {
            numerator_sum: Some(c.sum),
            numerator_sum_squares: Some(c.sum_sq),
            denominator_sum: Some(c.den_sum),
            denominator_sum_squares: Some(c.den_sum_sq),
            numerator_denominator_sum_product: Some(c.sum_product),
            ..base
        },
        _ => VariantInput {
            sum: Some(c.sum),
            sum_squares: Some(c.sum_sq),
            ..base
        },
    }
}

/// Whether a metric is broken down by dimension: quantiles and percentile-capped metrics
/// need the distribution of values, which is kept per device and persona cell only.
pub fn by_dimension(metric: &MetricDef) -> bool {
    metric.kind != MetricKind::Quantile && metric.percentile_cap().is_none()
}

/// A metric's per-variant inputs over the units whose value of dimension `dim` is one of
/// `values` (`rest`: every other unit of the test). `None` for a metric not kept per
/// dimension ([`by_dimension`]).
pub fn dimension_inputs(
    spec: &TestSpec,
    agg: &Aggregates,
    metric: &MetricDef,
    dim: &str,
    values: &[&str],
    rest: bool,
) -> Option<Vec<VariantInput>> {
    if !by_dimension(metric) {
        return None;
    }
    let all_units = exposed(&spec.variants, &agg.exposures, Filter::All);
    Some(
        spec.variants
            .iter()
            .zip(all_units)
            .map(|(v, all_n)| {
                let rows = agg.dims.iter().filter(|r| {
                    r.dimension == dim && r.variant == v.key && values.contains(&r.value.as_str())
                });
                let (mut n, mut c) = (0i64, CellChange::default());
                for r in rows {
                    if r.metric.is_empty() {
                        n += r.units;
                    } else if r.metric == metric.key {
                        c.add(CellChange {
                            units: r.units,
                            sum: r.sum,
                            sum_sq: r.sum_sq,
                            den_sum: r.den_sum,
                            den_sum_sq: r.den_sum_sq,
                            sum_product: r.sum_product,
                            ..CellChange::default()
                        });
                    }
                }
                let mut n = u64::try_from(n).unwrap_or(0);
                if rest {
                    let all = metric_sums(agg, &metric.key, &v.key, Filter::All);
                    n = all_n.saturating_sub(n);
                    c = CellChange {
                        units: all.units - c.units,
                        sum: all.sum - c.sum,
                        sum_sq: all.sum_sq - c.sum_sq,
                        den_sum: all.den_sum - c.den_sum,
                        den_sum_sq: all.den_sum_sq - c.den_sum_sq,
                        sum_product: all.sum_product - c.sum_product,
                        ..CellChange::default()
                    };
                }
                let base = VariantInput {
                    name: v.key.clone(),
                    n,
                    ..VariantInput::default()
                };
                // CUPED sums are kept per device and persona cell only.
                input_of(metric.kind, false, base, c)
            })
            .collect(),
    )
}

/// A quantile metric's input for one variant with `exposed` units. An arm without any value
/// gets n = 0, which the statistics refuse.
fn quantile_input(
    agg: &Aggregates,
    metric: &MetricDef,
    variant: &str,
    exposed: u64,
    f: Filter<'_>,
    base: VariantInput,
) -> VariantInput {
    let Some(q) = metric.quantile else {
        return base;
    };
    let arm = |a: QuantileArm| VariantInput {
        n: a.n,
        n_star: Some(a.n),
        nu: Some(q.nu),
        quantile_hat: Some(a.hat),
        quantile_lower: Some(a.lower),
        quantile_upper: Some(a.upper),
        ..base.clone()
    };
    let empty = || {
        arm(QuantileArm {
            n: 0,
            hat: 0.0,
            lower: 0.0,
            upper: 0.0,
        })
    };
    match q.level {
        QuantileLevel::Unit => {
            let s = sketch(agg, &metric.key, Some(variant), f);
            let found = if q.ignore_zeros {
                s.without_zeros().quantile_arm(0, q.nu)
            } else {
                s.quantile_arm(exposed.saturating_sub(s.units()), q.nu)
            };
            found.map_or_else(empty, arm)
        }
        QuantileLevel::Event => {
            let units: Vec<Vec<f64>> = agg
                .unit_events
                .iter()
                .filter(|u| {
                    u.metric == metric.key && u.variant == variant && f.keeps(&u.device, &u.persona)
                })
                .map(|u| {
                    u.values
                        .iter()
                        .copied()
                        .filter(|v| !(q.ignore_zeros && *v == 0.0))
                        .collect::<Vec<f64>>()
                })
                .filter(|v| !v.is_empty())
                .collect();
            let silent = exposed.saturating_sub(units.len() as u64);
            match event_quantile(&units, silent, q.nu) {
                None => empty(),
                Some((a, c)) => VariantInput {
                    n_clusters: Some(c.n_clusters),
                    main_sum: Some(c.main_sum),
                    main_sum_squares: Some(c.main_sum_squares),
                    denominator_sum: Some(c.denominator_sum),
                    denominator_sum_squares: Some(c.denominator_sum_squares),
                    main_denominator_sum_product: Some(c.main_denominator_sum_product),
                    ..arm(a)
                },
            }
        }
    }
}

/// How a metric kind is analysed: conversions, the mean of a per-unit value, a ratio, or a
/// quantile.
pub fn metric_type(kind: MetricKind) -> MetricType {
    match kind {
        MetricKind::Binomial | MetricKind::Retention => MetricType::Binomial,
        MetricKind::Value | MetricKind::Count => MetricType::Mean,
        MetricKind::Ratio => MetricType::Ratio,
        MetricKind::Quantile => MetricType::Quantile,
    }
}

/// The analysis input of one metric's variants.
pub fn analysis_input(
    kind: MetricKind,
    alpha: f64,
    weights: &[f64],
    variants: Vec<VariantInput>,
) -> AnalysisInput {
    AnalysisInput {
        metric_type: metric_type(kind),
        alpha,
        expected_weights: Some(weights.to_vec()),
        sequential_tuning_parameter: 5_000.0,
        control_index: 0,
        prior: None,
        correction: None,
        variants,
    }
}
