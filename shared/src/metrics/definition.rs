//! A test's metric definitions: checking them, and which metrics read each beacon event.

use std::collections::HashMap;

use super::rule::{PerUnit, Rule, Window};
use crate::limits::{is_key, KEY_RULE, MAX_RETENTION_DAYS, MAX_WINDOW_HOURS};
use crate::snapshot::{Cap, CapKind, MetricDef, MetricKind};

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
        Some(Rule {
            per_unit,
            window,
            cap: self.cap.map(|c| match c.kind {
                CapKind::Absolute => c.value,
            }),
        })
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
    if let Some(Cap { value, .. }) = m.cap {
        if !(value > 0.0 && value.is_finite()) {
            return Err(("cap.value", "must be a number above 0".into()));
        }
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
                cap: None
            })
        );
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
