//! Proxy mode on workerd (`wrangler dev`) in front of a real origin server
//! (`edgewise_tests::origin`): every element action rewritten exactly, decisions equal to
//! `edgewise assign`'s, device overrides, paused tests, nested elements, selectors that match
//! nothing, malformed HTML and UTF-8; the injected assignments and snippet; split URLs (302
//! keeping the query, and a transparent fetch); bots and visitors without consent untouched.
//! Streaming, pass-through and compression are in `tests/proxy_stream.rs`.

use std::collections::HashMap;
use std::process::Command;

use edgewise_tests::gen::{NOW_MS, NOW_RFC3339};
use edgewise_tests::origin::{fetch, Origin, Page, Raw};
use edgewise_tests::tools::{self, TempDir};
use edgewise_tests::worker::Worker;
use serde_json::{json, Value};

const DESKTOP: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36";
const IPHONE: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// The snapshot: `actions` rewrites pages under `/p/` with every action (a mobile override
/// replaces its changes), `paused` would change `#paused` but is paused, `old-page` sends
/// `/old…` to `/new` by redirect, `landing` serves `/landing-b` in place of `/landing…`.
pub fn snapshot() -> Value {
    let on = |prefix: &str| json!({"when": {"attr": "path", "op": "prefix", "value": prefix}});
    json!({
        "schema_version": 1, "snapshot_version": 1, "hash_version": 1,
        "tests": [
            {"key": "actions", "status": "running", "targeting": on("/p/"),
             "variants": [{"key": "control", "weight": 0}, {"key": "b", "weight": 1, "content": {
                "headline": "for the snippet",
                "dom": [
                    {"ew": "hero", "action": "set_text", "value": "Schnell & sicher — 速い <b>"},
                    {"selector": "#sub", "action": "set_html", "value": "<em>Grüße</em> from the edge"},
                    {"selector": "#cta", "action": "set_attr", "name": "href", "value": "/signup?v=b&x=1"},
                    {"selector": "#cta", "action": "remove_attr", "name": "target"},
                    {"selector": "#cta", "action": "add_class", "value": "big"},
                    {"selector": "#cta", "action": "remove_class", "value": "small"},
                    {"selector": "nav", "action": "insert_before", "value": "<div class=\"banner\">Neu</div>"},
                    {"selector": "nav", "action": "insert_after", "value": "<hr>"},
                    {"selector": ".promo", "action": "remove"},
                    {"selector": "footer p", "action": "set_style", "name": "color", "value": "red"},
                    {"selector": "#nope .never", "action": "set_text", "value": "never"},
                    {"selector": "ul.list > li:first-child", "action": "add_class", "value": "first"},
                    {"selector": "#outer", "action": "set_attr", "name": "data-v", "value": "b"},
                    {"selector": "#outer .inner", "action": "set_text", "value": "inner b"}
                ]},
                "overrides": {"device": {"mobile": {"dom": [
                    {"ew": "hero", "action": "set_text", "value": "Mobil"}
                ]}}}}]},
            {"key": "paused", "status": "paused",
             "variants": [{"key": "a", "weight": 0}, {"key": "b", "weight": 1, "content": {
                "dom": [{"selector": "#paused", "action": "set_text", "value": "PAUSED CHANGE"}]}}]},
            {"key": "old-page", "status": "running", "targeting": on("/old"),
             "variants": [{"key": "a", "weight": 0},
                          {"key": "b", "weight": 1, "content": {"split_url": {"url": "/new"}}}]},
            {"key": "landing", "status": "running", "targeting": on("/landing"),
             "variants": [{"key": "a", "weight": 0}, {"key": "b", "weight": 1, "content": {
                "split_url": {"url": "/landing-b", "mode": "fetch"},
                "dom": [{"selector": "h1", "action": "add_class", "value": "b"}]}}]}
        ]
    })
}

pub const ACTIONS_PAGE: &str = "<!doctype html>\n<html><head><title>Shop</title></head>\n<body>\
<nav><a href=\"/\">Home</a></nav>\n\
<section data-ew=\"hero\"><h1>Old <i>title</i></h1></section>\n\
<p id=\"sub\">old sub</p>\n\
<a id=\"cta\" class=\"btn small\" href=\"/signup\" target=\"_blank\">Start</a>\n\
<div class=\"promo\">Sale <b>20%</b></div>\n\
<ul class=\"list\"><li>one</li><li>two</li></ul>\n\
<div id=\"outer\"><p class=\"inner\">inner a</p><p>kept</p></div>\n\
<p id=\"paused\">as the origin sent it</p>\n\
<footer><p style=\"margin: 0; color: blue\">© Shop</p></footer>\n</body></html>\n";

