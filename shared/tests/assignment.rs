//! Assignment reasons end to end: layers, holdout, bots, QA forcing, schedule, personas,
//! targeting and content resolution, on compiled snapshots.

use edgewise_shared::timestamp::parse_rfc3339_ms;
use edgewise_shared::{Assignment, CompiledSnapshot, DeviceClass, Reason, Visitor};
use serde_json::{json, Value};

fn compile(tests: Value, extra: Value) -> CompiledSnapshot {
    let mut wire = json!({
        "schema_version": 1, "snapshot_version": 3, "hash_version": 1, "tests": tests
    });
    if let (Value::Object(w), Value::Object(e)) = (&mut wire, extra) {
        w.extend(e);
    }
    let (s, warnings) = CompiledSnapshot::from_json(&wire.to_string()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    s
}

fn ab(key: &str, extra: Value) -> Value {
    let mut t = json!({
        "key": key, "status": "running",
        "variants": [
            {"key": "control", "weight": 1, "content": {"v": "control"}},
            {"key": "treatment", "weight": 1, "content": {"v": "treatment"}}
        ]
    });
    if let (Value::Object(t), Value::Object(e)) = (&mut t, extra) {
        t.extend(e);
    }
    t
}

fn desktop(unit_id: &str) -> Visitor<'_> {
    Visitor {
        unit_id,
        device: Some(DeviceClass::Desktop),
        ..Visitor::default()
    }
}

fn only(a: &Assignment<'_>) -> (Option<String>, Reason, Value) {
    assert_eq!(a.decisions.len(), 1);
    let d = &a.decisions[0];
    (d.variant.map(str::to_owned), d.reason, d.content.clone())
}

#[test]
fn tests_in_a_layer_never_overlap_and_fill_their_slots() {
    let s = compile(
        json!([
            ab("a", json!({"layer": {"key": "L", "range": [0, 2000]}})),
            ab("b", json!({"layer": {"key": "L", "range": [2000, 7000]}})),
            ab("c", json!({"layer": {"key": "L", "range": [7000, 10000]}})),
            ab("free", json!({})),
        ]),
        json!({"layers": [{"key": "L"}]}),
    );
    let mut per_test = [0u32; 3];
    for i in 0..50_000 {
        let u = format!("layer-{i}");
        let a = s.assign(&desktop(&u), 0);
        let in_layer: Vec<usize> = (0..3)
            .filter(|&k| a.decisions[k].reason == Reason::Assigned)
            .collect();
        assert_eq!(in_layer.len(), 1, "visitor {u} in {in_layer:?}");
        per_test[in_layer[0]] += 1;
        for k in 0..3 {
            if k != in_layer[0] {
                assert_eq!(a.decisions[k].reason, Reason::ExcludedByLayer);
                assert_eq!(a.decisions[k].content, &json!({"v": "control"}));
            }
        }
        assert_eq!(
            a.decisions[3].reason,
            Reason::Assigned,
            "tests outside the layer are unaffected"
        );
    }
    let shares: Vec<f64> = per_test.iter().map(|&n| f64::from(n) / 50_000.0).collect();
    for (share, want) in shares.iter().zip([0.2, 0.5, 0.3]) {
        assert!((share - want).abs() < 0.01, "{shares:?}");
    }
}

#[test]
fn holdout_visitors_see_no_test_at_all() {
    let s = compile(
        json!([ab("a", json!({})), ab("b", json!({}))]),
        json!({"holdout": {"share": 0.1}}),
    );
    let mut held = 0;
    for i in 0..20_000 {
        let u = format!("h{i}");
        let a = s.assign(&desktop(&u), 0);
        let reasons: Vec<Reason> = a.decisions.iter().map(|d| d.reason).collect();
        if reasons[0] == Reason::InHoldout {
            held += 1;
            assert_eq!(reasons[1], Reason::InHoldout);
            assert!(a
                .decisions
                .iter()
                .all(|d| !d.counted && d.variant.is_none()));
        } else {
            assert!(reasons.iter().all(|r| *r == Reason::Assigned));
        }
    }
    assert!((1800..2200).contains(&held), "held out {held} of 20000");
}

#[test]
fn bots_get_control_and_are_not_counted() {
    let s = compile(json!([ab("a", json!({}))]), json!({}));
    let v = Visitor {
        unit_id: "crawler",
        user_agent: Some(
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ),
        ..Visitor::default()
    };
    let a = s.assign(&v, 0);
    assert_eq!(a.device, DeviceClass::Bot);
    assert_eq!(only(&a), (None, Reason::Bot, json!({"v": "control"})));
    assert!(!a.decisions[0].counted);
}

#[test]
fn forced_variants_preview_and_are_never_counted() {
    let s = compile(json!([ab("a", json!({"status": "paused"}))]), json!({}));
    let forced = [("a".to_owned(), "treatment".to_owned())];
    let v = Visitor {
        forced: &forced,
        ..desktop("qa")
    };
    let a = s.assign(&v, 0);
    assert_eq!(
        only(&a),
        (
            Some("treatment".into()),
            Reason::Forced,
            json!({"v": "treatment"})
        )
    );
    assert!(!a.decisions[0].counted);
    // An unknown variant is ignored rather than trusted.
    let bogus = [("a".to_owned(), "nope".to_owned())];
    let a = s.assign(
        &Visitor {
            forced: &bogus,
            ..desktop("qa")
        },
        0,
    );
    assert_eq!(only(&a).1, Reason::Paused);
}

