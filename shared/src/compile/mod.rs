//! Wire [`Snapshot`] → [`CompiledSnapshot`]: validated once, evaluated many times.
//!
//! Snapshot-wide problems (an unknown schema or hash version, a bad holdout) refuse the whole
//! snapshot with a [`SnapshotError`]. A problem inside one test, layer or persona skips just that
//! item and reports a typed [`Warning`] naming the JSON path, so one bad test never sinks others.//! [`warning`] holds what a compile reports (and [`without_skipped`], what the edge serves of a
//! snapshot with warnings); [`test`] compiles one test within the limits.

mod test;
mod warning;

use crate::allocation::Allocation;
use crate::condition::{Cond, ConditionError};
use crate::content::ResolvedContent;
use crate::hash::HASH_VERSION;
use crate::limits::{self, is_key, KEY_RULE};
use crate::snapshot::{MetricDef, Snapshot, TestStatus, DEFAULT_HOLDOUT_HASH_ID, SCHEMA_VERSION};
use crate::BUCKETS;

use test::{compile_test, Skip};
pub use warning::{without_skipped, SnapshotError, Warning};

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
    /// For a sticky test, its tag in the edge's memory of assignments
    /// ([`crate::bandit::sticky`]).
    pub sticky: Option<u32>,
    /// Exposure dimensions the edge stamps ([`crate::dimensions`]).
    pub dimensions: Vec<String>,
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
