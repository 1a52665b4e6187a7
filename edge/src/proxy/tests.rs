//! Proxy mode's decisions, natively and on wasm32: config, which requests are pages, and what
//! a page request becomes for bots, no-consent visitors, assigned visitors and split URLs.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use edgewise_shared::CompiledSnapshot;
use serde_json::json;

use super::*;
use crate::tests::{get, minter, test_cfg, GOOGLEBOT};

fn proxy(vars: &[(&str, &str)]) -> ProxyConfig {
    ProxyConfig::from_vars(|k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
            .or_else(|| (k == "PROXY_ORIGIN").then(|| "http://127.0.0.1:9000/".to_owned()))
    })
    .unwrap_or_else(|| panic!("proxy config"))
}

fn snapshot(split: serde_json::Value) -> CompiledSnapshot {
    let wire = json!({
        "schema_version": 1, "snapshot_version": 5, "hash_version": 1,
        "tests": [{
            "key": "hero", "status": "running",
            "variants": [
                {"key": "control", "weight": 0},
                {"key": "b", "weight": 1, "content": {
                    "dom": [{"ew": "hero", "action": "set_text", "value": "B <3"}],
                    "split_url": split
                }}
            ]
        }]
    });
    let (s, w) = CompiledSnapshot::compile(&serde_json::from_value(wire).unwrap()).unwrap();
    assert!(w.is_empty(), "{w:?}");
    s
}

fn decide(s: Option<&CompiledSnapshot>, head: &RequestHead<'_>, p: &ProxyConfig) -> PageAction {
    let mut cache = RenderCache::default();
    plan_page(s, head, &test_cfg(), p, 0, &mut minter(), &mut cache)
}

#[test]
fn config_from_vars() {
    assert!(ProxyConfig::from_vars(|_| None).is_none());
    let bad = |o: &str| ProxyConfig::from_vars(|k| (k == "PROXY_ORIGIN").then(|| o.to_owned()));
    assert!(bad("ftp://x").is_none());
    assert!(bad("https://x/path").is_none());
    let p = proxy(&[]);
    assert_eq!(p.origin, "http://127.0.0.1:9000");
    assert_eq!(p.rewrite, ["/"]);
    assert!(p.pass.is_empty());
    assert_eq!(p.exposure, ExposureBy::Worker);
    let p = proxy(&[
        ("PROXY_REWRITE", "/shop, /blog,junk"),
        ("PROXY_PASS", "/shop/api"),
        ("PROXY_EXPOSURE", "snippet"),
    ]);
    assert_eq!(p.rewrite, ["/shop", "/blog"]);
    assert_eq!(p.exposure, ExposureBy::Snippet);
    assert_eq!(handling(&p, "GET", "/shop/x", None), Handling::Page);
    // A websocket handshake is a GET but never a page.
    let ws = Some(" WebSocket");
    assert_eq!(handling(&p, "GET", "/shop/x", ws), Handling::Pass);
    assert_eq!(handling(&p, "GET", "/shop/x", Some("h2c")), Handling::Page);
    assert_eq!(handling(&p, "GET", "/shop/api/cart", None), Handling::Pass);
    assert_eq!(handling(&p, "POST", "/shop/x", None), Handling::Pass);
    assert_eq!(handling(&p, "HEAD", "/shop/x", None), Handling::Pass);
    assert_eq!(handling(&p, "GET", "/about", None), Handling::Pass);
    assert_eq!(handling(&p, "GET", "/v1/assign", None), Handling::Api);
    assert_eq!(handling(&p, "POST", "/v1/events", None), Handling::Api);
    assert_eq!(p.origin_url("/a?b=1"), "http://127.0.0.1:9000/a?b=1");
    assert_eq!(after_origin("https://h:1/p?q=1#f"), "/p?q=1");
    assert_eq!(after_origin("https://h?q=1"), "/?q=1");
    assert_eq!(after_origin("https://h"), "/");
}

#[test]
fn bots_no_consent_and_no_snapshot_are_untouched() {
    let s = snapshot(json!(null));
    let p = proxy(&[]);
    let page = "http://shop.test/";
    assert!(matches!(
        decide(None, &get(page), &p),
        PageAction::Untouched
    ));
    let bot = RequestHead {
        user_agent: Some(GOOGLEBOT),
        ..get(page)
    };
    assert!(matches!(decide(Some(&s), &bot, &p), PageAction::Untouched));
    let gpc = RequestHead {
        sec_gpc: Some("1"),
        ..get(page)
    };
    assert!(matches!(decide(Some(&s), &gpc, &p), PageAction::Untouched));
    let declined = RequestHead {
        cookie: Some("edgewise_consent=0"),
        ..get(page)
    };
    assert!(matches!(
        decide(Some(&s), &declined, &p),
        PageAction::Untouched
    ));
    let url = "http://shop.test/?consent=0";
    assert!(matches!(
        decide(Some(&s), &get(url), &p),
        PageAction::Untouched
    ));
}

