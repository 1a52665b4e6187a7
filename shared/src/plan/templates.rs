//! Test templates: variant skeletons with the content keys each variant must fill, a default
//! primary metric and guardrails, decision settings and tags. Five are built in; an org defines
//! its own as [`TemplateDef`]s (the control plane keeps their versions).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::decide::DecisionOverrides;
use crate::snapshot::MetricDef;

/// A template a draft test starts from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Template {
    pub name: String,
    pub description: String,
    /// The content keys every variant must set.
    pub content_keys: Vec<String>,
    /// The control's content and each challenger's skeleton (the same keys, to fill in).
    pub control: Value,
    /// Metric definitions, as a test's `metrics` (primary first, then guardrails).
    pub metrics: Value,
    /// Decision overrides (a test's `decision`).
    pub decision: Value,
    pub tags: Vec<String>,
    /// A page where a regression costs money directly (checkout, pricing).
    pub sensitive: bool,
}

fn template(
    name: &str,
    description: &str,
    control: Value,
    metrics: Value,
    decision: Value,
    tags: &[&str],
    sensitive: bool,
) -> Template {
    let content_keys = control
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    Template {
        name: name.to_owned(),
        description: description.to_owned(),
        content_keys,
        control,
        metrics,
        decision,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        sensitive,
    }
}

/// The built-in templates: `headline`, `call_to_action`, `pricing_display`, `hero_layout`,
/// `checkout_step`.
pub fn builtin() -> Vec<Template> {
    let revenue_guard = json!({"key": "revenue", "kind": "value", "event": "purchase",
        "role": "guardrail", "cap": {"type": "percentile", "value": 0.99}});
    let errors_guard = json!({"key": "errors", "kind": "count", "event": "error",
        "role": "guardrail", "higher_is_better": false});
    vec![
        template(
            "headline",
            "A page's main headline and its subline.",
            json!({"headline": "", "subheadline": ""}),
            json!([{"key": "signup", "kind": "binomial", "role": "primary"},
                   {"key": "bounce", "kind": "binomial", "event": "bounce", "role": "guardrail",
                    "higher_is_better": false}]),
            json!({}),
            &["headline", "copy"],
            false,
        ),
        template(
            "call_to_action",
            "A call-to-action button's label and colour.",
            json!({"cta_label": "", "cta_color": ""}),
            json!([{"key": "click", "kind": "binomial", "role": "primary"},
                   {"key": "signup", "kind": "binomial", "role": "guardrail"}]),
            json!({}),
            &["cta"],
            false,
        ),
        template(
            "pricing_display",
            "How prices are shown: the plan order, the price format, the highlighted plan.",
            json!({"plan_order": "", "price_format": "", "highlight": ""}),
            json!([{"key": "purchase", "kind": "binomial", "role": "primary"},
                   revenue_guard.clone(),
                   {"key": "refund", "kind": "binomial", "role": "guardrail",
                    "higher_is_better": false}]),
            json!({"max_regression": 0.02}),
            &["pricing"],
            true,
        ),
        template(
            "hero_layout",
            "The hero section's layout: image, position of the copy, size.",
            json!({"layout": "", "image": ""}),
            json!([{"key": "engage", "kind": "binomial", "role": "primary"},
                   errors_guard.clone()]),
            json!({}),
            &["hero", "layout"],
            false,
        ),
        template(
            "checkout_step",
            "One step of the checkout: fields shown, order, wording.",
            json!({"step_title": "", "fields": ""}),
            json!([{"key": "purchase", "kind": "binomial", "role": "primary"},
                   revenue_guard,
                   errors_guard]),
            json!({"max_regression": 0.01, "min_runtime_days": 14}),
            &["checkout"],
            true,
        ),
    ]
}

/// A built-in template by name.
pub fn named(name: &str) -> Option<Template> {
    builtin().into_iter().find(|t| t.name == name)
}

/// An org's own template, as `POST /api/v1/templates` takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateDef {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The control's content; its keys are the ones every variant must set.
    pub content: Map<String, Value>,
    /// A test's `metrics` (a primary one, guardrails).
    #[serde(default)]
    pub metrics: Vec<MetricDef>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::decide::settings::object_or_null"
    )]
    pub decision: Option<DecisionOverrides>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// A page where a regression costs money directly (checkout, pricing).
    #[serde(default)]
    pub sensitive: bool,
}

/// Longest template name; names are `A–Z a–z 0–9 _ . -` (they appear in URLs).
pub const MAX_NAME_CHARS: usize = 64;
/// Most content keys a template names.
pub const MAX_CONTENT_KEYS: usize = 50;

impl TemplateDef {
    /// The checks a template's own fields must pass, as `(field, message)`; the metrics,
    /// decision and tags are checked as the test it drafts (the control plane does that).
    pub fn check(&self) -> Result<(), (String, String)> {
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= MAX_NAME_CHARS
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        };
        if !name_ok(&self.name) {
            return Err((
                "name".into(),
                format!("must be 1 to {MAX_NAME_CHARS} of A–Z a–z 0–9 _ . -"),
            ));
        }
        if !crate::limits::is_path_segment(&self.name) {
            return Err(("name".into(), crate::limits::PATH_SEGMENT_RULE.into()));
        }
        if named(&self.name).is_some() {
            return Err(("name".into(), "is a built-in template's name".into()));
        }
        if self.content.is_empty() || self.content.len() > MAX_CONTENT_KEYS {
            return Err((
                "content".into(),
                format!("must name 1 to {MAX_CONTENT_KEYS} content keys"),
            ));
        }
        if let Some(k) = self.content.keys().find(|k| !name_ok(k)) {
            return Err((
                format!("content.{k}"),
                format!("a content key must be 1 to {MAX_NAME_CHARS} of A–Z a–z 0–9 _ . -"),
            ));
        }
        Ok(())
    }

    pub fn template(&self) -> Template {
        Template {
            name: self.name.clone(),
            description: self.description.clone(),
            content_keys: self.content.keys().cloned().collect(),
            control: Value::Object(self.content.clone()),
            metrics: serde_json::to_value(&self.metrics).unwrap_or_default(),
            decision: self
                .decision
                .as_ref()
                .and_then(|d| serde_json::to_value(d).ok())
                .unwrap_or_else(|| json!({})),
            tags: self.tags.clone(),
            sensitive: self.sensitive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_own_template_drafts_like_a_built_in_one() {
        let def: TemplateDef = serde_json::from_value(json!({
            "name": "banner", "content": {"text": "Sale", "color": "red"},
            "metrics": [{"key": "click", "kind": "binomial", "role": "primary"}],
            "decision": {"max_regression": 0.02}, "tags": ["banner"]
        }))
        .unwrap();
        assert_eq!(def.check(), Ok(()));
        let t = def.template();
        assert_eq!(t.content_keys, ["color", "text"]);
        assert_eq!(t.decision, json!({"max_regression": 0.02}));
        let bad = |v: Value| {
            let mut d = def.clone();
            for (k, x) in v.as_object().unwrap() {
                match k.as_str() {
                    "name" => d.name = x.as_str().unwrap().into(),
                    _ => d.content = x.as_object().unwrap().clone(),
                }
            }
            d.check().unwrap_err().0
        };
        assert_eq!(bad(json!({"name": "a/b"})), "name");
        assert_eq!(bad(json!({"name": "headline"})), "name");
        assert_eq!(bad(json!({"name": ".."})), "name");
        assert_eq!(bad(json!({"name": "."})), "name");
        assert_eq!(bad(json!({"content": {}})), "content");
        assert_eq!(bad(json!({"content": {"a b": 1}})), "content.a b");
    }
}
