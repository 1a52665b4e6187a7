//! Every limit on what Edgewise accepts from outside, in one place.
//!
//! The edge and the control plane check these numbers with the same code: the snapshot
//! compiler ([`crate::compile`]) enforces the snapshot's, [`crate::beacon`] the beacons', the
//! worker the visitor requests', and the control plane its API bodies' (which it checks by
//! compiling the snapshot they would produce). `docs/snapshot.md` and `docs/control.md` print
//! the table. Keys and origins are printable ASCII, so their length is the same in bytes and in
//! characters; free text (descriptions, condition values) is counted in characters, ids in
//! beacons in bytes, and each constant says which. The limits keep every document the
//! control plane stores well inside serde_json's 128 levels of nesting, so whatever is stored
//! can be parsed again and published.

use serde_json::Value;

/// A whole snapshot, as JSON: what the edge accepts and the control plane publishes.
pub const MAX_SNAPSHOT_BYTES: usize = 5 * 1024 * 1024;
/// Tests, variants, layers, personas, metrics and every `hash_id`: 1 to this many printable
/// ASCII characters (`!` to `~`: no spaces, no control characters).
pub const MAX_KEY_BYTES: usize = 100;
/// Variants per test (the first is the control).
pub const MIN_VARIANTS: usize = 2;
pub const MAX_VARIANTS: usize = 10;
/// Metrics per test.
pub const MAX_METRICS: usize = 50;
/// Levels of arrays and objects inside a variant's `content` and inside each override patch
/// (`{"a": {"b": 1}}` nests 2 levels; a string nests none).
pub const MAX_CONTENT_DEPTH: usize = 32;
/// One variant's content as the edge holds it, as JSON: the base content plus its merge for
/// every device and persona override and each device × persona pair.
pub const MAX_VARIANT_CONTENT_BYTES: usize = 256 * 1024;
/// Element changes (`dom`) in one variant's content or one override patch.
pub const MAX_DOM_CHANGES: usize = 100;
/// A CSS selector or `data-ew` marker of an element change.
pub const MAX_SELECTOR_BYTES: usize = 1024;
/// Levels of `all` / `any` / `not` in one condition.
pub const MAX_CONDITION_DEPTH: usize = 8;
/// Groups and leaves in one condition.
pub const MAX_CONDITION_NODES: usize = 256;
/// Items of one `in` / `not_in` list.
pub const MAX_CONDITION_LIST: usize = 1000;
/// An attribute name, a condition's string value or regex pattern, a list item: characters.
pub const MAX_CONDITION_TEXT_CHARS: usize = 1024;
/// Layers, personas and allowed origins per snapshot, each.
pub const MAX_LAYERS: usize = 100;
pub const MAX_PERSONAS: usize = 100;
pub const MAX_ORIGINS: usize = 100;
/// One allowed origin (printable ASCII).
pub const MAX_ORIGIN_BYTES: usize = 256;
/// A metric's `delay_hours` and `conversion_window_hours`, each: a year.
pub const MAX_WINDOW_HOURS: f64 = 8784.0;
/// A retention metric's `to_day`.
pub const MAX_RETENTION_DAYS: u32 = 366;
/// A test's `description`, in characters (control plane only; not published).
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// Tags on one test (each a key: [`is_key`]).
pub const MAX_TAGS: usize = 20;
/// The largest relative weight of a variant. Weights are normalised over the test, so the
/// scale is free; the bound keeps the sum of ten weights finite.
pub const MAX_WEIGHT: f64 = 1e300;

/// A beacon body the worker accepts (a browser's own `sendBeacon` limit).
pub const MAX_BEACON_BYTES: usize = 64 * 1024;
/// Events per beacon batch, at the worker and the control plane.
pub const MAX_BATCH_EVENTS: usize = 1000;
/// Ids in events (event, unit, test, variant, metric, persona) and a visitor's `unit` /
/// `persona` parameters.
pub const MAX_ID_BYTES: usize = 200;
/// The largest absolute value of a conversion: sums of squares of a million such values per
/// unit over a billion units stay finite.
pub const MAX_EVENT_VALUE: f64 = 1e12;

/// `attr.*` and `force.*` parameters of one visitor request read; the rest are ignored.
pub const MAX_VISITOR_PAIRS: usize = 32;
/// A visitor request's free-text parameters (url, ref, attribute values) kept.
pub const MAX_VISITOR_TEXT_BYTES: usize = 2048;

/// Levels of arrays and objects in `v` (a scalar is 0), without recursion, so any value can be
/// measured, however deep.
pub fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|c| (c, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|c| (c, d + 1))),
            _ => continue,
        }
        deepest = deepest.max(d + 1);
    }
    deepest
}

/// `v`'s length as compact JSON, without building the string.
pub fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a Value to an infallible writer cannot fail.
    let _ = serde_json::to_writer(&mut count, v);
    count.0
}

/// Whether `key` is a valid key: 1 to [`MAX_KEY_BYTES`] printable ASCII characters, which is
/// what the pattern `^[!-~]{1,100}$` of the OpenAPI document says.
pub fn is_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_BYTES && key.bytes().all(|b| b.is_ascii_graphic())
}

/// The message for a key that [`is_key`] refuses.
pub const KEY_RULE: &str = "must be 1 to 100 printable ASCII characters (no spaces)";

/// Whether a name can be one segment of a URL path (`/api/v1/tests/{key}`): anything but `.`
/// and `..`, which clients resolve as dot segments (RFC 3986, 5.2.4) before sending, so a test
/// or template named so could be created but never read, changed or started.
pub fn is_path_segment(name: &str) -> bool {
    name != "." && name != ".."
}

/// The message for a name that [`is_path_segment`] refuses.
pub const PATH_SEGMENT_RULE: &str = "may not be `.` or `..`: a URL names it";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_counts_containers_not_scalars() {
        assert_eq!(depth(&json!("x")), 0);
        assert_eq!(depth(&json!([])), 1);
        assert_eq!(depth(&json!({"a": {"b": [1]}})), 3);
        let mut deep = json!(1);
        for _ in 0..1000 {
            deep = json!([deep]);
        }
        assert_eq!(depth(&deep), 1000);
    }

    #[test]
    fn json_len_is_the_serialised_length() {
        let v = json!({"headline": "Grüße", "n": [1, 2.5, null, true]});
        assert_eq!(json_len(&v), serde_json::to_string(&v).unwrap().len());
    }

    #[test]
    fn keys_are_bounded_in_bytes() {
        assert!(is_key(&"a".repeat(100)));
        assert!(is_key("hero-headline_v2.1:b~!"));
        assert!(!is_key(&"a".repeat(101)));
        assert!(!is_key("grüße"));
        assert!(!is_key("a b"));
        assert!(!is_key("a\tb"));
        assert!(!is_key(""));
        assert!(is_path_segment("a..b") && is_path_segment(".x") && is_path_segment("..."));
        assert!(!is_path_segment(".") && !is_path_segment(".."));
    }
}
