//! What the server tells operators about itself: the Prometheus series
//! every layer records and the listener that serves them ([`exporter`]);
//! OpenTelemetry traces ([`traces`]); and [`init`], which sets up a
//! process's logs and traces from its configuration.
//!
//! Every layer records through the functions here, so each series has one
//! name, one set of labels and one place that writes it. Recording goes
//! through the `metrics` facade: until [`exporter::install`] runs (the
//! server was started with `--metrics-listen`), every record is a no-op
//! that costs a few nanoseconds.
//!
//! **Labels are bounded.** A label takes a platform, an operation, a route
//! template, an outcome code, an allowed host pattern or a status: never a
//! user id, a session id, a token or a raw path. The e2e test
//! `observability::metrics_carry_only_bounded_labels` checks the label sets
//! of a live `/metrics`.

pub mod exporter;
pub mod traces;

use http::Method;
use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Requests answered, by route template, method and status.
pub const HTTP_REQUESTS: &str = "switchboard_http_requests_total";
/// Time to answer a request, by route template and method.
pub const HTTP_DURATION: &str = "switchboard_http_request_duration_seconds";
/// Adapter calls, by platform, operation and outcome (`ok` or the
/// `errorCode` in lower case).
pub const ADAPTER_CALLS: &str = "switchboard_adapter_calls_total";
/// Time of one adapter call, by platform and operation.
pub const ADAPTER_CALL_DURATION: &str = "switchboard_adapter_call_duration_seconds";
/// Adapter calls running now, by platform.
pub const ADAPTER_CALLS_IN_FLIGHT: &str = "switchboard_adapter_calls_in_flight";
/// Adapter files loaded, by platform and result (`compiled`, `cached`,
/// `refused`).
pub const ADAPTER_LOADS: &str = "switchboard_adapter_loads_total";
/// Platforms served now.
pub const ADAPTERS_SERVING: &str = "switchboard_adapters_serving";
/// Adapters' outbound requests, by platform, allowed host and status (the
/// HTTP status, `denied` or `error`).
pub const EGRESS_REQUESTS: &str = "switchboard_egress_requests_total";
/// Requests to a CRM's token endpoint to refresh a user's OAuth tokens, by
/// platform and result (`ok`, `refused`, `unavailable`).
pub const OAUTH_REFRESHES: &str = "switchboard_oauth_refreshes_total";
/// Time of one store operation, by store (`sqlite`, `postgres`) and
/// operation.
pub const STORE_DURATION: &str = "switchboard_store_operation_duration_seconds";
/// The store's open connections, by store.
pub const STORE_CONNECTIONS: &str = "switchboard_store_pool_connections";
/// The store's idle connections, by store.
pub const STORE_IDLE_CONNECTIONS: &str = "switchboard_store_pool_idle_connections";
/// Always 1; its label is the server's version.
pub const BUILD_INFO: &str = "switchboard_build_info";

/// A process's logs and traces, set up; [`Telemetry::shutdown`] flushes the
/// spans not yet exported.
#[derive(Debug)]
pub struct Telemetry {
    traces: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

/// Install the process's log subscriber: `RUST_LOG` (or `default_level`),
/// lines in `format` to stderr, and spans exported to `otlp_endpoint` when
/// given. Call once, on the tokio runtime that will serve.
pub fn init(
    default_level: &str,
    format: crate::log_filter::LogFormat,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<Telemetry> {
    let traces = otlp_endpoint
        .map(|endpoint| traces::provider(endpoint, tokio::runtime::Handle::current()))
        .transpose()?;
    let filter = crate::log_filter::log_filter(default_level);
    let subscriber =
        crate::log_filter::subscriber(filter, std::io::stderr, &[format], true, traces.as_ref());
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(Telemetry { traces })
}

impl Telemetry {
    /// Export what is still queued (for at most the exporter's timeout).
    pub async fn shutdown(self) {
        if let Some(provider) = self.traces {
            let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(e)) = flushed {
                tracing::warn!(error = %e, "exporting the last spans");
            }
        }
    }
}

/// The `route` of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Metric handles by label set, each registered on first use and reused
/// after: registering builds the key and looks it up in the recorder,
/// which on a hot path costs more than the update itself. Handles
/// registered before the recorder is installed stay no-ops, so the server
/// installs it before it builds anything that records.
#[derive(Debug)]
struct Handles<K, H>(RwLock<HashMap<K, H>>);

impl<K, H> Default for Handles<K, H> {
    fn default() -> Self {
        Self(RwLock::new(HashMap::new()))
    }
}

impl<K: Eq + Hash, H: Clone> Handles<K, H> {
    /// The handle of `key`, or the one `register` makes (with its owned key).
    fn get<Q>(&self, key: &Q, register: impl FnOnce() -> (K, H)) -> H
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let known = self.0.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(handle) = known.get(key) {
            return handle.clone();
        }
        drop(known);
        let (key, handle) = register();
        let mut known = self.0.write().unwrap_or_else(PoisonError::into_inner);
        known.entry(key).or_insert(handle).clone()
    }
}

/// One route's request counter and duration histogram, by method and status.
type RouteHandles = Handles<(Method, u16), (Counter, Histogram)>;

/// The HTTP series, for the API's middleware.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    /// By route template.
    routes: Handles<String, Arc<RouteHandles>>,
}

