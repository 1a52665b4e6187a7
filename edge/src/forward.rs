//! Forwarding queued beacons to the control plane, and what to do when that fails.
//!
//! The queue consumer regroups messages into `POST {CONTROL_URL}/v1/events` requests of at most
//! [`MAX_BATCH_EVENTS`] events ([`group_messages`]). A 2xx acknowledges the messages; a
//! connection error, 5xx, 408, 429, 401 or 403 (a recoverable outage or misconfiguration)
//! retries them with a delay that grows with the message's age ([`retry_delay_s`]); any other
//! 4xx means the control plane will never take that body, so it is logged and dropped. After
//! the queue's `max_retries` a message goes to the dead-letter queue. Event ids make
//! re-delivery harmless: the control plane counts an id once.

use edgewise_shared::beacon::MAX_BATCH_EVENTS;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Config;

/// What to do with the messages of one forward attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ack,
    Retry,
    Drop,
}

/// Classifies the control plane's status code.
pub fn classify(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Ack,
        401 | 403 | 408 | 429 | 500..=599 => Outcome::Retry,
        _ => Outcome::Drop,
    }
}

/// Delay before the next attempt: the message's age, between the configured base and max, so
/// waits roughly double while the outage lasts.
pub fn retry_delay_s(age_ms: i64, cfg: &Config) -> u32 {
    let age_s = u32::try_from((age_ms / 1000).max(0)).unwrap_or(u32::MAX);
    age_s.clamp(cfg.retry_base_s, cfg.retry_max_s.max(cfg.retry_base_s))
}

/// One POST to make: which messages it carries and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub messages: Vec<usize>,
    pub body: String,
}

#[derive(Serialize, Deserialize)]
struct Batch {
    events: Vec<Value>,
}

/// Packs queue message bodies into POSTs of at most [`MAX_BATCH_EVENTS`] events. Message
/// indexes that do not hold a batch come back separately: they can never be delivered.
pub fn group_messages(bodies: &[String]) -> (Vec<Group>, Vec<usize>) {
    let mut groups = Vec::new();
    let mut unreadable = Vec::new();
    let mut messages = Vec::new();
    let mut events: Vec<Value> = Vec::new();
    let flush = |messages: &mut Vec<usize>, events: &mut Vec<Value>, groups: &mut Vec<Group>| {
        if messages.is_empty() {
            return;
        }
        let body = serde_json::to_string(&Batch {
            events: std::mem::take(events),
        })
        .unwrap_or_default();
        groups.push(Group {
            messages: std::mem::take(messages),
            body,
        });
    };
    for (i, body) in bodies.iter().enumerate() {
        match serde_json::from_str::<Batch>(body) {
            Ok(batch) if !batch.events.is_empty() => {
                if events.len() + batch.events.len() > MAX_BATCH_EVENTS {
                    flush(&mut messages, &mut events, &mut groups);
                }
                messages.push(i);
                events.extend(batch.events);
            }
            _ => unreadable.push(i),
        }
    }
    flush(&mut messages, &mut events, &mut groups);
    (groups, unreadable)
}

/// The control plane's answer to an ingestion POST.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IngestReply {
    #[serde(default)]
    pub accepted: u64,
    #[serde(default)]
    pub duplicates: u64,
    #[serde(default)]
    pub rejected: Vec<IngestRejected>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IngestRejected {
    pub index: u64,
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub message: String,
}
