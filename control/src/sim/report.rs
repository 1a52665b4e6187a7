//! The simulator's report: the control plane's results next to the simulated truth.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::population::Population;
use super::scenario::Scenario;
use super::Sent;

/// What the control plane should count if nothing is lost or double counted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Expected {
    pub exposed_units: u64,
    pub units: BTreeMap<String, u64>,
    /// Per metric, per variant: units that converted.
    pub conversions: BTreeMap<String, BTreeMap<String, u64>>,
    /// Per metric, per variant: the true per-unit mean over the variant's exposed units (the
    /// conversion rate of a binomial metric, rate × mean value of a value metric).
    pub true_rates: BTreeMap<String, BTreeMap<String, f64>>,
}

pub fn expected_counts(scenario: &Scenario, pop: &Population<'_>) -> Expected {
    let mut e = Expected::default();
    let mut rate_sums: BTreeMap<(usize, String), f64> = BTreeMap::new();
    for v in &pop.seen {
        let (Some(variant), Some(outcome)) = (&v.variant, &v.outcome) else {
            continue;
        };
        if v.exposures_lost {
            continue;
        }
        e.exposed_units += 1;
        *e.units.entry(variant.clone()).or_default() += 1;
        for (m, (metric, converted)) in scenario.metrics.iter().zip(outcome).enumerate() {
            if converted.is_some() {
                *e.conversions
                    .entry(metric.key.clone())
                    .or_default()
                    .entry(variant.clone())
                    .or_default() += 1;
            }
            if let Some(truth) = metric.variants.get(variant) {
                *rate_sums.entry((m, variant.clone())).or_default() += truth
                    .rate_for(v.device, v.persona.as_deref())
                    * truth.value_mean.unwrap_or(1.0);
            }
        }
    }
    for ((m, variant), sum) in rate_sums {
        let units = e.units.get(&variant).copied().unwrap_or(1).max(1);
        e.true_rates
            .entry(scenario.metrics[m].key.clone())
            .or_default()
            .insert(variant, sum / units as f64);
    }
    e
}

/// Units the control plane counts as exposed, over all variants.
pub fn exposures_counted(results: &Value) -> u64 {
    results["variants"]
        .as_array()
        .map_or(0, |vs| vs.iter().filter_map(|v| v["units"].as_u64()).sum())
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub test: String,
    pub sent: Sent,
    pub expected: Expected,
    /// The control plane's `GET /api/v1/tests/{key}/results`, as it answered.
    pub results: Value,
}

impl Report {
    pub fn new(scenario: &Scenario, expected: Expected, sent: Sent, results: Value) -> Report {
        Report {
            test: scenario.test.clone(),
            expected,
            sent,
            results,
        }
    }

    /// A table per metric: truth, what was sent, what the control plane counted and concluded.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let s = &self.sent;
        let _ = writeln!(
            out,
            "{} visits ({} crawlers) in {:.1} s: {:.0} visits/s; {} events sent, {} batches sent twice{}",
            s.visits + s.crawler_visits,
            s.crawler_visits,
            s.seconds,
            (s.visits + s.crawler_visits) as f64 / s.seconds.max(1e-9),
            s.events,
            s.duplicate_batches,
            if s.restarted { "; control plane restarted mid-run" } else { "" }
        );
        let _ = writeln!(
            out,
            "SRM p-value {}   crawlers counted: {}",
            num(&self.results["srm"]["p_value"]),
            s.crawlers_counted
        );
        let units: BTreeMap<&str, u64> = self.results["variants"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| Some((v["key"].as_str()?, v["units"].as_u64()?)))
            .collect();
        for metric in self.results["metrics"].as_array().into_iter().flatten() {
            let key = metric["key"].as_str().unwrap_or("?");
            let _ = writeln!(
                out,
                "\nmetric {key} ({})",
                metric["role"].as_str().unwrap_or("")
            );
            let _ = writeln!(
                out,
                "  {:<14} {:>8} {:>8} {:>9} {:>9} {:>9} {:>10} {:>8}",
                "variant", "units", "sent", "true", "observed", "lift", "p-value", "P(win)"
            );
            let comparisons = metric["overall"]["comparisons"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for v in metric["overall"]["variants"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let name = v["name"].as_str().unwrap_or("?");
                let n = v["n"].as_f64().unwrap_or(0.0);
                let observed = v["conversions"]
                    .as_f64()
                    .or_else(|| v["sum"].as_f64())
                    .unwrap_or(0.0);
                let truth = self.expected.true_rates.get(key).and_then(|t| t.get(name));
                let cmp = comparisons.iter().find(|c| c["variant"] == name);
                let _ = writeln!(
                    out,
                    "  {:<14} {:>8} {:>8} {:>9} {:>9} {:>9} {:>10} {:>8}",
                    name,
                    units.get(name).copied().unwrap_or(0),
                    self.expected.units.get(name).copied().unwrap_or(0),
                    truth.map_or("-".into(), |t| format!("{:.4}", t)),
                    if n > 0.0 {
                        format!("{:.4}", observed / n)
                    } else {
                        "-".into()
                    },
                    cmp.map_or("control".into(), |c| pct(
                        &c["frequentist"]["relative"]["estimate"]
                    )),
                    cmp.map_or("".into(), |c| num(&c["frequentist"]["relative"]["p_value"])),
                    cmp.map_or("".into(), |c| num(
                        &c["bayesian"]["relative"]["chance_to_win"]
                    )),
                );
            }
        }
        out
    }
}

fn num(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.4}"))
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map_or("-".into(), |x| format!("{:+.1}%", x * 100.0))
}