/// What the worker must send for [`ACTIONS_PAGE`] after `<head>`'s injected scripts.
pub const ACTIONS_EXPECTED: &str = "<title>Shop</title></head>\n<body>\
<div class=\"banner\">Neu</div><nav><a href=\"/\">Home</a></nav><hr>\n\
<section data-ew=\"hero\">Schnell &amp; sicher — 速い &lt;b&gt;</section>\n\
<p id=\"sub\"><em>Grüße</em> from the edge</p>\n\
<a id=\"cta\" class=\"btn big\" href=\"/signup?v=b&x=1\">Start</a>\n\
\n\
<ul class=\"list\"><li class=\"first\">one</li><li>two</li></ul>\n\
<div id=\"outer\" data-v=\"b\"><p class=\"inner\">inner b</p><p>kept</p></div>\n\
<p id=\"paused\">as the origin sent it</p>\n\
<footer><p style=\"margin: 0; color: red\">© Shop</p></footer>\n</body></html>\n";

/// Malformed: unquoted and duplicate attributes, unclosed and stray tags, no `</html>`; the
/// promo `div` is never closed, so removing it removes the rest of the page.
const MALFORMED_PAGE: &str = "<html><head><title>x</title><body>\
<section data-ew=hero class=a class=b><h1>broken<p id=sub>unclosed</div></span></section>\
<a id=cta class='small x' href=/a target=_blank>go</a><div class=promo>gone<p>never";
const MALFORMED_EXPECTED: &str = "<title>x</title><body>\
<section data-ew=hero class=a class=b>Schnell &amp; sicher — 速い &lt;b&gt;</section>\
<a id=cta class=\"x big\" href=\"/signup?v=b&x=1\">go</a>";

pub fn pages() -> HashMap<String, Page> {
    let mut p = HashMap::new();
    let cached = |body: &str| Page::html(body).header("cache-control", "public, max-age=60");
    p.insert(
        "/p/actions".into(),
        cached(ACTIONS_PAGE).header("set-cookie", "origin_session=abc; Path=/"),
    );
    p.insert("/p/malformed".into(), Page::html(MALFORMED_PAGE));
    p.insert(
        "/new".into(),
        Page::html("<html><head></head><body>new page</body></html>"),
    );
    p.insert(
        "/landing-b".into(),
        Page::html("<html><head></head><body><h1>Landing B</h1></body></html>"),
    );
    p.insert(
        "/landing".into(),
        Page::html("<html><head></head><body><h1>Landing A</h1></body></html>"),
    );
    p
}

pub fn start() -> (Origin, Worker) {
    let origin = Origin::start(pages());
    let worker = Worker::start(&[("PROXY_ORIGIN", origin.base.as_str())]);
    let r = worker.push_snapshot(&snapshot().to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["warnings"], json!([]), "{}", r.body);
    (origin, worker)
}

/// The page's query that pins the clock and country (test mode), so the CLI can agree.
pub fn q() -> String {
    format!("now={NOW_MS}&country=NL")
}

/// The injected `window.__edgewise` JSON and the page after the injected scripts.
pub fn split_injected(page: &str) -> (Value, String) {
    let start = page
        .find("<script>window.__edgewise=")
        .unwrap_or_else(|| panic!("no injected assignments:\n{page}"));
    let rest = &page[start + "<script>window.__edgewise=".len()..];
    let (boot, rest) = rest.split_once("</script>").unwrap();
    let (snippet, rest) = rest.split_once("</script>").unwrap();
    assert!(
        snippet.starts_with("<script>/* Edgewise browser snippet"),
        "{snippet:.80}"
    );
    (serde_json::from_str(boot).unwrap(), rest.to_owned())
}

