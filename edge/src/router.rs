//! Method and path to [`Route`].

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Assign,
    Events,
    PutSnapshot,
    /// `GET /v1/admin/stats`: the isolate's counters.
    Stats,
    Health,
    /// The browser snippet, `GET /v1/sdk.js`.
    Sdk,
    /// A CORS preflight for a browser-facing route.
    Preflight,
    MethodNotAllowed,
    NotFound,
}

pub fn route(method: &str, path: &str) -> Route {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let browser_facing = matches!(path, "/v1/assign" | "/v1/events");
    match (method, path) {
        ("OPTIONS", _) if browser_facing => Route::Preflight,
        ("GET" | "HEAD", "/v1/assign") => Route::Assign,
        ("POST", "/v1/events") => Route::Events,
        ("PUT", "/v1/admin/snapshot") => Route::PutSnapshot,
        ("GET", "/v1/admin/stats") => Route::Stats,
        ("GET" | "HEAD", "/v1/health") => Route::Health,
        ("GET" | "HEAD", "/v1/sdk.js") => Route::Sdk,
        (
            _,
            "/v1/assign" | "/v1/events" | "/v1/admin/snapshot" | "/v1/admin/stats" | "/v1/health"
            | "/v1/sdk.js",
        ) => Route::MethodNotAllowed,
        _ => Route::NotFound,
    }
}
