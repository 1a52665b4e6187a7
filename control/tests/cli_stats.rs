//! `edgewise stats` and `edgewise power` as analysts run them: the built binary on the gbstats
//! golden inputs (output checked against gbstats to 1e-9, scaled as in shared's fixture test),
//! and on broken inputs (exit code 2, an error naming the field, no panic).

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn edgewise(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgewise"))
        .args(args)
        .output()
        .unwrap()
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tests/vectors/gbstats")
}

/// Writes `content` to a file in `dir` (removed with it) and returns its path.
fn temp_file(dir: &tempfile::TempDir, name: &str, content: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Every field of `expected` is in `actual`, numbers within 1e-9 · max(1, |expected|).
fn assert_matches(path: &str, expected: &Value, actual: &Value) {
    match (expected, actual) {
        (Value::Number(e), Value::Number(a)) => {
            let (e, a) = (e.as_f64().unwrap(), a.as_f64().unwrap());
            assert!(
                (a - e).abs() <= 1e-9 * e.abs().max(1.0),
                "{path}: {a} vs gbstats {e}"
            );
        }
        (Value::Object(e), Value::Object(a)) if e.contains_key("error") => {
            assert_eq!(a.get("error"), e.get("error"), "{path}");
        }
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a.get(k).unwrap_or_else(|| panic!("{path}.{k} missing"));
                assert_matches(&format!("{path}.{k}"), ev, av);
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            assert_eq!(e.len(), a.len(), "{path}");
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                assert_matches(&format!("{path}[{i}]"), ev, av);
            }
        }
        _ => assert_eq!(expected, actual, "{path}"),
    }
}

