//! A test's metric definitions: checking them, and which metrics read each beacon event.

use std::collections::HashMap;

use super::rule::{PerUnit, Rule, Window};
use crate::limits::{is_key, KEY_RULE, MAX_RETENTION_DAYS, MAX_WINDOW_HOURS};
use crate::snapshot::{Cap, CapKind, MetricDef, MetricKind, QuantileLevel};

const HOUR_MS: f64 = 3_600_000.0;

impl MetricDef {
    /// The beacon `metric` name this metric reads.
    pub fn event_name(&self) -> &str {
        self.event.as_deref().unwrap_or(&self.key)
    }

    /// The per-unit rule; `None` for a ratio, whose per-unit values are its components'.
    pub fn rule(&self) -> Option<Rule> {
        let hours = |h: f64| (h * HOUR_MS).round() as i64;
        let per_unit = match self.kind {
            MetricKind::Ratio => return None,
            MetricKind::Binomial | MetricKind::Retention => PerUnit::Converted,
            MetricKind::Count => PerUnit::Count,
            MetricKind::Value => PerUnit::Sum,
            MetricKind::Quantile => match self.quantile.map(|q| q.level) {
                Some(QuantileLevel::Event) => PerUnit::Count,
                _ => PerUnit::Sum,
            },
        };
        let window = if self.kind == MetricKind::Retention {
            Some(Window {
                from_ms: hours(24.0 * f64::from(self.from_day.unwrap_or(0))),
                to_ms: self.to_day.map(|d| hours(24.0 * f64::from(d))),
            })
        } else if self.delay_hours.is_some() || self.conversion_window_hours.is_some() {
            let delay = self.delay_hours.unwrap_or(0.0);
            Some(Window {
                from_ms: hours(delay),
                to_ms: self.conversion_window_hours.map(|w| hours(delay + w)),
            })
        } else {
            None
        };
        let unit_quantile = self.kind == MetricKind::Quantile && per_unit == PerUnit::Sum;
        Some(Rule {
            per_unit,
            window,
            cap: self
                .cap
                .filter(|c| c.kind == CapKind::Absolute)
                .map(|c| c.value),
            sketch: unit_quantile || self.percentile_cap().is_some(),
        })
    }

    /// The percentile cap, when the metric has one.
    pub fn percentile_cap(&self) -> Option<Cap> {
        self.cap.filter(|c| c.kind == CapKind::Percentile)
    }
}

/// A definition the API refuses: the field (`metrics[2].denominator`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

/// Checks a test's metric definitions together (a ratio names two of the others).
pub fn check(metrics: &[MetricDef]) -> Result<(), Problem> {
    for (i, m) in metrics.iter().enumerate() {
        check_one(metrics, m).map_err(|(field, message)| Problem {
            field: format!("metrics[{i}]{}", if field.is_empty() { "" } else { "." }) + field,
            message,
        })?;
    }
    Ok(())
}

