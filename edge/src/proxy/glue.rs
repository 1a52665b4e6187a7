//! Proxy mode's I/O (wasm32 only): the origin fetch, the redirect, and the hand-over of a
//! decided [`Rewrite`] to the runtime's `HTMLRewriter` (`rewriter.js`), which applies it as
//! the origin's bytes stream through. Nothing is buffered: a pass-through returns the origin's
//! own response object, a rewrite returns the transformed stream.
//!
//! Failures never reach the visitor as an exception: an origin that cannot be reached is a
//! 502 with a plain message, an origin error is passed on as it is, and a page the rewriter
//! cannot take (a selector or a charset it refuses) is served unmodified, without exposures.

use worker::js_sys::{Array, Promise};
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{console_error, web_sys, Context, Env, Request, Response};

use super::{handling, plan_page, Handling, PageAction, ProxyConfig, Rewrite};
use crate::http::{split_target, RequestHead};
use crate::runtime::{self, RENDER};

#[wasm_bindgen(module = "/src/proxy/rewriter.js")]
extern "C" {
    /// `Ok(None)`: the page cannot be rewritten (a selector the runtime refuses, a charset it
    /// cannot decode); `response` is then untouched.
    #[wasm_bindgen(js_name = rewrite, catch)]
    fn js_rewrite(
        response: &web_sys::Response,
        changes: &str,
        head_html: &str,
        headers: Array,
    ) -> Result<Option<web_sys::Response>, JsValue>;

    #[wasm_bindgen(js_name = fetchOrigin, catch)]
    fn fetch_origin_js(url: &str, request: &web_sys::Request) -> Result<Promise, JsValue>;
}

thread_local! {
    static PROXY: std::cell::OnceCell<Option<ProxyConfig>> = const { std::cell::OnceCell::new() };
}

fn proxy_config(env: &Env) -> Option<ProxyConfig> {
    PROXY.with(|c| {
        c.get_or_init(|| ProxyConfig::from_vars(|name| env.var(name).ok().map(|v| v.to_string())))
            .clone()
    })
}

/// Serves `req` when proxy mode is on and the request is not one of the worker's own routes.
pub(crate) async fn serve(req: &Request, env: &Env, ctx: &Context) -> Option<Response> {
    let proxy = proxy_config(env)?;
    let url = req.inner().url();
    let method = req.inner().method();
    let upgrade = req.headers().get("upgrade").ok().flatten();
    match handling(&proxy, &method, split_target(&url).0, upgrade.as_deref()) {
        Handling::Api => None,
        Handling::Pass => Some(pass(req, &proxy, &super::after_origin(&url)).await),
        Handling::Page => Some(page(req, env, ctx, &proxy, &url, &method).await),
    }
}

async fn fetch_origin(
    req: &Request,
    proxy: &ProxyConfig,
    path_and_query: &str,
) -> Result<web_sys::Response, Response> {
    let target = proxy.origin_url(path_and_query);
    let sent = fetch_origin_js(&target, req.inner()).map(JsFuture::from);
    let answer = match sent {
        Ok(pending) => pending.await,
        Err(e) => Err(e),
    };
    match answer.map(JsCast::dyn_into::<web_sys::Response>) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(_)) | Err(_) => {
            console_error!("edgewise proxy: origin {target} unreachable");
            Err(bad_gateway())
        }
    }
}

fn bad_gateway() -> Response {
    let headers = worker::Headers::new();
    let _ = headers.set("content-type", "text/plain; charset=utf-8");
    let _ = headers.set("cache-control", "no-store");
    Response::builder()
        .with_status(502)
        .with_headers(headers)
        .fixed(b"502 Bad Gateway: the origin could not be reached.\n".to_vec())
}

async fn pass(req: &Request, proxy: &ProxyConfig, path_and_query: &str) -> Response {
    match fetch_origin(req, proxy, path_and_query).await {
        Ok(r) => Response::from(r),
        Err(r) => r,
    }
}

async fn page(
    req: &Request,
    env: &Env,
    ctx: &Context,
    proxy: &ProxyConfig,
    url: &str,
    method: &str,
) -> Response {
    let h = |name: &str| req.headers().get(name).ok().flatten();
    let (user_agent, cookie, referer, sec_gpc, persona) = (
        h("user-agent"),
        h("cookie"),
        h("referer"),
        h("sec-gpc"),
        h("x-edgewise-persona"),
    );
    let country = req.cf().and_then(|cf| cf.country());
    let head = RequestHead {
        method,
        url,
        user_agent: user_agent.as_deref(),
        cookie: cookie.as_deref(),
        referer: referer.as_deref(),
        sec_gpc: sec_gpc.as_deref(),
        persona: persona.as_deref(),
        country: country.as_deref(),
        ..RequestHead::default()
    };
    let cfg = runtime::config(env);
    let now = runtime::now_ms();
    let snapshot = runtime::snapshot(env, &cfg, now).await;
    let action = RENDER.with(|c| {
        plan_page(
            snapshot.as_deref(),
            &head,
            &cfg,
            proxy,
            now,
            &mut runtime::random_uuid,
            &mut c.borrow_mut(),
        )
    });
    match action {
        PageAction::Untouched => pass(req, proxy, &super::after_origin(url)).await,
        PageAction::Redirect { location, headers } => {
            let out = worker::Headers::new();
            let _ = out.set("location", &location);
            for (k, v) in &headers {
                let _ = out.append(k, v);
            }
            Response::builder()
                .with_status(302)
                .with_headers(out)
                .empty()
        }
        PageAction::Rewrite(rw) => rewrite(req, env, ctx, proxy, *rw).await,
    }
}

async fn rewrite(
    req: &Request,
    env: &Env,
    ctx: &Context,
    proxy: &ProxyConfig,
    rw: Rewrite,
) -> Response {
    let origin = match fetch_origin(req, proxy, &rw.path_and_query).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let html = origin
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if origin.status() != 200 || !html {
        return Response::from(origin);
    }
    let headers = Array::new();
    for (k, v) in &rw.headers {
        headers.push(&Array::of2(&JsValue::from_str(k), &JsValue::from_str(v)));
    }
    let out = match js_rewrite(&origin, &rw.changes_json, &rw.head_html, headers) {
        Ok(Some(out)) => out,
        // Served as it came: the visitor sees no variant, so no exposure is logged.
        Ok(None) => return Response::from(origin),
        Err(e) => {
            console_error!("edgewise proxy: rewriting failed: {e:?}");
            if origin.body_used() {
                return bad_gateway();
            }
            return Response::from(origin);
        }
    };
    if !rw.exposures.is_empty() {
        runtime::enqueue_in_background(env, ctx, rw.exposures);
    }
    Response::from(out)
}