#[test]
fn stats_prints_gbstats_numbers_for_every_golden_input() {
    let mut checked = 0;
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if file.starts_with('_') {
            continue;
        }
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let input = temp_file(&dir, &file, &doc["input"].to_string());
        let out = edgewise(&["stats", "--input", input.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_matches(&file, &doc["expected"], &printed);
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} fixtures found");
}

#[test]
fn bad_stats_inputs_name_the_field_and_exit_2() {
    let cases = [
        (
            r#"{"metric_type": "binomial", "variants": [{"name": "a", "n": 10, "conversions": 11}, {"name": "b", "n": 10, "conversions": 1}]}"#,
            "variants[0].conversions",
        ),
        (
            r#"{"metric_type": "binomial", "variants": [{"name": "a", "n": 10}, {"name": "b", "n": 10, "conversions": 1}]}"#,
            "variants[0].conversions",
        ),
        (
            r#"{"metric_type": "mean", "variants": [{"name": "a", "n": 10, "sum": 1, "sum_squares": 1}, {"name": "b", "n": "ten", "sum": 1, "sum_squares": 1}]}"#,
            "variants[1].n",
        ),
        (
            r#"{"metric_type": "mean", "variants": [{"name": "a", "n": 10, "sum": 1, "sum_squares": 1, "covariate_sum": 3}, {"name": "b", "n": 10, "sum": 1, "sum_squares": 1}]}"#,
            "variants[0].covariate_sum",
        ),
        (
            r#"{"metric_type": "binomial", "alpha": 1.5, "variants": [{"name": "a", "n": 10, "conversions": 1}, {"name": "b", "n": 10, "conversions": 1}]}"#,
            "alpha",
        ),
        (
            r#"{"metric_type": "binomial", "expected_weights": [1], "variants": [{"name": "a", "n": 10, "conversions": 1}, {"name": "b", "n": 10, "conversions": 1}]}"#,
            "expected_weights",
        ),
        (
            r#"{"metric_type": "binomial", "control_index": 5, "variants": [{"name": "a", "n": 10, "conversions": 1}, {"name": "b", "n": 10, "conversions": 1}]}"#,
            "control_index",
        ),
        (
            r#"{"metric_type": "binomial", "variants": [{"name": "a", "n": 10, "conversions": 1, "convs": 2}, {"name": "b", "n": 10, "conversions": 1}]}"#,
            "convs",
        ),
        (
            r#"{"metric_type": "ratio", "variants": [{"name": "a", "n": 10, "numerator_sum": 1, "numerator_sum_squares": 1, "denominator_sum_squares": 1, "numerator_denominator_sum_product": 1}, {"name": "b", "n": 10, "numerator_sum": 1, "numerator_sum_squares": 1, "denominator_sum": 1, "denominator_sum_squares": 1, "numerator_denominator_sum_product": 1}]}"#,
            "variants[0].denominator_sum",
        ),
        (
            r#"{"metric_type": "quantile", "variants": [{"name": "a", "n": 500, "n_star": 500, "nu": 1.5, "quantile_hat": 3, "quantile_lower": 2, "quantile_upper": 4}, {"name": "b", "n": 500, "n_star": 500, "nu": 0.5, "quantile_hat": 3, "quantile_lower": 2, "quantile_upper": 4}]}"#,
            "variants[0].nu",
        ),
        (
            r#"{"metric_type": "quantile", "variants": [{"name": "a", "n": 500, "n_star": 500, "nu": 0.5, "quantile_hat": 3, "quantile_lower": 2, "quantile_upper": 4}, {"name": "b", "n": 500, "n_star": 500, "nu": 0.5, "quantile_hat": 3, "quantile_lower": 2, "quantile_upper": 4, "n_clusters": 100, "main_sum_squares": 1, "denominator_sum": 1, "denominator_sum_squares": 1, "main_denominator_sum_product": 1}]}"#,
            "variants[1].main_sum",
        ),
        (
            r#"{"metric_type": "quantile", "variants": [{"name": "a", "n": 500, "sum": 3, "sum_squares": 9}, {"name": "b", "n": 500, "n_star": 500, "nu": 0.5, "quantile_hat": 3, "quantile_lower": 2, "quantile_upper": 4}]}"#,
            "variants[0].quantile_hat",
        ),
        (r#"{"metric_type": "bogus", "variants": []}"#, "metric_type"),
        (
            r#"{"metric_type": "binomial", "variants": [{"name": "a", "n": 10, "conversions": 1}]}"#,
            "variants",
        ),
        (
            r#"{"metric_type": "binomial", "variants": [{"name": "a", "n": 10, "conversions": 1}"#,
            "line 1",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (json, field)) in cases.iter().enumerate() {
        let input = temp_file(&dir, &format!("bad{i}.json"), json);
        let out = edgewise(&["stats", "--input", input.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {stderr}");
        assert!(
            stderr.contains(field),
            "case {i}: `{field}` not in: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "case {i}: {stderr}");
        assert!(out.stdout.is_empty(), "case {i}");
    }
    let missing = edgewise(&["stats", "--input", "/nonexistent/edgewise.json"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn power_prints_the_sample_size_and_rejects_impossible_rates() {
    let out = edgewise(&[
        "power",
        "--baseline",
        "0.1",
        "--mde",
        "0.05",
        "--daily-traffic",
        "10000",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = v["n_per_arm"].as_f64().unwrap();
    assert_eq!(v["n_per_arm_ceil"].as_u64().unwrap(), n.ceil() as u64);
    // Two arms at 10,000 units a day.
    let days = v["days"].as_f64().unwrap();
    assert!((days - 2.0 * n.ceil() / 10_000.0).abs() < 1e-9);

    let refs: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("_reference.json")).unwrap())
            .unwrap();
    let first = &refs["power"][0];
    let out = edgewise(&[
        "power",
        "--baseline",
        &first["baseline"].to_string(),
        "--mde",
        &first["mde"].to_string(),
        "--alpha",
        &first["alpha"].to_string(),
        "--power",
        &first["power"].to_string(),
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected = first["n_per_arm"].as_f64().unwrap();
    assert!((v["n_per_arm"].as_f64().unwrap() / expected - 1.0).abs() < 1e-9);

    for args in [
        ["--baseline", "1.2", "--mde", "0.1"],
        ["--baseline", "0.1", "--mde", "0"],
        ["--baseline", "0.95", "--mde", "0.1"],
    ] {
        let out = edgewise(&[&["power"], &args[..]].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--"),
            "{args:?}"
        );
    }
}