fn check_one(all: &[MetricDef], m: &MetricDef) -> Result<(), (&'static str, String)> {
    let kind = kind_name(m.kind);
    let absent = |field: &'static str, present: bool| {
        if present {
            Err((field, format!("does not apply to a {kind} metric")))
        } else {
            Ok(())
        }
    };
    if let Some(e) = &m.event {
        if !is_key(e) {
            return Err(("event", KEY_RULE.to_owned()));
        }
    }
    match m.kind {
        MetricKind::Ratio => {
            for (field, part) in [("numerator", &m.numerator), ("denominator", &m.denominator)] {
                let Some(part) = part else {
                    return Err((field, "is required for a ratio metric".into()));
                };
                match all.iter().find(|o| &o.key == part) {
                    None => return Err((field, format!("names no metric of this test: `{part}`"))),
                    Some(o) if o.kind == MetricKind::Ratio => {
                        return Err((field, format!("`{part}` is a ratio metric itself")))
                    }
                    Some(_) => {}
                }
            }
            if m.numerator == m.denominator {
                return Err(("denominator", "must differ from the numerator".into()));
            }
            absent("event", m.event.is_some())?;
            absent("delay_hours", m.delay_hours.is_some())?;
            absent(
                "conversion_window_hours",
                m.conversion_window_hours.is_some(),
            )?;
            absent("cap", m.cap.is_some())?;
        }
        MetricKind::Quantile => {
            let Some(q) = m.quantile else {
                return Err(("quantile", "is required for a quantile metric".into()));
            };
            if !(q.nu > 0.0 && q.nu < 1.0) {
                return Err((
                    "quantile.nu",
                    "must be between 0 and 1, both excluded".into(),
                ));
            }
            absent("from_day", m.from_day.is_some())?;
            absent("to_day", m.to_day.is_some())?;
            absent("cap", m.cap.is_some())?;
        }
        MetricKind::Retention => {
            let (Some(from), Some(to)) = (m.from_day, m.to_day) else {
                let field = if m.from_day.is_none() {
                    "from_day"
                } else {
                    "to_day"
                };
                return Err((field, "is required for a retention metric".into()));
            };
            if to <= from || to > MAX_RETENTION_DAYS {
                return Err((
                    "to_day",
                    format!("must be after from_day and at most {MAX_RETENTION_DAYS}"),
                ));
            }
            absent("delay_hours", m.delay_hours.is_some())?;
            absent(
                "conversion_window_hours",
                m.conversion_window_hours.is_some(),
            )?;
            absent("cap", m.cap.is_some())?;
        }
        MetricKind::Binomial | MetricKind::Value | MetricKind::Count => {
            absent("from_day", m.from_day.is_some())?;
            absent("to_day", m.to_day.is_some())?;
            absent("cap", m.kind == MetricKind::Binomial && m.cap.is_some())?;
        }
    }
    if m.kind != MetricKind::Ratio {
        absent("numerator", m.numerator.is_some())?;
        absent("denominator", m.denominator.is_some())?;
    }
    if m.kind != MetricKind::Quantile {
        absent("quantile", m.quantile.is_some())?;
    }
    if let Some(c) = &m.covariate {
        if matches!(m.kind, MetricKind::Ratio | MetricKind::Quantile) {
            return Err((
                "covariate",
                format!("CUPED does not apply to a {kind} metric (gbstats 0.8.0 cannot adjust it)"),
            ));
        }
        if m.percentile_cap().is_some() {
            return Err((
                "covariate",
                "CUPED does not apply with a percentile cap, known only at analysis".into(),
            ));
        }
        if !is_key(c) {
            return Err(("covariate", KEY_RULE.to_owned()));
        }
    }
    if let Some(h) = m.delay_hours {
        if !(0.0..=MAX_WINDOW_HOURS).contains(&h) {
            return Err(("delay_hours", format!("must be 0 to {MAX_WINDOW_HOURS}")));
        }
    }
    if let Some(h) = m.conversion_window_hours {
        if !(h > 0.0 && h <= MAX_WINDOW_HOURS) {
            return Err((
                "conversion_window_hours",
                format!("must be above 0 and at most {MAX_WINDOW_HOURS}"),
            ));
        }
    }
    match m.cap {
        Some(Cap {
            kind: CapKind::Absolute,
            value,
            ignore_zeros,
        }) => {
            if !(value > 0.0 && value.is_finite()) {
                return Err(("cap.value", "must be a number above 0".into()));
            }
            if ignore_zeros {
                return Err((
                    "cap.ignore_zeros",
                    "applies to a percentile cap only".into(),
                ));
            }
        }
        Some(Cap {
            kind: CapKind::Percentile,
            value,
            ..
        }) => {
            if !(value > 0.0 && value < 1.0) {
                return Err((
                    "cap.value",
                    "a percentile must be between 0 and 1, both excluded".into(),
                ));
            }
            let in_ratio = all.iter().any(|r| {
                r.kind == MetricKind::Ratio
                    && [&r.numerator, &r.denominator].contains(&&Some(m.key.clone()))
            });
            if in_ratio {
                return Err((
                    "cap",
                    "a percentile cap cannot apply to a ratio's numerator or denominator \
                     (use an absolute cap)"
                        .into(),
                ));
            }
        }
        None => {}
    }
    Ok(())
}

fn kind_name(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Binomial => "binomial",
        MetricKind::Value => "value",
        MetricKind::Count => "count",
        MetricKind::Ratio => "ratio",
        MetricKind::Retention => "retention",
        MetricKind::Quantile => "quantile",
    }
}

/// A metric that reads an event, and the ratios built on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reader {
    pub key: String,
    pub rule: Rule,
    pub ratios: Vec<RatioLink>,
}

/// A ratio one of whose components is the reader: the other component and its rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RatioLink {
    pub ratio: String,
    pub other: String,
    pub other_rule: Rule,
    /// Whether the reader is the numerator (else the denominator).
    pub numerator: bool,
}

