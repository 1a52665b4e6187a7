//! Wire [`Snapshot`] → [`CompiledSnapshot`]: validated once, evaluated many times.
//!
//! Snapshot-wide problems (an unknown schema or hash version, a bad holdout) refuse the whole
//! snapshot with a [`SnapshotError`]. A problem inside one test, layer or persona skips just that
//! item and reports a typed [`Warning`] naming the JSON path, so one bad test never sinks others.

use std::collections::HashSet;

use serde::Serialize;

use crate::allocation::Allocation;
use crate::condition::{Cond, ConditionError};
use crate::content::ResolvedContent;
use crate::device::DeviceClass;
use crate::hash::HASH_VERSION;
use crate::limits::{self, is_key, KEY_RULE};
use crate::snapshot::{
    MetricDef, MetricRole, Snapshot, TestDef, TestStatus, VariantDef, DEFAULT_HOLDOUT_HASH_ID,
    SCHEMA_VERSION,
};
use crate::timestamp::parse_rfc3339_ms;
use crate::BUCKETS;

/// Why a whole snapshot is refused.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("a snapshot may hold at most {max} bytes, this one has {0}", max = limits::MAX_SNAPSHOT_BYTES)]
    TooLarge(usize),
    #[error("invalid snapshot JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("schema_version {0} is not supported (this build reads {SCHEMA_VERSION})")]
    UnsupportedSchema(u32),
    #[error("hash_version {0} is not supported (this build buckets with {HASH_VERSION})")]
    UnsupportedHashVersion(u32),
    /// `field` of the holdout (`share` or `hash_id`) is invalid.
    #[error("holdout.{field} {message}")]
    InvalidHoldout {
        field: &'static str,
        message: String,
    },
}

/// A part of the snapshot that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Warning {
    #[error("test `{test}` skipped: {path}: {message}")]
    InvalidTest {
        test: String,
        path: String,
        message: String,
    },
    #[error("test `{test}` skipped ({path}): its key is already used by an earlier test")]
    DuplicateTest { test: String, path: String },
    /// A test that is valid by itself but does not fit the rest of the snapshot: its layer
    /// does not exist, or its slot overlaps an earlier test's.
    #[error("test `{test}` skipped: {path}: {message}")]
    ConflictingTest {
        test: String,
        path: String,
        message: String,
    },
    #[error("layer `{layer}` skipped ({path}): {message}")]
    InvalidLayer {
        layer: String,
        path: String,
        message: String,
    },
    #[error("persona `{persona}` skipped: {path}: {message}")]
    InvalidPersona {
        persona: String,
        path: String,
        message: String,
    },
    #[error("allowed origin `{origin}` skipped ({path}): expected scheme://host[:port]")]
    InvalidOrigin { origin: String, path: String },
}

impl Warning {
    /// The JSON path of what is wrong, such as `tests[2].variants[0].weight`.
    pub fn path(&self) -> &str {
        match self {
            Warning::InvalidTest { path, .. }
            | Warning::DuplicateTest { path, .. }
            | Warning::ConflictingTest { path, .. }
            | Warning::InvalidLayer { path, .. }
            | Warning::InvalidPersona { path, .. }
            | Warning::InvalidOrigin { path, .. } => path,
        }
    }

    /// The skipped item: the snapshot list it is in (`tests`, `layers`, `personas`,
    /// `allowed_origins`) and its index there.
    pub fn item(&self) -> Option<(&str, usize)> {
        let (list, rest) = self.path().split_once('[')?;
        let (index, _) = rest.split_once(']')?;
        Some((list, index.parse().ok()?))
    }
}

