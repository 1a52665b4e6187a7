//! `edgewise recommend` as analysts run it: the built binary on the documented input format
//! (docs/monitor.md), each recommendation reached, and broken inputs refused with the field
//! named (exit code 2).

use std::process::Command;

use serde_json::{json, Value};

/// Runs `edgewise recommend` on `input`; the exit code and what it printed.
fn recommend(input: &Value) -> (i32, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.json");
    std::fs::write(&path, input.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgewise"))
        .args(["recommend", "--input"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn input(days: f64, control: (u64, u64), variant: (u64, u64)) -> Value {
    json!({
        "metric_type": "binomial",
        "variants": [
            {"name": "control", "n": control.0, "conversions": control.1},
            {"name": "b", "n": variant.0, "conversions": variant.1}
        ],
        "days_running": days,
        "daily_units": 10_000,
        "decision": {"min_runtime_days": 7, "min_units_per_arm": 1000, "mde": 0.05, "alpha": 0.05, "power": 0.8},
        "guardrails": []
    })
}

#[test]
fn each_recommendation_with_its_reasons() {
    // A clear winner, before and after the minimum runtime.
    let (code, out, err) = recommend(&input(3.0, (30_000, 3_000), (30_000, 3_600)));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out["recommendation"], "keep_running", "{out}");
    assert_eq!(out["variant"], Value::Null);
    assert!(
        (3.9..=4.1).contains(&out["days_remaining"].as_f64().unwrap()),
        "{out}"
    );
    let (_, out, _) = recommend(&input(8.0, (30_000, 3_000), (30_000, 3_600)));
    assert_eq!(
        (out["recommendation"].as_str(), out["variant"].as_str()),
        (Some("ship"), Some("b")),
        "{out}"
    );
    assert_eq!(out["days_remaining"], Value::Null);
    assert!(out["reasons"].as_array().unwrap().len() >= 2);
    assert_eq!(out["arms"][0]["significant"], true);

    // Neutral with ample traffic: no winner.
    let (_, out, _) = recommend(&input(10.0, (200_000, 20_000), (200_000, 20_050)));
    assert_eq!(out["recommendation"], "stop_no_winner", "{out}");
    assert_eq!(out["arms"][0]["futile"], true);

    // A guardrail that regressed.
    let mut i = input(2.0, (30_000, 3_000), (30_000, 3_050));
    i["guardrails"] = json!([{
        "key": "revenue", "metric_type": "mean", "max_regression": 0.01,
        "variants": [
            {"name": "control", "n": 30_000, "sum": 300_000.0, "sum_squares": 6_000_000.0},
            {"name": "b", "n": 30_000, "sum": 270_000.0, "sum_squares": 5_400_000.0}
        ]
    }]);
    let (_, out, _) = recommend(&i);
    assert_eq!(
        (out["recommendation"].as_str(), out["variant"].as_str()),
        (Some("stop_guardrail"), Some("b")),
        "{out}"
    );
    assert_eq!(out["guardrails"][0]["regressed"], true);
}

#[test]
fn broken_inputs_name_the_field() {
    let mut i = input(1.0, (10, 1), (10, 1));
    i["decision"]["alpha"] = json!(0.9);
    let (code, _, err) = recommend(&i);
    assert_eq!(code, 2);
    assert!(err.contains("decision.alpha"), "{err}");
    let mut i = input(1.0, (10, 1), (10, 1));
    i.as_object_mut().unwrap().remove("days_running");
    let (code, _, err) = recommend(&i);
    assert_eq!(code, 2);
    assert!(err.contains("days_running"), "{err}");
    let mut i = input(1.0, (10, 1), (10, 1));
    i["guardrails"] =
        json!([{"key": "r", "metric_type": "mean", "variants": [{"name": "c", "n": -1}]}]);
    let (code, _, err) = recommend(&i);
    assert_eq!(code, 2);
    assert!(err.contains("guardrails[0].variants[0].n"), "{err}");
    let mut i = input(1.0, (10, 1), (10, 1));
    i["variants"][1]["conversions"] = json!(11);
    let (code, _, err) = recommend(&i);
    assert_eq!(code, 2);
    assert!(err.contains("variants[1].conversions"), "{err}");
}
