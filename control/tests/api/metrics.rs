//! Metric definitions beyond binomial and value: count, ratio (delta method), a capped value,
//! a conversion window and retention. A seeded stream of exposures and events goes through
//! ingestion; the served per-variant sums and analyses equal an independent computation over
//! the same raw stream, written here from the definitions' meaning (not from the rules the
//! server applies). Erasing a unit takes exactly its share out again. Bad definitions get a
//! 422 naming the field, and a running test cannot change what a metric counts.

use std::collections::BTreeMap;

use edgewise_control::db::now_ms;
use edgewise_shared::stats::{analyze, AnalysisInput, MetricType, VariantInput};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{Lcg, TestApp};
use crate::results::assert_close;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn spec() -> Value {
    json!({
        "key": "m",
        "variants": [{"key": "control", "weight": 1}, {"key": "b", "weight": 1}],
        "metrics": [
            {"key": "buy_24h", "kind": "binomial", "role": "primary", "event": "purchase",
             "conversion_window_hours": 24},
            {"key": "clicks", "kind": "count", "event": "click"},
            {"key": "views", "kind": "count", "event": "pageview"},
            {"key": "ctr", "kind": "ratio", "numerator": "clicks", "denominator": "views"},
            {"key": "revenue", "kind": "value", "event": "purchase",
             "cap": {"type": "absolute", "value": 100}},
            {"key": "d1_7", "kind": "retention", "event": "visit", "from_day": 1, "to_day": 7},
        ]
    })
}

/// One unit's raw stream: variant, first exposure, and its events (name, time, value).
struct Unit {
    id: String,
    variant: &'static str,
    exposed_at: i64,
    events: Vec<(&'static str, i64, f64)>,
}

fn stream(now: i64) -> Vec<Unit> {
    let mut rng = Lcg(20_261_207);
    (0..300)
        .map(|i| {
            let variant = if i % 2 == 0 { "control" } else { "b" };
            let exposed_at = now - 6 * DAY - 12 * HOUR + i as i64 * 1000;
            let mut events = Vec::new();
            let views = 1 + rng.below(6) as i64;
            for j in 0..views {
                events.push(("pageview", exposed_at + j * 3 * HOUR, 0.0));
                // The variant's pages get clicked a little more.
                if rng.below(10) < if variant == "b" { 4 } else { 3 } {
                    events.push(("click", exposed_at + j * 3 * HOUR + 60_000, 0.0));
                }
            }
            if rng.below(10) < 3 {
                for _ in 0..=rng.below(3) {
                    let at = exposed_at + rng.below(72) as i64 * HOUR + 1;
                    events.push(("purchase", at, 5.0 + rng.below(76) as f64));
                }
            }
            // A purchase stamped before the exposure (a skewed clock): outside any window.
            if rng.below(20) == 0 {
                events.push(("purchase", exposed_at - HOUR, 30.0));
            }
            if rng.below(10) < 4 {
                let at = exposed_at + rng.below(6) as i64 * DAY + rng.below(12) as i64 * HOUR;
                events.push(("visit", at, 0.0));
            }
            Unit {
                id: format!("u{i}"),
                variant,
                exposed_at,
                events,
            }
        })
        .collect()
}

/// Each unit's value of each metric, from the definitions' meaning.
fn per_unit(u: &Unit) -> BTreeMap<&'static str, (f64, f64)> {
    let after = |e: &(&str, i64, f64)| e.1 - u.exposed_at;
    let of = |name: &'static str| u.events.iter().filter(move |e| e.0 == name);
    let clicks = of("click").count() as f64;
    let views = of("pageview").count() as f64;
    let revenue = of("purchase").map(|e| e.2).sum::<f64>().min(100.0);
    let buy = of("purchase").any(|e| (0..DAY).contains(&after(e)));
    let retained = of("visit").any(|e| (DAY..7 * DAY).contains(&after(e)));
    BTreeMap::from([
        ("buy_24h", (f64::from(u8::from(buy)), 0.0)),
        ("clicks", (clicks, 0.0)),
        ("views", (views, 0.0)),
        ("ctr", (clicks, views)),
        ("revenue", (revenue, 0.0)),
        ("d1_7", (f64::from(u8::from(retained)), 0.0)),
    ])
}

/// The analysis input each metric should have, summed over `units`.
fn expected(units: &[&Unit], metric: &str) -> AnalysisInput {
    let metric_type = match metric {
        "buy_24h" | "d1_7" => MetricType::Binomial,
        "ctr" => MetricType::Ratio,
        _ => MetricType::Mean,
    };
    let variants = ["control", "b"]
        .iter()
        .map(|v| {
            let mine: Vec<(f64, f64)> = units
                .iter()
                .filter(|u| u.variant == *v)
                .map(|u| per_unit(u)[metric])
                .collect();
            let sum = |f: &dyn Fn(&(f64, f64)) -> f64| mine.iter().map(f).sum::<f64>();
            let base = VariantInput {
                name: (*v).into(),
                n: mine.len() as u64,
                ..VariantInput::default()
            };
            match metric_type {
                MetricType::Binomial => VariantInput {
                    conversions: Some(sum(&|x| x.0) as u64),
                    ..base
                },
                MetricType::Ratio => VariantInput {
                    numerator_sum: Some(sum(&|x| x.0)),
                    numerator_sum_squares: Some(sum(&|x| x.0 * x.0)),
                    denominator_sum: Some(sum(&|x| x.1)),
                    denominator_sum_squares: Some(sum(&|x| x.1 * x.1)),
                    numerator_denominator_sum_product: Some(sum(&|x| x.0 * x.1)),
                    ..base
                },
                _ => VariantInput {
                    sum: Some(sum(&|x| x.0)),
                    sum_squares: Some(sum(&|x| x.0 * x.0)),
                    ..base
                },
            }
        })
        .collect();
    AnalysisInput {
        metric_type,
        alpha: 0.05,
        expected_weights: Some(vec![1.0, 1.0]),
        sequential_tuning_parameter: 5000.0,
        control_index: 0,
        prior: None,
        correction: None,
        variants,
    }
}

