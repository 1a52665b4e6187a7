//! CUPED in the control plane: metrics name a pre-exposure covariate that each unit's exposure
//! carries (`covariates`); the aggregates keep its sums and its cross-product with the metric
//! as units convert. A seeded stream goes in; the served inputs (covariate sums included) equal
//! an independent computation over the raw stream, the served analysis is gbstats' CUPED on
//! them, its interval narrower than without the covariate; erasure takes a unit's covariate out
//! too. A covariate on a ratio is refused naming the field, and an exposure naming a covariate
//! no metric uses is rejected naming `covariates`.

use edgewise_shared::stats::{analyze, AnalysisInput, MetricType, VariantInput};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{Lcg, TestApp};
use crate::results::assert_close;

fn spec() -> Value {
    json!({
        "key": "c",
        "variants": [{"key": "control", "weight": 1}, {"key": "b", "weight": 1}],
        "metrics": [
            {"key": "buy", "kind": "binomial", "role": "primary", "event": "order",
             "covariate": "bought_before"},
            {"key": "revenue", "kind": "value", "event": "order", "covariate": "revenue_30d",
             "cap": {"type": "absolute", "value": 400}},
            {"key": "revenue_plain", "kind": "value", "event": "order",
             "cap": {"type": "absolute", "value": 400}},
        ]
    })
}

struct Unit {
    id: String,
    variant: &'static str,
    /// Pre-exposure revenue (absent for some units: counts as 0) and whether they bought.
    pre: Option<f64>,
    orders: Vec<f64>,
}
fn stream() -> Vec<Unit> {
    let mut rng = Lcg(42);
    (0..800)
        .map(|i| {
            let pre = (rng.unit() < 0.9).then(|| (-rng.unit().ln() * 60.0).round());
            // Revenue follows the unit's past revenue; the variant adds 10%.
            let lift = if i % 2 == 1 { 1.1 } else { 1.0 };
            let base = pre.unwrap_or(0.0);
            let orders = if rng.unit() < 0.2 + base / 400.0 {
                vec![
                    (base * 0.8 * lift + rng.unit() * 40.0).round();
                    1 + (rng.unit() * 1.5) as usize
                ]
            } else {
                Vec::new()
            };
            Unit {
                id: format!("u{i}"),
                variant: if i % 2 == 0 { "control" } else { "b" },
                pre,
                orders,
            }
        })
        .collect()
}

/// (metric value, covariate) per unit of `metric`.
fn pair(u: &Unit, metric: &str) -> (f64, f64) {
    let revenue: f64 = u.orders.iter().sum();
    let pre = u.pre.unwrap_or(0.0);
    match metric {
        "buy" => (
            f64::from(u8::from(!u.orders.is_empty())),
            f64::from(u8::from(pre > 0.0)),
        ),
        "revenue" => (revenue.min(400.0), pre),
        _ => (revenue.min(400.0), 0.0),
    }
}

fn expected(units: &[&Unit], metric: &str) -> AnalysisInput {
    let variants = ["control", "b"]
        .iter()
        .map(|v| {
            let p: Vec<(f64, f64)> = units
                .iter()
                .filter(|u| u.variant == *v)
                .map(|u| pair(u, metric))
                .collect();
            let s = |f: &dyn Fn(&(f64, f64)) -> f64| p.iter().map(f).sum::<f64>();
            let base = VariantInput {
                name: (*v).into(),
                n: p.len() as u64,
                ..VariantInput::default()
            };
            let base = if metric == "revenue_plain" {
                base
            } else {
                VariantInput {
                    covariate_sum: Some(s(&|x| x.1)),
                    covariate_sum_squares: Some(s(&|x| x.1 * x.1)),
                    sum_product_metric_covariate: Some(s(&|x| x.0 * x.1)),
                    ..base
                }
            };
            if metric == "buy" {
                VariantInput {
                    conversions: Some(s(&|x| x.0) as u64),
                    ..base
                }
            } else {
                VariantInput {
                    sum: Some(s(&|x| x.0)),
                    sum_squares: Some(s(&|x| x.0 * x.0)),
                    ..base
                }
            }
        })
        .collect();
    AnalysisInput {
        metric_type: if metric == "buy" {
            MetricType::Binomial
        } else {
            MetricType::Mean
        },
        alpha: 0.05,
        expected_weights: Some(vec![1.0, 1.0]),
        sequential_tuning_parameter: 5000.0,
        control_index: 0,
        prior: None,
        correction: None,
        variants,
    }
}

