//! Writing the `/v1/assign` body fast: the same JSON serde would write, without re-serialising
//! every variant's content on every request.
//!
//! With 100 tests the body is ~17 KB and serialising the content values was most of the
//! worker's own CPU time. Content values live inside the compiled snapshot and never change,
//! so [`ContentCache`] keeps each one's JSON text keyed by its address, for as long as that
//! snapshot is the one being served (a different snapshot resets the cache).

use std::collections::HashMap;
use std::fmt::Write as _;

use edgewise_shared::{CompiledSnapshot, Decision, Reason};
use serde_json::Value;

/// JSON text of content values of one snapshot, by address.
#[derive(Debug, Default)]
pub struct ContentCache {
    /// Address and version of the snapshot the entries belong to.
    owner: Option<(usize, u64)>,
    text: HashMap<usize, String>,
}

/// More entries than this means something odd is going on: start over rather than grow.
const MAX_ENTRIES: usize = 100_000;

impl ContentCache {
    /// Makes the cache serve `snapshot`, dropping entries of any other.
    pub fn bind(&mut self, snapshot: &CompiledSnapshot) {
        let owner = (std::ptr::from_ref(snapshot) as usize, snapshot.version());
        if self.owner != Some(owner) || self.text.len() > MAX_ENTRIES {
            self.text.clear();
            self.owner = Some(owner);
        }
    }

    fn write(&mut self, out: &mut String, content: &Value) {
        let key = std::ptr::from_ref(content) as usize;
        let text = self
            .text
            .entry(key)
            .or_insert_with(|| serde_json::to_string(content).unwrap_or_else(|_| "null".into()));
        out.push_str(text);
    }
}

fn reason_str(r: Reason) -> &'static str {
    match r {
        Reason::Assigned => "assigned",
        Reason::Forced => "forced",
        Reason::Paused => "paused",
        Reason::NotStarted => "not_started",
        Reason::Ended => "ended",
        Reason::Bot => "bot",
        Reason::InHoldout => "in_holdout",
        Reason::NotTargeted => "not_targeted",
        Reason::ExcludedByLayer => "excluded_by_layer",
        Reason::OutsideCoverage => "outside_coverage",
    }
}

/// Appends `s` as a JSON string.
pub fn write_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
    }
}

/// Appends the decisions as a JSON array, identical to serde's rendering of `&[Decision]`.
/// `cache` must be bound to the snapshot the decisions come from.
pub fn write_decisions(out: &mut String, decisions: &[Decision<'_>], cache: &mut ContentCache) {
    out.push('[');
    for (i, d) in decisions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"test\":");
        write_str(out, d.test);
        out.push_str(",\"variant\":");
        match d.variant {
            Some(v) => write_str(out, v),
            None => out.push_str("null"),
        }
        let _ = write!(
            out,
            ",\"bucket\":{},\"reason\":\"{}\",\"counted\":{},\"content\":",
            d.bucket,
            reason_str(d.reason),
            d.counted
        );
        cache.write(out, d.content);
        let _ = write!(out, ",\"snapshot_version\":{}", d.snapshot_version);
        if let Some(p) = d.propensity {
            let _ = write!(out, ",\"propensity\":{p}");
        }
        out.push('}');
    }
    out.push(']');
}