#[test]
fn schedule_bounds_the_test() {
    let s = compile(
        json!([ab(
            "a",
            json!({"start_at": "2026-01-01T00:00:00Z", "end_at": "2026-02-01T00:00:00Z"})
        )]),
        json!({}),
    );
    let at = |t: &str| only(&s.assign(&desktop("u"), parse_rfc3339_ms(t).unwrap())).1;
    assert_eq!(at("2025-12-31T23:59:59Z"), Reason::NotStarted);
    assert_eq!(at("2026-01-15T00:00:00Z"), Reason::Assigned);
    assert_eq!(at("2026-02-01T00:00:00Z"), Reason::Ended);
}

#[test]
fn targeting_by_device_persona_and_condition() {
    let s = compile(
        json!([ab(
            "t",
            json!({"targeting": {
                "devices": ["mobile", "tablet"],
                "personas": ["RemoteDad"],
                "when": {"attr": "country", "op": "in", "value": ["US", "CA"]}
            }})
        )]),
        json!({}),
    );
    let base = Visitor {
        unit_id: "u",
        device: Some(DeviceClass::Mobile),
        persona: Some("RemoteDad"),
        country: Some("US"),
        ..Visitor::default()
    };
    assert_eq!(only(&s.assign(&base, 0)).1, Reason::Assigned);
    let cases = [
        Visitor {
            device: Some(DeviceClass::Desktop),
            ..base
        },
        Visitor {
            persona: Some("BusinessOwner"),
            ..base
        },
        Visitor {
            persona: None,
            ..base
        },
        Visitor {
            country: Some("FR"),
            ..base
        },
        Visitor {
            country: None,
            ..base
        },
    ];
    for v in cases {
        assert_eq!(only(&s.assign(&v, 0)).1, Reason::NotTargeted, "{v:?}");
    }
}

#[test]
fn persona_rules_are_ordered_and_an_explicit_persona_wins() {
    let s = compile(
        json!([ab("t", json!({}))]),
        json!({"personas": [
            {"key": "StudentHustler", "when": {"attr": "referrer_host", "op": "regex", "value": "\\.edu$"}},
            {"key": "TechEarlyAdopter", "when": {"any": [
                {"attr": "utm_source", "op": "eq", "value": "hn"},
                {"attr": "referrer_host", "op": "eq", "value": "news.ycombinator.com"}
            ]}},
            {"key": "Everyone", "when": {"attr": "device", "op": "exists"}}
        ]}),
    );
    let persona = |v: Visitor<'_>| s.assign(&v, 0).persona;
    let u = desktop("p");
    assert_eq!(
        persona(Visitor {
            referrer: Some("https://cs.stanford.edu/x"),
            ..u
        })
        .as_deref(),
        Some("StudentHustler")
    );
    assert_eq!(
        persona(Visitor {
            url: Some("https://shop.example/?utm_source=hn"),
            ..u
        })
        .as_deref(),
        Some("TechEarlyAdopter")
    );
    // The first matching rule wins even when a later one matches too.
    assert_eq!(
        persona(Visitor {
            referrer: Some("https://mit.edu/"),
            url: Some("/?utm_source=hn"),
            ..u
        })
        .as_deref(),
        Some("StudentHustler")
    );
    assert_eq!(persona(u).as_deref(), Some("Everyone"));
    assert_eq!(
        persona(Visitor {
            persona: Some("RemoteDad"),
            ..u
        })
        .as_deref(),
        Some("RemoteDad")
    );
}

#[test]
fn content_resolves_device_then_persona_overrides() {
    let s = compile(
        json!([{
            "key": "t", "status": "running",
            "variants": [
                {"key": "control", "weight": 1, "content": {"title": "A", "cta": "Go"},
                 "overrides": {"device": {"mobile": {"cta": "Tap"}}}},
                {"key": "b", "weight": 0, "content": {"title": "B"}}
            ]
        }]),
        json!({}),
    );
    let content = |v: Visitor<'_>| only(&s.assign(&v, 0)).2;
    let m = Visitor {
        device: Some(DeviceClass::Mobile),
        ..desktop("c")
    };
    assert_eq!(content(desktop("c")), json!({"title": "A", "cta": "Go"}));
    assert_eq!(content(m), json!({"title": "A", "cta": "Tap"}));
}

#[test]
fn every_decision_carries_the_snapshot_version_and_bucket() {
    let s = compile(json!([ab("a", json!({"coverage": 0.0}))]), json!({}));
    let a = s.assign(&desktop("v"), 0);
    assert_eq!(a.snapshot_version, 3);
    let d = &a.decisions[0];
    assert_eq!((d.snapshot_version, d.reason), (3, Reason::OutsideCoverage));
    assert_eq!(d.bucket, edgewise_shared::hash::bucket("v", "a"));
}
