//! The drafts `edgewise plan` prints are tests the control plane accepts as they are, on
//! both engines: every built-in template, two and four arms. The checks before a start: each
//! rule fires on a crafted case and stays quiet on a clean one, a start refuses while an error
//! remains, and a create refuses the request's own faults with a 422 naming the field.

use edgewise_shared::plan::{plan, templates, PlanInput};
use reqwest::StatusCode;

use crate::both;
use crate::common::TestApp;

both!(
    every_template_drafts_a_valid_test,
    every_template_drafts_a_valid_test
);
async fn every_template_drafts_a_valid_test(app: TestApp) {
    for t in templates::builtin() {
        for variants in [2, 4] {
            let key = format!("{}-{variants}", t.name);
            let p = plan(
                &t,
                &PlanInput {
                    key: key.clone(),
                    baseline: 0.05,
                    mde: 0.1,
                    daily_units: 10_000.0,
                    variants,
                    coverage: 0.5,
                    alpha: 0.05,
                    power: 0.8,
                },
            )
            .unwrap();
            let (s, b) = app.post("/api/v1/tests", p.draft.clone()).await;
            assert_eq!(s, StatusCode::CREATED, "{key}: {b}");
            assert_eq!(b["variants"].as_array().unwrap().len(), variants as usize);
            assert_eq!(b["tags"], p.draft["tags"], "{key}");
        }
    }
    app.shutdown().await;
}

fn spec(key: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut s = serde_json::json!({
        "key": key,
        "variants": [{"key": "a", "weight": 1, "content": {"headline": "A", "subheadline": "a"}},
                     {"key": "b", "weight": 1, "content": {"headline": "B", "subheadline": "b"}}],
        "metrics": [{"key": "buy", "kind": "binomial", "role": "primary"}],
    });
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
}

