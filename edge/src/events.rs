//! `POST /v1/events`: beacons in, validated and completed events out, chunked for the queue.
//!
//! Browsers send beacons with `navigator.sendBeacon`, so a `text/plain` body holding JSON is the
//! normal case; `application/json` is accepted too, anything else is refused. The body is one
//! event or `{"events": [...]}`. Every event must pass [`Event::check_shape`] after the worker
//! fills in what the request knows (unit id, device, persona, snapshot version, time); if any
//! event fails, the whole batch is refused with 400 naming each bad event by index, so nothing
//! is half-accepted silently.

use edgewise_shared::beacon::{Event, FieldError, LoggedBy, MAX_BATCH_EVENTS};
pub use edgewise_shared::limits::MAX_BEACON_BYTES;
use edgewise_shared::DeviceClass;
use serde::Serialize;
use serde_json::Value;

use crate::assign::{cookie, valid_cookie_id, valid_id};
use crate::config::{Config, PERSONA_COOKIE};
use crate::http::{Reply, RequestHead};

/// Largest queue message we build, in bytes (Cloudflare Queues allows 128 KB).
pub const MAX_QUEUE_MESSAGE_BYTES: usize = 100 * 1024;

/// What the request knows about the events' sender.
#[derive(Debug, Clone)]
pub struct BeaconContext {
    pub unit_id: Option<String>,
    pub device: DeviceClass,
    pub persona: Option<String>,
    pub snapshot_version: Option<u64>,
    pub now_ms: i64,
}

impl BeaconContext {
    pub fn from_request(
        head: &RequestHead<'_>,
        cfg: &Config,
        snapshot_version: Option<u64>,
        now_ms: i64,
    ) -> BeaconContext {
        let query = head.query();
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, v)| k == name && valid_id(v))
                .map(|(_, v)| v.to_string())
        };
        BeaconContext {
            unit_id: param("unit").or_else(|| {
                cookie(head.cookie, &cfg.cookie_name)
                    .filter(|v| valid_cookie_id(v))
                    .map(str::to_owned)
            }),
            device: DeviceClass::from_user_agent(head.user_agent.unwrap_or("")),
            persona: param("persona")
                .or_else(|| {
                    head.persona
                        .map(str::trim)
                        .filter(|p| valid_id(p))
                        .map(str::to_owned)
                })
                .or_else(|| {
                    cookie(head.cookie, PERSONA_COOKIE)
                        .filter(|p| valid_id(p))
                        .map(str::to_owned)
                }),
            snapshot_version,
            now_ms,
        }
    }

    /// Fills the fields the sender left out.
    fn complete(&self, e: &mut Event) {
        if e.unit_id.is_empty() {
            if let Some(u) = &self.unit_id {
                e.unit_id.clone_from(u);
            }
        }
        e.device.get_or_insert(self.device);
        if e.persona.is_none() {
            e.persona.clone_from(&self.persona);
        }
        if e.snapshot_version.is_none() {
            e.snapshot_version = self.snapshot_version;
        }
        e.ts.get_or_insert(self.now_ms);
    }
}

/// Checks the headers before the body is read: content type and declared length.
pub fn check_head(head: &RequestHead<'_>) -> Result<(), Reply> {
    let ct = head.content_type.unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("text/plain") && !media.eq_ignore_ascii_case("application/json")
    {
        return Err(Reply::error(
            400,
            "unsupported_content_type",
            format!("beacons must be text/plain or application/json, got `{ct}`"),
        ));
    }
    if let Some(len) = head
        .content_length
        .and_then(|l| l.trim().parse::<u64>().ok())
    {
        if len > MAX_BEACON_BYTES as u64 {
            return Err(too_large());
        }
    }
    Ok(())
}

fn too_large() -> Reply {
    Reply::error(
        400,
        "payload_too_large",
        format!("a beacon body may hold at most {MAX_BEACON_BYTES} bytes"),
    )
}

/// One refused event in a 400 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub index: usize,
    pub field: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct RejectedBody<'a> {
    error: &'a str,
    message: String,
    rejected: Vec<Rejected>,
}

/// Parses, completes and checks a beacon body.
pub fn parse_beacons(body: &[u8], ctx: &BeaconContext) -> Result<Vec<Event>, Reply> {
    if body.len() > MAX_BEACON_BYTES {
        return Err(too_large());
    }
    let malformed = |m: String| Reply::error(400, "malformed_json", m);
    let value: Value = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let items: Vec<Value> = match value {
        Value::Object(mut map) if map.contains_key("events") => match map.remove("events") {
            Some(Value::Array(items)) => items,
            _ => return Err(malformed("`events` must be an array".into())),
        },
        v @ Value::Object(_) => vec![v],
        _ => {
            return Err(malformed(
                "expected an event object or {\"events\": [...]}".into(),
            ))
        }
    };
    if items.is_empty() || items.len() > MAX_BATCH_EVENTS {
        return Err(Reply::error(
            400,
            "bad_batch_size",
            format!(
                "a batch holds 1 to {MAX_BATCH_EVENTS} events, got {}",
                items.len()
            ),
        ));
    }
    let mut events = Vec::with_capacity(items.len());
    let mut rejected = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match serde_json::from_value::<Event>(item) {
            Ok(mut e) => {
                ctx.complete(&mut e);
                // Only the worker's own exposures (proxy mode) say `edge`; a browser's cannot.
                let shape = match e.logged_by {
                    Some(LoggedBy::Edge) => Err(FieldError {
                        field: "logged_by",
                        message: "`edge` is set by the worker only".into(),
                    }),
                    _ => e.check_shape(),
                };
                match shape {
                    Ok(()) => events.push(e),
                    Err(FieldError { field, message }) => rejected.push(Rejected {
                        index,
                        field,
                        message,
                    }),
                }
            }
            Err(err) => rejected.push(Rejected {
                index,
                field: "event",
                message: err.to_string(),
            }),
        }
    }
    if rejected.is_empty() {
        Ok(events)
    } else {
        Err(Reply::json(
            400,
            &RejectedBody {
                error: "invalid_events",
                message: format!(
                    "{} of {} events are invalid; none were accepted",
                    rejected.len(),
                    rejected.len() + events.len()
                ),
                rejected,
            },
        ))
    }
}

/// Splits events into queue messages, each `{"events": [...]}` under the message size limit.
pub fn queue_chunks(events: &[Event]) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    for e in events {
        let Ok(json) = serde_json::to_string(e) else {
            continue;
        };
        if !current.is_empty() && current.len() + json.len() + 2 > MAX_QUEUE_MESSAGE_BYTES {
            current.push_str("]}");
            chunks.push(std::mem::take(&mut current));
        }
        current.push_str(if current.is_empty() {
            "{\"events\":["
        } else {
            ","
        });
        current.push_str(&json);
    }
    if !current.is_empty() {
        current.push_str("]}");
        chunks.push(current);
    }
    chunks
}

/// The 202 a valid beacon gets at once.
pub fn accepted(n: usize) -> Reply {
    #[derive(Serialize)]
    struct Accepted {
        accepted: usize,
    }
    Reply::json(202, &Accepted { accepted: n })
}