/// `wire` without the items `warnings` say the compiler skipped: what the edge actually
/// serves from it, as a snapshot that compiles without warnings.
pub fn without_skipped(wire: &Snapshot, warnings: &[Warning]) -> Snapshot {
    let skipped = |list: &str, i: usize| warnings.iter().any(|w| w.item() == Some((list, i)));
    fn keep<T: Clone>(items: &[T], skip: impl Fn(usize) -> bool) -> Vec<T> {
        items
            .iter()
            .enumerate()
            .filter(|(i, _)| !skip(*i))
            .map(|(_, t)| t.clone())
            .collect()
    }
    Snapshot {
        tests: keep(&wire.tests, |i| skipped("tests", i)),
        layers: keep(&wire.layers, |i| skipped("layers", i)),
        personas: keep(&wire.personas, |i| skipped("personas", i)),
        allowed_origins: keep(&wire.allowed_origins, |i| skipped("allowed_origins", i)),
        schema_version: wire.schema_version,
        snapshot_version: wire.snapshot_version,
        hash_version: wire.hash_version,
        generated_at: wire.generated_at.clone(),
        holdout: wire.holdout.clone(),
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledVariant {
    pub key: String,
    pub content: ResolvedContent,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledTest {
    pub key: String,
    pub hash_id: String,
    pub status: TestStatus,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub allocation: Allocation,
    pub variants: Vec<CompiledVariant>,
    /// Bit `DeviceClass::index()` set for each targeted class; 0 targets all.
    pub devices: u8,
    pub personas: Vec<String>,
    pub when: Option<Cond>,
    /// Index into `layers` and the `[start, end)` slot of its bucket space.
    pub layer: Option<(usize, u32, u32)>,
    pub metrics: Vec<MetricDef>,
}

#[derive(Debug, Clone)]
pub(crate) struct Holdout {
    pub hash_id: String,
    pub buckets: u32,
}

/// A validated snapshot, ready for [`CompiledSnapshot::assign`].
#[derive(Debug, Clone)]
pub struct CompiledSnapshot {
    pub(crate) version: u64,
    pub(crate) tests: Vec<CompiledTest>,
    pub(crate) layer_hash_ids: Vec<String>,
    pub(crate) holdout: Option<Holdout>,
    pub(crate) personas: Vec<(String, Cond)>,
    pub(crate) allowed_origins: Vec<String>,
}

/// Read-only view of a compiled test, for callers that validate events against the snapshot.
#[derive(Debug, Clone, Copy)]
pub struct TestInfo<'s> {
    test: &'s CompiledTest,
}

impl<'s> TestInfo<'s> {
    pub fn key(&self) -> &'s str {
        &self.test.key
    }
    pub fn variant_keys(&self) -> impl Iterator<Item = &'s str> {
        self.test.variants.iter().map(|v| v.key.as_str())
    }
    pub fn metrics(&self) -> &'s [MetricDef] {
        &self.test.metrics
    }
    pub fn status(&self) -> TestStatus {
        self.test.status
    }
}

impl CompiledSnapshot {
    /// Parses and compiles snapshot JSON of at most [`limits::MAX_SNAPSHOT_BYTES`]. JSON
    /// errors carry line and column.
    pub fn from_json(json: &str) -> Result<(CompiledSnapshot, Vec<Warning>), SnapshotError> {
        if json.len() > limits::MAX_SNAPSHOT_BYTES {
            return Err(SnapshotError::TooLarge(json.len()));
        }
        let wire: Snapshot = serde_json::from_str(json)?;
        CompiledSnapshot::compile(&wire)
    }

