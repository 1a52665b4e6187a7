//! Results by exposure dimension: a test names country, browser and a visitor attribute;
//! exposures carry the visitor's values. Every segment's served inputs (the 20 largest
//! countries and `(other)`) equal an independent computation over the raw stream, each with
//! its own analysis and SRM; the one country whose units respond differently is flagged by
//! the differential impact and no other segment is; erasure takes a unit out of its segments;
//! a test keeps at most 1,000 values per dimension; bad names and unknown dimensions are
//! refused naming the field, a running test's dimensions are frozen, and a test created
//! without dimensions gets the org's.

use std::collections::BTreeMap;

use edgewise_shared::stats::VariantInput;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{Lcg, TestApp};
use crate::results::assert_close;

fn spec() -> Value {
    json!({
        "key": "d",
        "variants": [{"key": "control", "weight": 1}, {"key": "b", "weight": 1}],
        "dimensions": ["country", "browser", "attr.plan"],
        "metrics": [
            {"key": "buy", "kind": "binomial", "role": "primary"},
            {"key": "revenue", "kind": "value", "event": "buy"},
            {"key": "p50", "kind": "quantile", "event": "buy", "quantile": {"nu": 0.5}},
        ]
    })
}

struct Unit {
    id: String,
    variant: &'static str,
    country: String,
    browser: &'static str,
    plan: Option<&'static str>,
    /// Its purchase's value, if it bought.
    buy: Option<f64>,
}
/// 25 countries, the first far more common; in `BR` the variant converts at 45% against 15%
/// (everywhere else both convert at 15%).
fn stream() -> Vec<Unit> {
    let mut rng = Lcg(7);
    let countries: Vec<String> = ["US", "BR", "DE", "FR", "GB"]
        .iter()
        .map(|c| (*c).to_owned())
        .chain((0..20).map(|i| format!("C{i:02}")))
        .collect();
    (0..4000)
        .map(|i| {
            let variant = if i % 2 == 0 { "control" } else { "b" };
            let r = rng.unit();
            let country = if r < 0.4 {
                countries[0].clone()
            } else if r < 0.7 {
                countries[1 + (rng.unit() * 4.0) as usize].clone()
            } else {
                countries[5 + (rng.unit() * 20.0) as usize].clone()
            };
            let browser = ["Chrome", "Safari", "Firefox", "Edge"][(rng.unit() * 4.0) as usize];
            let plan = [Some("free"), Some("pro"), None][(rng.unit() * 3.0) as usize];
            let rate = if country == "BR" && variant == "b" {
                0.45
            } else {
                0.15
            };
            let buy = (rng.unit() < rate).then(|| (rng.unit() * 100.0).round());
            Unit {
                id: format!("u{i}"),
                variant,
                country,
                browser,
                plan,
                buy,
            }
        })
        .collect()
}

fn value_of<'a>(u: &'a Unit, dim: &str) -> &'a str {
    match dim {
        "country" => &u.country,
        "browser" => u.browser,
        _ => u.plan.unwrap_or("(none)"),
    }
}

/// The inputs of `metric` over `units`, per variant.
fn inputs(units: &[&Unit], metric: &str) -> Vec<VariantInput> {
    ["control", "b"]
        .iter()
        .map(|v| {
            let mine: Vec<&&Unit> = units.iter().filter(|u| u.variant == *v).collect();
            let base = VariantInput {
                name: (*v).into(),
                n: mine.len() as u64,
                ..VariantInput::default()
            };
            let values: Vec<f64> = mine.iter().filter_map(|u| u.buy).collect();
            if metric == "buy" {
                VariantInput {
                    conversions: Some(values.len() as u64),
                    ..base
                }
            } else {
                VariantInput {
                    sum: Some(values.iter().sum()),
                    sum_squares: Some(values.iter().map(|x| x * x).sum()),
                    ..base
                }
            }
        })
        .collect()
}

