//! A closed-loop HTTP/1.1 load generator: N keep-alive connections, each
//! sending its next request as soon as it has read the last answer, for a
//! fixed time. Latency goes into an HDR histogram (microseconds); an answer
//! that is not a 2xx whose body passes the scenario's check counts as an
//! error.
//!
//! It is as lean as wrk on purpose, so that it is never the bottleneck: a
//! scenario writes each request's bytes into a reused buffer (no client
//! library, no per-request allocation), and the answer is read with the
//! least parsing that is still correct for what the servers send (a status
//! line and `Content-Length`; a chunked answer is an error). `http`
//! measures the baseline with both generators and prints both.

use hdrhistogram::Histogram;
use memchr::memmem;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Writes request number `seq` of connection `connection`, as HTTP/1.1
/// bytes, into the buffer (which arrives empty).
pub(crate) type MakeRequest = Arc<dyn Fn(usize, u64, &mut Vec<u8>) + Send + Sync>;
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
    fn empty() -> anyhow::Result<Self> {
        Ok(Self {
            requests: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            first_error: None,
        })
    }

    pub(crate) fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// Latency at quantile `q`, in milliseconds.
    pub(crate) fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Run `load` against `addrs`, connection `i` going to `addrs[i % len]`
/// (several replicas behind the load tool).
pub(crate) async fn run(
    addrs: &[SocketAddr],
    load: Load,
    make: MakeRequest,
    check: CheckBody,
) -> anyhow::Result<Outcome> {
    anyhow::ensure!(!addrs.is_empty(), "no server to load");
    let start = Instant::now();
    let counted_from = start + load.warmup;
    let deadline = counted_from + load.duration;
    let workers: Vec<_> = (0..load.connections)
        .map(|connection| {
            let (make, check) = (make.clone(), check.clone());
            let addr = addrs[connection % addrs.len()];
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
    let mut outcome = Outcome::empty()?;
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

async fn connect(addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Read one answer from `stream` into `buffer` (which may already hold the
/// start of it): its status, where its body is in `buffer`, and how many
/// bytes of `buffer` it took.
async fn read_answer(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    scratch: &mut [u8],
) -> anyhow::Result<(u16, std::ops::Range<usize>, usize)> {
    let head_end = loop {
        if let Some(at) = memmem::find(buffer, b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(scratch).await?;
        anyhow::ensure!(n > 0, "the server closed the connection");
        buffer.extend_from_slice(&scratch[..n]);
    };
    let head = &buffer[..head_end];
    let status = head
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("not an HTTP/1.1 status line"))?;
    let length = content_length(head)
        .ok_or_else(|| anyhow::anyhow!("an answer without Content-Length (chunked?)"))?;
    let total = head_end + length;
    while buffer.len() < total {
        let n = stream.read(scratch).await?;
        anyhow::ensure!(n > 0, "the server closed the connection mid-body");
        buffer.extend_from_slice(&scratch[..n]);
    }
    Ok((status, head_end..total, total))
}

/// The `Content-Length` of a response head, matched without regard to case.
fn content_length(head: &[u8]) -> Option<usize> {
    head.split(|b| *b == b'\n').find_map(|line| {
        let (name, value) = line.split_at(line.iter().position(|b| *b == b':')?);
        if !name.eq_ignore_ascii_case(b"content-length") {
            return None;
        }
        std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok()
    })
}

async fn worker(
    addr: SocketAddr,
    connection: usize,
    counted_from: Instant,
    deadline: Instant,
    make: MakeRequest,
    check: CheckBody,
) -> anyhow::Result<Outcome> {
    let mut done = Outcome::empty()?;
    let mut stream = connect(addr).await?;
    let (mut request, mut buffer) = (Vec::with_capacity(4096), Vec::with_capacity(8192));
    let mut scratch = vec![0; 16 * 1024];
    let mut seq = 0;
    loop {
        let sent = Instant::now();
        if sent >= deadline {
            return Ok(done);
        }
        request.clear();
        make(connection, seq, &mut request);
        seq += 1;
        let answer = match stream.write_all(&request).await {
            Ok(()) => match read_answer(&mut stream, &mut buffer, &mut scratch).await {
                Ok((status, body, used)) => {
                    let body = &buffer[body];
                    let verdict = if (200..300).contains(&status) && check(body) {
                        Ok(())
                    } else {
                        Err(format!("{status}: {}", String::from_utf8_lossy(body)))
                    };
                    buffer.drain(..used);
                    verdict
                }
                Err(e) => Err(format!("reading: {e}")),
            },
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
                // Whatever the connection holds now is out of step.
                buffer.clear();
                stream = connect(addr).await?;
            }
        }
    }
}

/// Append an HTTP/1.1 request for `path_and_query` with a JSON body made of
/// `body_parts` (concatenated; several parts save a copy).
pub(crate) fn write_request(
    out: &mut Vec<u8>,
    method: &str,
    host: SocketAddr,
    path_and_query: &str,
    body_parts: &[&[u8]],
) {
    let length: usize = body_parts.iter().map(|p| p.len()).sum();
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "{method} {path_and_query} HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    );
    for part in body_parts {
        out.extend_from_slice(part);
    }
}

/// A JSON body with one string that changes per request: the JSON of a
/// value whose `MARKER` string is cut out, so a request is its two halves
/// around the per-request text.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub(crate) before: Vec<u8>,
    pub(crate) after: Vec<u8>,
}

impl Template {
    /// The string a template's value holds where each request's text goes.
    pub(crate) const MARKER: &'static str = "@@per-request@@";

    pub(crate) fn new(value: &serde_json::Value) -> anyhow::Result<Self> {
        let json = serde_json::to_vec(value)?;
        let at = memmem::find(&json, Self::MARKER.as_bytes())
            .ok_or_else(|| anyhow::anyhow!("the template has no marker"))?;
        Ok(Self {
            before: json[..at].to_vec(),
            after: json[at + Self::MARKER.len()..].to_vec(),
        })
    }
}

/// Send one request on a new connection and read the JSON answer.
pub(crate) async fn once(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    body: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let (status, value) = request(addr, method, path_and_query, body).await?;
    // Logins answer without `successful`; everything else must say true.
    let refused = value
        .get("successful")
        .is_some_and(|s| s != &serde_json::Value::Bool(true));
    if !(200..300).contains(&status) || refused {
        anyhow::bail!(
            "{method} {}: {status} {value}",
            path_and_query.split('?').next().unwrap_or_default()
        );
    }
    Ok(value)
}

/// One request on a connection of its own; the status and the JSON body,
/// whatever the status.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    body: &serde_json::Value,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let mut stream = connect(addr).await?;
    let body = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(body)?
    };
    let mut request = Vec::new();
    write_request(&mut request, method, addr, path_and_query, &[&body]);
    stream.write_all(&request).await?;
    let (mut buffer, mut scratch) = (Vec::new(), vec![0; 16 * 1024]);
    let (status, range, _) = read_answer(&mut stream, &mut buffer, &mut scratch).await?;
    let bytes = &buffer[range];
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{status}: not JSON ({e}): {}",
            String::from_utf8_lossy(bytes)
        )
    })?;
    Ok((status, value))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_is_found_in_any_case() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: a\r\nContent-LENGTH: 42\r\n\r\n";
        assert_eq!(content_length(head), Some(42));
        assert_eq!(content_length(b"HTTP/1.1 200 OK\r\n\r\n"), None);
    }

    #[test]
    fn a_template_splits_around_its_marker() {
        let value = serde_json::json!({"a": 1, "s": Template::MARKER, "z": [2]});
        let t = Template::new(&value).expect("has a marker");
        let mut whole = t.before.clone();
        whole.extend_from_slice(b"x-1");
        whole.extend_from_slice(&t.after);
        let parsed: serde_json::Value = serde_json::from_slice(&whole).expect("JSON");
        assert_eq!(parsed["s"], "x-1");
        assert_eq!(parsed["z"][0], 2);
    }
}
