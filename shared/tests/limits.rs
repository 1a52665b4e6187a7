//! The limits of `edgewise_shared::limits`, as the compiler enforces them: each one refuses just
//! the item past it, with a warning naming the field, and anything that compiles cleanly can be
//! serialised and parsed again (so the control plane never stores what it cannot publish).

use edgewise_shared::limits::*;
use edgewise_shared::{CompiledSnapshot, SnapshotError, Warning};
use serde_json::{json, Value};

fn snapshot(tests: Value, extra: Value) -> Value {
    let mut wire =
        json!({"schema_version": 1, "snapshot_version": 1, "hash_version": 1, "tests": tests});
    if let (Value::Object(w), Value::Object(e)) = (&mut wire, extra) {
        w.extend(e);
    }
    wire
}

fn test_with_variants(variants: Value) -> Value {
    json!({"key": "t", "status": "running", "variants": variants})
}

fn nested(levels: usize) -> Value {
    let mut v = json!("leaf");
    for _ in 0..levels {
        v = json!({ "x": v });
    }
    v
}

/// The warnings of compiling `wire` through JSON, as the edge does.
fn warnings(wire: &Value) -> Vec<Warning> {
    CompiledSnapshot::from_json(&wire.to_string())
        .expect("the snapshot compiles")
        .1
}

fn invalid_paths(wire: &Value) -> Vec<String> {
    warnings(wire).iter().map(|w| w.path().to_owned()).collect()
}

#[test]
fn content_nests_at_most_the_limit() {
    let ok = test_with_variants(json!([
        {"key": "a", "weight": 1, "content": nested(MAX_CONTENT_DEPTH)},
        {"key": "b", "weight": 1}
    ]));
    assert!(invalid_paths(&snapshot(json!([ok]), json!({}))).is_empty());
    let deep = test_with_variants(json!([
        {"key": "a", "weight": 1},
        {"key": "b", "weight": 1, "content": nested(MAX_CONTENT_DEPTH + 1)}
    ]));
    assert_eq!(
        invalid_paths(&snapshot(json!([deep]), json!({}))),
        ["tests[0].variants[1].content"]
    );
    let deep_patch = test_with_variants(json!([
        {"key": "a", "weight": 1, "overrides": {"persona": {"P": nested(MAX_CONTENT_DEPTH + 1)}}},
        {"key": "b", "weight": 1}
    ]));
    assert_eq!(
        invalid_paths(&snapshot(json!([deep_patch]), json!({}))),
        ["tests[0].variants[0].overrides.persona.P"]
    );
}

#[test]
fn merged_content_is_bounded_before_it_is_merged() {
    // 4 device patches and 20 persona patches make 1 + 4 + 20 + 80 = 105 copies of the base.
    let base = json!({ "text": "x".repeat(MAX_VARIANT_CONTENT_BYTES / 105) });
    let personas: serde_json::Map<String, Value> = (0..20)
        .map(|i| (format!("p{i}"), json!({"p": i})))
        .collect();
    let overrides = json!({
        "device": {"mobile": {"d": 1}, "tablet": {"d": 2}, "desktop": {"d": 3}, "bot": {"d": 4}},
        "persona": personas,
    });
    let t = test_with_variants(json!([
        {"key": "a", "weight": 1, "content": base, "overrides": overrides},
        {"key": "b", "weight": 1}
    ]));
    let w = warnings(&snapshot(json!([t]), json!({})));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].to_string().contains("variants[0].content"), "{}", w[0]);
    // Without the persona patches the same base fits.
    let t = test_with_variants(json!([
        {"key": "a", "weight": 1, "content": base, "overrides": {"device": {"mobile": {"d": 1}}}},
        {"key": "b", "weight": 1}
    ]));
    assert!(warnings(&snapshot(json!([t]), json!({}))).is_empty());
}

