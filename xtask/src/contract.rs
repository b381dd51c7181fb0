//! The API contract test: schemathesis against a live server's own
//! `/openapi.json`. The server (debug build) serves the bundled adapters
//! from `target/plugins` on a free loopback port with a fresh data dir; a
//! testCRM user signs in, and schemathesis fuzzes every route but
//! `/unAuthorize` (which would sign that user out) with the user's token,
//! for a bounded number of examples and time, with the checks
//! `not_a_server_error` and `response_schema_conformance`.
//!
//! schemathesis comes from PyPI, into a virtualenv under
//! `target/schemathesis`, installed on first use.

use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The schemathesis release the contract is checked with.
const SCHEMATHESIS: &str = "schemathesis==4.32.*";
/// Examples per operation and the whole run's time budget: bounded, so CI
/// time stays bounded.
const MAX_EXAMPLES: &str = "40";
const MAX_SECONDS: &str = "100";

/// Run the contract test.
pub(crate) fn check(root: &Path) -> Result<()> {
    let schemathesis = ensure_schemathesis(root)?;
    crate::build_debug_bins(root, &["switchboard"])?;
    crate::build_adapters(root)?;

    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let address = format!("127.0.0.1:{port}");
    let data = root.join("target/schemathesis/data");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data)?;
    let log_path = root.join("target/schemathesis/server.log");
    let log = std::fs::File::create(&log_path)?;
    let server = Command::new(root.join("target/debug/switchboard"))
        .current_dir(root)
        .args([
            "serve",
            "--plugins-dir",
            "target/plugins",
            "--listen",
            &address,
        ])
        .arg("--data-dir")
        .arg(&data)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting the server")?;
    let server = Running(server);

    wait_until_ready(&address)?;
    let token = sign_in(&address)?;
    println!("the API contract (schemathesis), on http://{address}:");
    let status = Command::new(schemathesis)
        .args([
            "run",
            &format!("http://{address}/openapi.json"),
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--exclude-path",
            "/unAuthorize",
            "--max-examples",
            MAX_EXAMPLES,
            "--max-time",
            MAX_SECONDS,
            "--no-color",
            "--header",
        ])
        .arg(format!("Authorization: Bearer {token}"))
        .status()
        .context("running schemathesis")?;
    drop(server);
    if !status.success() {
        bail!(
            "schemathesis found answers that break the API's own OpenAPI document ({status}); \
             the server's log is {}",
            log_path.display()
        );
    }
    Ok(())
}

/// Kills the server when dropped, however the run ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `target/schemathesis/bin/schemathesis`, installed when missing.
fn ensure_schemathesis(root: &Path) -> Result<PathBuf> {
    let venv = root.join("target/schemathesis");
    let bin = venv.join("bin/schemathesis");
    if bin.exists() {
        return Ok(bin);
    }
    println!("installing {SCHEMATHESIS} into {}", venv.display());
    crate::run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    crate::run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", SCHEMATHESIS]))?;
    Ok(bin)
}

/// Poll `/healthz` until it answers 200, for up to a minute.
fn wait_until_ready(address: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok((200, _)) = request(address, "GET", "/healthz", None) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the server on {address} was not ready within a minute");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sign in to testCRM; the `jwtToken`.
fn sign_in(address: &str) -> Result<String> {
    let body = r#"{"platform": "testCRM", "apiKey": "schemathesis", "hostname": "crm.example"}"#;
    let (status, answer) = request(address, "POST", "/apiKeyLogin", Some(body))?;
    let token = answer
        .split("\"jwtToken\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .filter(|_| status == 200)
        .with_context(|| format!("signing in answered {status}: {answer}"))?;
    Ok(token.to_owned())
}

/// One HTTP/1.1 request on a fresh connection: status and body.
fn request(address: &str, method: &str, path: &str, json: Option<&str>) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = json.unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status")?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
