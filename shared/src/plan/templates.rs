//! Built-in test templates: variant skeletons with the content keys each variant must fill, a
//! default primary metric and guardrails, decision settings and tags.

use serde::Serialize;
use serde_json::{json, Value};

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