/// Per beacon event name, the metrics reading it, for definitions [`check`] accepted.
pub fn readers(metrics: &[MetricDef]) -> HashMap<String, Vec<Reader>> {
    let rule_of = |key: &str| metrics.iter().find(|m| m.key == key)?.rule();
    let mut out: HashMap<String, Vec<Reader>> = HashMap::new();
    for m in metrics {
        let Some(rule) = m.rule() else {
            continue;
        };
        let mut ratios = Vec::new();
        for r in metrics.iter().filter(|r| r.kind == MetricKind::Ratio) {
            let (Some(num), Some(den)) = (&r.numerator, &r.denominator) else {
                continue;
            };
            for (mine, other, numerator) in [(num, den, true), (den, num, false)] {
                if *mine == m.key {
                    if let Some(other_rule) = rule_of(other) {
                        ratios.push(RatioLink {
                            ratio: r.key.clone(),
                            other: other.clone(),
                            other_rule,
                            numerator,
                        });
                    }
                }
            }
        }
        out.entry(m.event_name().to_owned())
            .or_default()
            .push(Reader {
                key: m.key.clone(),
                rule,
                ratios,
            });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(json: serde_json::Value) -> MetricDef {
        serde_json::from_value(json).unwrap()
    }

    fn problem(metrics: serde_json::Value) -> (String, String) {
        let defs: Vec<MetricDef> = serde_json::from_value(metrics).unwrap();
        let p = check(&defs).unwrap_err();
        (p.field, p.message)
    }

    #[test]
    fn bad_definitions_name_the_field() {
        use serde_json::json;
        let views = json!({"key": "views", "kind": "count"});
        for (metrics, field) in [
            (
                json!([views, {"key": "ctr", "kind": "ratio", "numerator": "clicks", "denominator": "views"}]),
                "metrics[1].numerator",
            ),
            (
                json!([views, {"key": "ctr", "kind": "ratio", "numerator": "views"}]),
                "metrics[1].denominator",
            ),
            (
                json!([views, {"key": "ctr", "kind": "ratio", "numerator": "views", "denominator": "views"}]),
                "metrics[1].denominator",
            ),
            (
                json!([views, {"key": "r", "kind": "ratio", "numerator": "views", "denominator": "q"}, {"key": "q", "kind": "ratio", "numerator": "views", "denominator": "r"}]),
                "metrics[1].denominator",
            ),
            (
                json!([{"key": "buy", "kind": "binomial", "conversion_window_hours": -1.0}]),
                "metrics[0].conversion_window_hours",
            ),
            (
                json!([{"key": "buy", "kind": "binomial", "conversion_window_hours": 0.0}]),
                "metrics[0].conversion_window_hours",
            ),
            (
                json!([{"key": "buy", "kind": "binomial", "delay_hours": -2.0}]),
                "metrics[0].delay_hours",
            ),
            (
                json!([{"key": "rev", "kind": "value", "cap": {"type": "absolute", "value": -5.0}}]),
                "metrics[0].cap.value",
            ),
            (
                json!([{"key": "buy", "kind": "binomial", "cap": {"type": "absolute", "value": 5.0}}]),
                "metrics[0].cap",
            ),
            (
                json!([{"key": "d7", "kind": "retention", "from_day": 1}]),
                "metrics[0].to_day",
            ),
            (
                json!([{"key": "d7", "kind": "retention", "from_day": 7, "to_day": 7}]),
                "metrics[0].to_day",
            ),
            (
                json!([{"key": "d7", "kind": "retention", "to_day": 7}]),
                "metrics[0].from_day",
            ),
            (
                json!([{"key": "buy", "kind": "binomial", "from_day": 1}]),
                "metrics[0].from_day",
            ),
            (
                json!([{"key": "buy", "kind": "binomial", "event": "has space"}]),
                "metrics[0].event",
            ),
            (
                json!([{"key": "p90", "kind": "quantile"}]),
                "metrics[0].quantile",
            ),
            (
                json!([{"key": "p90", "kind": "quantile", "quantile": {"nu": 1.0}}]),
                "metrics[0].quantile.nu",
            ),
            (
                json!([{"key": "p90", "kind": "quantile", "quantile": {"nu": 0.0}}]),
                "metrics[0].quantile.nu",
            ),
            (
                json!([{"key": "p90", "kind": "quantile", "quantile": {"nu": 0.9}, "cap": {"type": "absolute", "value": 5.0}}]),
                "metrics[0].cap",
            ),
            (
                json!([{"key": "rev", "kind": "value", "quantile": {"nu": 0.9}}]),
                "metrics[0].quantile",
            ),
            (
                json!([{"key": "rev", "kind": "value", "cap": {"type": "percentile", "value": 99.0}}]),
                "metrics[0].cap.value",
            ),
            (
                json!([{"key": "rev", "kind": "value", "cap": {"type": "absolute", "value": 9.0, "ignore_zeros": true}}]),
                "metrics[0].cap.ignore_zeros",
            ),
            (
                json!([views, {"key": "rev", "kind": "value", "cap": {"type": "percentile", "value": 0.99}}, {"key": "rpv", "kind": "ratio", "numerator": "rev", "denominator": "views"}]),
                "metrics[1].cap",
            ),
            (
                json!([{"key": "p90", "kind": "quantile", "quantile": {"nu": 0.9}, "covariate": "pre"}]),
                "metrics[0].covariate",
            ),
            (
                json!([{"key": "rev", "kind": "value", "covariate": "has space"}]),
                "metrics[0].covariate",
            ),
        ] {
            assert_eq!(problem(metrics.clone()).0, field, "{metrics}");
        }
    }

    #[test]
    fn retention_is_a_binomial_window_in_days() {
        let d = def(
            serde_json::json!({"key": "d1_7", "kind": "retention", "event": "visit", "from_day": 1, "to_day": 7}),
        );
        assert!(check(std::slice::from_ref(&d)).is_ok());
        assert_eq!(d.event_name(), "visit");
        assert_eq!(
            d.rule(),
            Some(Rule {
                per_unit: PerUnit::Converted,
                window: Some(Window {
                    from_ms: 86_400_000,
                    to_ms: Some(7 * 86_400_000)
                }),
                cap: None,
                sketch: false,
            })
        );
    }

    #[test]
    fn quantiles_and_percentile_caps_keep_a_sketch() {
        let p90 = def(
            serde_json::json!({"key": "p90", "kind": "quantile", "event": "order", "quantile": {"nu": 0.9}}),
        );
        let rule = p90.rule().unwrap();
        assert_eq!(
            (rule.per_unit, rule.sketch, rule.cap),
            (PerUnit::Sum, true, None)
        );
        let events = def(
            serde_json::json!({"key": "p90e", "kind": "quantile", "quantile": {"nu": 0.9, "level": "event"}}),
        );
        let rule = events.rule().unwrap();
        assert_eq!((rule.per_unit, rule.sketch), (PerUnit::Count, false));
        let capped = def(
            serde_json::json!({"key": "rev", "kind": "value", "cap": {"type": "percentile", "value": 0.99, "ignore_zeros": true}}),
        );
        let rule = capped.rule().unwrap();
        assert_eq!((rule.sketch, rule.cap), (true, None));
        assert_eq!(
            capped.percentile_cap().map(|c| (c.value, c.ignore_zeros)),
            Some((0.99, true))
        );
        assert!(check(&[p90, events, capped]).is_ok());
    }

    #[test]
    fn readers_link_components_to_their_ratios() {
        let defs: Vec<MetricDef> = serde_json::from_value(serde_json::json!([
            {"key": "clicks", "kind": "count"},
            {"key": "views", "kind": "count", "event": "pageview"},
            {"key": "views_24h", "kind": "count", "event": "pageview", "conversion_window_hours": 24},
            {"key": "ctr", "kind": "ratio", "numerator": "clicks", "denominator": "views"},
        ]))
        .unwrap();
        check(&defs).unwrap();
        let r = readers(&defs);
        assert_eq!(r.len(), 2);
        let pageview: Vec<&str> = r["pageview"].iter().map(|x| x.key.as_str()).collect();
        assert_eq!(pageview, ["views", "views_24h"]);
        let clicks = &r["clicks"][0];
        assert_eq!(clicks.ratios.len(), 1);
        assert_eq!(
            (
                clicks.ratios[0].ratio.as_str(),
                clicks.ratios[0].other.as_str(),
                clicks.ratios[0].numerator
            ),
            ("ctr", "views", true)
        );
        assert!(!r["pageview"][0].ratios[0].numerator);
        assert!(r["pageview"][1].ratios.is_empty());
    }
}
