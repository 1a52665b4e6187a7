//! Plain-data HTTP for the worker: the request facts handlers read and the [`Reply`] they build.
//!
//! Handlers never touch the runtime's request and response objects: the Worker glue copies the
//! few headers that matter into [`RequestHead`] and turns a [`Reply`] into a runtime response.
//! That keeps every decision testable natively and under wasm-bindgen-test.

use std::borrow::Cow;

use edgewise_shared::visitor::query_pairs;
use serde::Serialize;

/// What the handlers need to know about a request, copied out of the runtime once.
#[derive(Debug, Clone, Default)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    /// The full request URL.
    pub url: &'a str,
    pub user_agent: Option<&'a str>,
    pub cookie: Option<&'a str>,
    pub referer: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub sec_gpc: Option<&'a str>,
    pub persona: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub content_length: Option<&'a str>,
    pub authorization: Option<&'a str>,
    /// `request.cf.country`, ISO 3166-1 alpha-2.
    pub country: Option<&'a str>,
}

impl<'a> RequestHead<'a> {
    /// The path part of the URL, without query or fragment.
    pub fn path(&self) -> &'a str {
        split_target(self.url).0
    }

    /// The decoded query parameters, in order.
    pub fn query(&self) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
        split_target(self.url)
            .1
            .map(query_pairs)
            .unwrap_or_default()
    }
}

/// Splits a URL (absolute or origin-form) into its path and raw query.
pub fn split_target(url: &str) -> (&str, Option<&str>) {
    let url = url.split('#').next().unwrap_or(url);
    let after_scheme = match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            match rest.find(['/', '?']) {
                Some(j) => &rest[j..],
                None => "",
            }
        }
        None => url,
    };
    let (path, query) = match after_scheme.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (after_scheme, None),
    };
    (if path.is_empty() { "/" } else { path }, query)
}

/// A response to send: status, headers and a body (JSON unless stated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    /// A JSON reply; serialising our own types cannot fail, but if it did the body says so.
    pub fn json<T: Serialize + ?Sized>(status: u16, body: &T) -> Reply {
        let body = serde_json::to_string(body)
            .unwrap_or_else(|_| r#"{"error":"internal","message":"serialisation failed"}"#.into());
        Reply {
            status,
            headers: vec![
                ("content-type", "application/json".into()),
                ("cache-control", "private, no-store".into()),
            ],
            body,
        }
    }

    /// The browser snippet (`edge/static/sdk.js`): public, cacheable for an hour.
    pub fn sdk() -> Reply {
        Reply {
            status: 200,
            headers: vec![
                ("content-type", "text/javascript; charset=utf-8".into()),
                ("cache-control", "public, max-age=3600".into()),
                ("access-control-allow-origin", "*".into()),
            ],
            body: include_str!("../static/sdk.js").to_owned(),
        }
    }

    /// A JSON reply whose body is already written.
    pub fn json_text(status: u16, body: String) -> Reply {
        let mut reply = Reply::json(status, &());
        reply.body = body;
        reply
    }

    /// The error shape every 4xx (and the rare 5xx) uses: `{"error": code, "message": text}`.
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Reply {
        Reply::json(
            status,
            &ErrorBody {
                error: code,
                message: message.into(),
            },
        )
    }

    /// An empty reply, e.g. a CORS preflight.
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

/// Whether `a == b`, in time independent of where they differ (lengths may leak; secrets are
/// long random strings, so that tells an attacker nothing useful).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use edgewise_shared::visitor::percent_decode;

    #[test]
    fn targets_split() {
        assert_eq!(
            split_target("http://h:8787/v1/assign?a=1#x"),
            ("/v1/assign", Some("a=1"))
        );
        assert_eq!(split_target("https://h"), ("/", None));
        assert_eq!(split_target("https://h?x=1"), ("/", Some("x=1")));
        assert_eq!(split_target("/p"), ("/p", None));
    }

    #[test]
    fn query_decoding() {
        let q = query_pairs("a=1&b=x%20y+z&c&&d=%zz&e=%4");
        assert_eq!(q[0], ("a".into(), "1".into()));
        assert_eq!(q[1], ("b".into(), "x y z".into()));
        assert_eq!(q[2], ("c".into(), "".into()));
        assert_eq!(q[3], ("d".into(), "%zz".into()));
        assert_eq!(q[4], ("e".into(), "%4".into()));
        assert_eq!(percent_decode("%C3%A9%"), "é%");
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }

    #[test]
    fn error_shape() {
        let r = Reply::error(400, "bad", "why");
        assert_eq!(r.body, r#"{"error":"bad","message":"why"}"#);
        assert_eq!(r.header("Content-Type"), Some("application/json"));
    }
}
