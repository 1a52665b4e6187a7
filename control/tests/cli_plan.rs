//! `edgewise plan`, as an experimenter runs it: every built-in template gives a draft whose
//! sample size and duration equal `edgewise power`'s for the same numbers, a trade-off table
//! that shortens as coverage grows, and a risk score whose factors add up to it; bad arguments
//! exit 2 naming the flag.

use std::process::{Command, Output};

use serde_json::Value;

fn edgewise(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgewise"))
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn plans_agree_with_the_power_analysis() {
    for template in [
        "headline",
        "call_to_action",
        "pricing_display",
        "hero_layout",
        "checkout_step",
    ] {
        for (variants, coverage) in [("2", "1"), ("3", "0.4")] {
            let p = json(&edgewise(&[
                "plan",
                "--template",
                template,
                "--baseline",
                "0.04",
                "--mde",
                "0.08",
                "--daily-units",
                "12000",
                "--variants",
                variants,
                "--coverage",
                coverage,
            ]));
            let power = json(&edgewise(&[
                "power",
                "--baseline",
                "0.04",
                "--mde",
                "0.08",
                "--daily-traffic",
                "12000",
                "--arms",
                variants,
                "--coverage",
                coverage,
            ]));
            assert_eq!(p["n_per_arm"], power["n_per_arm_ceil"], "{template}");
            assert_eq!(p["expected_days"], power["days_ceil"], "{template}");
            assert_eq!(p["template"], template);
            let arms = p["draft"]["variants"].as_array().unwrap();
            assert_eq!(arms.len().to_string(), variants);
            assert_eq!(
                p["draft"]["coverage"].as_f64().unwrap().to_string(),
                coverage
            );
            // Every arm has the template's content keys.
            let keys: Vec<&String> = arms[0]["content"].as_object().unwrap().keys().collect();
            for a in arms {
                assert_eq!(
                    a["content"].as_object().unwrap().keys().collect::<Vec<_>>(),
                    keys
                );
            }
            let days: Vec<u64> = p["tradeoffs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["expected_days"].as_u64().unwrap())
                .collect();
            assert!(days.windows(2).all(|w| w[0] >= w[1]), "{days:?}");
            let points: f64 = p["risk"]["factors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["points"].as_f64().unwrap())
                .sum();
            assert_eq!(p["risk"]["score"].as_f64().unwrap(), points.round());
        }
    }
}

#[test]
fn bad_arguments_name_the_flag() {
    for (flag, value, says) in [
        ("--template", "banner", "no template"),
        ("--baseline", "1.5", "--baseline"),
        ("--variants", "1", "--variants"),
        ("--daily-units", "0", "--daily-units"),
        ("--coverage", "0", "--coverage"),
    ] {
        let mut all = vec!["plan"];
        for (f, v) in [
            ("--template", "headline"),
            ("--baseline", "0.1"),
            ("--mde", "0.1"),
            ("--daily-units", "100"),
        ] {
            if f != flag {
                all.extend([f, v]);
            }
        }
        all.extend([flag, value]);
        let out = edgewise(&all);
        assert_eq!(out.status.code(), Some(2), "{all:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag) && err.contains(says), "{all:?}: {err}");
    }
}

#[test]
fn validate_reports_the_checks_of_a_test_file() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, v: serde_json::Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let clean = write(
        "clean.json",
        serde_json::json!({"key": "t", "template": "headline",
            "variants": [{"key": "a", "weight": 1, "content": {"headline": "A", "subheadline": "a"}},
                         {"key": "b", "weight": 1, "content": {"headline": "B", "subheadline": "b"}}],
            "metrics": [{"key": "buy", "kind": "binomial", "role": "primary"}]}),
    );
    let v = json(&edgewise(&["validate", "--test", &clean]));
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["errors"], serde_json::json!([]));
    // At 100 units a day and a 10% baseline, a 5% effect takes years.
    let out = edgewise(&[
        "validate",
        "--test",
        &clean,
        "--daily-units",
        "100",
        "--baseline",
        "0.1",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["warnings"][0]["rule"], "underpowered", "{v}");
    assert!(out.status.success());
    let strict = edgewise(&[
        "validate",
        "--test",
        &clean,
        "--daily-units",
        "100",
        "--baseline",
        "0.1",
        "--deny-warnings",
    ]);
    assert_eq!(strict.status.code(), Some(1));
    let missing = write(
        "missing.json",
        serde_json::json!({"key": "t", "template": "headline",
            "variants": [{"key": "a", "weight": 1, "content": {"headline": "A"}},
                         {"key": "b", "weight": 1, "content": {"headline": "B", "subheadline": "b"}}]}),
    );
    let out = edgewise(&["validate", "--test", &missing]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["errors"][0]["field"], "variants[0].content.subheadline",
        "{v}"
    );
    assert_eq!(v["errors"][0]["rule"], "missing_content_key");
}
