//! What an adapter writes to stdout and stderr during one call. A JS or
//! Python adapter's uncaught exception prints its traceback there before
//! the call traps, so the host keeps the first [`CAPTURE_BYTES`] of it and
//! logs them when the call traps or answers `internal` (see `sandbox`).
//! It never reaches the client. Past the bound, output is counted and
//! dropped; writing is never an error for the guest.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Most bytes of a call's output the host keeps.
pub(super) const CAPTURE_BYTES: usize = 16 * 1024;

/// How much the guest may write at once (what `check-write` permits).
const WRITE_PERMIT: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Captured {
    kept: Vec<u8>,
    dropped: usize,
}

/// One call's stdout and stderr, interleaved as a terminal would show
/// them. Clones share the buffer.
#[derive(Debug, Clone, Default)]
pub(super) struct GuestOutput(Arc<Mutex<Captured>>);

impl GuestOutput {
    fn push(&self, bytes: &[u8]) {
        let mut captured = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let room = CAPTURE_BYTES.saturating_sub(captured.kept.len());
        let kept = bytes.len().min(room);
        captured.kept.extend_from_slice(&bytes[..kept]);
        captured.dropped += bytes.len() - kept;
    }

    /// Forget what was written (a reused instance's next call).
    pub(super) fn clear(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Captured::default();
    }

    /// The captured text (invalid UTF-8 replaced), with how much was
    /// dropped; `None` when the guest wrote nothing.
    pub(super) fn text(&self) -> Option<String> {
        let captured = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if captured.kept.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(&captured.kept);
        let text = text.trim_end();
        Some(match captured.dropped {
            0 => text.to_owned(),
            n => format!("{text}\n… {n} more bytes not kept"),
        })
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[async_trait::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_bytes_and_counts_the_rest() {
        let output = GuestOutput::default();
        assert_eq!(output.text(), None);
        output.push(b"Traceback (most recent call last):\n");
        assert_eq!(
            output.text().as_deref(),
            Some("Traceback (most recent call last):")
        );
        output.push(&vec![b'x'; CAPTURE_BYTES]);
        let text = output.text().expect("output was written");
        assert!(text.starts_with("Traceback"), "{text}");
        assert!(text.ends_with("… 35 more bytes not kept"), "{text}");
    }
}
