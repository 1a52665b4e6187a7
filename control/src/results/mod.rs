//! `GET /api/v1/tests/{key}/results`: the statistics for every metric of a test, overall and
//! broken down by device class and by persona, each with its own SRM check, and the segments
//! whose lift differs from the rest of the test ([`edgewise_shared::segments`]).
//!
//! Pure: the handler loads the test and its incremental aggregates (never raw events) and this
//! module turns them into [`edgewise_shared::stats::analyze`] inputs per segment. A method the
//! statistics refuse comes back as `{"error": reason}` in place of its numbers.

use std::collections::BTreeMap;

use edgewise_shared::segments::{self, Impact};
use edgewise_shared::snapshot::MetricKind;
use edgewise_shared::stats::{
    analyze, correction, AnalysisInput, AnalysisOutput, Correction, Outcome, Prior, VariantInput,
};
use serde::{Deserialize, Serialize};

use crate::db::aggregates::Aggregates;
use crate::model::TestSpec;

mod inputs;

pub use inputs::{
    analysis_input, by_dimension, dimension_inputs, exposed, metric_type, percentile_cap,
    variant_inputs,
};

/// SRM p-values below this raise an alert (GrowthBook's default threshold).
pub const SRM_ALERT_P: f64 = 0.001;

/// The persona label of units that had none.
pub const NO_PERSONA: &str = "none";

#[derive(Debug, Clone, Deserialize)]
pub struct ResultsQuery {
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Adjust the overall fixed-horizon p-values across every variant × metric comparison.
    #[serde(default)]
    pub correction: Option<Correction>,
}

fn default_alpha() -> f64 {
    0.05
}

