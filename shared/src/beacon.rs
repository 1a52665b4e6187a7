//! Exposure and conversion beacons: the wire types websites send and the control plane ingests.
//!
//! A browser sends a batch `{"events": [...]}` (or one bare event) with `navigator.sendBeacon`.
//! The edge fills in what it knows from the request (unit id, device, persona, snapshot
//! version, receive time) and forwards; the control plane validates each event on its own so a
//! bad event is rejected by index and field without sinking the rest of the batch.
//!
//! An event's `logged_by` says who logged it: absent (the browser: the snippet or the site's own
//! code), or `edge` when the worker logged an exposure itself as it served a page in proxy mode
//! (docs/proxy.md). The worker sets it on its own exposures and refuses it on beacons from
//! browsers, so the control plane can trust it.

use serde::{Deserialize, Serialize};

use crate::device::DeviceClass;
pub use crate::limits::{MAX_BATCH_EVENTS, MAX_EVENT_VALUE, MAX_ID_BYTES};

/// Covariates on one exposure.
pub const MAX_COVARIATES: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Exposure,
    Conversion,
}

/// Who logged an event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoggedBy {
    /// The page's snippet or the site's own code; what an event without `logged_by` means.
    #[default]
    Browser,
    /// The worker, when it served the page in proxy mode (before any script ran).
    Edge,
}

impl LoggedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            LoggedBy::Browser => "browser",
            LoggedBy::Edge => "edge",
        }
    }
}

/// One beacon event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Client-generated id; re-delivery of the same id is counted once.
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    #[serde(default)]
    pub unit_id: String,
    pub test: String,
    pub variant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_version: Option<u64>,
    /// Exposures to sticky (bandit) tests: the probability with which the variant was
    /// assigned, in `(0, 1]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propensity: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceClass>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    /// When it happened, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
    /// Conversions: the metric key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Conversions of value metrics: the amount, at most [`MAX_EVENT_VALUE`] in size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Exposures: the visitor's value of each of the test's dimensions
    /// ([`crate::dimensions`]), at most 5, each at most 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<std::collections::BTreeMap<String, String>>,
    /// Exposures: pre-exposure values of the unit (CUPED covariates, named by the test's
    /// metrics' `covariate`), at most 20, each at most [`MAX_EVENT_VALUE`] in size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covariates: Option<std::collections::BTreeMap<String, f64>>,
    /// Who logged it (absent: the browser); see [`LoggedBy`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged_by: Option<LoggedBy>,
}

