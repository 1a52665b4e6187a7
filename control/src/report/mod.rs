//! Results as rows and pages, pure (no I/O): what the export (`GET …/export`), the printable
//! report (`GET …/report`) and saved reports (`GET /api/v1/reports/{id}/run`) show, shaped from
//! the same [`Results`] `GET /api/v1/tests/{key}/results` returns, so the numbers are its own.
//!
//! [`rows`] flattens results into one row per segment × metric × variant; [`csv`] writes rows
//! as RFC 4180 CSV; [`html`] renders the printable page, with [`chart`]'s inline SVG.

use serde::Serialize;

use crate::db::aggregates::Aggregates;
use crate::results::{persona_label, Analysis, Results, Segment};

pub mod chart;
pub mod csv;
pub mod html;
pub mod saved;

/// One variant of one metric in one segment, as the results give it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// `overall`, `device:<class>` or `persona:<key>`.
    pub segment: String,
    pub metric: String,
    pub kind: String,
    pub role: String,
    pub variant: String,
    pub units: u64,
    /// Converted units (binomial and retention metrics).
    pub conversions: Option<u64>,
    /// The variant's rate (binomial, retention), mean per unit (value, count), ratio, or
    /// quantile.
    pub value: Option<f64>,
    /// Against the control (absent on the control's row): the fixed-horizon relative lift,
    /// its interval and p-value, and the Bayesian chance to win.
    pub lift: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub p_value: Option<f64>,
    pub chance_to_win: Option<f64>,
    /// Why the statistics refused this segment, if they did.
    pub error: Option<String>,
}

/// Which breakdowns to include besides `overall`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Breakdowns {
    pub device: bool,
    pub persona: bool,
}

impl Breakdowns {
    pub const ALL: Breakdowns = Breakdowns {
        device: true,
        persona: true,
    };
}

fn text<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The variant's headline number: rate, mean, ratio or quantile.
fn value_of(v: &edgewise_shared::stats::VariantInput) -> Option<f64> {
    let per_unit = |x: f64| (v.n > 0).then(|| x / v.n as f64);
    if let Some(c) = v.conversions {
        per_unit(c as f64)
    } else if let Some(q) = v.quantile_hat {
        Some(q)
    } else if let (Some(num), Some(den)) = (v.numerator_sum, v.denominator_sum) {
        (den != 0.0).then(|| num / den)
    } else {
        v.sum.and_then(per_unit)
    }
}

fn segment_rows(out: &mut Vec<Row>, name: &str, m: &crate::results::MetricResults, s: &Segment) {
    let (comparisons, error) = match &s.analysis {
        Analysis::Done(o) => (&o.comparisons[..], None),
        Analysis::Refused { error } => (&[][..], Some(error.clone())),
    };
    for v in &s.variants {
        let c = comparisons.iter().find(|c| c.variant == v.name);
        let fixed = c.and_then(|c| c.frequentist.relative.value());
        let bayes = c.and_then(|c| c.bayesian.relative.value());
        out.push(Row {
            segment: name.to_owned(),
            metric: m.key.clone(),
            kind: text(&m.kind),
            role: text(&m.role),
            variant: v.name.clone(),
            units: v.n,
            conversions: v.conversions,
            value: value_of(v),
            lift: fixed.map(|e| e.estimate),
            ci_low: fixed.map(|e| e.ci[0]),
            ci_high: fixed.map(|e| e.ci[1]),
            p_value: fixed.map(|e| e.p_value),
            chance_to_win: bayes.map(|e| e.chance_to_win),
            error: error.clone(),
        });
    }
}

/// The rows of `results`: per metric (those in `metrics`, or all when it is empty), overall
/// then each device class and persona the breakdowns ask for, one row per variant.
pub fn rows(results: &Results, metrics: &[String], b: Breakdowns) -> Vec<Row> {
    let mut out = Vec::new();
    for m in &results.metrics {
        if !metrics.is_empty() && !metrics.contains(&m.key) {
            continue;
        }
        segment_rows(&mut out, "overall", m, &m.overall);
        if b.device {
            for (d, s) in &m.by_device {
                segment_rows(&mut out, &format!("device:{d}"), m, s);
            }
        }
        if b.persona {
            for (p, s) in &m.by_persona {
                segment_rows(&mut out, &format!("persona:{p}"), m, s);
            }
        }
    }
    out
}

/// Exposed units in one variant × device class × persona cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub variant: String,
    pub device: String,
    pub persona: String,
    pub units: i64,
}

/// The device × persona breakdown of exposed units, per variant (persona `none` for units
/// without one), from the aggregates the results came from.
pub fn cells(agg: &Aggregates) -> Vec<Cell> {
    let mut out: Vec<Cell> = agg
        .exposures
        .iter()
        .map(|c| Cell {
            variant: c.variant.clone(),
            device: c.device.clone(),
            persona: persona_label(&c.persona).to_owned(),
            units: c.units,
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.variant, &a.device, &a.persona).cmp(&(&b.variant, &b.device, &b.persona))
    });
    out
}

/// Text as HTML, safe in element content and in quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgewise_shared::stats::VariantInput;

    #[test]
    fn the_headline_number_follows_the_kind_of_input() {
        let v = |f: fn(&mut VariantInput)| {
            let mut v = VariantInput {
                name: "a".into(),
                n: 4,
                ..VariantInput::default()
            };
            f(&mut v);
            value_of(&v)
        };
        assert_eq!(v(|v| v.conversions = Some(1)), Some(0.25));
        assert_eq!(v(|v| v.sum = Some(10.0)), Some(2.5));
        assert_eq!(
            v(|v| {
                v.numerator_sum = Some(3.0);
                v.denominator_sum = Some(6.0);
            }),
            Some(0.5)
        );
        assert_eq!(v(|v| v.quantile_hat = Some(7.0)), Some(7.0));
        assert_eq!(v(|_| {}), None);
        let empty = VariantInput {
            n: 0,
            conversions: Some(0),
            ..VariantInput::default()
        };
        assert_eq!(value_of(&empty), None);
    }
}