#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub test: String,
    pub alpha: f64,
    pub variants: Vec<VariantUnits>,
    pub srm: Srm,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correction: Option<Correction>,
    pub metrics: Vec<MetricResults>,
    /// Every device and persona segment × variant × metric: its lift against the rest of the
    /// test, Benjamini–Hochberg over all of them; `flagged` when q < 0.05.
    pub differential: Vec<Impact>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantUnits {
    pub key: String,
    pub weight: f64,
    /// Units exposed (and counted) in this variant.
    pub units: u64,
    /// Of `units`, those whose counted exposure the edge logged as it served the page (proxy
    /// mode, `PROXY_EXPOSURE=worker`); the others' came from the browser.
    pub edge_units: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Srm {
    pub p_value: f64,
    pub alert: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricResults {
    pub key: String,
    pub kind: MetricKind,
    pub role: edgewise_shared::snapshot::MetricRole,
    /// With the learned prior switched on (`learned_prior`): the prior the Bayesian analyses
    /// used, and how many past tests it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prior: Option<PriorUsed>,
    /// A percentile-capped metric: the value its per-unit values were capped at (the
    /// percentile of the test's pooled per-unit values, now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap_value: Option<f64>,
    pub overall: Segment,
    pub by_device: BTreeMap<String, Segment>,
    pub by_persona: BTreeMap<String, Segment>,
    /// Per exposure dimension of the test, its 20 largest values (by exposed units) and
    /// `(other)` for the rest; absent for quantile and percentile-capped metrics, whose
    /// distributions are kept per device and persona only.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_dimension: BTreeMap<String, BTreeMap<String, Segment>>,
}

/// The prior of a metric's Bayesian analyses: learned from past tests (`tag:<tag>` or
/// `metric`, a normal prior on the relative lift) or `flat` (too few past tests).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriorUsed {
    pub source: String,
    pub n_tests: usize,
    pub mean: Option<f64>,
    pub stddev: Option<f64>,
}

impl PriorUsed {
    fn prior(&self) -> Option<Prior> {
        Some(Prior {
            mean: self.mean?,
            stddev: self.stddev?,
        })
    }
}

/// Per metric key, the prior to use; a metric not in it gets the flat prior, unreported.
pub type Priors = BTreeMap<String, PriorUsed>;

/// One segment's aggregates and analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    pub variants: Vec<VariantInput>,
    #[serde(flatten)]
    pub analysis: Analysis,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Analysis {
    Done(AnalysisOutput),
    Refused { error: String },
}

/// Which cells a segment keeps.
#[derive(Debug, Clone, Copy)]
pub enum Filter<'a> {
    All,
    Device(&'a str),
    Persona(&'a str),
    /// Every cell outside the segment.
    Not(&'a Filter<'a>),
}

impl Filter<'_> {
    pub(crate) fn keeps(&self, device: &str, persona: &str) -> bool {
        match *self {
            Filter::All => true,
            Filter::Device(d) => d == device,
            Filter::Persona(p) => p == persona_label(persona),
            Filter::Not(f) => !f.keeps(device, persona),
        }
    }
}

pub fn persona_label(persona: &str) -> &str {
    if persona.is_empty() {
        NO_PERSONA
    } else {
        persona
    }
}

/// A test's results, its units expected in the split `weights` (the variants' weights, or a
/// bandit's split over its periods).
pub fn compute(
    spec: &TestSpec,
    weights: &[f64],
    agg: &Aggregates,
    query: &ResultsQuery,
    priors: &Priors,
) -> Results {
    let units = exposed(&spec.variants, &agg.exposures, Filter::All);
    let srm_p = edgewise_shared::stats::srm::srm_p_value(
        &units.iter().map(|&u| u as f64).collect::<Vec<_>>(),
        weights,
    );
    let dims = dimension_values(spec, agg);
    let devices: Vec<&str> = distinct(agg.exposures.iter().map(|c| c.device.as_str()));
    let personas: Vec<&str> = distinct(agg.exposures.iter().map(|c| persona_label(&c.persona)));
    let mut metrics: Vec<MetricResults> = spec
        .metrics
        .iter()
        .map(|m| {
            let used = priors.get(&m.key);
            let prior = used.and_then(PriorUsed::prior);
            let cap = percentile_cap(spec, agg, m);
            let segment_of = |variants: Vec<VariantInput>| {
                let input = AnalysisInput {
                    prior,
                    ..analysis_input(m.kind, query.alpha, weights, variants.clone())
                };
                let analysis = match analyze(&input) {
                    Ok(out) => Analysis::Done(out),
                    Err(e) => Analysis::Refused {
                        error: e.to_string(),
                    },
                };
                Segment { variants, analysis }
            };
            let segment = |f: Filter<'_>| segment_of(variant_inputs(spec, agg, m, cap, f));
            let mut by_dim = BTreeMap::new();
            for (dim, values) in &dims {
                let segments: BTreeMap<String, Segment> = values
                    .iter()
                    .filter_map(|(label, members)| {
                        let v = dimension_inputs(spec, agg, m, dim, members, false)?;
                        Some((label.clone(), segment_of(v)))
                    })
                    .collect();
                if !segments.is_empty() {
                    by_dim.insert(dim.clone(), segments);
                }
            }
            MetricResults {
                key: m.key.clone(),
                kind: m.kind,
                role: m.role,
                prior: used.cloned(),
                cap_value: cap,
                overall: segment(Filter::All),
                by_device: devices
                    .iter()
                    .map(|d| ((*d).to_owned(), segment(Filter::Device(d))))
                    .collect(),
                by_persona: personas
                    .iter()
                    .map(|p| ((*p).to_owned(), segment(Filter::Persona(p))))
                    .collect(),
                by_dimension: by_dim,
            }
        })
        .collect();
    if let Some(method) = query.correction {
        adjust(&mut metrics, method);
    }
    let mut differential = Vec::new();
    for m in &spec.metrics {
        let cap = percentile_cap(spec, agg, m);
        let input = |f: Filter<'_>| {
            let variants = variant_inputs(spec, agg, m, cap, f);
            analysis_input(m.kind, query.alpha, weights, variants)
        };
        let slices = (devices.iter().map(|d| ("device", *d, Filter::Device(d))))
            .chain(personas.iter().map(|p| ("persona", *p, Filter::Persona(p))));
        for (dimension, value, f) in slices {
            let at = segments::Segment {
                metric: &m.key,
                dimension,
                value,
            };
            differential.extend(segments::impacts(at, &input(f), &input(Filter::Not(&f))));
        }
        for (dim, values) in &dims {
            for (label, members) in values {
                let side = |rest| dimension_inputs(spec, agg, m, dim, members, rest);
                let (Some(seg), Some(rest)) = (side(false), side(true)) else {
                    continue;
                };
                let at = segments::Segment {
                    metric: &m.key,
                    dimension: dim,
                    value: label,
                };
                let input = |v| analysis_input(m.kind, query.alpha, weights, v);
                differential.extend(segments::impacts(at, &input(seg), &input(rest)));
            }
        }
    }
    segments::flag(&mut differential);
    Results {
        test: spec.key.clone(),
        alpha: query.alpha,
        variants: spec
            .variants
            .iter()
            .zip(&units)
            .map(|(v, &u)| VariantUnits {
                key: v.key.clone(),
                weight: v.weight,
                units: u,
                edge_units: agg
                    .exposures
                    .iter()
                    .filter(|c| c.variant == v.key)
                    .map(|c| u64::try_from(c.edge_units).unwrap_or(0))
                    .sum(),
            })
            .collect(),
        srm: Srm {
            p_value: srm_p,
            alert: srm_p < SRM_ALERT_P,
        },
        correction: query.correction,
        metrics,
        differential,
    }
}