impl HttpMetrics {
    /// One answered request. `route` is the matched template
    /// (`/admin/adapters/{platform}`), never the path; `None` when no route
    /// matched.
    pub fn record(&self, route: Option<&str>, method: &Method, status: u16, took: Duration) {
        let route = route.unwrap_or(UNMATCHED_ROUTE);
        let by_answer = self
            .routes
            .get(route, || (route.to_owned(), Arc::default()));
        let (requests, duration) = by_answer.get(&(method.clone(), status), || {
            let (r, m) = (route.to_owned(), method.as_str().to_owned());
            let requests = counter!(HTTP_REQUESTS, "route" => r.clone(), "method" => m.clone(), "status" => status.to_string());
            let duration = histogram!(HTTP_DURATION, "route" => r, "method" => m);
            ((method.clone(), status), (requests, duration))
        });
        requests.increment(1);
        duration.record(took);
    }
}

/// One adapter's call series; its runtime holds them for as long as the
/// adapter version is loaded.
#[derive(Debug)]
pub struct AdapterMetrics {
    platform: String,
    in_flight: Gauge,
    calls: Handles<(&'static str, &'static str), Counter>,
    durations: Handles<&'static str, Histogram>,
}

impl AdapterMetrics {
    /// The series of `platform`'s adapter.
    pub fn new(platform: &str) -> Self {
        Self {
            platform: platform.to_owned(),
            in_flight: gauge!(ADAPTER_CALLS_IN_FLIGHT, "platform" => platform.to_owned()),
            calls: Handles::default(),
            durations: Handles::default(),
        }
    }

    /// A call starts: counted in flight until the guard is finished or
    /// dropped.
    pub fn start(&self) -> CallInFlight<'_> {
        self.in_flight.increment(1);
        CallInFlight {
            metrics: self,
            started: Instant::now(),
        }
    }
}

/// An adapter call in flight.
#[derive(Debug)]
pub struct CallInFlight<'a> {
    metrics: &'a AdapterMetrics,
    started: Instant,
}

impl CallInFlight<'_> {
    /// The call of `operation` ended: `outcome` is `ok` or its `errorCode`
    /// (`&'static`: the codes are a fixed set).
    pub fn finish(self, operation: &'static str, outcome: &'static str) {
        let metrics = self.metrics;
        let calls = metrics.calls.get(&(operation, outcome), || {
            let platform = metrics.platform.clone();
            let counter = counter!(ADAPTER_CALLS, "platform" => platform, "operation" => operation, "outcome" => outcome.to_ascii_lowercase());
            ((operation, outcome), counter)
        });
        calls.increment(1);
        let duration = metrics.durations.get(operation, || {
            let platform = metrics.platform.clone();
            let histogram =
                histogram!(ADAPTER_CALL_DURATION, "platform" => platform, "operation" => operation);
            (operation, histogram)
        });
        duration.record(self.started.elapsed());
    }
}

impl Drop for CallInFlight<'_> {
    fn drop(&mut self) {
        self.metrics.in_flight.decrement(1);
    }
}

/// How an adapter file's load ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadResult {
    /// Compiled, and serving.
    Compiled,
    /// Taken from the artifact cache, and serving.
    Cached,
    /// Refused; whatever served before keeps serving.
    Refused,
}

/// One adapter file's load. `platform` is the platform it serves or
/// claimed, or `unknown` when it never said.
pub fn adapter_load(platform: &str, result: LoadResult) {
    let result = match result {
        LoadResult::Compiled => "compiled",
        LoadResult::Cached => "cached",
        LoadResult::Refused => "refused",
    };
    counter!(ADAPTER_LOADS, "platform" => platform.to_owned(), "result" => result).increment(1);
}

/// How many platforms are served now.
pub fn adapters_serving(count: usize) {
    gauge!(ADAPTERS_SERVING).set(count as f64);
}

/// One outbound request of `platform`'s adapter. `host` is the allowed
/// host pattern it matched (a wildcard stays a wildcard, so a CRM's
/// per-customer subdomains make one series); `status` is the HTTP status,
/// `denied` or `error`.
pub fn egress_request(platform: &str, host: &str, status: &str) {
    counter!(EGRESS_REQUESTS, "platform" => platform.to_owned(), "host" => host.to_owned(), "status" => status.to_owned())
        .increment(1);
}

/// One request to `platform`'s token endpoint for a refresh.
pub fn oauth_refresh(platform: &str, result: &'static str) {
    counter!(OAUTH_REFRESHES, "platform" => platform.to_owned(), "result" => result).increment(1);
}

/// One store's operation series.
#[derive(Debug)]
pub struct StoreMetrics {
    store: &'static str,
    durations: Handles<&'static str, Histogram>,
}

impl StoreMetrics {
    /// The series of `store` (`sqlite`, `postgres`).
    pub fn new(store: &'static str) -> Self {
        Self {
            store,
            durations: Handles::default(),
        }
    }

    /// One `operation` took `took`.
    pub fn record(&self, operation: &'static str, took: Duration) {
        let duration = self.durations.get(operation, || {
            let histogram =
                histogram!(STORE_DURATION, "store" => self.store, "operation" => operation);
            (operation, histogram)
        });
        duration.record(took);
    }
}

/// The store's connection pool, as of now.
pub fn store_pool(store: &'static str, open: usize, idle: usize) {
    gauge!(STORE_CONNECTIONS, "store" => store).set(open as f64);
    gauge!(STORE_IDLE_CONNECTIONS, "store" => store).set(idle as f64);
}
