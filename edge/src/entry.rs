//! The worker's entry point (wasm32 only): proxy mode's pages first (`proxy::glue`), then the
//! worker's own routes (`runtime`), each answer built in one call into JS.

use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsValue};
use worker::{event, web_sys, Context, Env, Request};

use crate::runtime;

// The response in one call into JS. `body` arrives as a view of wasm memory, which the
// Response constructor copies once; the worker crate's builder would first zero-fill a new
// Uint8Array, copy the body into it, then have the constructor copy it again (at 1,000 tests,
// 170 KB three times a request), and cross into JS once per header. `headers` is
// "name\nvalue\n…" (header values cannot hold a newline).
#[wasm_bindgen(
    inline_js = "export function edgewise_response(status, headers, body) {
  const h = new Headers();
  const parts = headers.split('\\n');
  for (let i = 0; i + 1 < parts.length; i += 2) {
    // A value the runtime refuses is dropped, as before: a visitor never gets an error page.
    try { h.append(parts[i], parts[i + 1]); } catch (e) {}
  }
  return new Response(body.length === 0 ? null : body, { status, headers: h });
}"
)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn edgewise_response(
        status: u16,
        headers: &str,
        body: &[u8],
    ) -> Result<web_sys::Response, JsValue>;
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    // Proxy mode (PROXY_ORIGIN set): everything but the worker's own routes is the site's.
    if let Some(response) = crate::proxy::glue::serve(&req, &env, &ctx).await {
        return Ok(response.into());
    }
    let reply = runtime::handle(req, &env, &ctx).await;
    let mut headers = String::new();
    for (name, value) in &reply.headers {
        // A header value we built holds no newline; if one did, dropping it beats failing.
        if !value.contains(['\n', '\r']) {
            headers.push_str(name);
            headers.push('\n');
            headers.push_str(value);
            headers.push('\n');
        }
    }
    edgewise_response(reply.status, &headers, reply.body.as_bytes())
        .map_err(|e| worker::Error::JsError(format!("building the response: {e:?}")))
}
