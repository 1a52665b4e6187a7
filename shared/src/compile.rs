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
use crate::snapshot::{
    MetricDef, MetricRole, Snapshot, TestDef, TestStatus, DEFAULT_HOLDOUT_HASH_ID, SCHEMA_VERSION,
};
use crate::timestamp::parse_rfc3339_ms;
use crate::BUCKETS;

/// Why a whole snapshot is refused.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("invalid snapshot JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("schema_version {0} is not supported (this build reads {SCHEMA_VERSION})")]
    UnsupportedSchema(u32),
    #[error("hash_version {0} is not supported (this build buckets with {HASH_VERSION})")]
    UnsupportedHashVersion(u32),
    #[error("holdout.share must be a number in [0, 1], got {0}")]
    InvalidHoldout(f64),
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
    /// Parses and compiles snapshot JSON. JSON errors carry line and column.
    pub fn from_json(json: &str) -> Result<(CompiledSnapshot, Vec<Warning>), SnapshotError> {
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
                return Err(SnapshotError::InvalidHoldout(h.share))
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
            let problem = if layer.key.is_empty() {
                Some("a layer needs a non-empty key")
            } else if layer_keys.contains(&layer.key.as_str()) {
                Some("its key is already used by an earlier layer")
            } else if layer.hash_id.as_deref() == Some("") {
                Some("hash_id must not be empty")
            } else {
                None
            };
            match problem {
                Some(message) => warnings.push(Warning::InvalidLayer {
                    layer: layer.key.clone(),
                    path: format!("layers[{i}]"),
                    message: message.into(),
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
            if p.key.is_empty() || personas.iter().any(|(k, _)| k == &p.key) {
                warnings.push(invalid(
                    format!("personas[{i}].key"),
                    "persona keys must be non-empty and unique".into(),
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
                Err((path, message)) => warnings.push(Warning::InvalidTest {
                    test: t.key.clone(),
                    path,
                    message,
                }),
            }
        }

        let mut allowed_origins = Vec::new();
        for (i, origin) in wire.allowed_origins.iter().enumerate() {
            if is_origin(origin) {
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

fn is_origin(s: &str) -> bool {
    if s == "*" {
        return true;
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let rest = rest.trim_end_matches('/');
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', ' ', '@'])
}

type Invalid = (String, String);

fn compile_test(
    t: &TestDef,
    path: &str,
    layer_keys: &[&str],
    accepted: &[CompiledTest],
) -> Result<CompiledTest, Invalid> {
    let bad = |field: &str, message: String| (format!("{path}.{field}"), message);
    if t.key.is_empty()
        || t.key.len() > 100
        || t.key.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad(
            "key",
            "must be 1–100 characters without whitespace".into(),
        ));
    }
    if t.hash_id.as_deref() == Some("") {
        return Err(bad(
            "hash_id",
            "must not be empty (omit it to use the key)".into(),
        ));
    }
    if !(2..=10).contains(&t.variants.len()) {
        return Err(bad(
            "variants",
            format!("needs 2 to 10 variants, has {}", t.variants.len()),
        ));
    }
    let mut seen = HashSet::new();
    for (i, v) in t.variants.iter().enumerate() {
        if v.key.is_empty() || !seen.insert(v.key.as_str()) {
            return Err(bad(
                &format!("variants[{i}].key"),
                "variant keys must be non-empty and unique".into(),
            ));
        }
        if !v.weight.is_finite() || v.weight < 0.0 {
            return Err(bad(
                &format!("variants[{i}].weight"),
                format!("must be a finite number >= 0, got {}", v.weight),
            ));
        }
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
    let devices = t
        .targeting
        .devices
        .iter()
        .fold(0u8, |bits, d: &DeviceClass| bits | (1 << d.index()));
    let layer = match &t.layer {
        None => None,
        Some(slot) => {
            let Some(index) = layer_keys.iter().position(|k| *k == slot.key) else {
                return Err(bad(
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
                return Err(bad(
                    "layer.range",
                    format!("overlaps test `{}` in layer `{}`", other.key, slot.key),
                ));
            }
            Some((index, start, end))
        }
    };
    let mut metric_keys = HashSet::new();
    for (i, m) in t.metrics.iter().enumerate() {
        if m.key.is_empty() || !metric_keys.insert(m.key.as_str()) {
            return Err(bad(
                &format!("metrics[{i}].key"),
                "metric keys must be non-empty and unique".into(),
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
