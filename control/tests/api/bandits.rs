//! Bandits on a real database: bad settings refused by field; exposures carry their stratum
//! (snapshot version) and propensity; a monitor tick moves the weights toward the best arm,
//! records the period with the snapshot version that serves it, publishes it (sticky) and
//! audits it as the monitor; the arms' period-weighted estimates equal a computation by hand
//! over the stream sent; erasing a unit takes it out of its stratum.

use edgewise_control::db::now_ms;
use edgewise_shared::bandit::periods::ArmSums;
use edgewise_shared::bandit::update;
use edgewise_shared::stats::MetricType;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::TestApp;

/// Ticks only when asked.
fn manual(c: &mut edgewise_control::config::ServeArgs) {
    c.monitor_interval_secs = 86_400;
}

fn spec(key: &str, bandit: Value) -> Value {
    json!({
        "key": key,
        "allocation": "bandit",
        "bandit": bandit,
        "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}, {"key": "c", "weight": 1}],
        "metrics": [
            {"key": "buy", "kind": "binomial", "role": "primary"},
            {"key": "ctr", "kind": "ratio", "numerator": "buy", "denominator": "views"},
            {"key": "views", "kind": "count"}
        ]
    })
}

crate::both!(bad_bandit_settings_are_refused_by_field, refused);
async fn refused(app: TestApp) {
    let cases = [
        (json!({"floor": 0.4}), "bandit.floor"),
        (json!({"floor": -0.1}), "bandit.floor"),
        (json!({"burn_in_units": -1}), "bandit.burn_in_units"),
        (json!({"burn_in_hours": -2}), "bandit.burn_in_hours"),
        (
            json!({"update_interval_seconds": 0}),
            "bandit.update_interval_seconds",
        ),
        (json!({"metric": "nope"}), "bandit.metric"),
        (json!({"metric": "ctr"}), "bandit.metric"),
    ];
    for (i, (settings, field)) in cases.into_iter().enumerate() {
        let (s, b) = app
            .post("/api/v1/tests", spec(&format!("t{i}"), settings.clone()))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{settings}: {b}");
        let errors = b["errors"].as_array().expect("an errors array");
        assert!(
            errors.iter().any(|e| e["field"] == field),
            "{settings}: {b}"
        );
    }
    // Settings without a bandit, an unknown setting.
    let mut fixed = spec("f", json!({}));
    fixed.as_object_mut().unwrap().remove("allocation");
    let (s, b) = app.post("/api/v1/tests", fixed).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["errors"][0]["field"], "bandit", "{b}");
    let (s, b) = app
        .post("/api/v1/tests", spec("u", json!({"flor": 0.1})))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b.to_string().contains("flor"), "{b}");
    // Without a primary metric the bandit has nothing to optimise.
    let mut none = spec("n", json!({}));
    none["metrics"][0]["role"] = json!("secondary");
    let (s, b) = app.post("/api/v1/tests", none).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["errors"][0]["field"], "bandit.metric", "{b}");
    app.shutdown().await;
}

/// Units `from..to` of one period: exposures under `version`, and a purchase for the units
/// whose arm converts (arm c converts 3 in 10, a and b 1 in 10).
fn period(test: &str, version: i64, from: usize, to: usize, weights: [f64; 3]) -> Vec<Value> {
    let mut events = Vec::new();
    for i in from..to {
        let arm = i % 3;
        let variant = ["a", "b", "c"][arm];
        let unit = format!("u{i}");
        events.push(
            json!({"event_id": format!("x{i}"), "type": "exposure", "unit_id": unit,
            "test": test, "variant": variant, "device": "mobile", "ts": now_ms(),
            "snapshot_version": version, "propensity": weights[arm]}),
        );
        if (i / 3) % 10 < if arm == 2 { 3 } else { 1 } {
            events.push(json!({"event_id": format!("c{i}"), "type": "conversion",
                "unit_id": unit, "test": test, "variant": variant, "metric": "buy",
                "ts": now_ms()}));
        }
    }
    events
}

/// The same units as [`period`], as the job should see them.
fn sums(from: usize, to: usize) -> Vec<ArmSums> {
    let mut arms = vec![ArmSums::default(); 3];
    for i in from..to {
        let arm = i % 3;
        arms[arm].units += 1;
        if (i / 3) % 10 < if arm == 2 { 3 } else { 1 } {
            arms[arm].sum += 1.0;
            arms[arm].sum_sq += 1.0;
        }
    }
    arms
}

