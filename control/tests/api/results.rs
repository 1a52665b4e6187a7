//! `GET /api/v1/tests/{key}/results`: the statistics over the incremental aggregates, overall
//! and per segment, equal to `edgewise_shared::stats::analyze` on the same numbers.

use edgewise_control::db::now_ms;
use edgewise_shared::segments::{impacts, Segment};
use edgewise_shared::stats::{analyze, AnalysisInput, MetricType, VariantInput};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::TestApp;

fn event(
    id: String,
    kind: &str,
    unit: &str,
    variant: &str,
    device: &str,
    persona: Option<&str>,
) -> Value {
    let mut e = json!({"event_id": id, "type": kind, "unit_id": unit, "test": "t",
        "variant": variant, "device": device, "ts": now_ms()});
    if let Some(p) = persona {
        e["persona"] = json!(p);
    }
    e
}

/// 60 units in control (12 buy), 50 in b (15 buy); every fifth unit is on desktop, every
/// third has persona "P"; buyers in b also spend 10 + i.
/// Test `t` running with [`traffic`] ingested.
pub(crate) async fn running_with_traffic(app: &TestApp) {
    app.running_test("t").await;
    let key = app.ingest_key().await;
    let (s, r) = app.ingest(&key, Value::Array(traffic())).await;
    assert_eq!(s, reqwest::StatusCode::OK, "{r}");
}

pub(crate) fn traffic() -> Vec<Value> {
    let mut events = Vec::new();
    for (variant, units, buyers) in [("control", 60, 12), ("b", 50, 15)] {
        for i in 0..units {
            let unit = format!("{variant}-{i}");
            let device = if i % 5 == 0 { "desktop" } else { "mobile" };
            let persona = (i % 3 == 0).then_some("P");
            events.push(event(
                format!("x-{unit}"),
                "exposure",
                &unit,
                variant,
                device,
                persona,
            ));
            if i < buyers {
                let mut buy = event(
                    format!("c-{unit}"),
                    "conversion",
                    &unit,
                    variant,
                    device,
                    persona,
                );
                buy["metric"] = json!("buy");
                events.push(buy);
                if variant == "b" {
                    let mut spend = event(
                        format!("r-{unit}"),
                        "conversion",
                        &unit,
                        variant,
                        device,
                        persona,
                    );
                    spend["metric"] = json!("revenue");
                    spend["value"] = json!(10.0 + f64::from(i));
                    events.push(spend);
                }
            }
        }
    }
    events
}