#[test]
fn weights_are_bounded_so_their_sum_stays_finite() {
    let t = |w: f64| {
        test_with_variants(json!([
            {"key": "a", "weight": w}, {"key": "b", "weight": w}
        ]))
    };
    assert!(warnings(&snapshot(json!([t(MAX_WEIGHT)]), json!({}))).is_empty());
    let (compiled, _) =
        CompiledSnapshot::from_json(&snapshot(json!([t(MAX_WEIGHT)]), json!({})).to_string())
            .unwrap();
    // Both halves of the bucket space are assigned: nobody falls outside coverage.
    let d = compiled.assign(
        &edgewise_shared::Visitor {
            unit_id: "u1",
            device: Some(edgewise_shared::DeviceClass::Desktop),
            ..Default::default()
        },
        0,
    );
    assert!(d.decisions[0].variant.is_some(), "{:?}", d.decisions[0]);
    assert_eq!(
        invalid_paths(&snapshot(json!([t(1e308)]), json!({}))),
        ["tests[0].variants[0].weight"]
    );
}

#[test]
fn keys_are_bounded_in_bytes_everywhere() {
    let long = "k".repeat(MAX_KEY_BYTES + 1);
    let fits = "k".repeat(MAX_KEY_BYTES);
    let variants = |k: &str| json!([{"key": k, "weight": 1}, {"key": "b", "weight": 1}]);
    assert!(invalid_paths(&snapshot(
        json!([test_with_variants(variants(&fits))]),
        json!({})
    ))
    .is_empty());
    assert_eq!(
        invalid_paths(&snapshot(
            json!([test_with_variants(variants(&long))]),
            json!({})
        )),
        ["tests[0].variants[0].key"]
    );
    let mut t = test_with_variants(variants("a"));
    t["metrics"] = json!([{"key": long, "kind": "binomial"}]);
    assert_eq!(
        invalid_paths(&snapshot(json!([t]), json!({}))),
        ["tests[0].metrics[0].key"]
    );
    let w = snapshot(
        json!([]),
        json!({"layers": [{"key": long}], "personas": [{"key": long, "when": {"attr": "a", "op": "exists"}}]}),
    );
    assert_eq!(invalid_paths(&w), ["layers[0].key", "personas[0].key"]);
}

#[test]
fn conditions_are_bounded_in_depth_nodes_lists_and_text() {
    let mut deep = json!({"attr": "a", "op": "exists"});
    for _ in 0..=MAX_CONDITION_DEPTH {
        deep = json!({ "not": deep });
    }
    let many: Vec<Value> = (0..MAX_CONDITION_NODES)
        .map(|_| json!({"attr": "a", "op": "exists"}))
        .collect();
    let list: Vec<Value> = (0..=MAX_CONDITION_LIST).map(|i| json!(i)).collect();
    let cases = [
        deep,
        json!({ "any": many }),
        json!({"attr": "a", "op": "in", "value": list}),
        json!({"attr": "a", "op": "regex", "value": "x".repeat(MAX_CONDITION_TEXT_CHARS + 1)}),
        json!({"attr": "a", "op": "in", "value": [[1]]}),
        json!({"attr": "a", "op": "exists", "value": {"x": 1}}),
    ];
    for when in cases {
        let mut t =
            test_with_variants(json!([{"key": "a", "weight": 1}, {"key": "b", "weight": 1}]));
        t["targeting"] = json!({ "when": when });
        let paths = invalid_paths(&snapshot(json!([t]), json!({})));
        assert_eq!(paths.len(), 1, "{when}");
        assert!(paths[0].starts_with("tests[0].targeting.when"), "{paths:?}");
    }
}

#[test]
fn counts_of_layers_personas_origins_and_metrics_are_bounded() {
    let layers: Vec<Value> = (0..=MAX_LAYERS)
        .map(|i| json!({"key": format!("L{i}")}))
        .collect();
    let personas: Vec<Value> = (0..=MAX_PERSONAS)
        .map(|i| json!({"key": format!("P{i}"), "when": {"attr": "a", "op": "exists"}}))
        .collect();
    let origins: Vec<Value> = (0..=MAX_ORIGINS)
        .map(|i| json!(format!("https://s{i}.example")))
        .collect();
    let w = snapshot(
        json!([]),
        json!({"layers": layers, "personas": personas, "allowed_origins": origins}),
    );
    assert_eq!(
        invalid_paths(&w),
        [
            format!("layers[{MAX_LAYERS}]"),
            format!("personas[{MAX_PERSONAS}]"),
            format!("allowed_origins[{MAX_ORIGINS}]")
        ]
    );
    let mut t = test_with_variants(json!([{"key": "a", "weight": 1}, {"key": "b", "weight": 1}]));
    let metrics: Vec<Value> = (0..=MAX_METRICS)
        .map(|i| json!({"key": format!("m{i}"), "kind": "binomial"}))
        .collect();
    t["metrics"] = json!(metrics);
    assert_eq!(
        invalid_paths(&snapshot(json!([t]), json!({}))),
        ["tests[0].metrics"]
    );
}

