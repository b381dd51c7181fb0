//! OpenTelemetry traces: the server's `tracing` spans exported over
//! OTLP/HTTP (protobuf) to `--otlp-endpoint`, and W3C `traceparent`
//! continued from a request and passed on to the CRM.
//!
//! - Each HTTP request's span (`api`) is a root span, or the child of the
//!   request's `traceparent` ([`continue_trace`]). Each adapter call's span
//!   (`runtime::sandbox`) is its child, and each request the adapter sends
//!   a child of that (`runtime::egress`), whose context goes out in the
//!   request's `traceparent` ([`inject`]), so a CRM's own tracing can join.
//! - Only Switchboard's own spans are exported: a per-layer filter keeps
//!   every other target (the exporter's own, wasmtime's) out.
//! - Export is batched on a thread of its own ([`BatchSpanProcessor`]'s),
//!   through a bounded queue that drops when full: a request never waits for
//!   the collector, and an unreachable one costs a warning in the log.
//! - Without `--otlp-endpoint` nothing is set up: no layer, and the global
//!   propagator stays the no-op one, so [`inject`] adds nothing.
//!
//! [`BatchSpanProcessor`]: opentelemetry_sdk::trace::BatchSpanProcessor

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry::global;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{HeaderExtractor, HeaderInjector, HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;

/// How long one export may take before it is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether [`provider`] ran: until then the functions below return at once.
static ON: AtomicBool = AtomicBool::new(false);

/// Why tracing could not start.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The endpoint or the exporter's settings are unusable.
    #[error("OTLP exporter: {0}")]
    Exporter(String),
}

/// The process's tracer provider, exporting to `<endpoint>/v1/traces`
/// (`endpoint` is the collector's base URL, as in
/// `OTEL_EXPORTER_OTLP_ENDPOINT`). Exports run on `runtime`. Sets the
/// global `traceparent` propagator.
pub fn provider(
    endpoint: &str,
    runtime: tokio::runtime::Handle,
) -> Result<SdkTracerProvider, TraceError> {
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(OnRuntime::new(runtime)?)
        .build()
        .map_err(|e| TraceError::Exporter(e.to_string()))?;
    let resource = Resource::builder()
        .with_service_name("switchboard")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    global::set_text_map_propagator(TraceContextPropagator::new());
    ON.store(true, Ordering::Relaxed);
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The layer that exports Switchboard's spans through `provider`.
pub fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("switchboard"))
        .with_filter(filter_fn(|metadata| {
            metadata.target().starts_with("switchboard")
        }))
}

/// Make `span` the child of the trace `headers` carry in `traceparent`, if
/// any; otherwise it stays a root.
pub fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    let parent = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    if parent.span().span_context().is_valid() {
        // Fails only when the span is disabled, which leaves nothing to join.
        let _ = span.set_parent(parent);
    }
}

/// Put `span`'s context into `headers` as `traceparent` (nothing when
/// tracing is off).
pub fn inject(span: &tracing::Span, headers: &mut HeaderMap) {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    let context = span.context();
    global::get_text_map_propagator(|p| p.inject_context(&context, &mut HeaderInjector(headers)));
}

/// The trace id of `span`, when it is traced.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    if !ON.load(Ordering::Relaxed) {
        return None;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// The exporter's HTTP client (hyper, with rustls for an `https://`
/// collector), driven on the server's tokio runtime: the batch processor
/// exports from a thread of its own, which has no runtime.
#[derive(Debug, Clone)]
struct OnRuntime {
    client: HyperClient<HttpsConnector<HttpConnector>>,
    runtime: tokio::runtime::Handle,
}

impl OnRuntime {
    fn new(runtime: tokio::runtime::Handle) -> Result<Self, TraceError> {
        let tls = crate::egress::tls_config().map_err(|e| TraceError::Exporter(e.to_string()))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: HyperClient::new(connector, EXPORT_TIMEOUT, None),
            runtime,
        })
    }
}

#[async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let sent = self
            .runtime
            .spawn(async move { client.send_bytes(request).await });
        sent.await?
    }
}