fn rules(v: &serde_json::Value, side: &str) -> Vec<(String, String)> {
    v[side]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

both!(
    checks_fire_on_their_cases_and_a_start_refuses_errors,
    checks_fire_on_their_cases_and_a_start_refuses_errors
);
async fn checks_fire_on_their_cases_and_a_start_refuses_errors(app: TestApp) {
    use serde_json::json;
    // A running test on /home with 200 mobile visitors, 20 of them converting.
    let (s, b) = app
        .post("/api/v1/tests", spec("home", json!({"pages": ["/home"]})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/home/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let key = app.ingest_key().await;
    let now = edgewise_control::db::now_ms();
    let mut events = Vec::new();
    for i in 0..200 {
        let v = if i % 2 == 0 { "a" } else { "b" };
        events.push(
            json!({"event_id": format!("x{i}"), "type": "exposure", "unit_id": format!("u{i}"),
            "test": "home", "variant": v, "device": "mobile", "ts": now}),
        );
        if i % 10 == 0 {
            events.push(json!({"event_id": format!("c{i}"), "type": "conversion",
                "unit_id": format!("u{i}"), "test": "home", "variant": v, "metric": "buy",
                "ts": now}));
        }
    }
    let (s, r) = app.ingest(&key, serde_json::Value::Array(events)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let validate = |key: &str| format!("/api/v1/tests/{key}/validate");

    // Clean, from a template: no error; at 200 units a day and a 10% baseline, a 5% effect
    // takes years: underpowered, a warning that does not stop the start.
    let clean = spec(
        "clean",
        json!({"template": "headline", "pages": ["/pricing"]}),
    );
    let (s, b) = app.post("/api/v1/tests", clean).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, v) = app.post(&validate("clean"), json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(rules(&v, "errors"), []);
    assert_eq!(
        rules(&v, "warnings"),
        [("underpowered".into(), "coverage".into())]
    );
    let (s, b) = app.post("/api/v1/tests/clean/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // Each error rule on its case; the start refuses, naming the field and the rule.
    for (key, extra, rule, field) in [
        (
            "clash",
            json!({"pages": ["/home"]}),
            "same_page",
            "pages[0]",
        ),
        (
            "desktop",
            json!({"targeting": {"devices": ["desktop"]}}),
            "targets_nobody",
            "targeting",
        ),
    ] {
        let (s, b) = app.post("/api/v1/tests", spec(key, extra)).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (s, v) = app.post(&validate(key), json!(null)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(
            rules(&v, "errors"),
            [(rule.to_owned(), field.to_owned())],
            "{v}"
        );
        let (s, e) = app
            .post(&format!("/api/v1/tests/{key}/start"), json!(null))
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{e}");
        assert!(
            e.to_string().contains(field) && e.to_string().contains(rule),
            "{e}"
        );
    }
    // A slot overlapping a published test's in its layer (drafted before that one started),
    // and a test hashing with the holdout's hash id.
    let (s, b) = app.put("/api/v1/layers", json!([{"key": "hero"}])).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.put("/api/v1/holdout", json!({"share": 0.1})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let slot = |range: [u32; 2]| json!({"layer": {"key": "hero", "range": range}});
    for (key, extra) in [
        ("wide", slot([2500, 7500])),
        ("slotted", slot([0, 5000])),
        ("held", json!({"hash_id": "edgewise-holdout"})),
    ] {
        let (s, b) = app.post("/api/v1/tests", spec(key, extra)).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (s, b) = app.post("/api/v1/tests/slotted/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for (key, rule, field, says) in [
        ("wide", "layer_capacity", "layer.range", "free: 5000–10000"),
        ("held", "holdout_conflict", "hash_id", "edgewise-holdout"),
    ] {
        let (_, v) = app.post(&validate(key), json!(null)).await;
        assert_eq!(
            rules(&v, "errors"),
            [(rule.to_owned(), field.to_owned())],
            "{v}"
        );
        assert!(
            v["errors"][0]["message"].as_str().unwrap().contains(says),
            "{v}"
        );
        let (s, e) = app
            .post(&format!("/api/v1/tests/{key}/start"), json!(null))
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{e}");
        assert!(e.to_string().contains(field), "{e}");
    }
    // A revenue metric without a guardrail: a warning.
    let unguarded = spec(
        "unguarded",
        json!({"metrics": [{"key": "rev", "kind": "value", "role": "primary"}]}),
    );
    let (s, b) = app.post("/api/v1/tests", unguarded).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, v) = app.post(&validate("unguarded"), json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        rules(&v, "warnings"),
        [("no_guardrail".into(), "metrics".into())]
    );

    // The request's own fields: a create refuses them with a 422.
    for (extra, field) in [
        (json!({"template": "banner"}), "template"),
        (
            json!({"template": "headline", "variants": [
                {"key": "a", "weight": 1, "content": {"headline": "A"}},
                {"key": "b", "weight": 1, "content": {"headline": "B", "subheadline": "b"}}]}),
            "variants[0].content.subheadline",
        ),
        (json!({"pages": [""]}), "pages[0]"),
    ] {
        let (s, e) = app.post("/api/v1/tests", spec("own", extra)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {e}");
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
    app.shutdown().await;
}

both!(
    a_plan_uses_observed_traffic_or_given_numbers,
    a_plan_uses_observed_traffic_or_given_numbers
);
async fn a_plan_uses_observed_traffic_or_given_numbers(app: TestApp) {
    use edgewise_shared::stats::power::{sample_size, PowerInput};
    use serde_json::json;
    let size = |baseline: f64, daily: f64| {
        sample_size(&PowerInput {
            baseline,
            mde: 0.2,
            alpha: 0.05,
            power: 0.8,
            stddev: None,
            daily_traffic: Some(daily),
            coverage: 0.5,
            arms: 2,
        })
        .unwrap()
    };
    // Nothing runs yet: the numbers must be given.
    let ask = json!({"template": "headline", "key": "next", "mde": 0.2, "coverage": 0.5});
    let (s, e) = app.post("/api/v1/plans", ask.clone()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e.to_string().contains("baseline"), "{e}");
    let mut given = ask.clone();
    given["baseline"] = json!(0.05);
    given["daily_units"] = json!(4000);
    given["pages"] = json!(["/home"]);
    let (s, p) = app.post("/api/v1/plans", given).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let want = size(0.05, 4000.0);
    assert_eq!(p["plan"]["n_per_arm"], want.n_per_arm_ceil);
    assert_eq!(p["plan"]["expected_days"], want.days_ceil.unwrap());
    assert_eq!(p["baseline"]["source"], "given");
    assert_eq!(p["plan"]["draft"]["template"], "headline");
    assert_eq!(p["plan"]["draft"]["pages"], json!(["/home"]));
    // The draft is a test the API takes.
    let (s, b) = app.post("/api/v1/tests", p["plan"]["draft"].clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    // A running test with the template's primary metric: 100 units, 10 signed up.
    let (s, b) = app
        .post(
            "/api/v1/tests",
            json!({"key": "live", "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}],
                   "metrics": [{"key": "signup", "kind": "binomial", "role": "primary"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/live/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let key = app.ingest_key().await;
    let now = edgewise_control::db::now_ms();
    let mut events = Vec::new();
    for i in 0..100 {
        let v = if i % 2 == 0 { "a" } else { "b" };
        events.push(json!({"event_id": format!("x{i}"), "type": "exposure",
            "unit_id": format!("u{i}"), "test": "live", "variant": v, "ts": now}));
        if i % 10 == 0 {
            events.push(json!({"event_id": format!("s{i}"), "type": "conversion",
                "unit_id": format!("u{i}"), "test": "live", "variant": v, "metric": "signup",
                "ts": now}));
        }
    }
    let (s, r) = app.ingest(&key, serde_json::Value::Array(events)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, p) = app.post("/api/v1/plans", ask).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["baseline"], json!({"value": 0.1, "source": "observed"}));
    // 100 units over less than a day count as 100 a day.
    assert_eq!(
        p["daily_units"],
        json!({"value": 100.0, "source": "observed"})
    );
    let want = size(0.1, 100.0);
    assert_eq!(p["plan"]["n_per_arm"], want.n_per_arm_ceil);
    assert!(p["prediction"].is_object(), "{p}");
    let (s, e) = app
        .post(
            "/api/v1/plans",
            json!({"template": "banner", "key": "x", "mde": 0.1}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e.to_string().contains("template"), "{e}");
    app.shutdown().await;
}
