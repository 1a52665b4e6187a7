//! Proxy mode: the worker serves the site itself. It fetches each page from the origin, assigns
//! the visitor, and streams the HTML back with the element changes of the visitor's variants
//! applied and the assignments and snippet inlined in the head; everything else passes through.
//!
//! This module decides (natively testable): [`ProxyConfig`] from the `PROXY_*` vars, which
//! requests are rewritten ([`handling`]), and for one page request the [`PageAction`]:
//! untouched (bots, no consent, no snapshot), a split-URL redirect, or a rewrite with its plan
//! (shared's [`edgewise_shared::rewrite`]), the head to inject, the headers to set and the
//! exposures to log. `glue` (wasm32 only) does the I/O and hands the plan to the runtime's
//! `HTMLRewriter` (`rewriter.js`). docs/proxy.md describes the behaviour and the measurements
//! behind the choice of `HTMLRewriter` over lol_html.

use edgewise_shared::beacon::{Event, LoggedBy};
use edgewise_shared::rewrite::{plan, DecisionView, SplitMode};
use edgewise_shared::{CompiledSnapshot, DeviceClass};
use serde_json::Value;

use crate::assign::{self, AssignParams};
use crate::config::Config;
use crate::http::{split_target, RequestHead};
use crate::render::RenderCache;
use crate::router::{route, Route};

#[cfg(target_arch = "wasm32")]
pub(crate) mod glue;

/// Who logs the exposure of a rewritten page (never both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExposureBy {
    /// The worker, when it serves the page (queued like beacons).
    Worker,
    /// The inlined snippet, when it runs in the browser.
    Snippet,
}

/// The `PROXY_*` vars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// `PROXY_ORIGIN`: `http(s)://host[:port]` the pages come from; proxy mode is off without it.
    pub origin: String,
    /// `PROXY_REWRITE`: comma-separated path prefixes whose HTML is rewritten (default `/`).
    pub rewrite: Vec<String>,
    /// `PROXY_PASS`: comma-separated path prefixes passed through untouched; they win over
    /// `PROXY_REWRITE`.
    pub pass: Vec<String>,
    /// `PROXY_EXPOSURE`: `worker` (default) or `snippet`.
    pub exposure: ExposureBy,
}

impl ProxyConfig {
    /// `None` when `PROXY_ORIGIN` is unset or not an `http(s)://` URL.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<ProxyConfig> {
        let origin = var("PROXY_ORIGIN")?.trim().trim_end_matches('/').to_owned();
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))?;
        if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
            return None;
        }
        let list = |name: &str, default: &[&str]| -> Vec<String> {
            match var(name) {
                Some(v) => v
                    .split(',')
                    .map(str::trim)
                    .filter(|p| p.starts_with('/'))
                    .map(str::to_owned)
                    .collect(),
                None => default.iter().map(|s| (*s).to_owned()).collect(),
            }
        };
        Some(ProxyConfig {
            rewrite: list("PROXY_REWRITE", &["/"]),
            pass: list("PROXY_PASS", &[]),
            exposure: match var("PROXY_EXPOSURE").as_deref().map(str::trim) {
                Some("snippet") => ExposureBy::Snippet,
                _ => ExposureBy::Worker,
            },
            origin,
        })
    }

    /// The origin URL of `path_and_query` (which starts with `/`).
    pub fn origin_url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.origin)
    }
}

/// What the worker does with a request in proxy mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// One of the worker's own routes (`/v1/assign`, `/v1/events`, …).
    Api,
    /// A page that may be rewritten (GET of a rewrite route).
    Page,
    /// Passed to the origin and back byte for byte.
    Pass,
}

/// `upgrade` is the request's `Upgrade` header: a websocket handshake is a `GET` but never a
/// page (no assignment, no exposure, no split redirect), so it goes to the origin as it is.
pub fn handling(cfg: &ProxyConfig, method: &str, path: &str, upgrade: Option<&str>) -> Handling {
    if route(method, path) != Route::NotFound {
        return Handling::Api;
    }
    let under = |prefixes: &[String]| prefixes.iter().any(|p| path.starts_with(p.as_str()));
    let websocket = upgrade.is_some_and(|u| u.trim().eq_ignore_ascii_case("websocket"));
    if method == "GET" && !websocket && under(&cfg.rewrite) && !under(&cfg.pass) {
        Handling::Page
    } else {
        Handling::Pass
    }
}

