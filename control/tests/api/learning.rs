//! Learning across tests on a real database: stopping a test records what it taught (lift
//! and standard error per metric, overall and per segment, with its tags); the priors, the
//! insights and the predictions are learned from those records; tags are checked by field.

use edgewise_control::db::now_ms;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::TestApp;

fn spec(key: &str, tag: &str) -> Value {
    json!({
        "key": key,
        "tags": [tag],
        "variants": [{"key": "control", "weight": 1}, {"key": "b", "weight": 1}],
        "metrics": [{"key": "buy", "kind": "binomial", "role": "primary"}]
    })
}

/// Test `i`: 400 units per arm, half on mobile. The control converts 10% everywhere; the
/// variant converts 10% + i/4 points on desktop and twice that plus 10 points on mobile.
fn events(key: &str, i: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for u in 0..800 {
        let variant = if u % 2 == 0 { "control" } else { "b" };
        let device = if (u / 2) % 2 == 0 {
            "mobile"
        } else {
            "desktop"
        };
        let unit = format!("{key}-u{u}");
        out.push(
            json!({"event_id": format!("{unit}-x"), "type": "exposure", "unit_id": unit,
            "test": key, "variant": variant, "device": device, "ts": now_ms()}),
        );
        let base = 10.0 + i as f64 / 4.0;
        let rate = match (variant, device) {
            ("control", _) => 10.0,
            (_, "desktop") => base,
            _ => base + 10.0,
        };
        if ((u * 37 + i * 11) % 100) as f64 + 0.5 < rate {
            out.push(
                json!({"event_id": format!("{unit}-c"), "type": "conversion",
                "unit_id": unit, "test": key, "variant": variant, "metric": "buy",
                "device": device, "ts": now_ms()}),
            );
        }
    }
    out
}

