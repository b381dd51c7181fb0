//! A closed-loop HTTP load generator on hyper's client connections: N
//! keep-alive connections, each sending its next request as soon as it has
//! read the last answer, for a fixed time. Latency goes into an HDR
//! histogram (microseconds); an answer that is not a 200 whose body passes
//! the scenario's check counts as an error.

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Builds request number `seq` of connection `connection`.
pub(crate) type MakeRequest = Arc<dyn Fn(usize, u64) -> Request<Full<Bytes>> + Send + Sync>;
/// Whether an answer body is the one the scenario expects.
pub(crate) type CheckBody = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// How hard and how long to push.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) connections: usize,
    /// Requests in this first stretch are sent but not counted.
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
}

/// What one run measured.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) elapsed: Duration,
    /// Latency of counted requests, in microseconds.
    pub(crate) latency: Histogram<u64>,
    /// The first unexpected answer, to say what went wrong.
    pub(crate) first_error: Option<String>,
}

impl Outcome {
    pub(crate) fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// Latency at quantile `q`, in milliseconds.
    pub(crate) fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Run `load` against `addr`.
pub(crate) async fn run(
    addr: SocketAddr,
    load: Load,
    make: MakeRequest,
    check: CheckBody,
) -> anyhow::Result<Outcome> {
    let start = Instant::now();
    let counted_from = start + load.warmup;
    let deadline = counted_from + load.duration;
    let workers: Vec<_> = (0..load.connections)
        .map(|connection| {
            let (make, check) = (make.clone(), check.clone());
            tokio::spawn(worker(
                addr,
                connection,
                counted_from,
                deadline,
                make,
                check,
            ))
        })
        .collect();
    let mut outcome = Outcome {
        requests: 0,
        errors: 0,
        elapsed: load.duration,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        first_error: None,
    };
    for worker in workers {
        let done = worker.await??;
        outcome.requests += done.requests;
        outcome.errors += done.errors;
        outcome.latency.add(&done.latency)?;
        outcome.first_error = outcome.first_error.or(done.first_error);
    }
    // The last answers can land a little after the deadline.
    outcome.elapsed = Instant::now().saturating_duration_since(counted_from);
    Ok(outcome)
}

async fn connect(
    addr: SocketAddr,
) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn worker(
    addr: SocketAddr,
    connection: usize,
    counted_from: Instant,
    deadline: Instant,
    make: MakeRequest,
    check: CheckBody,
) -> anyhow::Result<Outcome> {
    let mut done = Outcome {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        first_error: None,
    };
    let mut sender = connect(addr).await?;
    let mut seq = 0;
    loop {
        let sent = Instant::now();
        if sent >= deadline {
            return Ok(done);
        }
        let request = make(connection, seq);
        seq += 1;
        let answer = match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                match response.into_body().collect().await {
                    Ok(body) => {
                        let body = body.to_bytes();
                        if status.is_success() && check(&body) {
                            Ok(())
                        } else {
                            Err(format!("{status}: {}", String::from_utf8_lossy(&body)))
                        }
                    }
                    Err(e) => Err(format!("reading the body: {e}")),
                }
            }
            Err(e) => Err(format!("sending: {e}")),
        };
        let counted = sent >= counted_from;
        match answer {
            Ok(()) if counted => {
                done.requests += 1;
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                done.latency.saturating_record(micros.max(1));
            }
            Ok(()) => {}
            Err(error) => {
                if counted {
                    done.errors += 1;
                }
                done.first_error.get_or_insert(error);
                if sender.is_closed() {
                    sender = connect(addr).await?;
                }
            }
        }
    }
}

/// A JSON request to `path_and_query`.
pub(crate) fn json_request(
    method: &str,
    host: SocketAddr,
    path_and_query: &str,
    body: Vec<u8>,
) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path_and_query)
        .header("host", host.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid request")
}

/// Send one request on a new connection and read the JSON answer.
pub(crate) async fn once(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    body: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let mut sender = connect(addr).await?;
    let body = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(body)?
    };
    let response = sender
        .send_request(json_request(method, addr, path_and_query, body))
        .await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "{status}: not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    })?;
    // Logins answer without `successful`; everything else must say true.
    let refused = value
        .get("successful")
        .is_some_and(|s| s != &serde_json::Value::Bool(true));
    if !status.is_success() || refused {
        anyhow::bail!(
            "{method} {}: {status} {value}",
            path_and_query.split('?').next().unwrap_or_default()
        );
    }
    Ok(value)
}

/// Log in to `platform` with an API key; the `jwtToken`.
pub(crate) async fn login(
    addr: SocketAddr,
    platform: &str,
    api_key: &str,
    hostname: &str,
) -> anyhow::Result<String> {
    let answer = once(
        addr,
        "POST",
        "/apiKeyLogin",
        &serde_json::json!({"platform": platform, "apiKey": api_key, "hostname": hostname}),
    )
    .await?;
    answer["jwtToken"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no jwtToken in {answer}"))
}
