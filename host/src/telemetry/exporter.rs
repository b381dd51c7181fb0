//! The Prometheus endpoint: `GET /metrics` in the text format, on a
//! listener of its own (`--metrics-listen`) so it is never exposed with the
//! API.
//!
//! The recorder is `metrics-exporter-prometheus`'s, installed as the
//! process's global `metrics` recorder on first use; a process that serves
//! twice (tests do) shares it.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;

/// Histogram buckets, in seconds: from 100 µs (a cached lookup) to 30 s
/// (the default request timeout).
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// How often histograms are compacted between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Sets gauges that are read rather than counted (a pool's connections)
/// just before each scrape.
pub type BeforeScrape = Arc<dyn Fn() + Send + Sync>;

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    /// Another `metrics` recorder was installed first.
    #[error("installing the Prometheus recorder: {0}")]
    Install(String),
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first call.
fn handle() -> Result<PrometheusHandle, ExporterError> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
        .map_err(|e| ExporterError::Install(e.to_string()))?
        .build_recorder();
    let handle = recorder.handle();
    // Two servers starting at once: the loser's recorder is dropped unused.
    if HANDLE.set(handle).is_ok() {
        metrics::set_global_recorder(recorder)
            .map_err(|e| ExporterError::Install(e.to_string()))?;
        metrics::gauge!(super::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    }
    Ok(HANDLE.get().expect("set above").clone())
}

/// Install the recorder and serve `GET /metrics` on `listener` until the
/// returned task is aborted. `before_scrape` runs before each render.
pub fn serve(
    listener: TcpListener,
    before_scrape: BeforeScrape,
) -> Result<tokio::task::JoinHandle<()>, ExporterError> {
    let handle = handle()?;
    let upkeep = handle.clone();
    let app = Router::new()
        .route("/metrics", get(render))
        .with_state((handle, before_scrape));
    let upkeep = async move {
        let mut tick = tokio::time::interval(UPKEEP_EVERY);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    };
    Ok(tokio::spawn(async move {
        tokio::select! {
            served = axum::serve(listener, app).into_future() => if let Err(e) = served {
                tracing::error!(error = %e, "the metrics listener failed");
            },
            () = upkeep => {}
        }
    }))
}

async fn render(
    State((handle, before_scrape)): State<(PrometheusHandle, BeforeScrape)>,
) -> impl IntoResponse {
    before_scrape();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
}
