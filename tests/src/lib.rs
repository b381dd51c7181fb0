//! Harness for the black-box tests: start the real server on `127.0.0.1:0`
//! with a temp data dir and real components, talk to it over HTTP, read its
//! SQLite file, and stand up mock CRMs.

#![allow(
    clippy::unwrap_used,
    reason = "test harness: a failed step is a failed test"
)]

use anyhow::Context;
use clap::Parser;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod pipedrive;

/// Paths of the components built by `build.rs`.
pub mod artifacts {
    include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
}

/// The JWT secret every test server uses, so tests can forge tokens.
pub const JWT_SECRET: &str = "switchboard-tests-secret-0123456789abcdef";

/// The admin token every test server uses.
pub const ADMIN_TOKEN: &str = "switchboard-tests-admin-token";

/// The reference RingCentral call-log record from `tests/data/`.
pub fn reference_call() -> Value {
    serde_json::from_str(include_str!("../data/ringcentral-call-log.json")).unwrap()
}

/// A `POST /callLog` body for the reference call, with another session id.
pub fn create_body(session_id: &str, contact_id: Value, note: &str) -> Value {
    let mut log_info = reference_call();
    log_info["sessionId"] = json!(session_id);
    json!({
        "logInfo": log_info,
        "contactId": contact_id,
        "contactType": "person",
        "contactName": "John Smith",
        "note": note,
        "additionalSubmission": { "isAssociatedToDeal": false },
    })
}

/// A temp plugins dir and data dir, kept across server restarts.
#[derive(Debug)]
pub struct Dirs {
    _root: tempfile::TempDir,
    pub plugins: PathBuf,
    pub data: PathBuf,
}

impl Dirs {
    /// Fresh dirs with the given components copied into the plugins dir.
    pub fn with_adapters(components: &[&str]) -> Self {
        let root = tempfile::tempdir().unwrap();
        let plugins = root.path().join("plugins");
        let data = root.path().join("data");
        std::fs::create_dir_all(&plugins).unwrap();
        let dirs = Self {
            _root: root,
            plugins,
            data,
        };
        for component in components {
            dirs.add_adapter(component);
        }
        dirs
    }

    pub fn add_adapter(&self, component: &str) {
        let name = Path::new(component).file_name().unwrap();
        std::fs::copy(component, self.plugins.join(name)).unwrap();
    }

    /// Put `component` in place as `name` the way operators should: copy to
    /// a temp name, then rename.
    pub fn install(&self, component: &str, name: &str) {
        let temp = self.plugins.join(format!(".{name}.tmp"));
        std::fs::copy(component, &temp).unwrap();
        std::fs::rename(&temp, self.plugins.join(name)).unwrap();
    }