async fn check(app: &TestApp, units: &[&Unit]) -> Value {
    let (s, res) = app.get("/api/v1/tests/c/results").await;
    assert_eq!(s, StatusCode::OK, "{res}");
    for metric in ["buy", "revenue", "revenue_plain"] {
        let m = res["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["key"] == metric)
            .unwrap();
        let input = expected(units, metric);
        let want = serde_json::to_value(&input.variants).unwrap();
        assert_close(
            &m["overall"]["variants"],
            &want,
            &format!("{metric}.variants"),
        );
        let analysis = serde_json::to_value(analyze(&input).unwrap()).unwrap();
        assert_close(
            &m["overall"]["comparisons"],
            &analysis["comparisons"],
            &format!("{metric}.comparisons"),
        );
        assert_eq!(m["overall"]["cuped"], metric != "revenue_plain", "{metric}");
    }
    res
}

both!(
    cuped_equals_an_independent_computation,
    cuped_equals_an_independent_computation
);
async fn cuped_equals_an_independent_computation(app: TestApp) {
    let (s, b) = app.post("/api/v1/tests", spec()).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/c/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let key = app.ingest_key().await;
    let units = stream();
    let now = edgewise_control::db::now_ms();
    let mut events = Vec::new();
    for u in &units {
        let mut e = json!({"event_id": format!("x-{}", u.id), "type": "exposure",
            "unit_id": u.id, "test": "c", "variant": u.variant, "ts": now - 60_000});
        if let Some(pre) = u.pre {
            e["covariates"] =
                json!({"revenue_30d": pre, "bought_before": f64::from(u8::from(pre > 0.0))});
        }
        events.push(e);
        for (k, v) in u.orders.iter().enumerate() {
            events.push(
                json!({"event_id": format!("{}-{k}", u.id), "type": "conversion",
                "unit_id": u.id, "test": "c", "variant": u.variant, "metric": "order",
                "value": v, "ts": now - 30_000}),
            );
        }
    }
    for batch in events.chunks(500) {
        let (s, r) = app.ingest(&key, Value::Array(batch.to_vec())).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["rejected"], json!([]), "{r}");
    }
    let all: Vec<&Unit> = units.iter().collect();
    let res = check(&app, &all).await;

    // The covariate narrows revenue's interval against the same metric without it.
    let width = |key: &str| {
        let m = res["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["key"] == key)
            .unwrap();
        let ci = &m["overall"]["comparisons"][0]["frequentist"]["absolute"]["ci"];
        ci[1].as_f64().unwrap() - ci[0].as_f64().unwrap()
    };
    assert!(
        width("revenue") < 0.9 * width("revenue_plain"),
        "{} vs {}",
        width("revenue"),
        width("revenue_plain")
    );

    // An exposure naming a covariate no metric uses is rejected, naming the field.
    let (s, r) = app
        .ingest(
            &key,
            json!([{"event_id": "bad", "type": "exposure", "unit_id": "new", "test": "c",
                    "variant": "b", "ts": now, "covariates": {"visits_30d": 3}}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["rejected"][0]["field"], "covariates", "{r}");

    // Erasure takes a unit's covariate and cross-product out with it.
    let gone = ["u3", "u4", "u17"];
    for id in gone {
        app.erase(id).await;
    }
    let left: Vec<&Unit> = units
        .iter()
        .filter(|u| !gone.contains(&u.id.as_str()))
        .collect();
    check(&app, &left).await;

    // CUPED does not apply to a ratio.
    let mut bad = spec();
    bad["key"] = json!("c2");
    bad["metrics"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "rpo", "kind": "ratio",
        "numerator": "revenue_plain", "denominator": "buy", "covariate": "x"}));
    let (s, e) = app.post("/api/v1/tests", bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e.to_string().contains("metrics[3].covariate"), "{e}");
    app.shutdown().await;
}
