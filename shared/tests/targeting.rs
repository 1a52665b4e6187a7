//! Truth tables for every condition operator and combinator.

use edgewise_shared::condition::{Cond, Condition};
use edgewise_shared::visitor::Facts;
use edgewise_shared::{DeviceClass, Visitor};
use serde_json::{json, Value};

fn cond(v: Value) -> Cond {
    let c: Condition = serde_json::from_value(v).unwrap();
    Cond::compile(&c, "when").unwrap()
}

fn facts<'a>(v: &Visitor<'a>) -> Facts<'a> {
    let mut f = Facts::new(v, v.device_class());
    f.persona = v.persona;
    f
}

#[test]
fn operator_truth_table() {
    let attrs = [
        ("plan".to_owned(), "pro".to_owned()),
        ("seats".to_owned(), "12".to_owned()),
    ];
    let v = Visitor {
        unit_id: "u",
        device: Some(DeviceClass::Tablet),
        country: Some("DE"),
        url: Some("https://shop.example/checkout/step-2?utm_source=news&coupon=SAVE10"),
        referrer: Some("https://www.google.com/search?q=x"),
        local_hour: Some(21),
        persona: Some("RemoteDad"),
        attributes: &attrs,
        ..Visitor::default()
    };
    let f = facts(&v);
    let rows: &[(Value, bool)] = &[
        (json!({"attr": "country", "op": "eq", "value": "DE"}), true),
        (json!({"attr": "country", "op": "eq", "value": "de"}), false),
        (json!({"attr": "country", "op": "ne", "value": "FR"}), true),
        (
            json!({"attr": "country", "op": "in", "value": ["FR", "DE"]}),
            true,
        ),
        (
            json!({"attr": "country", "op": "not_in", "value": ["FR", "DE"]}),
            false,
        ),
        (
            json!({"attr": "device", "op": "eq", "value": "tablet"}),
            true,
        ),
        (
            json!({"attr": "persona", "op": "eq", "value": "RemoteDad"}),
            true,
        ),
        (
            json!({"attr": "local_hour", "op": "gte", "value": 21}),
            true,
        ),
        (
            json!({"attr": "local_hour", "op": "gt", "value": 21}),
            false,
        ),
        (json!({"attr": "local_hour", "op": "lt", "value": 22}), true),
        (
            json!({"attr": "local_hour", "op": "lte", "value": 20}),
            false,
        ),
        (json!({"attr": "local_hour", "op": "eq", "value": 21}), true),
        (json!({"attr": "seats", "op": "gt", "value": 10}), true),
        (json!({"attr": "seats", "op": "lt", "value": "9.5"}), false),
        (json!({"attr": "plan", "op": "gt", "value": 1}), false),
        (
            json!({"attr": "url", "op": "regex", "value": "/checkout/step-\\d+"}),
            true,
        ),
        (
            json!({"attr": "url", "op": "regex", "value": "^http://"}),
            false,
        ),
        (
            json!({"attr": "url", "op": "prefix", "value": "https://shop.example/"}),
            true,
        ),
        (
            json!({"attr": "path", "op": "eq", "value": "/checkout/step-2"}),
            true,
        ),
        (
            json!({"attr": "path", "op": "prefix", "value": "/cart"}),
            false,
        ),
        (
            json!({"attr": "utm_source", "op": "eq", "value": "news"}),
            true,
        ),
        (
            json!({"attr": "query.coupon", "op": "eq", "value": "SAVE10"}),
            true,
        ),
        (json!({"attr": "query.coupon", "op": "exists"}), true),
        (json!({"attr": "query.missing", "op": "exists"}), false),
        (json!({"attr": "query.missing", "op": "not_exists"}), true),
        (
            json!({"attr": "referrer_host", "op": "eq", "value": "www.google.com"}),
            true,
        ),
        (
            json!({"attr": "plan", "op": "in", "value": ["pro", "team"]}),
            true,
        ),
        // A missing attribute fails every op except ne / not_in / not_exists.
        (json!({"attr": "nope", "op": "eq", "value": "x"}), false),
        (json!({"attr": "nope", "op": "ne", "value": "x"}), true),
        (json!({"attr": "nope", "op": "in", "value": ["x"]}), false),
        (
            json!({"attr": "nope", "op": "not_in", "value": ["x"]}),
            true,
        ),
        (json!({"attr": "nope", "op": "gt", "value": 0}), false),
        (json!({"attr": "nope", "op": "regex", "value": ".*"}), false),
        (json!({"attr": "nope", "op": "prefix", "value": ""}), false),
    ];
    for (c, want) in rows {
        assert_eq!(cond(c.clone()).eval(&f), *want, "{c}");
    }
}

