//! Checks of a test before it starts, beyond what makes it publishable: errors (start refuses
//! while any remains) and warnings, each naming the field it concerns and its rule.
//!
//! | rule | severity | fires when |
//! |---|---|---|
//! | `unknown_template` | error | `template` names no template |
//! | `missing_content_key` | error | a variant's content lacks a key its template needs |
//! | `same_page` | error | another published test changes one of its `pages` and the two are not in one layer |
//! | `layer_capacity` | error | its slot overlaps a published test's slot in its layer (the message names the free ranges) |
//! | `holdout_conflict` | error | it (or its layer) hashes with the holdout's hash id: it would only see the buckets the holdout leaves, so its low ranges see nobody |
//! | `targets_nobody` | error | none of the recent visitors (the device × persona mix of the running tests' exposures) passes its device and persona targeting |
//! | `no_guardrail` | warning | it measures revenue (a value metric) without a guardrail metric |
//! | `underpowered` | warning | at the observed daily traffic and its primary metric's observed rate, the power analysis needs more than the maximum days |

use serde::Serialize;

use super::templates::Template;
use crate::snapshot::{
    LayerDef, LayerSlot, MetricDef, MetricKind, MetricRole, Targeting, VariantDef,
};
use crate::stats::power::{sample_size, PowerInput};
use crate::DeviceClass;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub rule: &'static str,
    pub field: String,
    pub message: String,
}

/// The test being checked.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub key: &'a str,
    /// The hash id its buckets come from (its key unless set).
    pub hash_id: &'a str,
    pub template: Option<&'a str>,
    pub pages: &'a [String],
    pub layer: Option<&'a LayerSlot>,
    pub variants: &'a [VariantDef],
    pub metrics: &'a [MetricDef],
    pub targeting: &'a Targeting,
    pub coverage: f64,
}

/// Another published test: its key, pages and layer slot.
#[derive(Debug, Clone, Copy)]
pub struct Other<'a> {
    pub key: &'a str,
    pub pages: &'a [String],
    pub layer: Option<&'a LayerSlot>,
}

/// The org's setup the checks read: the templates (built-in and the org's own), the layers and
/// the holdout's hash id when a holdout is on.
#[derive(Debug, Clone, Copy)]
pub struct Setup<'a> {
    pub templates: &'a [Template],
    pub layers: &'a [LayerDef],
    pub holdout_hash_id: Option<&'a str>,
}

/// What recent traffic looks like.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    /// Exposed units by device class and persona (`""`: none).
    pub mix: Vec<(DeviceClass, String, u64)>,
    /// Units a day entering tests (the busiest running test's), if known.
    pub daily_units: Option<f64>,
    /// The primary metric's observed conversion rate in other tests, if known.
    pub baseline: Option<f64>,
}

/// The sizing the `underpowered` rule uses.
#[derive(Debug, Clone, Copy)]
pub struct Sizing {
    pub mde: f64,
    pub alpha: f64,
    pub power: f64,
    pub max_days: f64,
}

/// Visitors the mix must hold before `targets_nobody` can fire.
pub const MIN_SAMPLE: u64 = 100;

/// The free ranges of a layer's bucket space beside `taken` (half-open slots), as `a–b`.
fn free_ranges(mut taken: Vec<[u32; 2]>) -> String {
    taken.sort_unstable();
    let (mut free, mut at) = (Vec::new(), 0);
    for [a, b] in taken {
        if a > at {
            free.push(format!("{at}–{a}"));
        }
        at = at.max(b);
    }
    if at < crate::BUCKETS {
        free.push(format!("{at}–{}", crate::BUCKETS));
    }
    if free.is_empty() {
        "none: the layer is full".into()
    } else {
        free.join(", ")
    }
}