#[test]
fn a_snapshot_over_the_byte_limit_is_refused_whole() {
    let padding = " ".repeat(MAX_SNAPSHOT_BYTES);
    let json = format!("{}{padding}", snapshot(json!([]), json!({})));
    assert!(matches!(
        CompiledSnapshot::from_json(&json),
        Err(SnapshotError::TooLarge(n)) if n == json.len()
    ));
}

#[test]
fn whatever_compiles_cleanly_parses_again_after_serialising() {
    // The deepest content the limits allow, in the deepest place a snapshot holds content.
    let t = test_with_variants(json!([
        {"key": "a", "weight": 1, "content": nested(MAX_CONTENT_DEPTH),
         "overrides": {"persona": {"P": nested(MAX_CONTENT_DEPTH)}}},
        {"key": "b", "weight": 1}
    ]));
    let mut when = json!({"attr": "a", "op": "in", "value": [1]});
    for _ in 0..MAX_CONDITION_DEPTH {
        when = json!({ "all": [when] });
    }
    let mut t = t;
    t["targeting"] = json!({ "when": when });
    let wire = snapshot(json!([t]), json!({}));
    assert!(warnings(&wire).is_empty());
    let parsed: edgewise_shared::Snapshot = serde_json::from_value(wire).unwrap();
    let again = serde_json::to_string(&parsed).unwrap();
    assert!(CompiledSnapshot::from_json(&again).unwrap().1.is_empty());
}

#[test]
fn each_op_takes_the_value_the_openapi_document_says() {
    let leaf = |op: &str, value: Option<Value>| {
        let mut when = json!({"attr": "a", "op": op});
        if let Some(v) = value {
            when["value"] = v;
        }
        let mut t =
            test_with_variants(json!([{"key": "a", "weight": 1}, {"key": "b", "weight": 1}]));
        t["targeting"] = json!({ "when": when });
        invalid_paths(&snapshot(json!([t]), json!({})))
    };
    let ok: Vec<(&str, Option<Value>)> = vec![
        ("eq", Some(json!("x"))),
        ("eq", Some(json!(true))),
        ("ne", Some(json!(2.5))),
        ("in", Some(json!(["a", 1, false]))),
        ("gt", Some(json!(18))),
        ("lte", Some(json!("-12.5e3"))),
        ("regex", Some(json!("^a+$"))),
        ("prefix", Some(json!("/docs"))),
        ("exists", None),
        ("not_exists", None),
    ];
    for (op, v) in ok {
        assert!(leaf(op, v.clone()).is_empty(), "{op} {v:?}");
    }
    let refused: Vec<(&str, Option<Value>)> = vec![
        ("eq", None),
        ("eq", Some(json!(null))),
        ("in", Some(json!("a"))),
        ("gt", Some(json!("18 "))),
        ("gt", Some(json!("+1"))),
        ("gt", Some(json!("01"))),
        ("gt", Some(json!("1."))),
        ("gt", Some(json!("inf"))),
        ("gt", Some(json!(true))),
        ("regex", Some(json!("(?=a)"))),
        ("prefix", Some(json!(1))),
        ("exists", Some(json!(true))),
    ];
    for (op, v) in refused {
        assert_eq!(
            leaf(op, v.clone()),
            ["tests[0].targeting.when.value"],
            "{op} {v:?}"
        );
    }
    assert_eq!(leaf("like", None), ["tests[0].targeting.when.op"]);
}

#[test]
fn origins_are_printable_ascii_host_and_port() {
    let paths =
        |origins: Value| invalid_paths(&snapshot(json!([]), json!({"allowed_origins": origins})));
    assert!(paths(json!([
        "*",
        "https://shop.example",
        "http://localhost:8080/"
    ]))
    .is_empty());
    assert_eq!(
        paths(json!([
            "https://a.example/x",
            "ftp://a",
            "https://",
            "https://bücher.example",
            "https://a b",
            "http://[::1]:8080",
            "http://a:",
            "http://a:123456"
        ]))
        .len(),
        8
    );
}