both!(
    results_match_the_statistics_engine,
    results_match_the_statistics_engine
);
/// Equal JSON, numbers within 1e-12 relative: serde_json's default float parsing may be off by
/// one ulp after the HTTP round trip.
pub(crate) fn assert_close(got: &Value, want: &Value, at: &str) {
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!(
                (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0),
                "{at}: {a} vs {b}"
            );
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{at}");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_close(x, y, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>(),
                "{at}"
            );
            for (k, x) in a {
                assert_close(x, &b[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(got, want, "{at}"),
    }
}

async fn results_match_the_statistics_engine(app: TestApp) {
    app.running_test("t").await;
    let key = app.ingest_key().await;
    let (s, r) = app.ingest(&key, Value::Array(traffic())).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["rejected"], json!([]), "{r}");

    let (s, res) = app.get("/api/v1/tests/t/results").await;
    assert_eq!(s, StatusCode::OK, "{res}");
    assert_eq!(res["variants"][0]["units"], 60);
    assert_eq!(res["variants"][1]["units"], 50);
    assert_eq!(res["srm"]["alert"], false);

    let buy = res["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "buy")
        .unwrap();
    let input = AnalysisInput {
        metric_type: MetricType::Binomial,
        alpha: 0.05,
        expected_weights: Some(vec![1.0, 1.0]),
        sequential_tuning_parameter: 5000.0,
        control_index: 0,
        prior: None,
        correction: None,
        variants: vec![
            VariantInput {
                name: "control".into(),
                n: 60,
                conversions: Some(12),
                ..VariantInput::default()
            },
            VariantInput {
                name: "b".into(),
                n: 50,
                conversions: Some(15),
                ..VariantInput::default()
            },
        ],
    };
    let expected = serde_json::to_value(analyze(&input).unwrap()).unwrap();
    assert_close(
        &buy["overall"]["comparisons"],
        &expected["comparisons"],
        "comparisons",
    );
    assert_close(
        &buy["overall"]["srm_p_value"],
        &expected["srm_p_value"],
        "srm_p_value",
    );

    // Segments partition the units, each with its own analysis and SRM.
    for (breakdown, keys) in [
        ("by_device", ["desktop", "mobile"]),
        ("by_persona", ["P", "none"]),
    ] {
        let seg = &buy[breakdown];
        let n = |k: &str, v: usize| seg[k]["variants"][v]["n"].as_u64().unwrap();
        assert_eq!(n(keys[0], 0) + n(keys[1], 0), 60, "{breakdown}");
        assert_eq!(n(keys[0], 1) + n(keys[1], 1), 50, "{breakdown}");
        assert!(
            seg[keys[0]]["srm_p_value"].is_number(),
            "{breakdown}: {seg}"
        );
    }
    assert_eq!(buy["by_device"]["desktop"]["variants"][0]["n"], 12);

    // A value metric: sums of per-unit values; the control spent nothing, so the relative
    // effect is refused with a reason instead of numbers.
    let revenue = res["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "revenue")
        .unwrap();
    let b = &revenue["overall"]["variants"][1];
    assert_eq!(b["n"], 50);
    assert_eq!(
        b["sum"].as_f64(),
        Some((0..15).map(|i| 10.0 + f64::from(i)).sum())
    );
    let rel = &revenue["overall"]["comparisons"][0]["frequentist"]["relative"];
    assert!(rel["error"].is_string(), "{rel}");

    let (s, adjusted) = app
        .get("/api/v1/tests/t/results?correction=holm-bonferroni")
        .await;
    assert_eq!(s, StatusCode::OK);
    let adj = &adjusted["metrics"][0]["overall"]["comparisons"][0]["frequentist"]["relative"];
    assert!(adj["p_value_adjusted"].as_f64().unwrap() >= adj["p_value"].as_f64().unwrap());

    let (s, e) = app.get("/api/v1/tests/t/results?alpha=0.9").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (s, _) = app.get("/api/v1/tests/missing/results").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.shutdown().await;
}

both!(
    a_device_that_responds_differently_is_flagged,
    a_device_that_responds_differently_is_flagged
);
/// 600 units per variant and device; "buy" converts 20% everywhere except the variant on
/// desktop, at 40%: desktop is flagged, with the numbers `segments::impacts` gives for the
/// same counts; the single persona value has no rest to compare with.
async fn a_device_that_responds_differently_is_flagged(app: TestApp) {
    app.running_test("t").await;
    let key = app.ingest_key().await;
    let mut events = Vec::new();
    for (variant, device, buyers) in [
        ("control", "desktop", 120),
        ("control", "mobile", 120),
        ("b", "desktop", 240),
        ("b", "mobile", 120),
    ] {
        for i in 0..600 {
            let unit = format!("{variant}-{device}-{i}");
            events.push(event(
                format!("x-{unit}"),
                "exposure",
                &unit,
                variant,
                device,
                None,
            ));
            if i < buyers {
                let mut buy = event(
                    format!("c-{unit}"),
                    "conversion",
                    &unit,
                    variant,
                    device,
                    None,
                );
                buy["metric"] = json!("buy");
                events.push(buy);
            }
        }
    }
    for batch in events.chunks(1000) {
        let (s, r) = app.ingest(&key, Value::Array(batch.to_vec())).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["rejected"], json!([]), "{r}");
    }
    let (s, res) = app.get("/api/v1/tests/t/results").await;
    assert_eq!(s, StatusCode::OK, "{res}");
    let buy: Vec<&Value> = res["differential"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["metric"] == "buy")
        .collect();
    // Two devices; one persona ("none") has no rest.
    assert_eq!(buy.len(), 2, "{res}");
    assert!(buy
        .iter()
        .all(|i| i["dimension"] == "device" && i["variant"] == "b"));

    let arms = |c: u64, b: u64| AnalysisInput {
        metric_type: MetricType::Binomial,
        alpha: 0.05,
        expected_weights: Some(vec![1.0, 1.0]),
        sequential_tuning_parameter: 5000.0,
        control_index: 0,
        prior: None,
        correction: None,
        variants: vec![
            VariantInput {
                name: "control".into(),
                n: 600,
                conversions: Some(c),
                ..VariantInput::default()
            },
            VariantInput {
                name: "b".into(),
                n: 600,
                conversions: Some(b),
                ..VariantInput::default()
            },
        ],
    };
    let at = |value| Segment {
        metric: "buy",
        dimension: "device",
        value,
    };
    let desktop = &impacts(at("desktop"), &arms(120, 240), &arms(120, 120))[0];
    let got = buy.iter().find(|i| i["segment"] == "desktop").unwrap();
    for field in ["segment_lift", "rest_lift", "difference", "p_value"] {
        let want = serde_json::to_value(desktop).unwrap();
        assert_close(&got[field], &want[field], field);
    }
    assert!((desktop.segment_lift - 1.0).abs() < 1e-12 && desktop.rest_lift.abs() < 1e-12);
    assert_eq!(got["flagged"], true, "{got}");
    // Two devices are one contrast seen from both sides: the same p-value, both flagged.
    let mobile = buy.iter().find(|i| i["segment"] == "mobile").unwrap();
    assert_eq!(mobile["flagged"], true, "{mobile}");
    assert!(mobile["difference"].as_f64().unwrap() < -0.9, "{mobile}");
    app.shutdown().await;
}
