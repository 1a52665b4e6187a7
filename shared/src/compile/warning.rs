//! What compiling a snapshot reports: [`SnapshotError`] refuses it whole, a [`Warning`] names
//! one skipped item by its JSON path; [`without_skipped`] is the snapshot the edge serves.

use serde::Serialize;

use crate::hash::HASH_VERSION;
use crate::limits;
use crate::snapshot::{Snapshot, SCHEMA_VERSION};

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
