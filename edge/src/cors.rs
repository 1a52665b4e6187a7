//! CORS: browsers may call the worker only from the snapshot's `allowed_origins`.
//!
//! An allowed origin is echoed back with credentials allowed (the id cookie must travel); any
//! other origin gets no CORS headers, so the browser withholds the answer. Without a snapshot no
//! origin is allowed.

use edgewise_shared::CompiledSnapshot;

use crate::http::{Reply, RequestHead};

/// Headers a request may send cross-origin.
const ALLOW_HEADERS: &str = "Content-Type, X-Edgewise-Persona";
const ALLOW_METHODS: &str = "GET, POST, OPTIONS";

/// The CORS headers for a response to `origin`.
pub fn allow_headers(
    snapshot: Option<&CompiledSnapshot>,
    origin: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut headers = vec![("vary", "Origin".to_owned())];
    if let (Some(s), Some(o)) = (snapshot, origin) {
        if s.allows_origin(o) {
            headers.push(("access-control-allow-origin", o.to_owned()));
            headers.push(("access-control-allow-credentials", "true".to_owned()));
        }
    }
    headers
}

/// Answers an `OPTIONS` preflight: 204, with the allow headers only for an allowed origin.
pub fn preflight(snapshot: Option<&CompiledSnapshot>, head: &RequestHead<'_>) -> Reply {
    let mut reply = Reply::empty(204);
    reply.headers = allow_headers(snapshot, head.origin);
    if reply.header("access-control-allow-origin").is_some() {
        reply.headers.extend([
            ("access-control-allow-methods", ALLOW_METHODS.to_owned()),
            ("access-control-allow-headers", ALLOW_HEADERS.to_owned()),
            ("access-control-max-age", "600".to_owned()),
        ]);
    }
    reply
}
