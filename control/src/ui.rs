//! The dashboard: a single-page app whose files (`control/ui/`) are embedded in the binary at
//! build time, so nothing is fetched from elsewhere and no Node build is needed to run it. Its
//! pages read and change everything through the same `/api/v1` routes as any client, signed
//! in with a session cookie ([`crate::api::session`]). A page asked for without a live session
//! redirects to the sign-in page; the files themselves hold no data and are served to anyone.

use std::sync::OnceLock;

use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::auth::session;
use crate::error::{AppError, AppResult};
use crate::extract::Path;
use crate::state::AppState;

/// One embedded file: its path below `control/ui/` and its bytes.
macro_rules! ui_file {
    ($path:literal) => {
        ($path, include_bytes!(concat!("../ui/", $path)))
    };
}

/// Every file under `control/ui/`, by the path it is served at below `/ui/`. A unit test checks
/// the folder holds exactly these.
const FILES: &[(&str, &[u8])] = &[
    ui_file!("index.html"),
    ui_file!("app.css"),
    ui_file!("js/api.js"),
    ui_file!("js/app.js"),
    ui_file!("js/chart.js"),
    ui_file!("js/dom.js"),
    ui_file!("js/live.js"),
    ui_file!("js/pages/alerts.js"),
    ui_file!("js/pages/audit.js"),
    ui_file!("js/pages/common.js"),
    ui_file!("js/pages/form-variants.js"),
    ui_file!("js/pages/form.js"),
    ui_file!("js/pages/insights.js"),
    ui_file!("js/pages/list.js"),
    ui_file!("js/pages/reports.js"),
    ui_file!("js/pages/signin.js"),
    ui_file!("js/pages/system.js"),
    ui_file!("js/pages/test-parts.js"),
    ui_file!("js/pages/test.js"),
];

/// The dashboard's pages: each serves the app, which draws the page the path names.
pub const PAGES: &[&str] = &[
    "/",
    "/signin",
    "/tests/new",
    "/tests/{key}",
    "/tests/{key}/edit",
    "/insights",
    "/alerts",
    "/audit",
    "/system",
    "/reports",
];

/// Scripts only from here and no inline ones, so text that slips into markup still cannot run.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

pub fn router() -> Router<AppState> {
    let mut r = Router::new().route("/ui/{*file}", get(asset));
    for page in PAGES {
        r = r.route(page, get(app_page));
    }
    r
}

struct Asset {
    body: &'static [u8],
    gzipped: Vec<u8>,
    etag: String,
}

fn assets() -> &'static Vec<(&'static str, Asset)> {
    static ASSETS: OnceLock<Vec<(&'static str, Asset)>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        FILES
            .iter()
            .map(|&(name, body)| {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                let gzipped = std::io::Write::write_all(&mut gz, body)
                    .and_then(|()| gz.finish())
                    .unwrap_or_default();
                let etag = format!("\"{}\"", &hex::encode(Sha256::digest(body))[..16]);
                (
                    name,
                    Asset {
                        body,
                        gzipped,
                        etag,
                    },
                )
            })
            .collect()
    })
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// An embedded file: revalidated by ETag on every use (a new binary may change it), gzipped for
/// browsers that take it.
fn serve(name: &str, headers: &HeaderMap) -> AppResult<Response> {
    let Some((_, a)) = assets().iter().find(|(n, _)| *n == name) else {
        return Err(AppError::NotFound(format!("file `{name}`")));
    };
    let mut resp = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == a.etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let gzip = !a.gzipped.is_empty()
            && headers
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        let mut resp = if gzip {
            let mut r = a.gzipped.clone().into_response();
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        } else {
            a.body.into_response()
        };
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(name)),
        );
        resp
    };
    let h = resp.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&a.etag).map_err(|e| AppError::Internal(e.into()))?,
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> AppResult<Response> {
    if file == "index.html" {
        return Err(AppError::NotFound(format!("file `{file}`")));
    }
    serve(&file, &headers)
}

/// The app, for a signed-in browser; the sign-in page (remembering where it was going) for any
/// other, so no page's shell is shown without a live session.
async fn app_page(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> AppResult<Response> {
    let path = uri.path();
    if path != "/signin" && session(&state, &headers).await?.is_none() {
        let next: String = form_urlencoded::byte_serialize(
            uri.path_and_query().map_or(path, |p| p.as_str()).as_bytes(),
        )
        .collect();
        return Ok(Redirect::to(&format!("/signin?next={next}")).into_response());
    }
    let mut resp = serve("index.html", &headers)?;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // A signed-out browser must not be shown a cached shell of a signed-in page.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file in `control/ui/` is embedded, and nothing embedded is missing from it.
    #[test]
    fn embeds_exactly_the_ui_folder() {
        fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, base, out);
                } else {
                    out.push(
                        p.strip_prefix(base)
                            .unwrap()
                            .to_string_lossy()
                            .replace('\\', "/"),
                    );
                }
            }
        }
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let mut on_disk = Vec::new();
        walk(&base, &base, &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "control/ui/ and ui::FILES differ");
    }

    #[test]
    fn gzip_round_trips() {
        for (name, a) in assets() {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&a.gzipped[..]), &mut out)
                .unwrap();
            assert_eq!(out, a.body, "{name}");
        }
    }
}
