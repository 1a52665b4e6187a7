//! Proxy mode's fallback when the runtime cannot read a page, on plain workerd (under
//! `wrangler dev` Miniflare's own entry worker stalls on such pages before ours sees them): a
//! page whose `charset` the rewriter does not know, or one that is not ASCII-compatible
//! (UTF-16), is served exactly as the origin sent it, with no assignment injected, where a
//! UTF-8 page beside it is rewritten; and no exposure is logged for them.

use std::collections::HashMap;
use std::time::Duration;

use edgewise_tests::control::ControlPlane;
use edgewise_tests::origin::{fetch, Origin, Page};
use edgewise_tests::worker::Worker;
use serde_json::json;

const DESKTOP: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36";
const PAGE: &str =
    "<html><head><title>t</title></head><body><h1 data-ew=\"hero\">Origin</h1></body></html>";

#[test]
fn a_page_the_rewriter_cannot_read_is_served_unmodified() {
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(PAGE.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let pages = HashMap::from([
        (
            "/plain".to_owned(),
            Page::new("text/html; charset=utf-8", PAGE),
        ),
        (
            "/unknown".to_owned(),
            Page::new("text/html; charset=x-edgewise-unknown", PAGE),
        ),
        (
            "/utf16".to_owned(),
            Page::new("text/html; charset=utf-16", utf16.clone()),
        ),
    ]);
    let origin = Origin::start(pages);
    let worker = Worker::start_workerd(&[
        ("PROXY_ORIGIN", origin.base.as_str()),
        ("PROXY_EXPOSURE", "worker"),
    ]);
    let snapshot = json!({
        "schema_version": 1, "snapshot_version": 1, "hash_version": 1,
        "tests": [{"key": "hero", "status": "running",
            "variants": [{"key": "a", "weight": 0}, {"key": "b", "weight": 1, "content": {
                "dom": [{"ew": "hero", "action": "set_text", "value": "Rewritten"}]}}]}]
    });
    let pushed = worker.push_snapshot(&snapshot.to_string());
    assert_eq!(pushed.status, 200, "{}", pushed.body);
    let ua = [("user-agent", DESKTOP)];

    // The rewriter works here: a UTF-8 page is rewritten and carries the assignments.
    let r = fetch(&worker.url("/plain"), &ua);
    let text = r.text();
    assert_eq!(r.status, 200, "{text}");
    assert!(text.contains(">Rewritten</h1>"), "{text}");
    assert!(text.contains("\"hero\""), "no assignments injected: {text}");
    // Its exposure is queued after the answer; this workerd has no queue, so each attempt shows
    // as a logged failure: that is how exposures are counted here.
    let attempts = || worker.log_text().matches("queueing exposures").count();
    let seen = ControlPlane::wait_until(Duration::from_secs(5), || attempts() == 1);
    assert!(
        seen.is_some(),
        "the rewritten page's exposure was not queued"
    );

    for (path, body, content_type) in [
        (
            "/unknown",
            PAGE.as_bytes(),
            "text/html; charset=x-edgewise-unknown",
        ),
        ("/utf16", &utf16[..], "text/html; charset=utf-16"),
    ] {
        let r = fetch(&worker.url(path), &ua);
        assert_eq!(
            (r.status, r.header("content-type")),
            (200, Some(content_type)),
            "{path}: {}\n{}",
            String::from_utf8_lossy(&r.body),
            worker.log_text()
        );
        assert_eq!(
            r.body,
            body,
            "{path} was not served as the origin sent it:\n{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // The visitor saw no variant there: no exposure (a second after the last answer).
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(attempts(), 1, "an unmodified page's exposure was queued");
    let log = worker.log_text();
    assert_eq!(
        log.matches("cannot rewrite, serving the page unmodified")
            .count(),
        2,
        "{log}"
    );
}
