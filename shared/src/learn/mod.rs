//! Learning across tests: what past tests' lifts say about the next one.
//!
//! [`meta`] pools past lifts by random-effects meta-analysis (DerSimonian–Laird,
//! Paule–Mandel). [`learn`] turns a history of stopped tests into a prior per metric (and per
//! tag with enough tests), every test's shrunken estimate, and the heterogeneity of lifts,
//! overall and per segment; [`predict`] gives a draft test's predictive lift and its chances of
//! reaching significance. `edgewise learn` and `edgewise predict` print them (docs/learning.md).
//!
//! Pure: a history in, priors and predictions out.

pub mod meta;
mod predict;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::InputError;
pub use meta::{Estimator, Heterogeneity, Pooled};
pub use predict::{predict, predictive, Draft, Prediction};

/// Fewest past tests behind a prior: with fewer, the flat prior is used.
pub const MIN_TESTS_FOR_PRIOR: usize = 5;
/// Below this many tests Paule–Mandel estimates τ², from here on DerSimonian–Laird (which is
/// biased low in small pools).
pub const DL_FROM_TESTS: usize = 10;

/// A lift and its standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Effect {
    pub lift: f64,
    pub se: f64,
}

/// One past test's result on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PastTest {
    pub key: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub metric: String,
    pub lift: f64,
    pub se: f64,
    /// Per segment (`device:mobile`, `persona:…`): the lift within it.
    #[serde(default)]
    pub segments: BTreeMap<String, Effect>,
}

/// The input of `edgewise learn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    pub tests: Vec<PastTest>,
}

/// A test's shrunken estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shrunken {
    pub key: String,
    pub metric: String,
    pub lift: f64,
    pub se: f64,
}

/// One segment across the tests that report it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentPool {
    pub pooled: Pooled,
    /// Cochran's Q and I² of the segment's lifts across the tests.
    pub heterogeneity: Heterogeneity,
    /// The segment's mean lift minus the overall mean lift of the same tests, with its 95%
    /// interval (paired by test: each test's segment lift minus its overall lift, pooled).
    pub difference: f64,
    pub difference_ci: [f64; 2],
}

/// The heterogeneity of one metric's lifts, overall and per segment, and per segment within
/// each tag's tests ("what works where").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricHeterogeneity {
    pub overall: Heterogeneity,
    pub segments: BTreeMap<String, SegmentPool>,
    pub by_tag: BTreeMap<String, BTreeMap<String, SegmentPool>>,
}

