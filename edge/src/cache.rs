//! The isolate's snapshot cache: the compiled snapshot in memory, re-checked against KV on a TTL.
//!
//! The Worker glue keeps one [`SnapshotCache`] per isolate. When [`SnapshotCache::needs_check`]
//! says the TTL has passed it reads the small meta record from KV and, only if that names a
//! newer version, the snapshot itself. A failed read or an uncompilable snapshot keeps the last
//! good one ([`SnapshotCache::mark_checked`] still restarts the TTL so KV is not hammered).

use std::rc::Rc;

use edgewise_shared::timestamp::format_rfc3339_ms;
use edgewise_shared::CompiledSnapshot;
use serde::Serialize;

use crate::http::Reply;

/// A compiled snapshot and when it was stored.
#[derive(Debug, Clone)]
pub struct Cached {
    pub snapshot: Rc<CompiledSnapshot>,
    /// When the worker accepted it (from KV meta), Unix ms.
    pub stored_at_ms: i64,
}

#[derive(Debug, Default)]
pub struct SnapshotCache {
    current: Option<Cached>,
    checked_at_ms: Option<i64>,
    /// Consecutive failed refreshes, for `/v1/health`.
    failures: u32,
}

impl SnapshotCache {
    pub fn current(&self) -> Option<&Cached> {
        self.current.as_ref()
    }

    pub fn version(&self) -> Option<u64> {
        self.current.as_ref().map(|c| c.snapshot.version())
    }

    /// Whether KV should be asked again.
    pub fn needs_check(&self, now_ms: i64, ttl_ms: i64) -> bool {
        self.checked_at_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= ttl_ms || now_ms < t)
    }

    /// Restarts the TTL before a refresh, so concurrent requests do not all refresh.
    pub fn start_check(&mut self, now_ms: i64) {
        self.checked_at_ms = Some(now_ms);
    }

    /// Records a check; `ok` false counts a failure but keeps the current snapshot.
    pub fn mark_checked(&mut self, now_ms: i64, ok: bool) {
        self.checked_at_ms = Some(now_ms);
        self.failures = if ok {
            0
        } else {
            self.failures.saturating_add(1)
        };
    }

    /// Installs `c` if it is newer than what the cache holds; returns whether it did.
    pub fn offer(&mut self, c: Cached) -> bool {
        if self.version().is_some_and(|v| v >= c.snapshot.version()) {
            return false;
        }
        self.current = Some(c);
        true
    }

    /// `GET /v1/health`.
    pub fn health(&self, now_ms: i64) -> Reply {
        #[derive(Serialize)]
        struct Health {
            status: &'static str,
            worker_version: &'static str,
            snapshot_version: Option<u64>,
            snapshot_stored_at: Option<String>,
            snapshot_age_seconds: Option<i64>,
            tests: usize,
            last_check_seconds_ago: Option<i64>,
            refresh_failures: u32,
        }
        let c = self.current.as_ref();
        Reply::json(
            200,
            &Health {
                status: if c.is_some() { "ok" } else { "no_snapshot" },
                worker_version: env!("CARGO_PKG_VERSION"),
                snapshot_version: c.map(|c| c.snapshot.version()),
                snapshot_stored_at: c.map(|c| format_rfc3339_ms(c.stored_at_ms)),
                snapshot_age_seconds: c.map(|c| now_ms.saturating_sub(c.stored_at_ms) / 1000),
                tests: c.map_or(0, |c| c.snapshot.tests().count()),
                last_check_seconds_ago: self.checked_at_ms.map(|t| now_ms.saturating_sub(t) / 1000),
                refresh_failures: self.failures,
            },
        )
    }
}
