//! Quantile metrics and percentile caps through ingestion: a unit-level p50 and p90 of order
//! value (the sketch), an event-level p90 of page-load time (clustered by unit), and revenue
//! capped at its 95th percentile. A seeded stream goes in; the served order statistics, cap and
//! sums are checked against an independent computation over the same raw stream (exact
//! nearest-rank order statistics; the sketch's within its documented 0.1%), and each served
//! analysis against the statistics of the served inputs. Erasing units takes their values out
//! of the sketch. Bad definitions get a 422 naming the field.

use edgewise_shared::stats::{analyze, AnalysisInput, MetricType, VariantInput};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{Lcg, TestApp};
use crate::results::assert_close;

const ALPHA: f64 = 0.001;

fn spec() -> Value {
    json!({
        "key": "q",
        "variants": [{"key": "control", "weight": 1}, {"key": "b", "weight": 1}],
        "metrics": [
            {"key": "aov_p50", "kind": "quantile", "role": "primary", "event": "order",
             "quantile": {"nu": 0.5}},
            {"key": "aov_p90_buyers", "kind": "quantile", "event": "order",
             "quantile": {"nu": 0.9, "ignore_zeros": true}},
            {"key": "load_p90", "kind": "quantile", "event": "load", "higher_is_better": false,
             "quantile": {"nu": 0.9, "level": "event"}},
            {"key": "revenue", "kind": "value", "event": "order",
             "cap": {"type": "percentile", "value": 0.95}},
        ]
    })
}

/// Per unit: variant, order values, page-load times.
struct Unit {
    id: String,
    variant: &'static str,
    orders: Vec<f64>,
    loads: Vec<f64>,
}
fn stream() -> Vec<Unit> {
    let mut rng = Lcg(25);
    (0..600)
        .map(|i| {
            let variant = if i % 2 == 0 { "control" } else { "b" };
            let lift = if variant == "b" { 1.3 } else { 1.0 };
            let orders = (0..usize::from(rng.unit() < 0.6) * (1 + (rng.unit() * 3.0) as usize))
                .map(|_| ((rng.unit() * 4.0).exp() * 5.0 * lift * 100.0).round() / 100.0)
                .collect();
            let loads = (0..(rng.unit() * 5.0) as usize)
                .map(|_| (200.0 + rng.unit() * rng.unit() * 3000.0 / lift).round())
                .collect();
            Unit {
                id: format!("u{i}"),
                variant,
                orders,
                loads,
            }
        })
        .collect()
}

fn total(u: &Unit) -> f64 {
    u.orders.iter().sum()
}

/// The ⌈q·n⌉-th smallest value.
fn nearest_rank(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let r = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[r - 1]
}

fn levels(nu: f64, n: usize) -> (f64, f64) {
    let se = (nu * (1.0 - nu) / n as f64).sqrt();
    (
        (nu - 1.959_963_984_540_054 * se).max(1e-8),
        (nu + 1.959_963_984_540_054 * se).min(0.999_999_99),
    )
}

fn near(got: &Value, want: f64, tolerance: f64, at: &str) {
    let got = got.as_f64().unwrap_or_else(|| panic!("{at}: {got}"));
    assert!(
        (got - want).abs() <= tolerance * want.abs() + 1e-9,
        "{at}: served {got}, expected {want}"
    );
}

fn metric<'a>(res: &'a Value, key: &str) -> &'a Value {
    res["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == key)
        .unwrap_or_else(|| panic!("{key}: {res}"))
}

/// The served analysis is the statistics of the served inputs.
fn analysis_matches_inputs(m: &Value, metric_type: MetricType, at: &str) {
    let variants: Vec<VariantInput> =
        serde_json::from_value(m["overall"]["variants"].clone()).unwrap();
    let input = AnalysisInput {
        metric_type,
        alpha: 0.05,
        expected_weights: Some(vec![1.0, 1.0]),
        sequential_tuning_parameter: 5000.0,
        control_index: 0,
        prior: None,
        correction: None,
        variants,
    };
    let want = serde_json::to_value(analyze(&input).unwrap()).unwrap();
    assert_close(&m["overall"]["comparisons"], &want["comparisons"], at);
}

