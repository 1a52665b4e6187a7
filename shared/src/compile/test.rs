//! One test of a snapshot, compiled within [`crate::limits`]: keys, variants and weights,
//! content and its overrides, schedule, targeting, layer slot, metrics.

use std::collections::HashSet;

use super::{CompiledTest, CompiledVariant};
use crate::allocation::Allocation;
use crate::condition::{Cond, ConditionError};
use crate::content::ResolvedContent;
use crate::device::DeviceClass;
use crate::limits::{self, is_key, KEY_RULE};
use crate::snapshot::{MetricRole, TestDef, VariantDef};
use crate::timestamp::parse_rfc3339_ms;
use crate::BUCKETS;

/// Why a test is skipped: `conflict` when the test is valid by itself but not beside the
/// rest of the snapshot.
pub(super) struct Skip {
    pub(super) path: String,
    pub(super) message: String,
    pub(super) conflict: bool,
}

impl From<(String, String)> for Skip {
    fn from((path, message): (String, String)) -> Skip {
        Skip {
            path,
            message,
            conflict: false,
        }
    }
}

type Invalid = (String, String);

pub(super) fn compile_test(
    t: &TestDef,
    path: &str,
    layer_keys: &[&str],
    accepted: &[CompiledTest],
) -> Result<CompiledTest, Skip> {
    let bad = |field: &str, message: String| Skip::from((format!("{path}.{field}"), message));
    let conflict = |field: &str, message: String| Skip {
        conflict: true,
        ..bad(field, message)
    };
    if !is_key(&t.key) {
        return Err(bad("key", KEY_RULE.into()));
    }
    if t.hash_id.as_deref().is_some_and(|h| !is_key(h)) {
        return Err(bad(
            "hash_id",
            format!("{KEY_RULE} (omit it to use the key)"),
        ));
    }
    if !(limits::MIN_VARIANTS..=limits::MAX_VARIANTS).contains(&t.variants.len()) {
        return Err(bad(
            "variants",
            format!(
                "needs {} to {} variants, has {}",
                limits::MIN_VARIANTS,
                limits::MAX_VARIANTS,
                t.variants.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    for (i, v) in t.variants.iter().enumerate() {
        if !is_key(&v.key) || !seen.insert(v.key.as_str()) {
            return Err(bad(
                &format!("variants[{i}].key"),
                format!("variant keys must be unique and each {KEY_RULE}"),
            ));
        }
        if !(0.0..=limits::MAX_WEIGHT).contains(&v.weight) {
            return Err(bad(
                &format!("variants[{i}].weight"),
                format!("must be a number in [0, 1e300], got {}", v.weight),
            ));
        }
        check_content(v).map_err(|(field, m)| bad(&format!("variants[{i}].{field}"), m))?;
    }
    let weights: Vec<f64> = t.variants.iter().map(|v| v.weight).collect();
    if weights.iter().sum::<f64>() <= 0.0 {
        return Err(bad("variants", "weights must not all be zero".into()));
    }
    if !(0.0..=1.0).contains(&t.coverage) {
        return Err(bad(
            "coverage",
            format!("must be in [0, 1], got {}", t.coverage),
        ));
    }
    let time = |field: &str, v: &Option<String>| {
        v.as_deref()
            .map(parse_rfc3339_ms)
            .transpose()
            .map_err(|m| bad(field, m))
    };
    let start_ms = time("start_at", &t.start_at)?;
    let end_ms = time("end_at", &t.end_at)?;
    if let (Some(s), Some(e)) = (start_ms, end_ms) {
        if s >= e {
            return Err(bad("end_at", "must be later than start_at".into()));
        }
    }
    let when = t
        .targeting
        .when
        .as_ref()
        .map(|c| Cond::compile(c, &format!("{path}.targeting.when")))
        .transpose()
        .map_err(|ConditionError { path, message }| (path, message))?;
    if t.targeting.personas.len() > limits::MAX_PERSONAS {
        return Err(bad(
            "targeting.personas",
            format!("at most {} personas", limits::MAX_PERSONAS),
        ));
    }
    if let Some(i) = t.targeting.personas.iter().position(|p| !is_key(p)) {
        return Err(bad(&format!("targeting.personas[{i}]"), KEY_RULE.into()));
    }
    let devices = t
        .targeting
        .devices
        .iter()
        .fold(0u8, |bits, d: &DeviceClass| bits | (1 << d.index()));
    let layer = match &t.layer {
        None => None,
        Some(slot) => {
            let Some(index) = layer_keys.iter().position(|k| *k == slot.key) else {
                return Err(conflict(
                    "layer.key",
                    format!("no layer `{}` in this snapshot", slot.key),
                ));
            };
            let [start, end] = slot.range;
            if start >= end || end > BUCKETS {
                return Err(bad(
                    "layer.range",
                    format!("must be [start, end) with start < end <= {BUCKETS}"),
                ));
            }
            if let Some(other) = accepted.iter().find(|o| {
                o.layer
                    .is_some_and(|(li, s, e)| li == index && s < end && start < e)
            }) {
                return Err(conflict(
                    "layer.range",
                    format!("overlaps test `{}` in layer `{}`", other.key, slot.key),
                ));
            }
            Some((index, start, end))
        }
    };
    if t.metrics.len() > limits::MAX_METRICS {
        return Err(bad(
            "metrics",
            format!("at most {} metrics", limits::MAX_METRICS),
        ));
    }
    let mut metric_keys = HashSet::new();
    for (i, m) in t.metrics.iter().enumerate() {
        if !is_key(&m.key) || !metric_keys.insert(m.key.as_str()) {
            return Err(bad(
                &format!("metrics[{i}].key"),
                format!("metric keys must be unique and each {KEY_RULE}"),
            ));
        }
    }
    if t.metrics
        .iter()
        .filter(|m| m.role == MetricRole::Primary)
        .count()
        > 1
    {
        return Err(bad("metrics", "at most one metric can be primary".into()));
    }
    if let Err(p) = crate::metrics::check(&t.metrics) {
        return Err(bad(&p.field, p.message));
    }
    if let Err((i, message)) = crate::dimensions::check(&t.dimensions) {
        let field = i.map_or("dimensions".to_owned(), |i| format!("dimensions[{i}]"));
        return Err(bad(&field, message));
    }
    Ok(CompiledTest {
        key: t.key.clone(),
        hash_id: t.hash_id().to_owned(),
        status: t.status,
        start_ms,
        end_ms,
        allocation: Allocation::new(&weights, t.coverage),
        variants: t
            .variants
            .iter()
            .map(|v| CompiledVariant {
                key: v.key.clone(),
                content: ResolvedContent::new(&v.content, &v.overrides),
            })
            .collect(),
        devices,
        personas: t.targeting.personas.clone(),
        when,
        layer,
        metrics: t.metrics.clone(),
        sticky: t.sticky.then(|| crate::bandit::sticky::tag(&t.key)),
        dimensions: t.dimensions.clone(),
    })
}

/// A variant's content and overrides within [`limits`]: nesting, persona keys, and the bytes
/// the edge holds once every combination is merged. Counted before merging, as the content's
/// length plus the lengths of the patches merged into it, summed over the base and every
/// combination: a bound on what [`ResolvedContent::new`] builds.
fn check_content(v: &VariantDef) -> Result<(), Invalid> {
    let too_deep = |field: String| {
        Err((
            field,
            format!(
                "nests deeper than {} levels of arrays and objects",
                limits::MAX_CONTENT_DEPTH
            ),
        ))
    };
    if limits::depth(&v.content) > limits::MAX_CONTENT_DEPTH {
        return too_deep("content".into());
    }
    // Page changes (`dom`, `split_url`) in the content and in each patch, which replaces them.
    crate::rewrite::change::check_content(&v.content)
        .map_err(|(field, m)| (format!("content.{field}"), m))?;
    for (d, patch) in &v.overrides.device {
        crate::rewrite::change::check_content(patch)
            .map_err(|(f, m)| (format!("overrides.device.{}.{f}", d.as_str()), m))?;
    }
    for (p, patch) in &v.overrides.persona {
        crate::rewrite::change::check_content(patch)
            .map_err(|(f, m)| (format!("overrides.persona.{p}.{f}"), m))?;
    }
    let o = &v.overrides;
    if o.persona.len() > limits::MAX_PERSONAS {
        return Err((
            "overrides.persona".into(),
            format!("at most {} persona overrides", limits::MAX_PERSONAS),
        ));
    }
    let mut device = Vec::new();
    for (d, patch) in &o.device {
        if limits::depth(patch) > limits::MAX_CONTENT_DEPTH {
            return too_deep(format!("overrides.device.{}", d.as_str()));
        }
        device.push(limits::json_len(patch));
    }
    let mut persona = Vec::new();
    for (p, patch) in &o.persona {
        if !is_key(p) {
            return Err((
                format!("overrides.persona.{p}"),
                format!("persona keys {KEY_RULE}"),
            ));
        }
        if limits::depth(patch) > limits::MAX_CONTENT_DEPTH {
            return too_deep(format!("overrides.persona.{p}"));
        }
        persona.push(limits::json_len(patch));
    }
    let base = limits::json_len(&v.content);
    let (nd, np) = (device.len(), persona.len());
    let (sd, sp): (usize, usize) = (device.iter().sum(), persona.iter().sum());
    // base alone; each device patch; each persona patch; each (device, persona) pair.
    let total = base * (1 + nd + np + nd * np) + sd * (1 + np) + sp * (1 + nd);
    if total > limits::MAX_VARIANT_CONTENT_BYTES {
        return Err((
            "content".into(),
            format!(
                "with its overrides merged this variant holds {total} bytes of content; \
                 at most {} are allowed",
                limits::MAX_VARIANT_CONTENT_BYTES
            ),
        ));
    }
    Ok(())
}
