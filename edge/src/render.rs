//! Writing the `/v1/assign` body fast: the same bytes serde would write, mostly copied from
//! text prepared once per snapshot.
//!
//! At 1,000 tests the body is ~170 KB, and formatting it field by field (a `HashMap` lookup of
//! each content value's JSON, `write!` for every number and flag) cost more than deciding the
//! tests. Everything in a decision but the bucket is fixed by the snapshot and a few choices,
//! so [`RenderCache`] keeps, per test, its opening text up to `"bucket":` for each variant (and
//! for none) and the JSON of each content value it has served, followed by the snapshot's
//! version; a decision is then four copies and a number. The cache serves one snapshot at a
//! time (another snapshot resets it); a decision it cannot match (not from that snapshot) is
//! written the slow way, with the same result.

use std::fmt::Write as _;

use edgewise_shared::{CompiledSnapshot, Decision, Reason};
use serde_json::Value;

/// Text prepared for one snapshot.
#[derive(Debug, Default)]
pub struct RenderCache {
    /// Address and version of the snapshot the entries belong to.
    owner: Option<(usize, u64)>,
    /// Per test, in snapshot order, which is the order of the decisions.
    tests: Vec<TestText>,
    /// `,"snapshot_version":V}`: the end of every decision but a remembered sticky one.
    tail: String,
    /// The length of the last body written, to size the next one.
    last_len: usize,
}

#[derive(Debug)]
struct TestText {
    /// Address of the test's key (decisions borrow it from the snapshot).
    key: usize,
    /// `{"test":"KEY","variant":null,"bucket":`
    head_none: Box<str>,
    /// Address of each variant's key and `{"test":"KEY","variant":"V","bucket":`.
    heads: Vec<(usize, Box<str>)>,
    /// Address of each content value served so far and its JSON followed by the tail.
    contents: Vec<(usize, Box<str>)>,
}

/// More content entries than this in one test means something odd: start that test over.
const MAX_CONTENTS_PER_TEST: usize = 64;

fn addr(s: &str) -> usize {
    s.as_ptr() as usize
}

impl RenderCache {
    /// Makes the cache serve `snapshot`, dropping what it held for any other.
    pub fn bind(&mut self, snapshot: &CompiledSnapshot) {
        let owner = (std::ptr::from_ref(snapshot) as usize, snapshot.version());
        if self.owner == Some(owner) {
            return;
        }
        self.owner = Some(owner);
        self.tail = format!(",\"snapshot_version\":{}}}", snapshot.version());
        self.tests = snapshot
            .tests()
            .map(|t| {
                let head = |variant: Option<&str>| {
                    let mut s = String::from("{\"test\":");
                    write_str(&mut s, t.key());
                    s.push_str(",\"variant\":");
                    match variant {
                        Some(v) => write_str(&mut s, v),
                        None => s.push_str("null"),
                    }
                    s.push_str(",\"bucket\":");
                    s.into_boxed_str()
                };
                TestText {
                    key: addr(t.key()),
                    head_none: head(None),
                    heads: t.variant_keys().map(|v| (addr(v), head(Some(v)))).collect(),
                    contents: Vec::new(),
                }
            })
            .collect();
    }

    /// A capacity for a body of `decisions` decisions: the last body's length, or a guess.
    pub fn size_hint(&self, decisions: usize) -> usize {
        (self.last_len + 64).max(256 + decisions * 192)
    }

    /// Records the length of a body just written.
    pub fn written(&mut self, len: usize) {
        self.last_len = len;
    }
}

fn content_json(content: &Value) -> String {
    serde_json::to_string(content).unwrap_or_else(|_| "null".into())
}

/// `,"reason":"R","counted":C,"content":` for every reason and flag.
fn reason_text(reason: Reason, counted: bool) -> &'static str {
    macro_rules! texts {
        ($($variant:ident => $name:literal),* $(,)?) => {
            match (reason, counted) {
                $(
                    (Reason::$variant, true) => concat!(",\"reason\":\"", $name, "\",\"counted\":true,\"content\":"),
                    (Reason::$variant, false) => concat!(",\"reason\":\"", $name, "\",\"counted\":false,\"content\":"),
                )*
            }
        };
    }
    texts!(
        Assigned => "assigned",
        Forced => "forced",
        Paused => "paused",
        NotStarted => "not_started",
        Ended => "ended",
        Bot => "bot",
        InHoldout => "in_holdout",
        NotTargeted => "not_targeted",
        ExcludedByLayer => "excluded_by_layer",
        OutsideCoverage => "outside_coverage",
    )
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

/// Appends `n` in decimal.
fn write_u32(out: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// Appends the decisions as a JSON array, identical to serde's rendering of `&[Decision]`.
/// `cache` should be bound to the snapshot the decisions come from (else they are written the
/// slow way).
pub fn write_decisions(out: &mut String, decisions: &[Decision<'_>], cache: &mut RenderCache) {
    out.push('[');
    for (i, d) in decisions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let test = cache.tests.get_mut(i).filter(|t| t.key == addr(d.test));
        let Some(test) = test else {
            write_decision_slowly(out, d);
            continue;
        };
        let head = match d.variant {
            None => Some(&test.head_none),
            Some(v) => test
                .heads
                .iter()
                .find(|(a, _)| *a == addr(v))
                .map(|(_, h)| h),
        };
        let Some(head) = head else {
            write_decision_slowly(out, d);
            continue;
        };
        out.push_str(head);
        write_u32(out, d.bucket);
        out.push_str(reason_text(d.reason, d.counted));
        let key = std::ptr::from_ref(d.content) as usize;
        let at = match test.contents.iter().position(|(a, _)| *a == key) {
            Some(at) => at,
            None => {
                if test.contents.len() >= MAX_CONTENTS_PER_TEST {
                    test.contents.clear();
                }
                let mut text = content_json(d.content);
                text.push_str(&cache.tail);
                test.contents.push((key, text.into_boxed_str()));
                test.contents.len() - 1
            }
        };
        let text = &test.contents[at].1;
        let owner_version = cache.owner.map_or(0, |(_, v)| v);
        if d.snapshot_version == owner_version && d.propensity.is_none() {
            out.push_str(text);
        } else {
            out.push_str(&text[..text.len() - cache.tail.len()]);
            write_end(out, d);
        }
    }
    out.push(']');
}

/// `,"snapshot_version":V` and, for sticky tests, `,"propensity":P`, then `}`.
fn write_end(out: &mut String, d: &Decision<'_>) {
    let _ = write!(out, ",\"snapshot_version\":{}", d.snapshot_version);
    if let Some(p) = d.propensity {
        out.push_str(",\"propensity\":");
        out.push_str(&serde_json::to_string(&p).unwrap_or_else(|_| "null".into()));
    }
    out.push('}');
}

/// One decision written field by field, for a decision the cache has no text for.
fn write_decision_slowly(out: &mut String, d: &Decision<'_>) {
    out.push_str("{\"test\":");
    write_str(out, d.test);
    out.push_str(",\"variant\":");
    match d.variant {
        Some(v) => write_str(out, v),
        None => out.push_str("null"),
    }
    out.push_str(",\"bucket\":");
    write_u32(out, d.bucket);
    out.push_str(reason_text(d.reason, d.counted));
    out.push_str(&content_json(d.content));
    write_end(out, d);
}