async fn check(app: &TestApp, units: &[&Unit]) {
    let (s, res) = app.get("/api/v1/tests/q/results").await;
    assert_eq!(s, StatusCode::OK, "{res}");
    let of = |v: &'static str| units.iter().filter(move |u| u.variant == v);

    // Unit-level: every exposed unit's summed order value (zeros included), or buyers only.
    for (key, nu, buyers_only) in [("aov_p50", 0.5, false), ("aov_p90_buyers", 0.9, true)] {
        let m = metric(&res, key);
        for (i, v) in ["control", "b"].into_iter().enumerate() {
            let values: Vec<f64> = of(v)
                .filter(|u| !buyers_only || !u.orders.is_empty())
                .map(|u| total(u))
                .collect();
            let got = &m["overall"]["variants"][i];
            assert_eq!(got["n"], values.len(), "{key}.{v}");
            assert_eq!(got["n_star"], values.len(), "{key}.{v}");
            let (lo, hi) = levels(nu, values.len());
            near(&got["quantile_hat"], nearest_rank(&values, nu), ALPHA, key);
            near(
                &got["quantile_lower"],
                nearest_rank(&values, lo),
                ALPHA,
                key,
            );
            near(
                &got["quantile_upper"],
                nearest_rank(&values, hi),
                ALPHA,
                key,
            );
        }
        analysis_matches_inputs(m, MetricType::Quantile, key);
    }

    // Event-level: exact, with the clustering by unit around each arm's own estimate.
    let m = metric(&res, "load_p90");
    for (i, v) in ["control", "b"].into_iter().enumerate() {
        let events: Vec<f64> = of(v).flat_map(|u| u.loads.clone()).collect();
        let hat = nearest_rank(&events, 0.9);
        let (lo, hi) = levels(0.9, events.len());
        let got = &m["overall"]["variants"][i];
        assert_eq!(got["n"], events.len());
        assert_eq!(got["quantile_hat"], hat);
        assert_eq!(got["quantile_lower"], nearest_rank(&events, lo));
        assert_eq!(got["quantile_upper"], nearest_rank(&events, hi));
        assert_eq!(got["n_clusters"], of(v).count());
        let sums = |f: &dyn Fn(&Unit) -> f64| of(v).map(|u| f(u)).sum::<f64>();
        let main = |u: &Unit| u.loads.iter().filter(|x| **x <= hat).count() as f64;
        let count = |u: &Unit| u.loads.len() as f64;
        assert_eq!(got["main_sum"], sums(&main));
        assert_eq!(got["main_sum_squares"], sums(&|u| main(u).powi(2)));
        assert_eq!(got["denominator_sum"], sums(&count));
        assert_eq!(got["denominator_sum_squares"], sums(&|u| count(u).powi(2)));
        assert_eq!(
            got["main_denominator_sum_product"],
            sums(&|u| main(u) * count(u))
        );
    }
    analysis_matches_inputs(m, MetricType::Quantile, "load_p90");

    // Percentile cap: the pooled 95th percentile of per-unit revenue (zeros included).
    let m = metric(&res, "revenue");
    let pooled: Vec<f64> = units.iter().map(|u| total(u)).collect();
    let cap = nearest_rank(&pooled, 0.95);
    near(&m["cap_value"], cap, ALPHA, "cap_value");
    for (i, v) in ["control", "b"].into_iter().enumerate() {
        let capped: Vec<f64> = of(v).map(|u| total(u).min(cap)).collect();
        let got = &m["overall"]["variants"][i];
        assert_eq!(got["n"], capped.len());
        let sum: f64 = capped.iter().sum();
        let sq: f64 = capped.iter().map(|x| x * x).sum();
        near(&got["sum"], sum, ALPHA, "revenue.sum");
        near(&got["sum_squares"], sq, 2.0 * ALPHA, "revenue.sum_squares");
    }
    analysis_matches_inputs(m, MetricType::Mean, "revenue");
}