    /// Write bytes over `name` in place (no rename).
    pub fn overwrite(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.plugins.join(name), bytes).unwrap();
    }

    pub fn remove(&self, name: &str) {
        std::fs::remove_file(self.plugins.join(name)).unwrap();
    }

    pub fn remove_adapter(&self, component: &str) {
        let name = Path::new(component).file_name().unwrap();
        std::fs::remove_file(self.plugins.join(name)).unwrap();
    }

    /// The server's SQLite file, opened read-only.
    pub fn database(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.data.join("switchboard.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// The keys an adapter stored under `prefix`, read straight from the
    /// SQLite file, in order.
    pub async fn kv_keys(&self, platform: &str, prefix: &str) -> Vec<String> {
        self.database()
            .prepare("SELECT key FROM adapter_kv WHERE platform = ?1 AND key LIKE ?2 ORDER BY key")
            .unwrap()
            .query_map([platform, &format!("{prefix}%")], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// testCRM's stored call-log records, read straight from the SQLite file.
    pub async fn testcrm_records(&self) -> Vec<Value> {
        let rows: Vec<Vec<u8>> = self
            .database()
            .prepare(
                "SELECT CAST(value AS BLOB) FROM adapter_kv
                 WHERE platform = 'testCRM' AND key LIKE 'calllog/%' ORDER BY key",
            )
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.iter()
            .map(|r| serde_json::from_slice(r).unwrap())
            .collect()
    }
}

/// A server with the Pipedrive adapter, pointed at a fresh mock Pipedrive
/// (`--egress-override *.pipedrive.com=<mock>`), with the mock's OAuth
/// client in `pipedrive.toml` (its secret in a file beside it). `extra` are
/// more CLI flags.
pub async fn start_pipedrive(extra: &[&str]) -> (Dirs, pipedrive::MockPipedrive, TestServer) {
    let mock = pipedrive::MockPipedrive::start().await;
    let dirs = Dirs::with_adapters(&[artifacts::PIPEDRIVE, artifacts::TESTCRM]);
    std::fs::write(
        dirs.plugins.join("pipedrive-client-secret"),
        pipedrive::CLIENT_SECRET,
    )
    .unwrap();
    std::fs::write(
        dirs.plugins.join("pipedrive.toml"),
        format!(
            "[oauth]\nclient_id = \"{}\"\nclient_secret_file = \"pipedrive-client-secret\"\n",
            pipedrive::CLIENT_ID
        ),
    )
    .unwrap();
    let rule = format!("*.pipedrive.com={}", mock.url);
    let mut args = vec!["--egress-override", rule.as_str()];
    args.extend_from_slice(extra);
    let server = TestServer::start(&dirs, &args).await;
    (dirs, mock, server)
}

/// Percent-encode a query value.
pub fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The flags of a test server: the harness's defaults (`JWT_SECRET`,
/// `ADMIN_TOKEN`, short timeouts), then `extra`, whose flags replace the
/// defaults of the same name.
fn server_args(dirs: &Dirs, extra: &[&str]) -> Vec<String> {
    let plugins = dirs.plugins.display().to_string();
    let data = dirs.data.display().to_string();
    let defaults = [
        ("--plugins-dir", plugins.as_str()),
        ("--data-dir", data.as_str()),
        ("--jwt-secret", JWT_SECRET),
        ("--adapter-timeout", "3s"),
        ("--adapter-cpu", "500ms"),
        ("--max-instances", "64"),
        ("--shutdown-grace", "5s"),
        ("--admin-token", ADMIN_TOKEN),
        ("--reload-debounce", "50ms"),
    ];
    let mut args = vec!["switchboard".to_owned()];
    for (flag, value) in defaults {
        if !extra.contains(&flag) {
            args.extend([flag.to_owned(), value.to_owned()]);
        }
    }
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    args
}

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
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", server.base)).send().await
                && r.status() == 200
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "child server not ready within 60s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(
                Instant::now() < until,
                "the server did not exit within {deadline:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
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
    });
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: switchboard::config::Config,
}

/// A running server.
#[derive(Debug)]
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A response: status and JSON body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// `returnMessage.message` (empty when there is none).
    pub fn message(&self) -> &str {
        self.body["returnMessage"]["message"]
            .as_str()
            .unwrap_or_default()
    }
}