    /// Validates `wire`; skipped items come back as warnings.
    pub fn compile(wire: &Snapshot) -> Result<(CompiledSnapshot, Vec<Warning>), SnapshotError> {
        if wire.schema_version != SCHEMA_VERSION {
            return Err(SnapshotError::UnsupportedSchema(wire.schema_version));
        }
        if wire.hash_version != HASH_VERSION {
            return Err(SnapshotError::UnsupportedHashVersion(wire.hash_version));
        }
        let holdout = match &wire.holdout {
            Some(h) if !(0.0..=1.0).contains(&h.share) => {
                return Err(SnapshotError::InvalidHoldout {
                    field: "share",
                    message: format!("must be a number in [0, 1], got {}", h.share),
                })
            }
            Some(h) if h.hash_id.as_deref().is_some_and(|id| !is_key(id)) => {
                return Err(SnapshotError::InvalidHoldout {
                    field: "hash_id",
                    message: format!("{KEY_RULE} (omit it for the default)"),
                })
            }
            Some(h) => Some(Holdout {
                hash_id: h
                    .hash_id
                    .clone()
                    .unwrap_or_else(|| DEFAULT_HOLDOUT_HASH_ID.to_owned()),
                buckets: (h.share * f64::from(BUCKETS)).round() as u32,
            }),
            None => None,
        };
        let mut warnings = Vec::new();

        let mut layer_keys: Vec<&str> = Vec::new();
        let mut layer_hash_ids = Vec::new();
        for (i, layer) in wire.layers.iter().enumerate() {
            let problem = if i >= limits::MAX_LAYERS {
                Some(("", format!("at most {} layers", limits::MAX_LAYERS)))
            } else if !is_key(&layer.key) {
                Some((".key", format!("the key {KEY_RULE}")))
            } else if layer_keys.contains(&layer.key.as_str()) {
                Some((".key", "its key is already used by an earlier layer".into()))
            } else if layer.hash_id.as_deref().is_some_and(|h| !is_key(h)) {
                Some((
                    ".hash_id",
                    format!("hash_id {KEY_RULE} (omit it to use the key)"),
                ))
            } else {
                None
            };
            match problem {
                Some((field, message)) => warnings.push(Warning::InvalidLayer {
                    layer: layer.key.clone(),
                    path: format!("layers[{i}]{field}"),
                    message,
                }),
                None => {
                    layer_keys.push(&layer.key);
                    layer_hash_ids.push(layer.hash_id.clone().unwrap_or_else(|| layer.key.clone()));
                }
            }
        }

        let mut personas = Vec::new();
        for (i, p) in wire.personas.iter().enumerate() {
            let path = format!("personas[{i}].when");
            let invalid = |path: String, message: String| Warning::InvalidPersona {
                persona: p.key.clone(),
                path,
                message,
            };
            if i >= limits::MAX_PERSONAS {
                warnings.push(invalid(
                    format!("personas[{i}]"),
                    format!("at most {} personas", limits::MAX_PERSONAS),
                ));
                continue;
            }
            if !is_key(&p.key) || personas.iter().any(|(k, _)| k == &p.key) {
                warnings.push(invalid(
                    format!("personas[{i}].key"),
                    format!("persona keys must be unique and each {KEY_RULE}"),
                ));
                continue;
            }
            match Cond::compile(&p.when, &path) {
                Ok(c) => personas.push((p.key.clone(), c)),
                Err(ConditionError { path, message }) => warnings.push(invalid(path, message)),
            }
        }

        let mut tests: Vec<CompiledTest> = Vec::new();
        for (i, t) in wire.tests.iter().enumerate() {
            let path = format!("tests[{i}]");
            if tests.iter().any(|c| c.key == t.key) {
                warnings.push(Warning::DuplicateTest {
                    test: t.key.clone(),
                    path,
                });
                continue;
            }
            match compile_test(t, &path, &layer_keys, &tests) {
                Ok(c) => tests.push(c),
                Err(Skip {
                    path,
                    message,
                    conflict,
                }) => warnings.push(if conflict {
                    Warning::ConflictingTest {
                        test: t.key.clone(),
                        path,
                        message,
                    }
                } else {
                    Warning::InvalidTest {
                        test: t.key.clone(),
                        path,
                        message,
                    }
                }),
            }
        }

        let mut allowed_origins = Vec::new();
        for (i, origin) in wire.allowed_origins.iter().enumerate() {
            if i < limits::MAX_ORIGINS && is_origin(origin) {
                allowed_origins.push(origin.trim_end_matches('/').to_owned());
            } else {
                warnings.push(Warning::InvalidOrigin {
                    origin: origin.clone(),
                    path: format!("allowed_origins[{i}]"),
                });
            }
        }

        Ok((
            CompiledSnapshot {
                version: wire.snapshot_version,
                tests,
                layer_hash_ids,
                holdout,
                personas,
                allowed_origins,
            },
            warnings,
        ))
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn allowed_origins(&self) -> &[String] {
        &self.allowed_origins
    }

    /// Whether a browser at `origin` may call the edge (exact match, `*` allows any).
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }

    pub fn tests(&self) -> impl Iterator<Item = TestInfo<'_>> {
        self.tests.iter().map(|test| TestInfo { test })
    }

    pub fn test(&self, key: &str) -> Option<TestInfo<'_>> {
        self.tests().find(|t| t.key() == key)
    }
}

/// `*`, or `http(s)://host[:port]` with an optional trailing `/`, the host a DNS name or IPv4
/// address (international names as punycode; no IPv6 literals): the OpenAPI pattern
/// `^(\*|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?)$`.
fn is_origin(s: &str) -> bool {
    if s.len() > limits::MAX_ORIGIN_BYTES {
        return false;
    }
    if s == "*" {
        return true;
    }
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = rest.split_once(':').unwrap_or((rest, "1"));
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        && (1..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
}

/// Why a test is skipped: `conflict` when the test is valid by itself but not beside the
/// rest of the snapshot.
struct Skip {
    path: String,
    message: String,
    conflict: bool,
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

fn compile_test(
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
