//! Building the service apart from serving it: [`app`] assembles the router over an
//! [`AppState`]; [`App::build`] opens the database, binds the listener (port 0 in tests) and
//! starts the publisher; [`App::run`] serves until the shutdown future resolves, letting
//! in-flight requests finish, then closes the database cleanly.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::api;
use crate::config::ServeArgs;
use crate::db::Db;
use crate::error::{json_errors, AppError};
use crate::ingest;
use crate::state::AppState;

/// Every route, as `(method, path)`; the OpenAPI test checks each is documented.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/v1/snapshot"),
    ("POST", "/v1/events"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/session"),
    ("GET", "/api/v1/session"),
    ("DELETE", "/api/v1/session"),
    ("GET", "/api/v1/tests"),
    ("POST", "/api/v1/tests"),
    ("GET", "/api/v1/tests/{key}"),
    ("PUT", "/api/v1/tests/{key}"),
    ("POST", "/api/v1/tests/{key}/validate"),
    ("POST", "/api/v1/plans"),
    ("GET", "/api/v1/templates"),
    ("POST", "/api/v1/templates"),
    ("GET", "/api/v1/templates/{name}"),
    ("PUT", "/api/v1/templates/{name}"),
    ("DELETE", "/api/v1/templates/{name}"),
    ("GET", "/api/v1/tests/{key}/approvals"),
    ("POST", "/api/v1/tests/{key}/approve"),
    ("POST", "/api/v1/tests/{key}/reject"),
    ("POST", "/api/v1/tests/{key}/start"),
    ("POST", "/api/v1/tests/{key}/pause"),
    ("POST", "/api/v1/tests/{key}/resume"),
    ("POST", "/api/v1/tests/{key}/stop"),
    ("POST", "/api/v1/tests/{key}/archive"),
    ("GET", "/api/v1/tests/{key}/aggregates"),
    ("GET", "/api/v1/tests/{key}/results"),
    ("GET", "/api/v1/settings"),
    ("PUT", "/api/v1/layers"),
    ("PUT", "/api/v1/holdout"),
    ("PUT", "/api/v1/personas"),
    ("PUT", "/api/v1/allowed-origins"),
    ("PUT", "/api/v1/decision"),
    ("PUT", "/api/v1/approval-thresholds"),
    ("PUT", "/api/v1/dimensions"),
    ("GET", "/api/v1/snapshots"),
    ("GET", "/api/v1/snapshots/{version}"),
    ("POST", "/api/v1/snapshots/{version}/rollback"),
    ("GET", "/api/v1/publish"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/audit/verify"),
    ("DELETE", "/api/v1/units/{unit_id}"),
    ("GET", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{id}"),
    ("GET", "/api/v1/ingest-keys"),
    ("DELETE", "/api/v1/ingest-keys/{id}"),
    ("GET", "/api/v1/monitor"),
    ("POST", "/api/v1/monitor/run"),
    ("GET", "/api/v1/tests/{key}/monitor"),
    ("GET", "/api/v1/tests/{key}/history"),
    ("GET", "/api/v1/tests/{key}/bandit"),
    ("GET", "/api/v1/priors"),
    ("GET", "/api/v1/insights"),
    ("POST", "/api/v1/predict"),
    ("GET", "/api/v1/alerts"),
    ("POST", "/api/v1/alerts/{id}/ack"),
    ("GET", "/api/v1/webhooks"),
    ("POST", "/api/v1/webhooks"),
    ("DELETE", "/api/v1/webhooks/{id}"),
    ("GET", "/api/v1/webhooks/{id}/deliveries"),
    ("GET", "/api/v1/stream"),
    ("GET", "/api/v1/tests/{key}/export"),
    ("GET", "/api/v1/tests/{key}/report"),
    ("GET", "/api/v1/reports"),
    ("POST", "/api/v1/reports"),
    ("GET", "/api/v1/reports/{id}"),
    ("PUT", "/api/v1/reports/{id}"),
    ("DELETE", "/api/v1/reports/{id}"),
    ("GET", "/api/v1/reports/{id}/run"),
    ("GET", "/api/v1/system"),
];

pub fn app(state: AppState) -> Router {
    let ingest = Router::new()
        .route("/v1/events", post(ingest::post_events))
        .layer(DefaultBodyLimit::max(state.max_body_bytes));
    Router::new()
        .merge(api::health::router())
        .route("/v1/snapshot", get(api::snapshots::serve_latest))
        .route("/api/v1/openapi.json", get(api::openapi::document))
        .merge(api::tests::router())
        .merge(api::settings::router())
        .merge(api::snapshots::router())
        .merge(api::admin::router())
        .merge(api::credentials::router())
        .merge(api::monitor::router())
        .merge(api::bandits::router())
        .merge(api::learn::router())
        .merge(api::approvals::router())
        .merge(api::plans::router())
        .merge(api::templates::router())
        .merge(api::metrics::router())
        .merge(api::alerts::router())
        .merge(api::webhooks::router())
        .merge(api::stream::router())
        .merge(api::exports::router())
        .merge(api::reports::router())
        .merge(api::system::router())
        .merge(api::session::router())
        .merge(crate::ui::router())
        .merge(ingest)
        .fallback(|| async { AppError::NotFound("route".into()) })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(axum::middleware::map_response(json_errors))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::metrics::track,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(RequestIds::new()))
        .with_state(state)
}

/// Request ids: the caller's `x-request-id` if it sent one, else this process's random
/// prefix and a counter; answered in the response's `x-request-id` and recorded on the
/// request's span, so every log line of the request carries it.
#[derive(Debug, Clone)]
struct RequestIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    fn new() -> Self {
        let mut bytes = [0u8; 4];
        let _ = getrandom::fill(&mut bytes);
        RequestIds {
            prefix: hex::encode(bytes).into(),
            next: Arc::default(),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n:x}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

fn request_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id);
    crate::traces::continue_trace(&span, req.headers());
    span
}

