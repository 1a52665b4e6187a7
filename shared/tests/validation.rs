//! Snapshot validation: fatal errors refuse the snapshot, per-item problems skip only that item.

use edgewise_shared::{CompiledSnapshot, SnapshotError, Warning};
use serde_json::{json, Value};

fn good(key: &str) -> Value {
    json!({"key": key, "status": "running", "variants": [
        {"key": "a", "weight": 1}, {"key": "b", "weight": 1}
    ]})
}

fn with(mut t: Value, field: &str, v: Value) -> Value {
    t[field] = v;
    t
}

fn compile(extra: Value) -> Result<(CompiledSnapshot, Vec<Warning>), SnapshotError> {
    let mut wire = json!({"schema_version": 1, "snapshot_version": 1, "hash_version": 1});
    if let (Value::Object(w), Value::Object(e)) = (&mut wire, extra) {
        w.extend(e);
    }
    CompiledSnapshot::from_json(&wire.to_string())
}

#[test]
fn snapshot_wide_problems_refuse_the_snapshot() {
    let err = |extra: Value| compile(extra).unwrap_err().to_string();
    assert!(err(json!({"schema_version": 2})).contains("schema_version 2"));
    assert!(err(json!({"hash_version": 9})).contains("hash_version 9"));
    assert!(err(json!({"holdout": {"share": 1.5}})).contains("holdout.share"));
    let e = CompiledSnapshot::from_json("{\"schema_version\": 1,\n \"snapshot_version\": \"x\"}")
        .unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[test]
fn a_bad_test_is_skipped_with_a_warning_naming_its_field() {
    let layer_slot = json!({"key": "L", "range": [0, 5000]});
    let bad: Vec<(Value, &str)> = vec![
        (
            with(
                good("one-variant"),
                "variants",
                json!([{"key": "a", "weight": 1}]),
            ),
            "tests[0].variants",
        ),
        (
            with(
                good("dup-variant"),
                "variants",
                json!([{"key": "a", "weight": 1}, {"key": "a", "weight": 1}]),
            ),
            "tests[0].variants[1].key",
        ),
        (
            with(
                good("neg-weight"),
                "variants",
                json!([{"key": "a", "weight": -1}, {"key": "b", "weight": 1}]),
            ),
            "tests[0].variants[0].weight",
        ),
        (
            with(
                good("zero-weights"),
                "variants",
                json!([{"key": "a", "weight": 0}, {"key": "b", "weight": 0}]),
            ),
            "tests[0].variants",
        ),
        (
            with(good("coverage"), "coverage", json!(1.2)),
            "tests[0].coverage",
        ),
        (
            with(good("start"), "start_at", json!("yesterday")),
            "tests[0].start_at",
        ),
        (
            with(
                with(good("window"), "start_at", json!("2026-02-01T00:00:00Z")),
                "end_at",
                json!("2026-01-01T00:00:00Z"),
            ),
            "tests[0].end_at",
        ),
        (
            with(
                good("regex"),
                "targeting",
                json!({"when": {"attr": "url", "op": "regex", "value": "["}}),
            ),
            "tests[0].targeting.when.value",
        ),
        (
            with(
                good("layer"),
                "layer",
                json!({"key": "missing", "range": [0, 10]}),
            ),
            "tests[0].layer.key",
        ),
        (
            with(
                good("range"),
                "layer",
                json!({"key": "L", "range": [10, 10]}),
            ),
            "tests[0].layer.range",
        ),
        (with(good("hash"), "hash_id", json!("")), "tests[0].hash_id"),
        (
            with(
                good("two primaries"),
                "metrics",
                json!([{"key": "m1", "kind": "binomial", "role": "primary"}, {"key": "m2", "kind": "value", "role": "primary"}]),
            ),
            "tests[0].key",
        ),
    ];
    for (test, path) in bad {
        let (s, warnings) = compile(json!({
            "layers": [{"key": "L"}],
            "tests": [test.clone(), with(good("fine"), "layer", layer_slot.clone())]
        }))
        .unwrap();
        assert_eq!(warnings.len(), 1, "{test}: {warnings:?}");
        match &warnings[0] {
            Warning::InvalidTest { path: p, .. } => assert_eq!(p, path, "{test}"),
            // A layer that does not exist: the test is fine by itself, it does not fit.
            Warning::ConflictingTest { path: p, .. } if path == "tests[0].layer.key" => {
                assert_eq!(p, path, "{test}")
            }
            other => panic!("{test}: unexpected {other:?}"),
        }
        let keys: Vec<&str> = s.tests().map(|t| t.key()).collect();
        assert_eq!(keys, ["fine"], "the other test survives");
    }
}

#[test]
fn duplicates_and_overlaps_keep_the_first() {
    let (s, warnings) = compile(json!({
        "layers": [{"key": "L"}, {"key": "L"}],
        "personas": [{"key": "P", "when": {"attr": "x", "op": "bogus"}}],
        "allowed_origins": ["https://ok.example", "ftp://nope", "https://bad.example/path"],
        "tests": [
            with(good("a"), "layer", json!({"key": "L", "range": [0, 6000]})),
            with(good("b"), "layer", json!({"key": "L", "range": [5000, 10000]})),
            good("a"),
        ]
    }))
    .unwrap();
    let kinds: Vec<String> = warnings
        .iter()
        .map(|w| {
            serde_json::to_value(w).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "invalid_layer",
            "invalid_persona",
            "conflicting_test",
            "duplicate_test",
            "invalid_origin",
            "invalid_origin"
        ]
    );
    assert!(warnings[2].to_string().contains("overlaps test `a`"));
    assert_eq!(s.tests().map(|t| t.key()).collect::<Vec<_>>(), ["a"]);
    assert_eq!(s.allowed_origins(), ["https://ok.example"]);
    assert!(s.allows_origin("https://OK.example"));
    assert!(!s.allows_origin("https://evil.example"));
}

#[test]
fn the_example_snapshot_is_valid() {
    let (s, warnings) =
        CompiledSnapshot::from_json(include_str!("../../docs/example-snapshot.json")).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(s.tests().count(), 4);
}
