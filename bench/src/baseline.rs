//! The baseline: the smallest hyper server that answers `POST /callLog` the
//! way Switchboard does, with a fixed JSON body and no store, no JWT and no
//! wasm. Switchboard's figures are reported as a ratio to it, which holds
//! from machine to machine where absolute figures do not.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use tokio::net::TcpListener;

/// What Switchboard answers a successful create with.
const ANSWER: &str = r#"{"successful":true,"logId":"1","returnMessage":{"message":"Call logged","messageType":"success","ttl":2000}}"#;

/// Serve on `listener` until the process ends, on a runtime as large as
/// Switchboard's (one worker per core).
pub(crate) async fn serve(listener: TcpListener) -> anyhow::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let service = service_fn(|request: Request<hyper::body::Incoming>| async move {
                // Read the body, as a real handler must.
                let _ = request.into_body().collect().await;
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from_static(ANSWER.as_bytes())))
                        .unwrap_or_default(),
                )
            });
            // A client hanging up mid-request is not the baseline's problem.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
