//! The live stream's source (`GET /api/v1/stream`): one task per process reads what changed
//! from the database every [`POLL`] (longer when a poll is slow: [`wait_after`]) while someone
//! listens, and broadcasts it to every open
//! stream of this process.
//!
//! Changes are read from the database, never from in-process calls, so a change made through
//! another replica (or the CLI, or the monitor on the replica that leads it) reaches streams
//! here too. Three cursors, each cheap and exact:
//! - the audit log's sequence number: every admin change and lifecycle step (the monitor's
//!   and the ramp's included) appends one entry in its own transaction, under the lock that
//!   makes sequence numbers follow commit order, so nothing committed is skipped
//!   (`status` events for `test.*` actions, `alert` events for `alert.ack`);
//! - the alerts' ids, read [`ALERT_LOOKBACK`] ids back, since on PostgreSQL two inserts may
//!   commit out of id order (`alert` events);
//! - a fingerprint of each running test's aggregates ([`aggregates::fingerprints`]: two
//!   grouped scans of the aggregate tables, which ingestion already writes), so ingestion
//!   itself does no extra write (`results` events naming the tests).
//!
//! A stream starts at "now": after it subscribes, the next poll that begins (a quiet one that
//! only takes the cursors, if nobody was listening) ends in a `ready` event, and every change
//! committed after that reaches it. Event ids count per process; a `Last-Event-ID` is not
//! replayed: on `ready` a client loads the state it shows afresh.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{broadcast, watch, Notify};

use crate::db::aggregates::{self, Fingerprint};
use crate::db::audit::{self, Stored};
use crate::db::{monitor, now_ms, Db};
use crate::error::AppResult;

/// How often the database is read while someone listens, at least ([`wait_after`]).
pub const POLL: Duration = Duration::from_millis(500);
/// The longest wait between polls, however long they take: a page hears of a change within
/// about this plus one poll.
pub const MAX_WAIT: Duration = Duration::from_millis(1500);

/// The wait before the next poll, after one that took `took`: [`POLL`], or twice the poll's
/// own time when that is longer (so polling takes at most a third of a core), up to
/// [`MAX_WAIT`].
pub fn wait_after(took: Duration) -> Duration {
    (took * 2).clamp(POLL, MAX_WAIT)
}
/// Alerts re-read below the newest seen id, for inserts that commit out of id order.
pub const ALERT_LOOKBACK: i64 = 100;
/// Changes kept for a slow stream before it misses some (and gets `resync`).
const CAPACITY: usize = 1024;

/// One change, as an SSE event: its name and JSON data, with the process's event id.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub id: u64,
    pub event: &'static str,
    pub data: Value,
}

#[derive(Debug)]
pub struct Hub {
    tx: broadcast::Sender<Change>,
    next_id: AtomicU64,
    /// Polls begun; `done` holds the number of the last one that ended.
    started: AtomicU64,
    done: watch::Sender<u64>,
    /// Wakes the task when a stream opens, so its `ready` comes at once.
    wake: Notify,
    /// Set when the server starts shutting down: open streams end, so it can.
    closing: watch::Sender<bool>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            tx: broadcast::channel(CAPACITY).0,
            next_id: AtomicU64::new(1),
            started: AtomicU64::new(0),
            done: watch::channel(0).0,
            wake: Notify::new(),
            closing: watch::channel(false).0,
        }
    }
}

/// A subscriber: its changes, and the poll whose end makes it `ready`.
#[derive(Debug)]
pub struct Subscription {
    pub changes: broadcast::Receiver<Change>,
    pub ready_at_poll: u64,
    pub done: watch::Receiver<u64>,
    pub closing: watch::Receiver<bool>,
}

impl Hub {
    pub fn subscribe(&self) -> Subscription {
        let changes = self.tx.subscribe();
        // Any poll numbered above the ones begun so far begins after this subscription.
        let ready_at_poll = self.started.load(Ordering::SeqCst) + 1;
        self.wake.notify_one();
        Subscription {
            changes,
            ready_at_poll,
            done: self.done.subscribe(),
            closing: self.closing.subscribe(),
        }
    }

    /// The id the next change will carry, for `ready`.
    pub fn next_id(&self) -> u64 {
        self.next_id.load(Ordering::SeqCst)
    }

