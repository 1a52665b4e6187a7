//! Logs and traces: `tracing` to stderr (text, or JSON lines with `--log-json`), and, in a
//! build with the `otlp` feature and `--otlp-endpoint` set, every span (one per request,
//! carrying its request id, and what runs inside it) exported to an OpenTelemetry collector
//! over OTLP/HTTP. A request that arrives with a W3C `traceparent` header continues the
//! caller's trace.

use axum::http::HeaderMap;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// What must outlive the server: the exporter, flushed by [`Traces::shutdown`].
#[derive(Debug, Default)]
pub struct Traces {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Traces {
    /// Sends the spans still buffered (the exporter batches them) before the process exits.
    pub fn shutdown(self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider {
            if let Err(e) = provider.shutdown() {
                eprintln!("edgewise: flushing traces at exit: {e}");
            }
        }
    }
}

/// Installs the process's subscriber. Fails, naming the setting, for an `--otlp-endpoint`
/// this build cannot honour (empty: no export).
pub fn init(log_json: bool, endpoint: &str) -> anyhow::Result<Traces> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt: Box<dyn Layer<Registry> + Send + Sync> = if log_json {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    let registry = tracing_subscriber::registry().with(fmt).with(filter);
    if endpoint.is_empty() {
        registry.init();
        return Ok(Traces::default());
    }
    #[cfg(feature = "otlp")]
    {
        let (provider, tracer) = otlp::pipeline(endpoint)?;
        registry
            .with(tracing_opentelemetry::layer().with_tracer(tracer))
            .init();
        Ok(Traces {
            provider: Some(provider),
        })
    }
    #[cfg(not(feature = "otlp"))]
    {
        anyhow::bail!(
            "--otlp-endpoint {endpoint}: this build has no OpenTelemetry export; \
             build with `cargo build --release --features otlp`"
        )
    }
}

/// Makes `span` continue the trace named by the request's `traceparent`, if any (a no-op
/// without the `otlp` feature).
pub fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    #[cfg(feature = "otlp")]
    otlp::continue_trace(span, headers);
    #[cfg(not(feature = "otlp"))]
    let _ = (span, headers);
}

#[cfg(feature = "otlp")]
mod otlp {
    use axum::http::HeaderMap;
    use opentelemetry::propagation::{Extractor, TextMapPropagator};
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{SpanExporter, WithExportConfig};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::Resource;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    /// The exporter (batched, on its own thread) and the layer that feeds it. `endpoint` is
    /// the collector's OTLP/HTTP base URL (`http://collector:4318`) or its traces URL.
    pub fn pipeline(
        endpoint: &str,
    ) -> anyhow::Result<(SdkTracerProvider, opentelemetry_sdk::trace::Tracer)> {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            anyhow::bail!("--otlp-endpoint {endpoint}: expected an http:// or https:// URL");
        }
        let base = endpoint.trim_end_matches('/');
        let url = if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        };
        let exporter = SpanExporter::builder()
            .with_http()
            .with_endpoint(url)
            .build()
            .map_err(|e| anyhow::anyhow!("--otlp-endpoint {endpoint}: {e}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name("edgewise-control")
                    .build(),
            )
            .build();
        let tracer = provider.tracer("edgewise-control");
        Ok((provider, tracer))
    }

    struct Headers<'a>(&'a HeaderMap);

    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }

    pub fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
        if headers.contains_key("traceparent") {
            let parent = TraceContextPropagator::new().extract(&Headers(headers));
            let _ = span.set_parent(parent);
        }
    }
}
