//! `edgewise assign` and `edgewise validate` run as a user runs them: the real binary on files.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{json, Value};

fn edgewise(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgewise"))
        .args(args)
        .output()
        .expect("run edgewise")
}

fn example() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/example-snapshot.json")
        .display()
        .to_string()
}

/// Writes `body` to a file in `dir` (removed with it) and returns its path.
fn temp_file(dir: &tempfile::TempDir, name: &str, body: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

#[test]
fn assign_prints_every_decision_as_json() {
    let out = edgewise(&[
        "assign", "--snapshot", &example(), "--unit", "u-123",
        "--user-agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "--url", "https://shop.example/checkout?promo=student", "--country", "US",
        "--now", "2026-11-27T10:00:00Z",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["unit_id"], "u-123");
    assert_eq!(v["device"], "mobile");
    assert_eq!(v["persona"], "StudentHustler");
    assert_eq!(v["snapshot_version"], 7);
    let decisions = v["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 4);
    let paused = decisions
        .iter()
        .find(|d| d["test"] == "checkout-copy")
        .unwrap();
    assert_eq!(paused["reason"], "paused");
    assert_eq!(paused["variant"], Value::Null);
    assert_eq!(paused["content"], json!({"note": "Secure checkout"}));
    let students = decisions
        .iter()
        .find(|d| d["test"] == "pricing-students")
        .unwrap();
    assert_ne!(
        students["reason"], "not_targeted",
        "the persona rule matched ?promo=student"
    );
}

#[test]
fn assign_forces_a_variant_for_qa() {
    let out = edgewise(&[
        "assign",
        "--snapshot",
        &example(),
        "--unit",
        "qa",
        "--device",
        "desktop",
        "--force",
        "checkout-copy=urgency",
        "--now",
        "2026-11-27T10:00:00Z",
    ]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = v["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["test"] == "checkout-copy")
        .unwrap();
    assert_eq!(
        (
            d["variant"].as_str(),
            d["reason"].as_str(),
            d["counted"].as_bool()
        ),
        (Some("urgency"), Some("forced"), Some(false))
    );
}

#[test]
fn bad_arguments_and_files_fail_with_a_message_not_a_panic() {
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "assign".into(),
                "--snapshot".into(),
                "/nonexistent.json".into(),
                "--unit".into(),
                "u".into(),
            ],
            "cannot read snapshot",
        ),
        (
            vec![
                "assign".into(),
                "--snapshot".into(),
                example(),
                "--unit".into(),
                "u".into(),
                "--attr".into(),
                "novalue".into(),
            ],
            "KEY=VALUE",
        ),
        (
            vec![
                "assign".into(),
                "--snapshot".into(),
                example(),
                "--unit".into(),
                "u".into(),
                "--now".into(),
                "yesterday".into(),
            ],
            "RFC 3339",
        ),
        (
            vec![
                "assign".into(),
                "--snapshot".into(),
                example(),
                "--unit".into(),
                "u".into(),
                "--device".into(),
                "phone".into(),
            ],
            "mobile, tablet, desktop or bot",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = edgewise(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn validate_names_the_field_and_line_of_a_type_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = temp_file(
        &dir,
        "type-error.json",
        "{\n  \"schema_version\": 1,\n  \"snapshot_version\": 2,\n  \"hash_version\": 1,\n  \"tests\": [\n    {\"key\": \"t\", \"status\": \"running\", \"variants\": [{\"key\": \"a\", \"weight\": \"heavy\"}]}\n  ]\n}\n",
    );
    let out = edgewise(&["validate", "--snapshot", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = v["errors"][0].as_str().unwrap();
    assert!(error.contains("tests[0].variants[0].weight"), "{error}");
    assert!(error.contains("line 6"), "{error}");
    assert_eq!(v["valid"], false);
}

#[test]
fn validate_reports_skipped_tests_as_warnings() {
    let snapshot = json!({
        "schema_version": 1, "snapshot_version": 2, "hash_version": 1,
        "tests": [
            {"key": "ok", "status": "running", "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}]},
            {"key": "bad", "status": "running", "coverage": 3, "variants": [{"key": "a", "weight": 1}, {"key": "b", "weight": 1}]}
        ]
    });
    let dir = tempfile::tempdir().unwrap();
    let file = temp_file(&dir, "warning.json", &snapshot.to_string());
    let out = edgewise(&["validate", "--snapshot", &file]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tests"], 1);
    assert_eq!(v["warnings"][0]["detail"]["path"], "tests[1].coverage");
    let strict = edgewise(&["validate", "--snapshot", &file, "--deny-warnings"]);
    assert_eq!(strict.status.code(), Some(1));
    let ok = edgewise(&["validate", "--snapshot", &example()]);
    assert!(ok.status.success());
}

#[test]
fn validate_refuses_an_unknown_hash_version() {
    let dir = tempfile::tempdir().unwrap();
    let file = temp_file(
        &dir,
        "hash.json",
        r#"{"schema_version": 1, "snapshot_version": 1, "hash_version": 2}"#,
    );
    let out = edgewise(&["validate", "--snapshot", &file]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("hash_version 2"));
}