fn cli_assign(unit: &str, ua: &str, url: &str) -> Value {
    let dir = TempDir::new("edgewise-proxy-cli");
    let file = dir.path().join("snapshot.json");
    std::fs::write(&file, snapshot().to_string()).unwrap();
    let out = Command::new(tools::edgewise_cli())
        .arg("assign")
        .arg("--snapshot")
        .arg(&file)
        .args(["--unit", unit, "--user-agent", ua, "--country", "NL"])
        .args(["--url", url, "--now", NOW_RFC3339])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn engine_part(a: &Value) -> Value {
    json!({"unit_id": a["unit_id"], "snapshot_version": a["snapshot_version"],
           "device": a["device"], "persona": a["persona"], "decisions": a["decisions"]})
}

fn page(worker: &Worker, path: &str, headers: &[(&str, &str)]) -> Raw {
    fetch(&worker.url(path), headers)
}

#[test]
fn pages_are_rewritten_exactly_as_edgewise_assign_decides() {
    let (origin, worker) = start();
    let path = format!("/p/actions?{}", q());
    let r = page(
        &worker,
        &path,
        &[
            ("user-agent", DESKTOP),
            ("cookie", "edgewise_uid=visitor-1"),
        ],
    );
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(
        text.starts_with("<!doctype html>\n<html><head><script>window.__edgewise="),
        "{text:.200}"
    );
    let (boot, rest) = split_injected(&text);
    assert_eq!(rest, ACTIONS_EXPECTED, "full page:\n{text}");
    let cli = cli_assign("visitor-1", DESKTOP, &worker.url(&path));
    assert_eq!(engine_part(&boot["assign"]), cli);
    assert_eq!(cli["decisions"][0]["variant"], "b");
    assert_eq!(cli["decisions"][1]["reason"], "paused");
    assert_eq!(
        boot["exposed"], true,
        "the worker logs the exposure by default"
    );
    assert_eq!(boot["assign"]["unit_source"], "cookie");
    // Personalised: private, varied, the origin's own cookie kept, no id cookie re-sent.
    assert_eq!(r.header("cache-control"), Some("private, no-store"));
    assert!(
        r.all("vary").iter().any(|v| v.contains("Cookie")),
        "{:?}",
        r.headers
    );
    assert_eq!(r.all("set-cookie"), ["origin_session=abc; Path=/"]);
    // The origin was asked for the page with the visitor's headers.
    let sent = origin.request_headers("/p/actions").unwrap();
    assert!(
        sent.iter().any(|(k, v)| k == "user-agent" && v == DESKTOP),
        "{sent:?}"
    );

    // A new visitor gets the id cookie; a phone gets the mobile override's changes.
    let r = page(&worker, &path, &[("user-agent", IPHONE)]);
    let (boot, rest) = split_injected(&r.text());
    let unit = boot["assign"]["unit_id"].as_str().unwrap().to_owned();
    assert!(r
        .all("set-cookie")
        .iter()
        .any(|c| c.starts_with(&format!("edgewise_uid={unit};"))));
    assert!(
        rest.contains("<section data-ew=\"hero\">Mobil</section>"),
        "{rest}"
    );
    assert!(
        rest.contains("<div class=\"promo\">"),
        "the mobile list replaces all changes"
    );
    assert_eq!(
        engine_part(&boot["assign"]),
        cli_assign(&unit, IPHONE, &worker.url(&path))
    );

    // Malformed HTML: changes still apply where their elements are.
    let r = page(
        &worker,
        &format!("/p/malformed?{}", q()),
        &[("user-agent", DESKTOP)],
    );
    let (_, rest) = split_injected(&r.text());
    assert_eq!(rest, MALFORMED_EXPECTED);
}

#[test]
fn bots_no_consent_and_split_urls() {
    let (origin, worker) = start();
    let path = format!("/p/actions?{}", q());
    // Bots and visitors without consent: the origin's bytes and caching, no cookie of ours.
    for headers in [
        vec![("user-agent", GOOGLEBOT)],
        vec![("user-agent", DESKTOP), ("sec-gpc", "1")],
        vec![("user-agent", DESKTOP), ("cookie", "edgewise_consent=0")],
    ] {
        let r = page(&worker, &path, &headers);
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), ACTIONS_PAGE, "{headers:?}");
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=60"),
            "{headers:?}"
        );
        assert_eq!(r.all("set-cookie"), ["origin_session=abc; Path=/"]);
    }
    // A split URL by redirect keeps the query string; the landing page is the variant's.
    let r = page(
        &worker,
        &format!("/old/page?{}&utm_source=mail&x=%C3%A9", q()),
        &[("user-agent", DESKTOP)],
    );
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some(format!("/new?{}&utm_source=mail&x=%C3%A9", q()).as_str())
    );
    assert!(
        origin.request_headers("/old/page").is_none(),
        "a redirect asks the origin nothing"
    );
    // Transparently: the origin is asked for /landing-b, the address stays /landing.
    let r = page(
        &worker,
        &format!("/landing?{}&x=1", q()),
        &[("user-agent", DESKTOP)],
    );
    assert_eq!(r.status, 200);
    let (_, rest) = split_injected(&r.text());
    assert_eq!(
        rest,
        "</head><body><h1 class=\"b\">Landing B</h1></body></html>"
    );
    assert!(origin.request_headers("/landing").is_none());
    // Paths outside every test's targeting are still rewritten (assignments, snippet) but
    // their elements are untouched.
    let r = page(
        &worker,
        &format!("/new?{}", q()),
        &[("user-agent", DESKTOP)],
    );
    let (_, rest) = split_injected(&r.text());
    assert_eq!(rest, "</head><body>new page</body></html>");
}

#[test]
fn an_unreachable_origin_is_a_clear_502() {
    // A port nobody listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let worker = Worker::start(&[("PROXY_ORIGIN", format!("http://127.0.0.1:{port}").as_str())]);
    assert_eq!(worker.push_snapshot(&snapshot().to_string()).status, 200);
    for path in ["/p/actions", "/img.png"] {
        let r = page(&worker, path, &[("user-agent", DESKTOP)]);
        assert_eq!(
            r.status,
            502,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(
            r.text().contains("origin could not be reached"),
            "{}",
            r.text()
        );
    }
    // The worker's own routes still answer.
    assert_eq!(worker.get("/v1/health", &[]).status, 200);
}