/// A bound, ready-to-run control plane.
#[derive(Debug)]
pub struct App {
    pub addr: SocketAddr,
    pub state: AppState,
    listener: TcpListener,
    router: Router,
    stop_publisher: watch::Sender<bool>,
    publisher: tokio::task::JoinHandle<()>,
    jobs: tokio::task::JoinHandle<()>,
    hub: tokio::task::JoinHandle<()>,
}

impl App {
    pub async fn build(config: &ServeArgs) -> anyhow::Result<App> {
        let db = Db::connect(&config.db, &config.sqlite_synchronous).await?;
        crate::publish::check_stored(&db).await?;
        let state = AppState::new(db.clone(), config)?;
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (stop_publisher, stopped) = watch::channel(false);
        let roots = crate::publish::roots(config.edge_ca_file.as_deref())?;
        let publisher = tokio::spawn(crate::publish::run(
            db,
            roots,
            state.metrics.clone(),
            config.edge_urls.clone(),
            config.edge_secret.clone(),
            state.publish.clone(),
            stopped,
        ));
        let jobs = tokio::spawn(crate::jobs::run(
            state.jobs.clone(),
            stop_publisher.subscribe(),
        ));
        let hub = tokio::spawn(crate::hub::run(
            state.hub.clone(),
            state.db.clone(),
            stop_publisher.subscribe(),
        ));
        let router = app(state.clone());
        Ok(App {
            jobs,
            hub,
            addr,
            state,
            listener,
            router,
            stop_publisher,
            publisher,
        })
    }

    /// Serves until `shutdown` resolves; in-flight requests finish first.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // Open live streams never end by themselves: they end when shutdown begins, so the
        // requests in flight can finish.
        let hub = self.state.hub.clone();
        let shutdown = async move {
            shutdown.await;
            hub.close();
        };
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await?;
        let _ = self.stop_publisher.send(true);
        let _ = self.publisher.await;
        let _ = self.jobs.await;
        let _ = self.hub.await;
        self.state.db.close().await;
        Ok(())
    }
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