/// A dimension's segment: its label (a value, or `(other)`) and the values it holds.
type DimensionSegment<'a> = (String, Vec<&'a str>);

/// Per dimension of the test, the segments results show: its 20 largest values by exposed
/// units, each alone, and `(other)` holding the rest (and units stored as `(other)`).
fn dimension_values<'a>(
    spec: &TestSpec,
    agg: &'a Aggregates,
) -> Vec<(String, Vec<DimensionSegment<'a>>)> {
    use edgewise_shared::dimensions::{top_values, OTHER};
    spec.dimensions
        .iter()
        .map(|dim| {
            let mut units: BTreeMap<&str, u64> = BTreeMap::new();
            for r in agg
                .dims
                .iter()
                .filter(|r| &r.dimension == dim && r.metric.is_empty())
            {
                *units.entry(r.value.as_str()).or_default() += u64::try_from(r.units).unwrap_or(0);
            }
            let ranked: Vec<(&str, u64)> = units
                .iter()
                .filter(|(v, n)| **v != OTHER && **n > 0)
                .map(|(v, n)| (*v, *n))
                .collect();
            let (kept, mut rest) = top_values(&ranked, TOP_VALUES);
            if units.get(OTHER).is_some_and(|n| *n > 0) {
                rest.push(OTHER);
            }
            let mut segments: Vec<DimensionSegment> =
                kept.into_iter().map(|v| (v.to_owned(), vec![v])).collect();
            if !rest.is_empty() {
                segments.push((OTHER.to_owned(), rest));
            }
            (dim.clone(), segments)
        })
        .collect()
}

/// Values shown per dimension before `(other)`, as GrowthBook does.
pub const TOP_VALUES: usize = 20;

pub fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = items.collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Adjusts every overall fixed-horizon relative p-value across variants × metrics.
fn adjust(metrics: &mut [MetricResults], method: Correction) {
    let mut slots: Vec<&mut Option<f64>> = Vec::new();
    let mut raw = Vec::new();
    for m in metrics.iter_mut() {
        if let Analysis::Done(out) = &mut m.overall.analysis {
            for c in &mut out.comparisons {
                if let Outcome::Value(e) = &mut c.frequentist.relative {
                    raw.push(e.p_value);
                    slots.push(&mut e.p_value_adjusted);
                }
            }
        }
    }
    let adjusted = match method {
        Correction::HolmBonferroni => correction::holm_bonferroni(&raw),
        Correction::BenjaminiHochberg => correction::benjamini_hochberg(&raw),
    };
    for (slot, p) in slots.into_iter().zip(adjusted) {
        *slot = Some(p);
    }
}

/// What a test's results teach for learning across tests: per metric and non-control
/// variant, the frequentist relative lift and its standard error overall and per device and
/// persona segment (where the analysis could be made), with the test's tags.
pub fn learned_effects(
    results: &Results,
    tags: &[String],
) -> Vec<(String, edgewise_shared::learn::PastTest)> {
    use edgewise_shared::learn::{Effect, PastTest};
    let effect = |segment: &Segment, variant: &str| -> Option<Effect> {
        let Analysis::Done(out) = &segment.analysis else {
            return None;
        };
        let c = out.comparisons.iter().find(|c| c.variant == variant)?;
        let e = c.frequentist.relative.value()?;
        (e.estimate.is_finite() && e.std_error.is_finite() && e.std_error > 0.0).then_some(Effect {
            lift: e.estimate,
            se: e.std_error,
        })
    };
    let mut out = Vec::new();
    for m in &results.metrics {
        let Analysis::Done(overall) = &m.overall.analysis else {
            continue;
        };
        for c in &overall.comparisons {
            let Some(o) = effect(&m.overall, &c.variant) else {
                continue;
            };
            let segments = m
                .by_device
                .iter()
                .map(|(d, s)| (format!("device:{d}"), s))
                .chain(
                    m.by_persona
                        .iter()
                        .map(|(p, s)| (format!("persona:{p}"), s)),
                )
                .filter_map(|(name, s)| Some((name, effect(s, &c.variant)?)))
                .collect();
            out.push((
                c.variant.clone(),
                PastTest {
                    key: results.test.clone(),
                    tags: tags.to_vec(),
                    metric: m.key.clone(),
                    lift: o.lift,
                    se: o.se,
                    segments,
                },
            ));
        }
    }
    out
}