    /// Ends every open stream (the server is shutting down).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    fn send(&self, event: &'static str, data: Value) {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        // No receiver is not an error: nobody listens.
        let _ = self.tx.send(Change { id, event, data });
    }
}

/// Where the database stood at the last poll.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cursor {
    pub audit_seq: i64,
    /// Alert ids seen within [`ALERT_LOOKBACK`] of the newest.
    pub alerts: BTreeSet<i64>,
    pub aggregates: HashMap<String, Fingerprint>,
}

impl Cursor {
    fn alert_floor(&self) -> i64 {
        self.alerts
            .last()
            .map_or(0, |m| (m - ALERT_LOOKBACK).max(0))
    }
}

/// The cursors as they stand now.
pub async fn baseline(db: &Db) -> AppResult<Cursor> {
    let mut conn = db.reader.acquire().await?;
    let audit_seq = audit::last_seq(&mut conn).await?;
    let newest = monitor::last_alert_id(&mut conn).await?;
    let alerts = monitor::alerts_after(&mut conn, (newest - ALERT_LOOKBACK).max(0))
        .await?
        .into_iter()
        .map(|a| a.id)
        .collect();
    let aggregates =
        aggregates::fingerprints(&mut conn, &db.shard_schemas(), aggregates::RUNNING).await?;
    Ok(Cursor {
        audit_seq,
        alerts,
        aggregates,
    })
}

