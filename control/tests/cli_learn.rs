//! `edgewise learn` and `edgewise predict` as analysts run them: the built binary on a
//! generated history (a tag that works better, a device class that responds differently),
//! bad histories and drafts refused by field or answered with the documented flat-prior
//! fallback, never a panic or a NaN.

use std::process::{Command, Output};

use serde_json::{json, Value};

fn edgewise(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgewise"))
        .args(args)
        .output()
        .unwrap()
}

fn write(dir: &tempfile::TempDir, name: &str, v: &Value) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, v.to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

/// 24 tests: lifts around 2%, `headline` tests around 6%; on mobile every test's lift is
/// 5 points higher than overall, on desktop the same as overall.
fn history() -> Value {
    let tests: Vec<Value> = (0..24)
        .map(|i| {
            let headline = i % 3 == 0;
            // A fixed, varied pattern of errors around the true lifts.
            let noise = [0.004, -0.006, 0.002, -0.001, 0.007, -0.003][i % 6];
            let lift = if headline { 0.06 } else { 0.02 } + noise;
            let se = 0.005 + 0.001 * (i % 5) as f64;
            json!({
                "key": format!("t{i}"),
                "tags": if headline { json!(["headline"]) } else { json!(["cta"]) },
                "metric": "signup",
                "lift": lift,
                "se": se,
                "segments": {
                    "device:mobile": {"lift": lift + 0.05 + noise, "se": se * 1.5},
                    "device:desktop": {"lift": lift - noise, "se": se * 1.5}
                }
            })
        })
        .collect();
    json!({ "tests": tests })
}

#[test]
fn learn_prints_priors_shrunken_estimates_and_where_lifts_differ() {
    let dir = tempfile::tempdir().unwrap();
    let h = write(&dir, "history.json", &history());
    let out = edgewise(&["learn", "--input", &h]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("NaN"));
    let v: Value = serde_json::from_str(&text).unwrap();
    let prior = &v["priors"]["signup"];
    assert_eq!(prior["n_tests"], 24);
    assert_eq!(prior["estimator"], "dl");
    assert!(prior["tau2"].as_f64().unwrap() > 0.0, "{prior}");
    let headline = &v["by_tag"]["headline"]["signup"];
    assert_eq!(
        (headline["n_tests"].as_u64(), headline["estimator"].as_str()),
        (Some(8), Some("pm"))
    );
    assert!(
        (headline["mu"].as_f64().unwrap() - 0.06).abs() < 0.01,
        "{headline}"
    );
    assert_eq!(v["shrunken"].as_array().unwrap().len(), 24);
    let h = &v["heterogeneity"]["signup"];
    assert!(h["overall"]["i2"].as_f64().unwrap() > 0.5, "{h}");
    let mobile = &h["segments"]["device:mobile"];
    let ci = mobile["difference_ci"].as_array().unwrap();
    assert!(
        ci[0].as_f64().unwrap() > 0.0,
        "mobile responds differently: {mobile}"
    );
    let desktop = &h["segments"]["device:desktop"];
    let ci = desktop["difference_ci"].as_array().unwrap();
    assert!(
        ci[0].as_f64().unwrap() < 0.0 && ci[1].as_f64().unwrap() > 0.0,
        "{desktop}"
    );
}

#[test]
fn predict_uses_the_tag_prior_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let h = write(&dir, "history.json", &history());
    let draft = json!({"metric": "signup", "tags": ["headline"], "baseline": 0.1,
                       "daily_units": 4000, "variants": 2, "alpha": 0.05, "days": 14});
    let d = write(&dir, "draft.json", &draft);
    let out = edgewise(&["predict", "--history", &h, "--draft", &d]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["prior"]["source"], "tag:headline", "{v}");
    let mean = v["lift"]["mean"].as_f64().unwrap();
    assert!((mean - 0.06).abs() < 0.01, "{v}");
    let i80 = v["lift"]["interval_80"].as_array().unwrap();
    assert!(i80[0].as_f64().unwrap() < mean && mean < i80[1].as_f64().unwrap());
    assert!(v["p_positive"].as_f64().unwrap() > 0.95, "{v}");
    let p = v["p_significant_by_day_N"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p), "{v}");
    assert!(
        v["expected_days_to_significance"].as_f64().unwrap() > 0.0,
        "{v}"
    );
}

#[test]
fn bad_histories_and_drafts_exit_2_naming_the_field_or_fall_back() {
    let dir = tempfile::tempdir().unwrap();
    let one = |lift: Value, se: Value| json!({"tests": [{"key": "a", "metric": "m", "lift": lift, "se": se}]});
    for (history, field) in [
        (one(json!(0.1), json!(0)), "tests[0].se"),
        (one(json!(0.1), json!(-0.01)), "tests[0].se"),
        (
            json!({"tests": [{"key": "a", "metric": "m", "lift": 0.1}]}),
            "se",
        ),
        (
            json!({"tests": [{"key": "a", "metric": "m", "lift": 0.1, "se": 0.1, "segments": {"device:mobile": {"lift": 0.1, "se": 0}}}]}),
            "segments.device:mobile",
        ),
        (json!({"tests": [], "extra": 1}), "extra"),
    ] {
        let h = write(&dir, "bad.json", &history);
        let out = edgewise(&["learn", "--input", &h]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{history}: {err}");
        assert!(err.contains(field), "{history}: `{field}` not in {err}");
    }
    // NaN is not JSON: a clear parse error.
    let path = dir.path().join("nan.json");
    std::fs::write(
        &path,
        r#"{"tests": [{"key": "a", "metric": "m", "lift": NaN, "se": 0.1}]}"#,
    )
    .unwrap();
    let out = edgewise(&["learn", "--input", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));

    // One test: no prior (the flat prior), the test unshrunk; a prediction says so.
    let h = write(&dir, "one.json", &one(json!(0.1), json!(0.02)));
    let out = edgewise(&["learn", "--input", &h]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["priors"], json!({}));
    assert_eq!(v["shrunken"][0]["lift"], 0.1);
    let draft = json!({"metric": "m", "baseline": 0.1, "daily_units": 100, "days": 7});
    let d = write(&dir, "draft.json", &draft);
    let out = edgewise(&["predict", "--history", &h, "--draft", &d]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["prior"]["source"].as_str(), v["lift"]["mean"].is_null()),
        (Some("flat"), true)
    );

    for (draft, field) in [
        (
            json!({"metric": "m", "baseline": 1.5, "daily_units": 100, "days": 7}),
            "baseline",
        ),
        (
            json!({"metric": "m", "baseline": 0.1, "daily_units": 0, "days": 7}),
            "daily_units",
        ),
        (
            json!({"metric": "m", "baseline": 0.1, "daily_units": 10, "days": 7, "variants": 1}),
            "variants",
        ),
        (
            json!({"metric": "m", "baseline": 0.1, "daily_units": 10}),
            "days",
        ),
    ] {
        let d = write(&dir, "draft.json", &draft);
        let out = edgewise(&["predict", "--history", &h, "--draft", &d]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{draft}: {err}");
        assert!(err.contains(field), "{draft}: `{field}` not in {err}");
    }
}