impl TestServer {
    /// Start on `127.0.0.1:0` and wait (with a deadline) until `/healthz`
    /// says the adapters are loaded. `extra` are more CLI flags.
    pub async fn start(dirs: &Dirs, extra: &[&str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let config = Cli::try_parse_from(server_args(dirs, extra))
            .unwrap()
            .config;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(switchboard::serve(listener, config, async {
            let _ = rx.await;
        }));
        let server = Self {
            base,
            client: reqwest::Client::new(),
            shutdown: Some(tx),
            task: Some(task),
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self
                .client
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                && r.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "server not ready within 60s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stop (as SIGTERM would) and wait for the server to finish.
    pub async fn stop(mut self) {
        self.begin_shutdown();
        self.finished().await;
    }

    /// Signal shutdown (as SIGTERM would) without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Whether `serve` is still running (it returns once shutdown is done).
    pub fn is_serving(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Wait for the server to finish serving.
    pub async fn finished(mut self) {
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .with_context(|| format!("non-JSON body: {}", String::from_utf8_lossy(&bytes)))
            .unwrap();
        Reply { status, body }
    }

    pub async fn get(&self, path_and_query: &str) -> Reply {
        Self::reply(
            self.client
                .get(format!("{}{path_and_query}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post(&self, path_and_query: &str, body: &Value) -> Reply {
        let url = format!("{}{path_and_query}", self.base);
        Self::reply(self.client.post(url).json(body).send().await.unwrap()).await
    }

    pub async fn patch(&self, path_and_query: &str, body: &Value) -> Reply {
        let url = format!("{}{path_and_query}", self.base);
        Self::reply(self.client.patch(url).json(body).send().await.unwrap()).await
    }

    /// Send raw bytes with a content type.
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let url = format!("{}{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let request = self
            .client
            .request(method, url)
            .header("content-type", content_type)
            .body(body);
        Self::reply(request.send().await.unwrap()).await
    }

    /// `GET /admin/adapters` with the admin token: the entries.
    pub async fn admin(&self) -> Vec<Value> {
        self.admin_list().await["adapters"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Components the server has compiled (not taken from its cache).
    pub async fn compilations(&self) -> u64 {
        self.admin_list().await["compilations"].as_u64().unwrap()
    }

    async fn admin_list(&self) -> Value {
        let response = self
            .client
            .get(format!("{}/admin/adapters", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let reply = Self::reply(response).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    /// The admin entry of the file named `name`.
    pub async fn admin_entry(&self, name: &str) -> Option<Value> {
        self.admin().await.into_iter().find(|entry| {
            entry["file"]
                .as_str()
                .is_some_and(|f| f.ends_with(&format!("/{name}")))
        })
    }

    /// Poll the admin entry of file `name` until `ready` holds (deadline 30s).
    pub async fn wait_for_file(&self, name: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let entry = self.admin_entry(name).await;
            if let Some(entry) = entry.as_ref().filter(|e| ready(e)) {
                return entry.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{name} never got there; last: {entry:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Log in with an API key at `crm.example`; returns the `jwtToken`.
    pub async fn login(&self, platform: &str, api_key: &str) -> String {
        self.login_at(platform, api_key, "crm.example").await
    }

    /// Log in with an API key at `hostname`; returns the `jwtToken`.
    pub async fn login_at(&self, platform: &str, api_key: &str, hostname: &str) -> String {
        let reply = self
            .post(
                "/apiKeyLogin",
                &json!({"platform": platform, "apiKey": api_key, "hostname": hostname}),
            )
            .await;
        assert_eq!(reply.status, 200, "login failed: {}", reply.body);
        reply.body["jwtToken"].as_str().unwrap().to_owned()
    }

    /// Finish an OAuth sign-in as App Connect's client does, with `code`.
    pub async fn oauth_callback(&self, platform: &str, code: &str) -> Reply {
        let callback = format!("https://app.example/redirect.html?code={code}");
        let state = format!("platform={platform}&hostname=ignored.example");
        self.get(&format!(
            "/oauth-callback?callbackUri={}&state={}",
            encode(&callback),
            encode(&state)
        ))
        .await
    }

    pub async fn create(&self, token: &str, body: &Value) -> Reply {
        self.post(&format!("/callLog?jwtToken={token}"), body).await
    }

    pub async fn find(&self, token: &str, session_ids: &str, details: bool) -> Reply {
        self.get(&format!(
            "/callLog?jwtToken={token}&sessionIds={session_ids}&requireDetails={details}"
        ))
        .await
    }
}

/// A mock CRM: answers every request with `{"ok": true}` and counts them.
/// Requests to paths under `/slow` wait until [`MockCrm::release`].
#[derive(Debug, Clone)]
pub struct MockCrm {
    pub url: String,
    hits: Arc<AtomicUsize>,
    gate: Arc<tokio::sync::Semaphore>,
}

impl MockCrm {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (counter, waiting) = (hits.clone(), gate.clone());
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let (counter, waiting) = (counter.clone(), waiting.clone());
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                if uri.path().starts_with("/slow") {
                    waiting.acquire().await.unwrap().forget();
                }
                axum::Json(json!({ "ok": true }))
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, hits, gate }
    }

    /// Let `n` waiting `/slow` requests answer.
    pub fn release(&self, n: usize) {
        self.gate.add_permits(n);
    }

    /// Wait (with a deadline) until the mock has received `n` requests.
    pub async fn wait_for_hits(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.hits() < n {
            assert!(
                Instant::now() < deadline,
                "mock CRM got {} of {n} requests",
                self.hits()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Sign a token with the test secret (or another), for forgery tests.
pub fn sign_token(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