/// Reads what changed since `c`, moves `c` on, and returns the events, in the order a client
/// should apply them: lifecycle steps, new alerts, acknowledgements, results.
pub async fn poll(db: &Db, c: &mut Cursor) -> AppResult<Vec<(&'static str, Value)>> {
    let mut conn = db.reader.acquire().await?;
    let mut status = Vec::new();
    let mut acked = Vec::new();
    let mut seq = c.audit_seq;
    loop {
        let page = audit::list(&mut conn, seq, 500).await?;
        for e in &page {
            seq = e.seq;
            if let Some(s) = status_event(e) {
                status.push(s);
            } else if e.action == "alert.ack" {
                acked.extend(e.target.parse::<i64>().ok());
            }
        }
        if page.len() < 500 {
            break;
        }
    }
    let mut acks = Vec::new();
    for id in acked {
        if let Some(a) = monitor::alert(&mut conn, id).await? {
            acks.push(json!({"change": "acked", "alert": a}));
        }
    }
    let mut alerts = c.alerts.clone();
    let mut new = Vec::new();
    for a in monitor::alerts_after(&mut conn, c.alert_floor()).await? {
        if alerts.insert(a.id) {
            new.push(json!({"change": "new", "alert": a}));
        }
    }
    let fingerprints =
        aggregates::fingerprints(&mut conn, &db.shard_schemas(), aggregates::RUNNING).await?;
    let moved = changed_tests(&c.aggregates, &fingerprints);

    let newest = alerts.last().copied().unwrap_or(0);
    alerts.retain(|id| *id > newest - ALERT_LOOKBACK);
    *c = Cursor {
        audit_seq: seq,
        alerts,
        aggregates: fingerprints,
    };
    let mut out: Vec<(&'static str, Value)> = Vec::new();
    out.extend(status.into_iter().map(|s| ("status", s)));
    out.extend(new.into_iter().map(|a| ("alert", a)));
    out.extend(acks.into_iter().map(|a| ("alert", a)));
    if !moved.is_empty() {
        out.push(("results", json!({"tests": moved, "at": now_ms()})));
    }
    Ok(out)
}

/// The tests whose fingerprint changed or appeared, by key. A test that left the running set
/// is not named: its lifecycle step comes as `status`.
pub fn changed_tests(
    old: &HashMap<String, Fingerprint>,
    new: &HashMap<String, Fingerprint>,
) -> Vec<String> {
    let mut keys: Vec<String> = new
        .iter()
        .filter(|(k, fp)| {
            old.get(*k)
                .map_or(**fp != Fingerprint::default(), |o| o.differs(fp))
        })
        .map(|(k, _)| k.clone())
        .collect();
    keys.sort();
    keys
}

/// A `status` event for an audit entry about a test (`test.start`, `test.pause`, `test.ramp`,
/// `test.update`, …): the test, the action, its status after, who and when.
pub fn status_event(e: &Stored) -> Option<Value> {
    let action = e.action.strip_prefix("test.")?;
    let after: Option<Value> = e
        .after
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok());
    let status = after
        .as_ref()
        .and_then(|a| a.get("status"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some(json!({
        "test": e.target,
        "action": action,
        "status": status,
        "actor": e.actor,
        "at": e.at,
        "seq": e.seq,
    }))
}

/// The hub's task: polls while anyone listens, until `stop`.
pub async fn run(hub: std::sync::Arc<Hub>, db: Db, mut stop: watch::Receiver<bool>) {
    // Whether the cursors are current: at first, and after a time with nobody listening, they
    // are not, and the poll only takes them again (what changed meanwhile concerns no one).
    let mut c = Cursor::default();
    let mut current = false;
    let mut wait = POLL;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = hub.wake.notified() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            break;
        }
        if hub.tx.receiver_count() == 0 {
            current = false;
            continue;
        }
        let n = hub.started.fetch_add(1, Ordering::SeqCst) + 1;
        let began = std::time::Instant::now();
        let polled = if current {
            poll(&db, &mut c).await
        } else {
            baseline(&db).await.map(|b| {
                c = b;
                Vec::new()
            })
        };
        match polled {
            Ok(events) => {
                for (event, data) in events {
                    hub.send(event, data);
                }
                current = true;
                hub.done.send_replace(n);
            }
            Err(e) => tracing::warn!(error = %e, "live stream: reading changes failed"),
        }
        wait = wait_after(began.elapsed());
    }
    hub.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(exposed: i64, sum: f64) -> Fingerprint {
        Fingerprint {
            exposed,
            sum,
            ..Fingerprint::default()
        }
    }

    #[test]
    fn changed_tests_are_the_moved_and_the_new_ones() {
        let old: HashMap<String, Fingerprint> = [
            ("a".into(), fp(1, 0.0)),
            ("b".into(), fp(2, 1.0)),
            ("gone".into(), fp(3, 0.0)),
        ]
        .into();
        let new: HashMap<String, Fingerprint> = [
            ("a".into(), fp(1, 0.0)),
            ("b".into(), fp(2, 1.5)),
            ("c".into(), fp(1, 0.0)),
            ("empty".into(), Fingerprint::default()),
        ]
        .into();
        assert_eq!(changed_tests(&old, &new), ["b", "c"]);
        // Sums added up in another order are not a change.
        let same: HashMap<String, Fingerprint> = [("b".into(), fp(2, 1.0 + 1e-13))].into();
        assert!(changed_tests(&old, &same).is_empty());
    }

    fn entry(action: &str, after: Option<&str>) -> Stored {
        Stored {
            seq: 7,
            at: 1000,
            actor: "tok".into(),
            action: action.into(),
            target: "hero".into(),
            before: None,
            after: after.map(str::to_owned),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn test_actions_become_status_events() {
        let e = status_event(&entry("test.pause", Some(r#"{"status":"paused"}"#))).unwrap();
        assert_eq!(
            e,
            json!({"test": "hero", "action": "pause", "status": "paused", "actor": "tok",
                   "at": 1000, "seq": 7})
        );
        assert_eq!(
            status_event(&entry("test.ramp", None)).unwrap()["status"],
            Value::Null
        );
        assert!(status_event(&entry("alert.ack", None)).is_none());
        assert!(status_event(&entry("token.create", None)).is_none());
    }

    #[test]
    fn slow_polls_wait_longer_up_to_a_bound() {
        let ms = Duration::from_millis;
        assert_eq!(wait_after(ms(24)), POLL);
        assert_eq!(wait_after(ms(250)), POLL);
        assert_eq!(wait_after(ms(400)), ms(800));
        assert_eq!(wait_after(ms(5000)), MAX_WAIT);
    }

    #[test]
    fn the_alert_window_follows_the_newest() {
        let c = Cursor {
            alerts: [5, 150, 180].into(),
            ..Cursor::default()
        };
        assert_eq!(c.alert_floor(), 80);
        assert_eq!(Cursor::default().alert_floor(), 0);
    }
}
