//! Proxy mode in a real browser: headless Chromium opens a page through the worker on workerd,
//! which fetched it from a real origin and rewrote the tested element at the edge. A
//! MutationObserver installed before parsing (`tests/browser/proxy.mjs`) must see the variant's
//! text as the element is parsed and no change of it afterwards (no flicker); the worker logs
//! the view's exposure and the inlined snippet does not, so exactly one exposure arrives at
//! the control plane stand-in, flagged `logged_by: edge`. The same harness on a page whose own
//! script changes the element after parsing (what a client-side tool does) must see that
//! change, or it could not fail.

use std::process::Command;
use std::time::{Duration, Instant};

use edgewise_tests::origin::{Origin, Page};
use edgewise_tests::receiver::Receiver;
use edgewise_tests::tools;
use edgewise_tests::worker::{Worker, INGEST_KEY};
use serde_json::{json, Value};

const PAGE: &str = "<!doctype html>\n<html><head><title>Flicker</title></head><body>\
<h1 id=\"hero\" data-ew=\"hero\">Control headline</h1><p id=\"after\">text</p></body></html>\n";

/// The origin's own script changes the headline once parsed, as a client-side tool would.
const CLIENT_SIDE: &str = "<!doctype html>\n<html><head><title>Client</title></head><body>\
<h1 id=\"hero\">Control headline</h1><p id=\"after\">text</p>\
<script>document.getElementById('hero').textContent = 'Changed in the browser';</script>\
</body></html>\n";

/// The browser's view of `url`; a failed run's message carries the worker's log (where a page
/// that never finished loading says why).
fn browse(url: &str, worker: &Worker) -> Value {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: `apt-get install chromium` (scripts/test does it)"
    );
    let out = Command::new("node")
        .arg(tools::root().join("tests/browser/proxy.mjs"))
        .args([url, "#hero"])
        .env("CHROMIUM", &chromium)
        .current_dir(tools::root())
        .output()
        .expect("node tests/browser/proxy.mjs");
    assert!(
        out.status.success(),
        "the browser run failed:\n{}\n{}\nthe worker's log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        worker.log_text()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_variant_is_in_the_delivered_page_and_never_flickers() {
    let mut pages = std::collections::HashMap::new();
    pages.insert("/p/flicker".to_owned(), Page::html(PAGE));
    pages.insert("/p/client".to_owned(), Page::html(CLIENT_SIDE));
    let origin = Origin::start(pages);
    let receiver = Receiver::start(INGEST_KEY);
    let worker = Worker::start(&[
        ("PROXY_ORIGIN", origin.base.as_str()),
        ("CONTROL_URL", receiver.url().as_str()),
    ]);
    let snapshot = json!({
        "schema_version": 1, "snapshot_version": 1, "hash_version": 1,
        "tests": [{"key": "hero", "status": "running",
            "variants": [{"key": "control", "weight": 0},
                {"key": "b", "weight": 1, "content": {"dom": [
                    {"ew": "hero", "action": "set_text", "value": "Variant B headline"}]}}]}]
    });
    let r = worker.push_snapshot(&snapshot.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["warnings"], json!([]), "{}", r.body);

    let seen = browse(&worker.url("/p/flicker"), &worker);
    let delivered = seen["delivered"].as_str().unwrap();
    assert!(
        delivered.contains(">Variant B headline</h1>") && !delivered.contains("Control headline"),
        "{delivered}"
    );
    assert_eq!(seen["at_parse"], "Variant B headline", "{seen}");
    assert_eq!(seen["final"], "Variant B headline", "{seen}");
    assert_eq!(seen["changed_after_parse"], 0, "{seen}");
    assert_eq!(
        seen["exposure_beacons"], 0,
        "the snippet logged the exposure too: {seen}"
    );

    // The worker's exposure for this view, and only it, reaches the control plane.
    let exposures = || {
        receiver.with(|r| {
            r.events
                .iter()
                .filter(|e| e["type"] == "exposure" && e["test"] == "hero")
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while exposures().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let got = exposures();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["variant"], "b", "{got:?}");
    // Flagged as the edge's, so the control plane counts it apart from the browser's.
    assert_eq!(got[0]["logged_by"], "edge", "{got:?}");

    // The harness sees a change made in the browser after parsing.
    let client = browse(&worker.url("/p/client"), &worker);
    assert_eq!(client["at_parse"], "Control headline", "{client}");
    assert_eq!(client["final"], "Changed in the browser", "{client}");
    assert!(
        client["changed_after_parse"].as_u64().unwrap() >= 1,
        "{client}"
    );
}