#[test]
fn combinator_truth_table() {
    let t = json!({"attr": "device", "op": "exists"});
    let f_ = json!({"attr": "nope", "op": "exists"});
    let v = Visitor {
        unit_id: "u",
        device: Some(DeviceClass::Desktop),
        ..Visitor::default()
    };
    let f = facts(&v);
    let rows = [
        (json!({"all": [t, t]}), true),
        (json!({"all": [t, f_]}), false),
        (json!({"all": []}), true),
        (json!({"any": [f_, t]}), true),
        (json!({"any": [f_, f_]}), false),
        (json!({"any": []}), false),
        (json!({"not": t}), false),
        (json!({"not": f_}), true),
        (
            json!({"not": {"all": [t, {"any": [f_, {"not": f_}]}]}}),
            false,
        ),
    ];
    for (c, want) in rows {
        assert_eq!(cond(c.clone()).eval(&f), want, "{c}");
    }
}

#[test]
fn bad_conditions_name_the_path() {
    let compile_err = |v: Value| {
        let c: Condition = serde_json::from_value(v).unwrap();
        Cond::compile(&c, "when").unwrap_err()
    };
    let e = compile_err(
        json!({"all": [{"attr": "x", "op": "eq", "value": 1}, {"attr": "x", "op": "like", "value": 1}]}),
    );
    assert_eq!(e.path, "when.all[1].op");
    let e = compile_err(json!({"not": {"attr": "url", "op": "regex", "value": "("}}));
    assert_eq!(e.path, "when.not.value");
    assert!(e.message.contains("invalid regex"));
    let e = compile_err(json!({"attr": "seats", "op": "gt", "value": "many"}));
    assert!(e.message.contains("needs a number"));
    let e = compile_err(json!({"attr": "c", "op": "in", "value": "US"}));
    assert!(e.message.contains("needs a list"));

    let shape = |v: Value| {
        serde_json::from_value::<Condition>(v)
            .unwrap_err()
            .to_string()
    };
    assert!(shape(json!({"attr": "x"})).contains("needs an `op`"));
    assert!(shape(json!({"all": {}})).contains("array"));
    assert!(shape(json!({"attr": "x", "op": "eq", "valeu": 1})).contains("unknown field `valeu`"));
    assert!(shape(json!([1])).contains("object"));
}

#[test]
fn conditions_round_trip_through_json() {
    let v = json!({"any": [{"not": {"attr": "a", "op": "exists"}}, {"attr": "b", "op": "in", "value": [1, "x"]}]});
    let c: Condition = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(serde_json::to_value(&c).unwrap(), v);
}

/// Regex results are remembered per visitor by pattern and text: one pattern over different
/// attributes, different patterns over one attribute, and the same pattern again, in every
/// order, all give what a fresh evaluation gives.
#[test]
fn remembered_regex_results_match_fresh_ones() {
    let attrs = [("team".to_owned(), "growth-eu".to_owned())];
    let v = Visitor {
        unit_id: "u",
        url: Some("https://shop.example/eu/pricing?utm_campaign=eu-spring"),
        referrer: Some("https://news.example.com/"),
        attributes: &attrs,
        ..Visitor::default()
    };
    let conds: Vec<(Value, bool)> = vec![
        (
            json!({"attr": "referrer_host", "op": "regex", "value": "eu"}),
            false,
        ),
        (json!({"attr": "team", "op": "regex", "value": "eu"}), true),
        (
            json!({"attr": "utm_campaign", "op": "regex", "value": "eu"}),
            true,
        ),
        (json!({"attr": "path", "op": "regex", "value": "eu"}), true),
        (
            json!({"attr": "referrer_host", "op": "regex", "value": "^news\\."}),
            true,
        ),
        (
            json!({"attr": "team", "op": "regex", "value": "^news\\."}),
            false,
        ),
        (
            json!({"attr": "referrer_host", "op": "regex", "value": "\\.com$"}),
            true,
        ),
        (
            json!({"attr": "path", "op": "regex", "value": "\\.com$"}),
            false,
        ),
    ];
    let f = facts(&v);
    for round in 0..3 {
        for (i, (c, want)) in conds.iter().enumerate().rev().skip(round) {
            assert_eq!(cond(c.clone()).eval(&f), *want, "round {round}, {i}: {c}");
            assert_eq!(cond(c.clone()).eval(&facts(&v)), *want, "fresh, {i}: {c}");
        }
        for (i, (c, want)) in conds.iter().enumerate() {
            assert_eq!(cond(c.clone()).eval(&f), *want, "round {round}, {i}: {c}");
        }
    }
}