crate::both!(stopped_tests_teach_priors_insights_and_predictions, teach);
async fn teach(app: TestApp) {
    // Tags are checked by field.
    let mut many = spec("bad", "x");
    many["tags"] = json!((0..21).map(|i| format!("t{i}")).collect::<Vec<_>>());
    let (s, b) = app.post("/api/v1/tests", many).await;
    assert_eq!(
        (s, b["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("tags")),
        "{b}"
    );
    let (s, b) = app.post("/api/v1/tests", spec("bad", "with space")).await;
    assert_eq!(
        (s, b["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("tags[0]")),
        "{b}"
    );

    // Nothing learned yet: no priors, a flat prediction.
    let (_, p) = app.get("/api/v1/priors").await;
    assert_eq!(
        (p["priors"].clone(), p["tests"].as_u64()),
        (json!({}), Some(0)),
        "{p}"
    );

    let key = app.ingest_key().await;
    for i in 0..8 {
        let t = format!("past{i}");
        let tag = if i < 5 { "headline" } else { "cta" };
        let (s, b) = app.post("/api/v1/tests", spec(&t, tag)).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        app.post(&format!("/api/v1/tests/{t}/start"), json!(null))
            .await;
        for chunk in events(&t, i).chunks(500) {
            let (s, r) = app.ingest(&key, json!(chunk)).await;
            assert_eq!((s, &r["rejected"]), (StatusCode::OK, &json!([])), "{r}");
        }
        let (s, b) = app
            .post(&format!("/api/v1/tests/{t}/stop"), json!({"winner": "b"}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }

    let (s, p) = app.get("/api/v1/priors").await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["tests"], 8, "{p}");
    let prior = &p["priors"]["buy"];
    assert_eq!(
        (prior["n_tests"].as_u64(), prior["estimator"].as_str()),
        (Some(8), Some("pm")),
        "{p}"
    );
    assert!(prior["mu"].as_f64().unwrap() > 0.2, "{p}");
    assert_eq!(p["by_tag"]["headline"]["buy"]["n_tests"], 5, "{p}");
    assert!(
        p["by_tag"].get("cta").is_none(),
        "3 tests make no prior: {p}"
    );

    // Mobile responded far more than the whole: the insight says so, with its interval.
    let (_, i) = app.get("/api/v1/insights").await;
    let mobile = &i["heterogeneity"]["buy"]["segments"]["device:mobile"];
    let ci = mobile["difference_ci"].as_array().unwrap();
    assert!(ci[0].as_f64().unwrap() > 0.0, "{i}");
    // Both say so in words, with their numbers: mobile more, desktop less.
    let said: Vec<(&str, &str)> = i["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["segment"].as_str().unwrap(), s["text"].as_str().unwrap()))
        .collect();
    assert!(
        said.iter()
            .any(|(s, t)| *s == "device:mobile" && t.contains("responds more")),
        "{i}"
    );
    assert!(
        said.iter()
            .any(|(s, t)| *s == "device:desktop" && t.contains("responds less")),
        "{i}"
    );
    let desktop = &i["heterogeneity"]["buy"]["segments"]["device:desktop"];
    assert!(desktop["difference_ci"][1].as_f64().unwrap() < 0.0, "{i}");

    let draft = json!({"metric": "buy", "tags": ["headline"], "baseline": 0.1,
                       "daily_units": 1000, "days": 14});
    let (s, pred) = app.post("/api/v1/predict", draft).await;
    assert_eq!(s, StatusCode::OK, "{pred}");
    assert_eq!(pred["prior"]["source"], "tag:headline", "{pred}");
    assert!(pred["p_positive"].as_f64().unwrap() > 0.9, "{pred}");
    let (s, b) = app
        .post(
            "/api/v1/predict",
            json!({"metric": "buy", "baseline": 2, "daily_units": 1, "days": 1}),
        )
        .await;
    assert_eq!(
        (s, b["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("baseline")),
        "{b}"
    );
    let (s, b) = app
        .post("/api/v1/predict", json!({"metric": "buy", "baseline": 0.1}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b.to_string().contains("daily_units"), "{b}");

    // The risk score reads the same history: past tests sharing a tag that regressed a
    // guardrail (two of the five `headline` tests, none of the three `cta` ones), and the
    // chance of a negative lift under the predictive distribution `predict` uses.
    {
        let mut conn = app.db.writer.acquire().await.unwrap();
        for t in ["past0", "past3"] {
            let finding = edgewise_shared::decide::Finding {
                key: "guardrail:errors:b".into(),
                kind: edgewise_shared::decide::Kind::Guardrail,
                severity: 3.0,
                message: "guardrail `errors` regressed".into(),
                detail: json!({}),
                variant: None,
            };
            edgewise_control::db::monitor::insert_alert(&mut conn, now_ms(), t, &finding, None)
                .await
                .unwrap();
        }
    }
    let factor = |risk: &Value, name: &str| -> (Option<f64>, f64) {
        let f = risk["factors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["factor"] == name)
            .unwrap();
        (f["value"].as_f64(), f["points"].as_f64().unwrap())
    };
    for (tag, history, downside_source) in [
        ("headline", Some(0.4), "tag:headline"),
        ("cta", Some(0.0), "metric"),
        ("fresh", None, "metric"),
    ] {
        let t = format!("draft-{tag}");
        app.post("/api/v1/tests", spec(&t, tag)).await;
        let (s, a) = app.get(&format!("/api/v1/tests/{t}/approvals")).await;
        assert_eq!(s, StatusCode::OK, "{a}");
        let (value, points) = factor(&a["risk"], "history");
        assert_eq!(value, history, "{tag}: {a}");
        assert_eq!(points, history.map_or(7.5, |h| 15.0 * h), "{tag}: {a}");
        let draft = json!({"metric": "buy", "tags": [tag], "baseline": 0.1,
                           "daily_units": 1000, "days": 14});
        let (_, pred) = app.post("/api/v1/predict", draft).await;
        assert_eq!(pred["prior"]["source"], downside_source, "{pred}");
        let lose = 1.0 - pred["p_positive"].as_f64().unwrap();
        let (value, points) = factor(&a["risk"], "predicted_downside");
        assert!((value.unwrap() - lose).abs() < 1e-12, "{tag}: {a} {pred}");
        assert!((points - 10.0 * lose).abs() < 1e-9, "{tag}: {a}");
    }

    // A running test: its primary metric, tags, observed baseline and traffic.
    app.post("/api/v1/tests", spec("next", "headline")).await;
    app.post("/api/v1/tests/next/start", json!(null)).await;
    app.ingest(&key, json!(events("next", 0))).await;
    let (s, pred) = app
        .post("/api/v1/predict", json!({"test": "next", "days": 7}))
        .await;
    assert_eq!(s, StatusCode::OK, "{pred}");
    assert_eq!(pred["prior"]["source"], "tag:headline", "{pred}");
    assert_eq!(pred["days"], 7.0);
    let (s, _) = app
        .post("/api/v1/predict", json!({"test": "nope", "days": 7}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.shutdown().await;
}