/// A problem with one field of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl Event {
    /// Checks what can be checked without the snapshot: ids present and bounded, value bounded,
    /// conversions name a metric, exposures carry no value, a propensity is a probability.
    pub fn check_shape(&self) -> Result<(), FieldError> {
        let err = |field, message: &str| {
            Err(FieldError {
                field,
                message: message.to_owned(),
            })
        };
        for (field, v) in [
            ("event_id", &self.event_id),
            ("unit_id", &self.unit_id),
            ("test", &self.test),
            ("variant", &self.variant),
        ] {
            if v.is_empty() {
                return err(field, "must not be empty");
            }
            if v.len() > MAX_ID_BYTES {
                return err(field, "is longer than 200 bytes");
            }
        }
        if self
            .persona
            .as_ref()
            .is_some_and(|p| p.len() > MAX_ID_BYTES)
        {
            return err("persona", "is longer than 200 bytes");
        }
        match (self.kind, &self.metric) {
            (EventKind::Conversion, None) => return err("metric", "a conversion needs a metric"),
            (EventKind::Conversion, Some(m)) if m.is_empty() || m.len() > MAX_ID_BYTES => {
                return err("metric", "must be 1–200 bytes")
            }
            (EventKind::Exposure, Some(_)) => return err("metric", "an exposure has no metric"),
            _ => {}
        }
        if let Some(dims) = &self.dimensions {
            if self.kind == EventKind::Conversion {
                return err(
                    "dimensions",
                    "a conversion has no dimensions (its unit's exposure has)",
                );
            }
            if dims.len() > crate::dimensions::MAX_DIMENSIONS {
                return err("dimensions", "at most 5 dimensions");
            }
            for (name, value) in dims {
                if !crate::dimensions::is_name(name) {
                    return err("dimensions", crate::dimensions::NAME_RULE);
                }
                if value.chars().count() > crate::dimensions::MAX_VALUE_CHARS {
                    return err("dimensions", "values are at most 64 characters");
                }
            }
        }
        if let Some(covs) = &self.covariates {
            if self.kind == EventKind::Conversion {
                return err(
                    "covariates",
                    "a conversion has no covariates (its unit's exposure has)",
                );
            }
            if covs.len() > MAX_COVARIATES {
                return err("covariates", "at most 20 covariates");
            }
            for (name, v) in covs {
                if !crate::limits::is_key(name) {
                    return err("covariates", crate::limits::KEY_RULE);
                }
                if !(-MAX_EVENT_VALUE..=MAX_EVENT_VALUE).contains(v) {
                    return err("covariates", "values are at most 1e12 in size");
                }
            }
        }
        match (self.kind, self.propensity) {
            (EventKind::Conversion, Some(_)) => {
                return err("propensity", "a conversion has no propensity")
            }
            (_, Some(p)) if !(p > 0.0 && p <= 1.0) => {
                return err("propensity", "must be a probability in (0, 1]")
            }
            _ => {}
        }
        if self.kind == EventKind::Conversion && self.logged_by == Some(LoggedBy::Edge) {
            return err("logged_by", "only exposures are logged by the edge");
        }
        match (self.kind, self.value) {
            (EventKind::Exposure, Some(_)) => err("value", "an exposure has no value"),
            (_, Some(v)) if !(-MAX_EVENT_VALUE..=MAX_EVENT_VALUE).contains(&v) => {
                err("value", "must be a number between -1e12 and 1e12")
            }
            _ => Ok(()),
        }
    }
}

/// The body of `POST /v1/events`: a batch, or one bare event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventBody {
    Batch { events: Vec<Event> },
    One(Box<Event>),
}

impl EventBody {
    pub fn into_events(self) -> Vec<Event> {
        match self {
            EventBody::Batch { events } => events,
            EventBody::One(e) => vec![*e],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposure() -> serde_json::Value {
        serde_json::json!({"event_id": "e1", "type": "exposure", "unit_id": "u", "test": "t",
            "variant": "b", "ts": 5})
    }

    #[test]
    fn source_on_the_wire() {
        // Absent means the browser, and an event without one is written without one.
        let e: Event = serde_json::from_value(exposure()).unwrap();
        assert_eq!(e.logged_by, None);
        assert_eq!(e.logged_by.unwrap_or_default(), LoggedBy::Browser);
        assert!(!serde_json::to_string(&e).unwrap().contains("logged_by"));

        let mut edge = exposure();
        edge["logged_by"] = "edge".into();
        let e: Event = serde_json::from_value(edge).unwrap();
        assert_eq!(e.logged_by, Some(LoggedBy::Edge));
        assert_eq!(serde_json::to_value(&e).unwrap()["logged_by"], "edge");
        assert_eq!(e.check_shape(), Ok(()));

        let mut browser = exposure();
        browser["logged_by"] = "browser".into();
        let e: Event = serde_json::from_value(browser).unwrap();
        assert_eq!(e.logged_by, Some(LoggedBy::Browser));

        for bad in [
            serde_json::json!("server"),
            serde_json::json!("EDGE"),
            serde_json::json!(1),
        ] {
            let mut v = exposure();
            v["logged_by"] = bad.clone();
            assert!(serde_json::from_value::<Event>(v).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_edge_logs_exposures_only() {
        let mut c = exposure();
        c["type"] = "conversion".into();
        c["metric"] = "buy".into();
        c["logged_by"] = "edge".into();
        let e: Event = serde_json::from_value(c).unwrap();
        assert_eq!(e.check_shape().unwrap_err().field, "logged_by");
    }
}