async fn check_results(app: &TestApp, units: &[&Unit]) {
    let (s, res) = app.get("/api/v1/tests/m/results").await;
    assert_eq!(s, StatusCode::OK, "{res}");
    for m in ["buy_24h", "clicks", "views", "ctr", "revenue", "d1_7"] {
        let got = res["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["key"] == m)
            .unwrap_or_else(|| panic!("{m} missing: {res}"));
        let input = expected(units, m);
        let want = serde_json::to_value(&input.variants).unwrap();
        assert_close(&got["overall"]["variants"], &want, &format!("{m}.variants"));
        let analysis = serde_json::to_value(analyze(&input).unwrap()).unwrap();
        assert_close(
            &got["overall"]["comparisons"],
            &analysis["comparisons"],
            &format!("{m}.comparisons"),
        );
    }
}

both!(
    every_metric_kind_equals_an_independent_computation,
    every_metric_kind_equals_an_independent_computation
);
async fn every_metric_kind_equals_an_independent_computation(app: TestApp) {
    let (s, b) = app.post("/api/v1/tests", spec()).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/m/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let key = app.ingest_key().await;
    let units = stream(now_ms());

    // Exposures first, then every event, in batches.
    let mut events: Vec<Value> = units
        .iter()
        .map(|u| {
            json!({"event_id": format!("x-{}", u.id), "type": "exposure", "unit_id": u.id,
                   "test": "m", "variant": u.variant, "device": "mobile", "ts": u.exposed_at})
        })
        .collect();
    for u in &units {
        for (i, (name, at, value)) in u.events.iter().enumerate() {
            let mut e = json!({"event_id": format!("{}-{i}", u.id), "type": "conversion",
                "unit_id": u.id, "test": "m", "variant": u.variant, "metric": name,
                "device": "mobile", "ts": at});
            if *name == "purchase" {
                e["value"] = json!(value);
            }
            events.push(e);
        }
    }
    let total = events.len();
    for batch in events.chunks(700) {
        let (s, r) = app.ingest(&key, Value::Array(batch.to_vec())).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["rejected"], json!([]), "{r}");
    }
    assert!(total > 1500, "{total} events");
    let all: Vec<&Unit> = units.iter().collect();
    // The stream exercises every rule: capped sums, windows cutting events both ways.
    let values: Vec<_> = units.iter().map(per_unit).collect();
    assert!(values.iter().any(|v| v["revenue"].0 == 100.0));
    let purchased = |u: &Unit| u.events.iter().any(|e| e.0 == "purchase");
    assert!(units
        .iter()
        .zip(&values)
        .any(|(u, v)| purchased(u) && v["buy_24h"].0 == 0.0));
    assert!(units
        .iter()
        .zip(&values)
        .any(|(u, v)| u.events.iter().any(|e| e.0 == "visit") && v["d1_7"].0 == 0.0));
    check_results(&app, &all).await;

    // A re-delivered batch changes nothing.
    let (s, r) = app.ingest(&key, Value::Array(events[..700].to_vec())).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["duplicates"], 700, "{r}");
    check_results(&app, &all).await;

    // Erasing the units with the most of everything takes exactly their share out.
    let gone = ["u7", "u8", "u12"];
    for id in gone {
        app.erase(id).await;
    }
    let left: Vec<&Unit> = units
        .iter()
        .filter(|u| !gone.contains(&u.id.as_str()))
        .collect();
    check_results(&app, &left).await;
    app.shutdown().await;
}

both!(
    bad_definitions_name_the_field,
    bad_definitions_name_the_field
);
async fn bad_definitions_name_the_field(app: TestApp) {
    let with = |metric: Value| {
        let mut s = spec();
        s["metrics"].as_array_mut().unwrap().push(metric);
        s
    };
    for (body, field) in [
        (
            with(
                json!({"key": "rpo", "kind": "ratio", "numerator": "revenue", "denominator": "orders"}),
            ),
            "metrics[6].denominator",
        ),
        (
            with(json!({"key": "p", "kind": "binomial", "conversion_window_hours": -3})),
            "metrics[6].conversion_window_hours",
        ),
        (
            with(json!({"key": "p", "kind": "value", "cap": {"type": "absolute", "value": -1}})),
            "metrics[6].cap.value",
        ),
        (
            with(json!({"key": "d", "kind": "retention", "from_day": 3, "to_day": 2})),
            "metrics[6].to_day",
        ),
        (
            with(json!({"key": "p", "kind": "value", "cap": {"type": "median"}})),
            "metrics[6].cap",
        ),
        (
            with(json!({"key": "p", "kind": "count", "window_hours": 3})),
            "metrics[6]",
        ),
    ] {
        let (s, e) = app.post("/api/v1/tests", body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {e}");
        assert!(e.to_string().contains(field), "{field}: {e}");
    }

    // Once running, what a metric counts is frozen; its role is not.
    let (s, b) = app.post("/api/v1/tests", spec()).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/m/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mut wider = spec();
    wider["metrics"][0]["conversion_window_hours"] = json!(48);
    let (s, e) = app.put("/api/v1/tests/m", wider).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(e.to_string().contains("metrics"), "{e}");
    let mut guard = spec();
    guard["metrics"][4]["role"] = json!("guardrail");
    let (s, e) = app.put("/api/v1/tests/m", guard).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    app.shutdown().await;
}