pub fn check(
    c: &Candidate<'_>,
    others: &[Other<'_>],
    traffic: &Traffic,
    setup: &Setup<'_>,
    s: Sizing,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |severity, rule, field: String, message: String| {
        out.push(Finding {
            severity,
            rule,
            field,
            message,
        })
    };
    if let Some(name) = c.template {
        match setup.templates.iter().find(|t| t.name == name) {
            None => push(
                Severity::Error,
                "unknown_template",
                "template".into(),
                format!("no template `{name}`"),
            ),
            Some(t) => {
                for (i, v) in c.variants.iter().enumerate() {
                    for k in &t.content_keys {
                        if v.content.get(k).is_none() {
                            push(
                                Severity::Error,
                                "missing_content_key",
                                format!("variants[{i}].content.{k}"),
                                format!("template `{name}` needs `{k}` in every variant"),
                            );
                        }
                    }
                }
            }
        }
    }
    for (i, page) in c.pages.iter().enumerate() {
        for o in others.iter().filter(|o| o.key != c.key) {
            let same_layer =
                c.layer.is_some() && c.layer.map(|l| &l.key) == o.layer.map(|l| &l.key);
            if o.pages.contains(page) && !same_layer {
                push(
                    Severity::Error,
                    "same_page",
                    format!("pages[{i}]"),
                    format!(
                        "test `{}` also changes `{page}`; put both in one layer so no visitor \
                         sees both",
                        o.key
                    ),
                );
            }
        }
    }
    if let Some(slot) = c.layer {
        let in_layer: Vec<(&str, [u32; 2])> = others
            .iter()
            .filter(|o| o.key != c.key)
            .filter_map(|o| Some((o.key, o.layer.filter(|l| l.key == slot.key)?.range)))
            .collect();
        let [a, b] = slot.range;
        for (key, [x, y]) in &in_layer {
            if a < *y && *x < b {
                push(
                    Severity::Error,
                    "layer_capacity",
                    "layer.range".into(),
                    format!(
                        "buckets {a}–{b} overlap test `{key}`'s {x}–{y} in layer `{}`; free: {}",
                        slot.key,
                        free_ranges(in_layer.iter().map(|(_, r)| *r).collect())
                    ),
                );
            }
        }
    }
    if let Some(holdout) = setup.holdout_hash_id {
        let layer_hash = c.layer.map(|slot| {
            setup
                .layers
                .iter()
                .find(|l| l.key == slot.key)
                .and_then(|l| l.hash_id.as_deref())
                .unwrap_or(&slot.key)
        });
        let clash = if c.hash_id == holdout {
            Some("hash_id")
        } else if layer_hash == Some(holdout) {
            Some("layer.key")
        } else {
            None
        };
        if let Some(field) = clash {
            push(
                Severity::Error,
                "holdout_conflict",
                field.into(),
                format!(
                    "it hashes visitors with the holdout's hash id `{holdout}`: it would see \
                     only the buckets the holdout leaves, so its lowest ranges see nobody"
                ),
            );
        }
    }
    let seen: u64 = traffic.mix.iter().map(|(_, _, n)| n).sum();
    if seen >= MIN_SAMPLE {
        let t = c.targeting;
        let reached: u64 = traffic
            .mix
            .iter()
            .filter(|(d, p, _)| {
                (t.devices.is_empty() || t.devices.contains(d))
                    && (t.personas.is_empty() || t.personas.contains(p))
            })
            .map(|(_, _, n)| n)
            .sum();
        if reached == 0 {
            push(
                Severity::Error,
                "targets_nobody",
                "targeting".into(),
                format!("none of {seen} recent visitors has a targeted device class and persona"),
            );
        }
    }
    let revenue = c.metrics.iter().any(|m| m.kind == MetricKind::Value);
    let guarded = c.metrics.iter().any(|m| m.role == MetricRole::Guardrail);
    if revenue && !guarded {
        push(
            Severity::Warning,
            "no_guardrail",
            "metrics".into(),
            "it measures revenue without a guardrail metric".into(),
        );
    }
    if let (Some(daily), Some(baseline)) = (traffic.daily_units, traffic.baseline) {
        let days = sample_size(&PowerInput {
            baseline,
            mde: s.mde,
            alpha: s.alpha,
            power: s.power,
            stddev: None,
            daily_traffic: Some(daily),
            coverage: c.coverage,
            arms: c.variants.len() as u32,
        })
        .ok()
        .and_then(|p| p.days);
        if let Some(days) = days.filter(|d| *d > s.max_days) {
            push(
                Severity::Warning,
                "underpowered",
                "coverage".into(),
                format!(
                    "{days:.0} days to detect {:.1}% at {daily:.0} units a day and a {:.2}% \
                     baseline: more than {:.0}",
                    s.mde * 100.0,
                    baseline * 100.0,
                    s.max_days
                ),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn variants(content: serde_json::Value) -> Vec<VariantDef> {
        serde_json::from_value(json!([{"key": "a", "weight": 1, "content": content},
                                      {"key": "b", "weight": 1, "content": content}]))
        .unwrap()
    }

    fn metrics(v: serde_json::Value) -> Vec<MetricDef> {
        serde_json::from_value(v).unwrap()
    }

    const SIZING: Sizing = Sizing {
        mde: 0.05,
        alpha: 0.05,
        power: 0.8,
        max_days: 56.0,
    };

    fn rules(f: &[Finding]) -> Vec<(&'static str, &str)> {
        f.iter().map(|f| (f.rule, f.field.as_str())).collect()
    }

    #[test]
    fn a_clean_test_passes_and_each_rule_fires_on_its_case() {
        let v = variants(json!({"headline": "x", "subheadline": "y"}));
        let m = metrics(
            json!([{"key": "buy", "kind": "binomial", "role": "primary"},
                               {"key": "rev", "kind": "value", "role": "guardrail"}]),
        );
        let pages = vec!["/home".to_owned()];
        let targeting = Targeting::default();
        let builtin = crate::plan::templates::builtin();
        let setup = Setup {
            templates: &builtin,
            layers: &[],
            holdout_hash_id: None,
        };
        let clean = Candidate {
            key: "t",
            hash_id: "t",
            template: Some("headline"),
            pages: &pages,
            layer: None,
            variants: &v,
            metrics: &m,
            targeting: &targeting,
            coverage: 1.0,
        };
        let other_pages = vec!["/pricing".to_owned()];
        let others = [Other {
            key: "o",
            pages: &other_pages,
            layer: None,
        }];
        let traffic = Traffic {
            mix: vec![(DeviceClass::Mobile, String::new(), 500)],
            daily_units: Some(50_000.0),
            baseline: Some(0.1),
        };
        assert!(check(&clean, &others, &traffic, &setup, SIZING).is_empty());

        // Each rule on its own crafted case.
        let bare = variants(json!({"headline": "x"}));
        let f = check(
            &Candidate {
                variants: &bare,
                ..clean
            },
            &others,
            &traffic,
            &setup,
            SIZING,
        );
        assert_eq!(
            rules(&f),
            [
                ("missing_content_key", "variants[0].content.subheadline"),
                ("missing_content_key", "variants[1].content.subheadline")
            ]
        );
        let f = check(
            &Candidate {
                template: Some("banner"),
                ..clean
            },
            &others,
            &traffic,
            &setup,
            SIZING,
        );
        assert_eq!(rules(&f), [("unknown_template", "template")]);
        let f = check(
            &Candidate {
                pages: &other_pages,
                ..clean
            },
            &others,
            &traffic,
            &setup,
            SIZING,
        );
        assert_eq!(rules(&f), [("same_page", "pages[0]")]);
        let slot = |range| LayerSlot {
            key: "l".into(),
            range,
        };
        let (low, high, middle) = (slot([0, 5000]), slot([5000, 9000]), slot([4000, 6000]));
        let layered = [Other {
            layer: Some(&high),
            ..others[0]
        }];
        let f = check(
            &Candidate {
                pages: &other_pages,
                layer: Some(&low),
                ..clean
            },
            &layered,
            &traffic,
            &setup,
            SIZING,
        );
        assert!(f.is_empty(), "{f:?}");
        let f = check(
            &Candidate {
                layer: Some(&middle),
                ..clean
            },
            &layered,
            &traffic,
            &setup,
            SIZING,
        );
        assert_eq!(rules(&f), [("layer_capacity", "layer.range")]);
        assert!(f[0].message.ends_with("free: 0–5000, 9000–10000"), "{f:?}");
        let held = Setup {
            holdout_hash_id: Some("t"),
            ..setup
        };
        let f = check(&clean, &others, &traffic, &held, SIZING);
        assert_eq!(rules(&f), [("holdout_conflict", "hash_id")]);
        let layers = [LayerDef {
            key: "l".into(),
            hash_id: Some("edgewise-holdout".into()),
        }];
        let held = Setup {
            layers: &layers,
            holdout_hash_id: Some("edgewise-holdout"),
            ..setup
        };
        let f = check(
            &Candidate {
                layer: Some(&low),
                ..clean
            },
            &others,
            &traffic,
            &held,
            SIZING,
        );
        assert_eq!(rules(&f), [("holdout_conflict", "layer.key")]);
        let desktop: Targeting = serde_json::from_value(json!({"devices": ["desktop"]})).unwrap();
        let f = check(
            &Candidate {
                targeting: &desktop,
                ..clean
            },
            &others,
            &traffic,
            &setup,
            SIZING,
        );
        assert_eq!(rules(&f), [("targets_nobody", "targeting")]);
        let few = Traffic {
            mix: vec![(DeviceClass::Mobile, String::new(), 99)],
            ..traffic.clone()
        };
        assert!(check(
            &Candidate {
                targeting: &desktop,
                ..clean
            },
            &others,
            &few,
            &setup,
            SIZING
        )
        .is_empty());
        let unguarded = metrics(json!([{"key": "rev", "kind": "value", "role": "primary"}]));
        let f = check(
            &Candidate {
                metrics: &unguarded,
                ..clean
            },
            &others,
            &traffic,
            &setup,
            SIZING,
        );
        assert_eq!(rules(&f), [("no_guardrail", "metrics")]);
        assert_eq!(f[0].severity, Severity::Warning);
        let quiet = Traffic {
            daily_units: Some(500.0),
            ..traffic.clone()
        };
        let f = check(&clean, &others, &quiet, &setup, SIZING);
        assert_eq!(rules(&f), [("underpowered", "coverage")]);
    }
}