fn weights(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

async fn snapshot_version(app: &TestApp) -> i64 {
    let (_, snap) = app.get("/v1/snapshot").await;
    snap["snapshot_version"].as_i64().unwrap()
}

crate::both_with!(a_tick_moves_traffic_to_the_best_arm, moves, manual);
async fn moves(app: TestApp) {
    let settings = json!({"burn_in_units": 50, "floor": 0.05, "update_interval_seconds": 1});
    let (s, b) = app.post("/api/v1/tests", spec("bt", settings)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app.post("/api/v1/tests/bt/start", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, snap) = app.get("/v1/snapshot").await;
    assert_eq!(snap["tests"][0]["sticky"], true, "{snap}");
    let v0 = snapshot_version(&app).await;
    let key = app.ingest_key().await;

    // An exposure to a bandit must say which snapshot assigned it, and with which probability.
    for field in ["snapshot_version", "propensity"] {
        let mut bare = period("bt", v0, 0, 1, [1.0 / 3.0; 3])[0].clone();
        bare.as_object_mut().unwrap().remove(field);
        let (_, r) = app.ingest(&key, json!([bare])).await;
        assert_eq!(r["rejected"][0]["field"], field, "{r}");
    }

    // Burn-in: 40 units per arm are not enough.
    let (s, r) = app
        .ingest(&key, json!(period("bt", v0, 0, 120, [1.0 / 3.0; 3])))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (_, tick) = app.post("/api/v1/monitor/run", json!(null)).await;
    assert_eq!(tick["bandits"], json!([]), "{tick}");

    // 200 per arm: the weights move, toward c.
    app.ingest(&key, json!(period("bt", v0, 120, 600, [1.0 / 3.0; 3])))
        .await;
    let (s, tick) = app.post("/api/v1/monitor/run", json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{tick}");
    assert_eq!(tick["bandits"], json!(["bt"]), "{tick}");
    let expected = update(MetricType::Binomial, &[sums(0, 600)], 0.05).unwrap();
    let (s, bandit) = app.get("/api/v1/tests/bt/bandit").await;
    assert_eq!(s, StatusCode::OK, "{bandit}");
    let periods = bandit["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 2, "{bandit}");
    assert_eq!(weights(&periods[0]["weights"]), vec![1.0 / 3.0; 3]);
    assert_eq!(weights(&periods[1]["weights"]), expected.weights);
    assert!(expected.weights[2] > 0.8 && expected.weights.iter().all(|w| *w >= 0.05));
    let v1 = snapshot_version(&app).await;
    assert_eq!(periods[1]["snapshot_version"], v1, "{bandit}");
    let (_, snap) = app.get("/v1/snapshot").await;
    let served: Vec<f64> = snap["tests"][0]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["weight"].as_f64().unwrap())
        .collect();
    assert_eq!(served, expected.weights);
    let (_, log) = app.get("/api/v1/audit").await;
    let last = log["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["action"].as_str(), last["actor"].as_str()),
        (Some("test.bandit_update"), Some("monitor"))
    );

    // Its weights are the bandit's: an edit of them is refused, other edits are not.
    let mut edit = app.get("/api/v1/tests/bt").await.1;
    for f in ["status", "winner", "created_at", "updated_at", "started_at"] {
        edit.as_object_mut().unwrap().remove(f);
    }
    edit["description"] = json!("moves traffic to the best call to action");
    let (s, b) = app.put("/api/v1/tests/bt", edit.clone()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    edit["variants"][0]["weight"] = json!(0.5);
    let (s, b) = app.put("/api/v1/tests/bt", edit).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(b.to_string().contains("set by the bandit"), "{b}");

    // Nothing new: no new period.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, tick) = app.post("/api/v1/monitor/run", json!(null)).await;
    assert_eq!(tick["bandits"], json!([]), "{tick}");

    // A second period under the new weights, and a late exposure still assigned under v0.
    let w: [f64; 3] = expected.weights.clone().try_into().unwrap();
    for events in [
        period("bt", v1, 600, 900, w),
        period("bt", v0, 900, 903, [1.0 / 3.0; 3]),
    ] {
        let (s, r) = app.ingest(&key, json!(events)).await;
        assert_eq!((s, &r["rejected"]), (StatusCode::OK, &json!([])), "{r}");
    }
    let (_, bandit) = app.get("/api/v1/tests/bt/bandit").await;
    let data = [sums(0, 600), sums(600, 900)];
    let data = [
        data[0]
            .iter()
            .zip(sums(900, 903))
            .map(|(a, b)| ArmSums {
                units: a.units + b.units,
                sum: a.sum + b.sum,
                sum_sq: a.sum_sq + b.sum_sq,
            })
            .collect::<Vec<_>>(),
        data[1].clone(),
    ];
    check_arms(&bandit, &data);

    // Erasing a converted unit of period 1 takes it out of its stratum.
    let (s, b) = app
        .call(Method::DELETE, "/api/v1/units/u602", Some(&app.admin), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, bandit) = app.get("/api/v1/tests/bt/bandit").await;
    let mut after = data.clone();
    after[1][2].units -= 1;
    after[1][2].sum -= 1.0;
    after[1][2].sum_sq -= 1.0;
    check_arms(&bandit, &after);
    app.shutdown().await;
}

/// Each arm's units and period-weighted mean, by hand: Σ_p (N_p / N) · sum / units.
fn check_arms(bandit: &Value, periods: &[Vec<ArmSums>]) {
    let total: u64 = periods.iter().flatten().map(|a| a.units).sum();
    for (arm, a) in bandit["arms"].as_array().unwrap().iter().enumerate() {
        let units: u64 = periods.iter().map(|p| p[arm].units).sum();
        assert_eq!(a["units"].as_u64(), Some(units), "{bandit}");
        let mean: f64 = periods
            .iter()
            .map(|p| {
                let n: u64 = p.iter().map(|x| x.units).sum();
                n as f64 / total as f64 * p[arm].sum / p[arm].units as f64
            })
            .sum();
        let got = a["mean"].as_f64().unwrap();
        assert!(
            (got - mean).abs() < 1e-12,
            "arm {arm}: {got} vs {mean}: {bandit}"
        );
        let ci = weights(&a["ci"]);
        assert!(ci[0] < mean && mean < ci[1], "{a}");
    }
}

crate::both!(only_a_bandit_has_a_bandit_view, not_a_bandit);
async fn not_a_bandit(app: TestApp) {
    app.running_test("fixed").await;
    let (s, b) = app.get("/api/v1/tests/fixed/bandit").await;
    assert_eq!(s, StatusCode::CONFLICT, "a fixed test exists: {b}");
    let (s, _) = app.get("/api/v1/tests/nope/bandit").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.shutdown().await;
}
