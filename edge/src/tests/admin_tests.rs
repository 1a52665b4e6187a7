//! `/v1/admin/snapshot`: the secret and the version rule.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::{body, EXAMPLE};
use crate::admin::{authorized, check_snapshot, stored, unauthorized, MAX_SNAPSHOT_BYTES};

#[test]
fn bearer_secret() {
    assert!(authorized(Some("Bearer s3cret"), Some("s3cret")));
    assert!(authorized(Some("  bearer s3cret "), Some("s3cret")));
    for (header, secret) in [
        (Some("Bearer s3cre"), Some("s3cret")),
        (Some("Bearer s3cretX"), Some("s3cret")),
        (Some("s3cret"), Some("s3cret")),
        (Some("Basic s3cret"), Some("s3cret")),
        (None, Some("s3cret")),
        (Some("Bearer "), Some("")),
        (Some("Bearer x"), None),
    ] {
        assert!(!authorized(header, secret), "{header:?} {secret:?}");
    }
    assert_eq!(unauthorized().status, 401);
}

#[test]
fn versions_must_increase() {
    assert!(check_snapshot(EXAMPLE, None).is_ok());
    assert!(check_snapshot(EXAMPLE, Some(6)).is_ok());
    for current in [7, 8] {
        let r = check_snapshot(EXAMPLE, Some(current))
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(r.status, 409);
        assert_eq!(body(&r)["error"], "stale_snapshot");
    }
}

#[test]
fn invalid_snapshots_are_400_with_the_reason() {
    let bad_schema = EXAMPLE.replacen("\"schema_version\": 1", "\"schema_version\": 3", 1);
    for (json, needle) in [
        ("nope", "invalid snapshot JSON"),
        (bad_schema.as_str(), "schema_version 3"),
    ] {
        let r = check_snapshot(json, None)
            .err()
            .unwrap_or_else(|| panic!("accepted {json}"));
        assert_eq!(r.status, 400);
        let b = body(&r);
        assert_eq!(b["error"], "invalid_snapshot");
        assert!(
            b["message"].as_str().is_some_and(|m| m.contains(needle)),
            "{b}"
        );
    }
    let huge = " ".repeat(MAX_SNAPSHOT_BYTES + 1);
    assert_eq!(
        check_snapshot(&huge, None)
            .err()
            .map(|r| body(&r)["error"].clone()),
        Some("snapshot_too_large".into())
    );
}

#[test]
fn stored_reply_names_version_and_warnings() {
    let with_bad_origin = EXAMPLE.replacen("\"https://shop.example\"", "\"shop.example\"", 1);
    let (s, warnings) =
        check_snapshot(&with_bad_origin, None).unwrap_or_else(|r| panic!("{}", r.body));
    let r = stored(s.version(), &warnings);
    assert_eq!(r.status, 200);
    let b = body(&r);
    assert_eq!(b["snapshot_version"], 7);
    assert_eq!(b["warnings"].as_array().map(Vec::len), Some(1));
    assert_eq!(b["warning_details"][0]["kind"], "invalid_origin");
}
