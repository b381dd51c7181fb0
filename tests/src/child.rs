//! The real server in a process of its own, so a test can signal or kill
//! it, and a stream of creates that records what was acknowledged.

use crate::poll::wait_until;
use crate::server::{Cli, server_args};
use crate::{Dirs, create_body};
use clap::Parser;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The environment variable that turns a test binary into a server process
/// (see [`ChildServer`]); it holds the server's flags as a JSON array.
pub const CHILD_SERVER_ARGS: &str = "SWITCHBOARD_TEST_CHILD_ARGS";

/// The name of the `#[ignore]`d test, in every test binary that starts
/// [`ChildServer`]s, whose body is [`run_child_server`].
pub const CHILD_ENTRY: &str = "switchboard_child";

/// A server in a process of its own, so a test can signal or kill it.
///
/// The process is this test binary again, running the [`CHILD_ENTRY`] test
/// with the flags in [`CHILD_SERVER_ARGS`]. It prints `LISTENING <addr>`
/// once bound and shuts down gracefully on SIGTERM, as `switchboard serve`
/// does.
#[derive(Debug)]
pub struct ChildServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    child: std::process::Child,
}

impl ChildServer {
    /// Start a child server on `dirs` and wait (with a deadline) until ready.
    /// `extra` are more CLI flags.
    pub async fn start(dirs: &Dirs, extra: &[&str]) -> Self {
        use std::io::BufRead;
        let args = serde_json::to_string(&server_args(dirs, extra)).unwrap();
        let entry = CHILD_ENTRY;
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                entry,
                "--ignored",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_SERVER_ARGS, args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Read the address, then keep draining: the child writes more (its
        // test result) when it exits, and must not meet a closed pipe.
        let stdout = child.stdout.take().unwrap();
        let (found, address) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                // libtest prints `test NAME ... ` before it, on the same line.
                if let Some(at) = line.find("LISTENING ")
                    && let Some(found) = found.take()
                {
                    let _ =
                        found.send(format!("http://{}", line[at + "LISTENING ".len()..].trim()));
                }
            }
        });
        let base = address.await.expect("the child server printed its address");
        let server = Self { base, child };
        let client = reqwest::Client::new();
        wait_until(Duration::from_secs(60), async || {
            match client.get(format!("{}/healthz", server.base)).send().await {
                Ok(r) if r.status() == 200 => Ok(()),
                _ => Err("the child server to be ready".to_owned()),
            }
        })
        .await;
        server
    }

    /// Kill the process with SIGKILL: no shutdown, no flush, no goodbye.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Send SIGTERM, as an init system stopping the service does.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Wait (with a deadline) for the process to exit.
    pub async fn wait_exit(&mut self, deadline: Duration) -> std::process::ExitStatus {
        wait_until(deadline, async || {
            self.exited().ok_or_else(|| "the server to exit".to_owned())
        })
        .await
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChildServer {
    /// `GET path_and_query`: the JSON body.
    pub async fn get(&self, path_and_query: &str) -> Value {
        let url = format!("{}{path_and_query}", self.base);
        let response = reqwest::get(url).await.unwrap();
        response.json().await.unwrap()
    }

    /// `POST path_and_query` with a JSON body: the JSON body.
    pub async fn post(&self, path_and_query: &str, body: &Value) -> Value {
        let url = format!("{}{path_and_query}", self.base);
        let response = reqwest::Client::new()
            .post(url)
            .json(body)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    /// Log in with an API key; returns the `jwtToken`.
    pub async fn login(&self, platform: &str, api_key: &str) -> String {
        let body = json!({"platform": platform, "apiKey": api_key, "hostname": "h"});
        let reply = self.post("/apiKeyLogin", &body).await;
        reply["jwtToken"].as_str().unwrap().to_owned()
    }

    /// The `GET /callLog` entry of one session.
    pub async fn find(&self, token: &str, session_id: &str) -> Value {
        let reply = self
            .get(&format!(
                "/callLog?jwtToken={token}&sessionIds={session_id}"
            ))
            .await;
        reply["logs"][0].clone()
    }
}

/// What a stream of creates saw.
#[derive(Debug, Default)]
pub struct Outcomes {
    /// Sessions acknowledged `successful: true`, with their log ids.
    pub acked: std::collections::BTreeMap<String, String>,
    /// Sessions whose create got no answer (the server went away).
    pub cut_off: std::collections::BTreeSet<String>,
}

/// Create sessions `<prefix>-0`, `<prefix>-1`, … one after another until
/// the server stops answering, recording each outcome as it comes.
pub async fn stream_creates(
    base: String,
    token: String,
    prefix: String,
    outcomes: Arc<std::sync::Mutex<Outcomes>>,
) {
    let client = reqwest::Client::new();
    for i in 0..100_000 {
        let session = format!("{prefix}-{i}");
        let sent = client
            .post(format!("{base}/callLog?jwtToken={token}"))
            .json(&create_body(&session, json!(1), "stream"))
            .send()
            .await;
        let reply: Option<Value> = match sent {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        let mut outcomes = outcomes.lock().unwrap();
        match reply {
            Some(body) if body["successful"] == true => {
                let log_id = body["logId"].as_str().unwrap().to_owned();
                outcomes.acked.insert(session, log_id);
            }
            Some(body) => panic!("{session}: {body}"),
            None => {
                outcomes.cut_off.insert(session);
                return;
            }
        }
    }
}

/// The body of a child server's entry test: serve with the flags in
/// [`CHILD_SERVER_ARGS`] until killed. Without the variable (an ordinary
/// `--ignored` run) it returns at once.
pub fn run_child_server() {
    let Ok(args) = std::env::var(CHILD_SERVER_ARGS) else {
        return;
    };
    let args: Vec<String> = serde_json::from_str(&args).unwrap();
    let config = Cli::try_parse_from(args).unwrap().config;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // Logs and traces as `switchboard serve` sets them up.
        let otlp = config.otlp_endpoint.as_deref();
        let telemetry = switchboard::telemetry::init("info", config.log_format, otlp).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        #[allow(clippy::print_stdout, reason = "the parent reads the address")]
        {
            println!("LISTENING {}", listener.local_addr().unwrap());
        }
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
        switchboard::serve(listener, config, async move {
            terminate.recv().await;
        })
        .await
        .unwrap();
        telemetry.shutdown().await;
    });
}