fn rewrite_of(a: PageAction) -> Rewrite {
    match a {
        PageAction::Rewrite(r) => *r,
        other => panic!("expected a rewrite, got {other:?}"),
    }
}

#[test]
fn an_assigned_visitor_gets_changes_assignments_and_snippet() {
    let s = snapshot(json!(null));
    let head = RequestHead {
        referer: Some("https://ref.example/x"),
        ..get("http://shop.test/p?utm_source=mail")
    };
    let rw = rewrite_of(decide(Some(&s), &head, &proxy(&[])));
    assert_eq!(rw.path_and_query, "/p?utm_source=mail");
    assert_eq!(
        rw.changes_json,
        r#"[{"selector":"[data-ew=\"hero\"]","action":"set_text","value":"B <3"}]"#
    );
    let cookie = rw.headers.iter().find(|(k, _)| *k == "set-cookie");
    assert!(
        cookie.is_some_and(|(_, v)| v.starts_with("edgewise_uid=id-1;")),
        "{rw:?}"
    );
    assert!(rw
        .headers
        .contains(&("cache-control", "private, no-store".to_owned())));
    assert!(rw.headers.contains(&("vary", "Cookie".to_owned())));
    // Logged by the worker: one exposure, and the snippet is told so.
    assert_eq!(rw.exposures.len(), 1);
    assert_eq!(rw.exposures[0].variant, "b");
    assert_eq!(rw.exposures[0].logged_by, Some(LoggedBy::Edge));
    let boot = rw
        .head_html
        .strip_prefix("<script>window.__edgewise=")
        .and_then(|r| r.split_once("</script>"))
        .map(|(b, _)| b)
        .unwrap_or_else(|| panic!("{}", rw.head_html));
    assert!(
        !boot.contains('<'),
        "no `<` may end the script early: {boot}"
    );
    let boot: serde_json::Value = serde_json::from_str(boot).unwrap();
    assert_eq!(boot["exposed"], true);
    assert_eq!(boot["assign"]["decisions"][0]["variant"], "b");
    assert_eq!(boot["assign"]["unit_id"], "id-1");
    assert!(
        rw.head_html.contains("navigator.sendBeacon"),
        "the snippet is inlined"
    );

    // Logged by the snippet: nothing queued here, and the snippet logs it.
    let rw = rewrite_of(decide(
        Some(&s),
        &head,
        &proxy(&[("PROXY_EXPOSURE", "snippet")]),
    ));
    assert!(rw.exposures.is_empty());
    assert!(rw.head_html.contains("\"exposed\":false"));
    // The page cannot ask for worker-side exposures by itself.
    let asks = get("http://shop.test/p?expose=1");
    let rw = rewrite_of(decide(
        Some(&s),
        &asks,
        &proxy(&[("PROXY_EXPOSURE", "snippet")]),
    ));
    assert!(rw.exposures.is_empty());
}

#[test]
fn split_urls_redirect_keeping_the_query_or_fetch_in_place() {
    let s = snapshot(json!({"url": "/b", "mode": "redirect"}));
    match decide(
        Some(&s),
        &get("http://shop.test/a?x=1&y=%C3%A9"),
        &proxy(&[]),
    ) {
        PageAction::Redirect { location, headers } => {
            assert_eq!(location, "/b?x=1&y=%C3%A9");
            assert!(headers.iter().any(|(k, _)| *k == "set-cookie"));
        }
        other => panic!("{other:?}"),
    }
    // On the variant's own page there is nothing to redirect to: it is rewritten.
    let rw = rewrite_of(decide(
        Some(&s),
        &get("http://shop.test/b?x=1"),
        &proxy(&[]),
    ));
    assert_eq!(rw.path_and_query, "/b?x=1");
    let s = snapshot(json!({"url": "/b", "mode": "fetch"}));
    let rw = rewrite_of(decide(
        Some(&s),
        &get("http://shop.test/a?x=1"),
        &proxy(&[]),
    ));
    assert_eq!(rw.path_and_query, "/b?x=1");
    assert_eq!(rw.exposures.len(), 1);
}