/// What to do with one page request.
#[derive(Debug)]
pub enum PageAction {
    /// Serve the origin's page as it is, with its caching.
    Untouched,
    /// A split-URL variant's redirect: 302 to `location`, with these headers.
    Redirect {
        location: String,
        headers: Vec<(&'static str, String)>,
    },
    /// Fetch `path_and_query` from the origin and, if it is HTML, rewrite it.
    Rewrite(Box<Rewrite>),
}

/// A page rewrite, decided.
#[derive(Debug)]
pub struct Rewrite {
    /// What to ask the origin for: the request's own path, or a split URL's.
    pub path_and_query: String,
    /// The element changes as JSON (`[{selector, action, name?, value?}]`).
    pub changes_json: String,
    /// Prepended to `<head>`: the visitor's assignments and the snippet.
    pub head_html: String,
    /// Set on the answer: the id cookie, `Cache-Control: private`, `Vary`.
    pub headers: Vec<(&'static str, String)>,
    /// Exposures to queue once the page is served (worker-logged exposure only).
    pub exposures: Vec<Event>,
}

/// Decides what to do with a page request. `head.url` is the full request URL.
pub fn plan_page(
    snapshot: Option<&CompiledSnapshot>,
    head: &RequestHead<'_>,
    cfg: &Config,
    proxy: &ProxyConfig,
    now_ms: i64,
    mint: &mut dyn FnMut() -> String,
    cache: &mut RenderCache,
) -> PageAction {
    let Some(snapshot) = snapshot else {
        return PageAction::Untouched;
    };
    let params = AssignParams::parse(head, cfg.test_mode);
    let device = params
        .device
        .unwrap_or_else(|| DeviceClass::from_user_agent(head.user_agent.unwrap_or("")));
    if device == DeviceClass::Bot || !assign::has_consent(head, &params) {
        return PageAction::Untouched;
    }
    let (path, query) = split_target(head.url);
    let by_worker = proxy.exposure == ExposureBy::Worker;
    let assign_url = assign_url(head, by_worker);
    let assign_head = RequestHead {
        url: &assign_url,
        referer: None,
        origin: None,
        ..head.clone()
    };
    let mut out = assign::assign(Some(snapshot), &assign_head, cfg, now_ms, mint, cache);
    // Logged here, before any script runs: the control plane keeps them flagged.
    for e in &mut out.exposures {
        e.logged_by = Some(LoggedBy::Edge);
    }
    let body: Value = serde_json::from_str(&out.reply.body).unwrap_or(Value::Null);
    let decisions = body["decisions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let page = plan(decisions.iter().filter_map(DecisionView::from_json));
    let mut headers: Vec<(&'static str, String)> = out
        .reply
        .headers
        .iter()
        .filter(|(k, _)| *k == "set-cookie")
        .cloned()
        .collect();
    headers.push(("cache-control", "private, no-store".into()));
    headers.push(("vary", "Cookie".into()));
    let mut path_and_query = after_origin(head.url);
    if let Some((_, split)) = page.split {
        let target = split.target(query);
        let target_path = split_target(split.url).0;
        let elsewhere = split.url.starts_with("http") || target_path != path;
        match split.mode {
            // The landing page logs the view, so the redirect logs nothing.
            SplitMode::Redirect if elsewhere => {
                return PageAction::Redirect {
                    location: target,
                    headers,
                }
            }
            SplitMode::Fetch => path_and_query = target,
            SplitMode::Redirect => {}
        }
    }
    let boot = format!(
        "{{\"assign\":{},\"exposed\":{}}}",
        out.reply.body,
        by_worker && !out.exposures.is_empty()
    );
    let head_html = format!(
        "<script>window.__edgewise={}</script><script>{}</script>",
        boot.replace('<', "\\u003c"),
        inline_sdk()
    );
    PageAction::Rewrite(Box::new(Rewrite {
        path_and_query,
        changes_json: page.changes_json(),
        head_html,
        headers,
        exposures: out.exposures,
    }))
}

/// The browser snippet as it is inlined in rewritten pages: every `</` written `<\/` (the same
/// to JavaScript), so nothing in it (its usage comment names a `</script>` tag) ends the
/// script element early.
fn inline_sdk() -> &'static str {
    static INLINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    INLINE.get_or_init(|| include_str!("../../static/sdk.js").replace("</", "<\\/"))
}

/// `/v1/assign` as the snippet would call it for this page: the page's own parameters (QA
/// `force.*`, `unit`, `persona`, `consent`, …), then the page URL and referrer, then whether
/// to log exposures (so the page cannot ask for them).
fn assign_url(head: &RequestHead<'_>, expose: bool) -> String {
    let query = split_target(head.url).1.unwrap_or("");
    let mut url = format!("/v1/assign?{query}&url={}", encode(head.url));
    if let Some(r) = head.referer {
        url.push_str("&ref=");
        url.push_str(&encode(r));
    }
    url.push_str(if expose { "&expose=1" } else { "&expose=0" });
    url
}

/// Path and query of a URL (absolute or origin-form), without the fragment.
pub fn after_origin(url: &str) -> String {
    let url = url.split('#').next().unwrap_or(url);
    let rest = match url.find("://") {
        Some(i) => url[i + 3..]
            .find(['/', '?'])
            .map_or("", |j| &url[i + 3 + j..]),
        None => url,
    };
    if rest.starts_with('/') {
        rest.to_owned()
    } else {
        format!("/{rest}")
    }
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests;