/// What `edgewise learn` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Learned {
    pub priors: BTreeMap<String, Pooled>,
    /// Per tag with at least [`MIN_TESTS_FOR_PRIOR`] tests on a metric: tag → metric → prior.
    pub by_tag: BTreeMap<String, BTreeMap<String, Pooled>>,
    pub shrunken: Vec<Shrunken>,
    pub heterogeneity: BTreeMap<String, MetricHeterogeneity>,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> InputError {
    InputError {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks a history: every lift finite, every se positive and finite.
pub fn check(history: &History) -> Result<(), InputError> {
    let ok = |lift: f64, se: f64| lift.is_finite() && se.is_finite() && se > 0.0;
    for (i, t) in history.tests.iter().enumerate() {
        if !t.lift.is_finite() {
            return Err(bad(format!("tests[{i}].lift"), "must be a finite number"));
        }
        if !(t.se.is_finite() && t.se > 0.0) {
            return Err(bad(format!("tests[{i}].se"), "must be a positive number"));
        }
        for (name, e) in &t.segments {
            if !ok(e.lift, e.se) {
                return Err(bad(
                    format!("tests[{i}].segments.{name}"),
                    "needs a finite lift and a positive se",
                ));
            }
        }
    }
    Ok(())
}

/// The random-effects pool of `effects` with the estimator for its size; `None` below
/// [`MIN_TESTS_FOR_PRIOR`].
pub fn pool(effects: &[(f64, f64)]) -> Option<Pooled> {
    if effects.len() < MIN_TESTS_FOR_PRIOR {
        return None;
    }
    if effects.len() >= DL_FROM_TESTS {
        meta::dersimonian_laird(effects)
    } else {
        meta::paule_mandel(effects)
    }
}

/// The prior for a new test on `metric` with `tags`: its first tag's pool on the metric, else
/// the metric's pool, with where it came from (`tag:<tag>` or `metric`); `None` means the flat
/// prior (fewer than [`MIN_TESTS_FOR_PRIOR`] tests).
pub fn prior_for(learned: &Learned, metric: &str, tags: &[String]) -> Option<(String, Pooled)> {
    tags.iter()
        .find_map(|tag| {
            let p = learned.by_tag.get(tag)?.get(metric)?;
            Some((format!("tag:{tag}"), *p))
        })
        .or_else(|| Some(("metric".to_owned(), *learned.priors.get(metric)?)))
}

/// Priors, shrunken estimates and heterogeneity from a checked history.
pub fn learn(history: &History) -> Learned {
    let mut by_metric: BTreeMap<&str, Vec<&PastTest>> = BTreeMap::new();
    for t in &history.tests {
        by_metric.entry(&t.metric).or_default().push(t);
    }
    let effects = |tests: &[&PastTest]| tests.iter().map(|t| (t.lift, t.se)).collect::<Vec<_>>();
    let mut learned = Learned {
        priors: BTreeMap::new(),
        by_tag: BTreeMap::new(),
        shrunken: Vec::new(),
        heterogeneity: BTreeMap::new(),
    };
    for (metric, tests) in &by_metric {
        let all = effects(tests);
        let prior = pool(&all);
        if let Some(p) = prior {
            learned.priors.insert((*metric).to_owned(), p);
        }
        let mut tags: BTreeMap<&str, Vec<&PastTest>> = BTreeMap::new();
        for t in tests {
            for tag in &t.tags {
                tags.entry(tag).or_default().push(t);
            }
        }
        for (tag, tagged) in tags {
            if let Some(p) = pool(&effects(&tagged)) {
                learned
                    .by_tag
                    .entry(tag.to_owned())
                    .or_default()
                    .insert((*metric).to_owned(), p);
            }
        }
        for t in tests {
            // The test's own tag pool if it has one, else the metric's; unshrunk without either.
            let own = t
                .tags
                .iter()
                .find_map(|tag| learned.by_tag.get(tag.as_str())?.get(*metric).copied())
                .or(prior);
            let (lift, se) = own.map_or((t.lift, t.se), |p| meta::shrink(t.lift, t.se, &p));
            learned.shrunken.push(Shrunken {
                key: t.key.clone(),
                metric: (*metric).to_owned(),
                lift,
                se,
            });
        }
        learned
            .heterogeneity
            .insert((*metric).to_owned(), metric_heterogeneity(tests, &all));
    }
    learned
}

/// A finding about where lifts differ, with its uncertainty and the tests behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    pub metric: String,
    /// The statement is about this tag's tests; about all tests when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub segment: String,
    /// The segment's mean lift minus the whole's, and its 95% interval (which excludes 0).
    pub difference: f64,
    pub ci: [f64; 2],
    pub n_tests: usize,
    pub text: String,
}

/// The segments whose lifts differ from their tests' overall lifts beyond chance (a 95%
/// interval of the difference that excludes 0), largest difference first.
pub fn statements(learned: &Learned) -> Vec<Statement> {
    let mut out = Vec::new();
    for (metric, h) in &learned.heterogeneity {
        let scopes = std::iter::once((None, &h.segments))
            .chain(h.by_tag.iter().map(|(tag, pools)| (Some(tag), pools)));
        for (tag, pools) in scopes {
            for (segment, p) in pools {
                let [lo, hi] = p.difference_ci;
                if lo <= 0.0 && hi >= 0.0 {
                    continue;
                }
                let scope = tag.map_or(String::new(), |t| format!("on `{t}` tests, "));
                out.push(Statement {
                    metric: metric.clone(),
                    tag: tag.cloned(),
                    segment: segment.clone(),
                    difference: p.difference,
                    ci: p.difference_ci,
                    n_tests: p.pooled.n_tests,
                    text: format!(
                        "{scope}{segment} responds {} than the whole on {metric}: {:+.1} points \
                         of relative lift (95% CI {:+.1} to {:+.1}), over {} tests",
                        if lo > 0.0 { "more" } else { "less" },
                        p.difference * 100.0,
                        lo * 100.0,
                        hi * 100.0,
                        p.pooled.n_tests
                    ),
                });
            }
        }
    }
    out.sort_by(|a, b| b.difference.abs().total_cmp(&a.difference.abs()));
    out
}

fn metric_heterogeneity(tests: &[&PastTest], all: &[(f64, f64)]) -> MetricHeterogeneity {
    let mut tags: BTreeMap<&str, Vec<&PastTest>> = BTreeMap::new();
    for t in tests {
        for tag in &t.tags {
            tags.entry(tag).or_default().push(t);
        }
    }
    MetricHeterogeneity {
        overall: meta::heterogeneity(all),
        segments: segment_pools(tests),
        by_tag: tags
            .into_iter()
            .map(|(tag, tagged)| (tag.to_owned(), segment_pools(&tagged)))
            .filter(|(_, pools)| !pools.is_empty())
            .collect(),
    }
}

/// Each segment reported by enough of `tests`: its pooled lift and its difference from the
/// same tests' overall lifts.
fn segment_pools(tests: &[&PastTest]) -> BTreeMap<String, SegmentPool> {
    let mut names: Vec<&str> = tests
        .iter()
        .flat_map(|t| t.segments.keys().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let within: Vec<(&PastTest, Effect)> = tests
                .iter()
                .filter_map(|t| Some((*t, *t.segments.get(name)?)))
                .collect();
            let lifts: Vec<(f64, f64)> = within.iter().map(|(_, e)| (e.lift, e.se)).collect();
            let pooled = pool(&lifts)?;
            // Paired by test: a segment's lift minus its test's overall lift. The segment is
            // part of the whole, so their errors are correlated; treating them as independent
            // makes the interval conservative.
            let diffs: Vec<(f64, f64)> = within
                .iter()
                .map(|(t, e)| (e.lift - t.lift, (e.se * e.se + t.se * t.se).sqrt()))
                .collect();
            let d = pool(&diffs)?;
            let z = crate::stats::special::norm_isf(0.025);
            Some((
                name.to_owned(),
                SegmentPool {
                    pooled,
                    heterogeneity: meta::heterogeneity(&lifts),
                    difference: d.mu,
                    difference_ci: [d.mu - z * d.se, d.mu + z * d.se],
                },
            ))
        })
        .collect()
}
