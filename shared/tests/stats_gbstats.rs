//! Golden cases: `analyze` against gbstats 0.8.0 on every fixture `scripts/gbstats_fixtures.py`
//! wrote, field by field; and the distribution functions against 50-digit mpmath and scipy.
//!
//! Tolerance for gbstats fields: |ours − gbstats| ≤ 1e-9 · max(1, |gbstats|), i.e. absolute for
//! quantities below 1 (lifts, p-values, risks: gbstats' own p-values are 1 − cdf, accurate only
//! in absolute terms) and relative above 1 (absolute differences and CIs of large means).
#![cfg(feature = "stats")]

use std::path::PathBuf;

use edgewise_shared::stats::{analyze, special, AnalysisInput};
use serde_json::Value;

const TOL: f64 = 1e-9;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/gbstats")
}

fn read(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Walks the expected JSON; every field there must be in ours, numbers within tolerance.
/// Returns the largest scaled error seen.
fn compare(path: &str, expected: &Value, actual: &Value) -> f64 {
    match (expected, actual) {
        (Value::Number(e), Value::Number(a)) => {
            let (e, a) = (e.as_f64().unwrap(), a.as_f64().unwrap());
            let err = (a - e).abs() / e.abs().max(1.0);
            assert!(
                err <= TOL,
                "{path}: ours {a:e}, gbstats {e:e} (scaled error {err:e})"
            );
            err
        }
        (Value::Object(e), Value::Object(a)) => {
            if e.contains_key("error") {
                // A refusal must be the same refusal and nothing else.
                assert_eq!(a.get("error"), e.get("error"), "{path}: ours {actual}");
                assert_eq!(a.len(), 1, "{path}: a refusal carries no numbers: {actual}");
                return 0.0;
            }
            e.iter()
                .map(|(k, ev)| {
                    let av = a
                        .get(k)
                        .unwrap_or_else(|| panic!("{path}.{k} missing: {actual}"));
                    compare(&format!("{path}.{k}"), ev, av)
                })
                .fold(0.0, f64::max)
        }
        (Value::Array(e), Value::Array(a)) => {
            assert_eq!(e.len(), a.len(), "{path}: length");
            e.iter()
                .zip(a)
                .enumerate()
                .map(|(i, (ev, av))| compare(&format!("{path}[{i}]"), ev, av))
                .fold(0.0, f64::max)
        }
        _ => {
            assert_eq!(expected, actual, "{path}");
            0.0
        }
    }
}

#[test]
fn every_gbstats_case_matches_every_field() {
    let mut files: Vec<_> = std::fs::read_dir(vectors())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('_'))
        .collect();
    files.sort();
    assert!(
        files.len() >= 40,
        "fixtures missing: run scripts/gbstats_fixtures.py"
    );
    let mut worst = 0.0_f64;
    for file in &files {
        let doc = read(file);
        let name = doc["name"].as_str().unwrap();
        let input: AnalysisInput = serde_json::from_value(doc["input"].clone()).unwrap();
        let output = analyze(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        let actual = serde_json::to_value(&output).unwrap();
        worst = worst.max(compare(name, &doc["expected"], &actual));
    }
    println!("{} gbstats cases, max scaled error {worst:e}", files.len());
}

#[test]
fn distribution_functions_match_mpmath_and_scipy() {
    let refs = read(&vectors().join("_reference.json"));
    let mut worst_mp = 0.0_f64;
    for row in refs["distributions"].as_array().unwrap() {
        let x = row["x"].as_f64().unwrap();
        let df = row["df"].as_f64();
        let ours = match row["fn"].as_str().unwrap() {
            "t_sf" => special::t_sf(x, df.unwrap()),
            "t_isf" => special::t_isf(x, df.unwrap()),
            "norm_sf" => special::norm_sf(x),
            "norm_isf" => special::norm_isf(x),
            "chi2_sf" => special::chi2_sf(x, df.unwrap() as u32),
            other => panic!("unknown function {other}"),
        };
        // mpmath is the truth: relative 1e-12 except far tails below 1e-300.
        if let Some(m) = row["mpmath"].as_f64() {
            let err = if m.abs() > 1e-300 {
                (ours / m - 1.0).abs()
            } else {
                ours.abs()
            };
            let err = if m == 0.0 { ours.abs() } else { err };
            assert!(err < 1e-12, "{row}: ours {ours:e} (relative error {err:e})");
            worst_mp = worst_mp.max(err);
        }
        // scipy agrees to 1e-9 relative wherever it is itself accurate.
        let s = row["scipy"].as_f64().unwrap();
        let err = (ours - s).abs() / s.abs().max(1e-300);
        assert!(
            err < 1e-9 || (ours - s).abs() < 1e-300,
            "{row}: ours {ours:e}, scipy {s:e}"
        );
    }
    println!("distributions: max relative error vs mpmath {worst_mp:e}");
}

#[test]
fn power_matches_the_scipy_formula() {
    use edgewise_shared::stats::power::{sample_size, PowerInput};
    let refs = read(&vectors().join("_reference.json"));
    for row in refs["power"].as_array().unwrap() {
        let out = sample_size(&PowerInput {
            baseline: row["baseline"].as_f64().unwrap(),
            mde: row["mde"].as_f64().unwrap(),
            alpha: row["alpha"].as_f64().unwrap(),
            power: row["power"].as_f64().unwrap(),
            stddev: row["stddev"].as_f64(),
            daily_traffic: None,
            coverage: 1.0,
            arms: 2,
        })
        .unwrap();
        let expected = row["n_per_arm"].as_f64().unwrap();
        assert!(
            (out.n_per_arm / expected - 1.0).abs() < 1e-9,
            "{row}: ours {}",
            out.n_per_arm
        );
        assert_eq!(out.n_per_arm_ceil, expected.ceil() as u64);
    }
}
