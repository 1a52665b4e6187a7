//! Routing, CORS, the snapshot cache, forwarding decisions, HTTP helpers, config.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::rc::Rc;

use serde_json::json;

use super::{body, cfg, example, get};
use crate::cache::{Cached, SnapshotCache};
use crate::cors::preflight;
use crate::forward::{classify, group_messages, retry_delay_s, Outcome};
use crate::http::{constant_time_eq, split_target, Reply, RequestHead};
use crate::router::{route, Route};
use edgewise_shared::visitor::query_pairs;

#[test]
fn routes() {
    assert_eq!(route("GET", "/v1/assign"), Route::Assign);
    assert_eq!(route("GET", "/v1/assign/"), Route::Assign);
    assert_eq!(route("HEAD", "/v1/health"), Route::Health);
    assert_eq!(route("POST", "/v1/events"), Route::Events);
    assert_eq!(route("PUT", "/v1/admin/snapshot"), Route::PutSnapshot);
    assert_eq!(route("GET", "/v1/admin/stats"), Route::Stats);
    assert_eq!(route("POST", "/v1/admin/stats"), Route::MethodNotAllowed);
    assert_eq!(route("OPTIONS", "/v1/events"), Route::Preflight);
    assert_eq!(route("OPTIONS", "/v1/assign"), Route::Preflight);
    assert_eq!(
        route("OPTIONS", "/v1/admin/snapshot"),
        Route::MethodNotAllowed
    );
    assert_eq!(route("POST", "/v1/assign"), Route::MethodNotAllowed);
    assert_eq!(route("GET", "/v1/events"), Route::MethodNotAllowed);
    assert_eq!(route("GET", "/"), Route::NotFound);
    assert_eq!(route("GET", "/v2/assign"), Route::NotFound);
    assert_eq!(route("GET", "/v1/sdk.js"), Route::Sdk);
    assert_eq!(route("POST", "/v1/sdk.js"), Route::MethodNotAllowed);
}

#[test]
fn the_sdk_is_small_javascript() {
    let r = crate::http::Reply::sdk();
    assert_eq!(r.status, 200);
    assert!(r
        .headers
        .iter()
        .any(|(k, v)| *k == "content-type" && v.starts_with("text/javascript")));
    assert!(r.body.contains("sendBeacon") && r.body.contains("/v1/assign"));
}

#[test]
fn preflight_only_for_allowed_origins() {
    let s = example();
    let allowed = RequestHead {
        origin: Some("http://localhost:8080"),
        ..get("/v1/events")
    };
    let r = preflight(Some(&s), &allowed);
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );
    assert!(r
        .header("access-control-allow-headers")
        .is_some_and(|h| h.contains("Content-Type")));
    let denied = RequestHead {
        origin: Some("https://evil.example"),
        ..get("/v1/events")
    };
    for r in [preflight(Some(&s), &denied), preflight(None, &allowed)] {
        assert_eq!(r.status, 204);
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(r.header("access-control-allow-methods"), None);
    }
}

#[test]
fn cache_ttl_and_versions() {
    let mut c = SnapshotCache::default();
    assert!(c.needs_check(0, 30_000));
    c.mark_checked(1_000, true);
    assert!(!c.needs_check(30_999, 30_000));
    assert!(c.needs_check(31_000, 30_000));
    assert!(
        c.needs_check(500, 30_000),
        "a clock going backwards re-checks"
    );
    let snap = Rc::new(example());
    assert!(c.offer(Cached {
        snapshot: Rc::clone(&snap),
        stored_at_ms: 0
    }));
    assert!(
        !c.offer(Cached {
            snapshot: snap,
            stored_at_ms: 5
        }),
        "same version again"
    );
    assert_eq!(c.version(), Some(7));
    c.mark_checked(2_000, false);
    c.start_check(2_500);
    assert!(!c.needs_check(2_600, 30_000));
    c.mark_checked(3_000, false);
    let h = body(&c.health(63_000));
    assert_eq!(h["status"], "ok");
    assert_eq!(h["snapshot_version"], 7);
    assert_eq!(h["snapshot_age_seconds"], 63);
    assert_eq!(h["snapshot_stored_at"], "1970-01-01T00:00:00Z");
    assert_eq!(h["refresh_failures"], 2);
    assert_eq!(h["tests"], 4);
    assert_eq!(
        body(&SnapshotCache::default().health(0))["status"],
        "no_snapshot"
    );
}

#[test]
fn forwarding_outcomes_and_delays() {
    assert_eq!(classify(200), Outcome::Ack);
    assert_eq!(classify(202), Outcome::Ack);
    for s in [401, 403, 408, 429, 500, 502, 503] {
        assert_eq!(classify(s), Outcome::Retry, "{s}");
    }
    for s in [400, 404, 413, 422] {
        assert_eq!(classify(s), Outcome::Drop, "{s}");
    }
    let cfg = cfg();
    assert_eq!(retry_delay_s(0, &cfg), 10);
    assert_eq!(retry_delay_s(45_000, &cfg), 45);
    assert_eq!(retry_delay_s(86_400_000, &cfg), 300);
    assert_eq!(retry_delay_s(-5, &cfg), 10);
}

#[test]
fn messages_are_packed_into_posts_of_at_most_1000_events() {
    let msg = |n: usize, tag: &str| {
        json!({"events": (0..n).map(|i| json!({"event_id": format!("{tag}-{i}")})).collect::<Vec<_>>()}).to_string()
    };
    let bodies = vec![
        msg(600, "a"),
        "garbage".into(),
        msg(300, "b"),
        msg(200, "c"),
        msg(5, "d"),
    ];
    let (groups, unreadable) = group_messages(&bodies);
    assert_eq!(unreadable, vec![1]);
    let shapes: Vec<(Vec<usize>, usize)> = groups
        .iter()
        .map(|g| {
            let v: serde_json::Value = serde_json::from_str(&g.body).unwrap_or_default();
            (
                g.messages.clone(),
                v["events"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    assert_eq!(shapes, vec![(vec![0, 2], 900), (vec![3, 4], 205)]);
}

#[test]
fn http_helpers() {
    assert_eq!(
        split_target("https://h/v1/assign?x=1#f"),
        ("/v1/assign", Some("x=1"))
    );
    assert_eq!(split_target("https://h"), ("/", None));
    let q = query_pairs("a=%C3%A9&b=1+2&c");
    assert_eq!(
        (q[0].1.as_ref(), q[1].1.as_ref(), q[2].1.as_ref()),
        ("é", "1 2", "")
    );
    assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
    let r = Reply::error(404, "not_found", "no");
    assert_eq!(r.body, r#"{"error":"not_found","message":"no"}"#);
    assert_eq!(r.header("cache-control"), Some("private, no-store"));
    assert_eq!(r.with_header("x-a", "1").header("X-A"), Some("1"));
}
