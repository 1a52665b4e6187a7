//! `GET /v1/admin/stats` (the admin secret, as for `PUT /v1/admin/snapshot`): what this isolate
//! has done since it started — the snapshot version it serves, `/v1/assign` answers and how
//! many of them fell back to the site's default for want of a snapshot, beacons queued and
//! refused by the queue, and the forwarding of queued beacons to the control plane (batches
//! acknowledged, retried, dropped). Counters are per isolate: Cloudflare runs many, and a queue
//! consumer may run in another isolate than the requests that filled the queue.

use serde::Serialize;

use crate::http::Reply;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// When this isolate counted its first request, Unix ms.
    pub since_ms: i64,
    pub assign_requests: u64,
    /// `/v1/assign` answered without a snapshot: no decisions, everyone sees the default.
    pub fallbacks: u64,
    pub beacons_queued: u64,
    /// Beacon requests answered 503 because the queue refused them.
    pub queue_failures: u64,
    pub forward_acked: u64,
    pub forward_retried: u64,
    pub forward_dropped: u64,
}

impl Stats {
    /// The body of `GET /v1/admin/stats`, with the version of the snapshot being served.
    pub fn reply(&self, snapshot_version: Option<u64>) -> Reply {
        #[derive(Serialize)]
        struct Body<'a> {
            snapshot_version: Option<u64>,
            #[serde(flatten)]
            stats: &'a Stats,
        }
        Reply::json(
            200,
            &Body {
                snapshot_version,
                stats: self,
            },
        )
    }
}