both!(
    quantiles_and_percentile_caps_equal_an_independent_computation,
    quantiles_and_percentile_caps_equal_an_independent_computation
);
async fn quantiles_and_percentile_caps_equal_an_independent_computation(app: TestApp) {
    let (s, b) = app.post("/api/v1/tests", spec()).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/q/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let key = app.ingest_key().await;
    let units = stream();
    let now = edgewise_control::db::now_ms();
    let mut events: Vec<Value> = units
        .iter()
        .map(|u| {
            json!({"event_id": format!("x-{}", u.id), "type": "exposure", "unit_id": u.id,
                   "test": "q", "variant": u.variant, "device": "desktop", "ts": now - 60_000})
        })
        .collect();
    for u in &units {
        let named = u.orders.iter().map(|v| ("order", v));
        for (i, (name, value)) in named.chain(u.loads.iter().map(|v| ("load", v))).enumerate() {
            events.push(
                json!({"event_id": format!("{}-{i}", u.id), "type": "conversion",
                "unit_id": u.id, "test": "q", "variant": u.variant, "metric": name,
                "value": value, "device": "desktop", "ts": now - 30_000 + i as i64}),
            );
        }
    }
    for batch in events.chunks(500) {
        let (s, r) = app.ingest(&key, Value::Array(batch.to_vec())).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["rejected"], json!([]), "{r}");
    }
    // The stream has units without orders, with several, and revenue above the cap.
    assert!(units.iter().filter(|u| u.orders.is_empty()).count() > 100);
    assert!(units.iter().any(|u| u.orders.len() > 2));
    let all: Vec<&Unit> = units.iter().collect();
    check(&app, &all).await;

    // Erasure moves the erased units' values out of the sketch.
    let top = units
        .iter()
        .max_by(|a, b| {
            a.orders
                .iter()
                .sum::<f64>()
                .total_cmp(&b.orders.iter().sum())
        })
        .unwrap();
    let gone = [top.id.as_str(), "u1", "u2", "u3"];
    for id in gone {
        app.erase(id).await;
    }
    let left: Vec<&Unit> = units
        .iter()
        .filter(|u| !gone.contains(&u.id.as_str()))
        .collect();
    check(&app, &left).await;
    app.shutdown().await;
}

both!(
    bad_quantile_and_cap_definitions_name_the_field,
    bad_quantile_and_cap_definitions_name_the_field
);
async fn bad_quantile_and_cap_definitions_name_the_field(app: TestApp) {
    let with = |metric: Value| {
        let mut s = spec();
        s["metrics"].as_array_mut().unwrap().push(metric);
        s
    };
    for (body, field) in [
        (
            with(json!({"key": "p", "kind": "quantile", "quantile": {"nu": 1.5}})),
            "metrics[4].quantile.nu",
        ),
        (
            with(json!({"key": "p", "kind": "quantile"})),
            "metrics[4].quantile",
        ),
        (
            with(json!({"key": "p", "kind": "quantile", "quantile": {"nu": 0.5, "level": "page"}})),
            "metrics[4]",
        ),
        (
            with(json!({"key": "p", "kind": "value", "cap": {"type": "percentile", "value": 95}})),
            "metrics[4].cap.value",
        ),
        (
            with(json!({"key": "p", "kind": "value", "cap": {"type": "absolute", "value": -3}})),
            "metrics[4].cap.value",
        ),
        (
            with(
                json!({"key": "rpl", "kind": "ratio", "numerator": "revenue", "denominator": "aov_p50"}),
            ),
            "metrics[3].cap",
        ),
    ] {
        let (s, e) = app.post("/api/v1/tests", body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {e}");
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
    app.shutdown().await;
}