async fn check(app: &TestApp, units: &[Unit]) -> Value {
    let (s, res) = app.get("/api/v1/tests/d/results").await;
    assert_eq!(s, StatusCode::OK, "{res}");
    for dim in ["country", "browser", "attr.plan"] {
        // The segments: the 20 largest values alone, the rest together.
        let mut count: BTreeMap<&str, usize> = BTreeMap::new();
        for u in units {
            *count.entry(value_of(u, dim)).or_default() += 1;
        }
        let mut ranked: Vec<(&str, usize)> = count.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let kept: Vec<&str> = ranked.iter().take(20).map(|(v, _)| *v).collect();
        for m in ["buy", "revenue"] {
            let served = res["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["key"] == m)
                .unwrap();
            let segments = served["by_dimension"][dim].as_object().unwrap();
            let others = ranked.len() > 20;
            assert_eq!(segments.len(), kept.len() + usize::from(others), "{dim}");
            for (label, seg) in segments {
                let members: Vec<&Unit> = units
                    .iter()
                    .filter(|u| {
                        let v = value_of(u, dim);
                        if label == "(other)" {
                            !kept.contains(&v)
                        } else {
                            v == label
                        }
                    })
                    .collect();
                let want = serde_json::to_value(inputs(&members, m)).unwrap();
                assert_close(&seg["variants"], &want, &format!("{m}.{dim}.{label}"));
                assert!(seg["srm_p_value"].is_number(), "{m}.{dim}.{label}: {seg}");
            }
        }
    }
    // Quantiles are not broken down by dimension.
    let p50 = res["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["key"] == "p50");
    assert!(p50.unwrap().get("by_dimension").is_none());
    res
}

both!(
    segments_by_dimension_equal_an_independent_computation,
    segments_by_dimension_equal_an_independent_computation
);
async fn segments_by_dimension_equal_an_independent_computation(app: TestApp) {
    let (s, b) = app.post("/api/v1/tests", spec()).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/d/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let key = app.ingest_key().await;
    let units = stream();
    let now = edgewise_control::db::now_ms();
    let mut events = Vec::new();
    for u in &units {
        let mut dims = json!({"country": u.country, "browser": u.browser});
        if let Some(p) = u.plan {
            dims["attr.plan"] = json!(p);
        }
        events.push(
            json!({"event_id": format!("x-{}", u.id), "type": "exposure",
            "unit_id": u.id, "test": "d", "variant": u.variant, "device": "desktop",
            "ts": now - 60_000, "dimensions": dims}),
        );
        // A later exposure with other values changes nothing: the first one's count.
        events.push(
            json!({"event_id": format!("y-{}", u.id), "type": "exposure",
            "unit_id": u.id, "test": "d", "variant": u.variant, "device": "desktop",
            "ts": now - 50_000, "dimensions": {"country": "ZZ"}}),
        );
        if let Some(v) = u.buy {
            events.push(
                json!({"event_id": format!("c-{}", u.id), "type": "conversion",
                "unit_id": u.id, "test": "d", "variant": u.variant, "metric": "buy",
                "value": v, "device": "desktop", "ts": now - 30_000}),
            );
        }
    }
    for batch in events.chunks(600) {
        let (s, r) = app.ingest(&key, Value::Array(batch.to_vec())).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["rejected"], json!([]), "{r}");
    }
    let res = check(&app, &units).await;

    // The country that responds differently is flagged, on buy (and on revenue, which its
    // purchases carry), and nothing else is.
    let flagged: Vec<(String, String, String)> = res["differential"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["flagged"] == true)
        .map(|i| {
            let s = |k: &str| i[k].as_str().unwrap_or_default().to_owned();
            (s("metric"), s("dimension"), s("segment"))
        })
        .collect();
    assert!(
        flagged.contains(&("buy".into(), "country".into(), "BR".into())),
        "{flagged:?}"
    );
    assert!(
        flagged.iter().all(|(_, d, v)| d == "country" && v == "BR"),
        "{flagged:?}"
    );

    // An event naming a dimension the test does not have is refused, naming the field.
    let (s, r) = app
        .ingest(
            &key,
            json!([{"event_id": "bad", "type": "exposure", "unit_id": "new", "test": "d",
                    "variant": "b", "ts": now, "dimensions": {"attr.tier": "gold"}}]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["rejected"][0]["field"], "dimensions", "{r}");

    // Erasure takes units out of their segments.
    let gone = ["u1", "u2", "u3", "u10"];
    for id in gone {
        app.erase(id).await;
    }
    let left: Vec<Unit> = units
        .into_iter()
        .filter(|u| !gone.contains(&u.id.as_str()))
        .collect();
    check(&app, &left).await;

    // Once running, the dimensions are frozen.
    let mut other = spec();
    other["dimensions"] = json!(["country"]);
    let (s, e) = app.put("/api/v1/tests/d", other).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(e.to_string().contains("dimensions"), "{e}");
    app.shutdown().await;
}

both!(
    a_dimension_keeps_at_most_1000_values,
    a_dimension_keeps_at_most_1000_values
);
async fn a_dimension_keeps_at_most_1000_values(app: TestApp) {
    let (s, b) = app.post("/api/v1/tests", spec()).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/d/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let key = app.ingest_key().await;
    let now = edgewise_control::db::now_ms();
    let events: Vec<Value> = (0..2100)
        .map(|i| {
            json!({"event_id": format!("x{i}"), "type": "exposure", "unit_id": format!("u{i}"),
                   "test": "d", "variant": if i % 2 == 0 { "control" } else { "b" },
                   "ts": now, "dimensions": {"attr.plan": format!("plan-{i}")}})
        })
        .collect();
    for batch in events.chunks(700) {
        let (s, r) = app.ingest(&key, Value::Array(batch.to_vec())).await;
        assert_eq!(s, StatusCode::OK, "{r}");
    }
    let (s, agg) = app.get("/api/v1/tests/d/aggregates").await;
    assert_eq!(s, StatusCode::OK, "{agg}");
    let rows: Vec<&Value> = agg["aggregates"]["dims"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["dimension"] == "attr.plan" && r["metric"] == "")
        .collect();
    let units: i64 = rows.iter().map(|r| r["units"].as_i64().unwrap()).sum();
    assert_eq!(units, 2100);
    let values: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r["value"].as_str().unwrap()).collect();
    assert!(values.contains("(other)"), "{}", values.len());
    // 1,000 kept per file: one file on PostgreSQL, two SQLite files by default.
    let files = if app.database_url.starts_with("postgres") {
        1
    } else {
        2
    };
    assert!(values.len() <= 1000 * files + 1, "{}", values.len());
    assert!(values.len() >= 1000, "{}", values.len());
    app.shutdown().await;
}

both!(bad_dimensions_name_the_field, bad_dimensions_name_the_field);
async fn bad_dimensions_name_the_field(app: TestApp) {
    for (dims, field) in [
        (json!(["country", "city"]), "dimensions[1]"),
        (json!(["country", "country"]), "dimensions[1]"),
        (
            json!(["country", "browser", "source", "attr.a", "attr.b", "attr.c"]),
            "dimensions",
        ),
    ] {
        let mut s = spec();
        s["dimensions"] = dims;
        let (status, e) = app.post("/api/v1/tests", s).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {e}");
        assert!(e.to_string().contains(field), "{field}: {e}");
    }

    // The org's dimensions: checked the same way, and given to a test created without any.
    let (s, e) = app
        .put("/api/v1/dimensions", json!(["browser", "town"]))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e.to_string().contains("dimensions[1]"), "{e}");
    let (s, b) = app
        .put("/api/v1/dimensions", json!(["browser", "source"]))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["dimensions"], json!(["browser", "source"]));
    let mut bare = spec();
    bare.as_object_mut().unwrap().remove("dimensions");
    let (s, t) = app.post("/api/v1/tests", bare).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["dimensions"], json!(["browser", "source"]));
    let (s, t) = app
        .post(
            "/api/v1/tests",
            json!({"key": "own", "dimensions": ["country"],
        "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["dimensions"], json!(["country"]));
    app.shutdown().await;
}
