//! The log subscriber every Switchboard process uses: the operator's
//! `RUST_LOG`, or a default level, with the targets that would print what an
//! adapter sends turned off whatever `RUST_LOG` says.
//!
//! wasmtime-wasi's and wasmtime-wasi-http's generated bindings trace every
//! host call with its arguments at `trace`: an outgoing request's path and
//! query (HubSpot's token-info path holds the access token), and everything
//! an adapter passes to WASI. Logs must never carry a secret, so those
//! targets are never enabled: not with `RUST_LOG=trace`, and not inside a
//! span a directive enables (`RUST_LOG='[adapter]=trace'` enables every
//! event inside the span, whatever its target, so an `off` directive alone
//! cannot hold). A layer of its own, [`NeverLogged`], refuses them.
//!
//! Lines are text or JSON ([`LogFormat`], `--log-format`).

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::{self, MakeWriter};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Targets that are off at every level, in every span.
const NEVER: &[&str] = &[
    "wasmtime_wasi_http::p2::bindings",
    "wasmtime_wasi::p2::bindings",
];

/// `RUST_LOG`, or `default_level` when it is unset or does not parse.
pub fn log_filter(default_level: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level))
}

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, the
    /// event's fields (`message` among them) at the top level, and `spans`,
    /// the fields of every span the event is in, outermost first
    /// (`request{method, path, request_id}`, `adapter{platform, operation}`).
    Json,
}

/// A line per event to `writer` in each of `formats` (the server uses one;
/// the logging tests take every format at once), as `filter` chooses, never
/// from [`NEVER`]; `ansi` colours text lines. With `traces`, spans are
/// exported through it too, and each JSON line's request span carries its
/// `trace_id`.
pub fn subscriber<W>(
    filter: EnvFilter,
    writer: W,
    formats: &[LogFormat],
    ansi: bool,
    traces: Option<&SdkTracerProvider>,
) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    let lines: Vec<_> = formats
        .iter()
        .map(|format| match format {
            LogFormat::Text => fmt::layer()
                .with_ansi(ansi)
                .with_writer(writer.clone())
                .boxed(),
            LogFormat::Json => fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(true)
                .with_writer(writer.clone())
                .boxed(),
        })
        .collect();
    tracing_subscriber::registry()
        .with(filter)
        .with(lines)
        .with(traces.map(crate::telemetry::traces::layer))
        .with(NeverLogged)
}

/// Turns the [`NEVER`] targets off, whatever the filter beside it enables.
#[derive(Debug, Clone, Copy)]
pub struct NeverLogged;

impl NeverLogged {
    fn refuses(metadata: &Metadata<'_>) -> bool {
        NEVER
            .iter()
            .any(|target| metadata.target().starts_with(target))
    }
}

impl<S: Subscriber> Layer<S> for NeverLogged {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if Self::refuses(metadata) {
            Interest::never()
        } else {
            Interest::always()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _cx: Context<'_, S>) -> bool {
        !Self::refuses(metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex, PoisonError};

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut lines = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            lines.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_wasi_bindings_never_log_even_inside_a_span_enabled_at_trace() {
        let lines = Lines::default();
        let sink = lines.clone();
        let filter = EnvFilter::new("info,[adapter]=trace");
        let formats = [LogFormat::Text, LogFormat::Json];
        let subscriber = subscriber(filter, move || sink.clone(), &formats, false, None);
        tracing::subscriber::with_default(subscriber, || {
            let _call = tracing::info_span!("adapter", platform = "hubspot").entered();
            tracing::trace!(target: "wasmtime_wasi_http::p2::bindings", "GET /token/SECRET");
            tracing::trace!(target: "wasmtime_wasi::p2::bindings", "write SECRET");
            tracing::trace!(target: "switchboard::runtime", "inside the span");
        });
        let text = String::from_utf8_lossy(&lines.0.lock().unwrap_or_else(PoisonError::into_inner))
            .into_owned();
        assert_eq!(
            text.matches("inside the span").count(),
            2,
            "the span is enabled, and each format wrote the line: {text}"
        );
        assert!(!text.contains("SECRET"), "{text}");
    }
}
