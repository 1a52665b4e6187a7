//! `PUT /v1/admin/snapshot`: the control plane pushes a snapshot; the worker checks it.
//!
//! The shared secret is compared in constant time. A snapshot that does not compile is refused
//! with 400 and the compiler's message; one whose version is not newer than the stored one is
//! refused with 409 (a rollback is published as a new version). Accepted snapshots are written
//! to KV under [`SNAPSHOT_KEY`] with a small [`StoredMeta`] record under [`META_KEY`], which is
//! what isolates poll.

pub use edgewise_shared::limits::MAX_SNAPSHOT_BYTES;
use edgewise_shared::{CompiledSnapshot, SnapshotError, Warning};
use serde::{Deserialize, Serialize};

use crate::http::{constant_time_eq, Reply};

/// KV key of the snapshot JSON.
pub const SNAPSHOT_KEY: &str = "snapshot/current";
/// KV key of the [`StoredMeta`] of the current snapshot: cheap to poll.
pub const META_KEY: &str = "snapshot/meta";

/// What KV says about the stored snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMeta {
    pub version: u64,
    /// When this worker accepted it, Unix ms.
    pub stored_at_ms: i64,
}

/// Whether `authorization` is `Bearer <secret>`. An unset or empty secret refuses everyone.
pub fn authorized(authorization: Option<&str>, secret: Option<&str>) -> bool {
    let (Some(header), Some(secret)) = (authorization, secret) else {
        return false;
    };
    if secret.is_empty() {
        return false;
    }
    let token = header
        .trim()
        .strip_prefix("Bearer ")
        .or_else(|| header.trim().strip_prefix("bearer "))
        .unwrap_or("")
        .trim();
    constant_time_eq(token.as_bytes(), secret.as_bytes())
}

pub fn unauthorized() -> Reply {
    Reply::error(
        401,
        "unauthorized",
        "expected Authorization: Bearer <EDGE_ADMIN_SECRET>",
    )
}

/// Compiles a pushed snapshot and checks it is newer than `current` (the stored version).
pub fn check_snapshot(
    body: &str,
    current: Option<u64>,
) -> Result<(CompiledSnapshot, Vec<Warning>), Reply> {
    let (snapshot, warnings) = CompiledSnapshot::from_json(body).map_err(|e| {
        let code = match e {
            SnapshotError::TooLarge(_) => "snapshot_too_large",
            _ => "invalid_snapshot",
        };
        Reply::error(400, code, e.to_string())
    })?;
    if let Some(current) = current {
        if snapshot.version() <= current {
            return Err(Reply::error(
                409,
                "stale_snapshot",
                format!(
                    "snapshot_version {} is not newer than the stored version {current}",
                    snapshot.version()
                ),
            ));
        }
    }
    Ok((snapshot, warnings))
}

/// The 200 for an accepted snapshot: its version and what was skipped inside it.
pub fn stored(version: u64, warnings: &[Warning]) -> Reply {
    #[derive(Serialize)]
    struct Stored<'a> {
        snapshot_version: u64,
        warnings: Vec<String>,
        warning_details: &'a [Warning],
    }
    Reply::json(
        200,
        &Stored {
            snapshot_version: version,
            warnings: warnings.iter().map(ToString::to_string).collect(),
            warning_details: warnings,
        },
    )
}
