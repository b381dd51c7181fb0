//! The real server in this process: started on `127.0.0.1:0` with the
//! harness's flags, driven over HTTP, stopped as SIGTERM would.

use crate::poll::{DEADLINE, wait_until};
use crate::{ADMIN_TOKEN, Dirs, JWT_SECRET, artifacts, encode, hubspot, pipedrive};
use anyhow::Context;
use clap::Parser;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The flags of a test server: the harness's defaults (`JWT_SECRET`,
/// `ADMIN_TOKEN`, short timeouts), then `extra`, whose flags replace the
/// defaults of the same name.
pub(crate) fn server_args(dirs: &Dirs, extra: &[&str]) -> Vec<String> {
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
    if let Some(pg) = &dirs.postgres
        && !extra.contains(&"--database-url")
    {
        args.extend(pg.server_args());
    }
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    args
}

#[derive(Parser)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) config: switchboard::config::Config,
}

/// A running server.
#[derive(Debug)]
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// A client for it.
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A response: status and JSON body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
    /// The response headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// A header's value, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
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
        wait_until(Duration::from_secs(60), async || {
            match self
                .client
                .get(format!("{}/healthz", self.base))
                .send()
                .await
            {
                Ok(r) if r.status() == 200 => Ok(()),
                _ => Err("the server to be ready".to_owned()),
            }
        })
        .await;
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
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .with_context(|| format!("non-JSON body: {}", String::from_utf8_lossy(&bytes)))
            .unwrap();
        Reply {
            status,
            body,
            headers,
        }
    }

    /// `GET path_and_query`.
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

    /// `POST path_and_query` with a JSON body.
    pub async fn post(&self, path_and_query: &str, body: &Value) -> Reply {
        let url = format!("{}{path_and_query}", self.base);
        Self::reply(self.client.post(url).json(body).send().await.unwrap()).await
    }

    /// `PUT path_and_query` with a JSON body.
    pub async fn put(&self, path_and_query: &str, body: &Value) -> Reply {
        let url = format!("{}{path_and_query}", self.base);
        Self::reply(self.client.put(url).json(body).send().await.unwrap()).await
    }

    /// `PATCH path_and_query` with a JSON body.
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
        let reply = self.admin_get("/admin/adapters").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    /// `GET path` of the admin API, with the admin token.
    pub async fn admin_get(&self, path: &str) -> Reply {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        Self::reply(response).await
    }

    /// The admin entry of the file named `name`.
    pub async fn admin_entry(&self, name: &str) -> Option<Value> {
        self.admin().await.into_iter().find(|entry| {
            entry["file"]
                .as_str()
                .is_some_and(|f| f.ends_with(&format!("/{name}")))
        })
    }

    /// Poll the admin entry of file `name` until `ready` holds (deadline [`DEADLINE`]).
    pub async fn wait_for_file(&self, name: &str, ready: impl Fn(&Value) -> bool) -> Value {
        wait_until(DEADLINE, async || match self.admin_entry(name).await {
            Some(entry) if ready(&entry) => Ok(entry),
            last => Err(format!("{name} to get there; last: {last:?}")),
        })
        .await
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

    /// Creates as the user of `token`, sessions `<tag>-0`, `<tag>-1`, … one
    /// after another until `stop`; the task answers with every reply.
    pub fn creates_until(
        &self,
        token: &str,
        tag: &'static str,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> JoinHandle<Vec<Value>> {
        let (client, base, token) = (self.client.clone(), self.base.clone(), token.to_owned());
        tokio::spawn(async move {
            let mut replies = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let body = crate::create_body(&format!("{tag}-{}", replies.len()), json!(1), "");
                let reply: Value = client
                    .post(format!("{base}/callLog?jwtToken={token}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                replies.push(reply);
            }
            replies
        })
    }

    /// `POST /callLog` as the user of `token`.
    pub async fn create(&self, token: &str, body: &Value) -> Reply {
        self.post(&format!("/callLog?jwtToken={token}"), body).await
    }

    /// `GET /callLog` for `session_ids` (comma-separated) as the user of `token`.
    pub async fn find(&self, token: &str, session_ids: &str, details: bool) -> Reply {
        self.get(&format!(
            "/callLog?jwtToken={token}&sessionIds={session_ids}&requireDetails={details}"
        ))
        .await
    }
}

/// A server with the Pipedrive adapter, pointed at a fresh mock Pipedrive
/// (`--egress-override *.pipedrive.com=<mock>`), with the mock's OAuth
/// client in `pipedrive.toml` (its secret in a file beside it). `extra` are
/// more CLI flags.
pub async fn start_pipedrive(extra: &[&str]) -> (Dirs, pipedrive::MockPipedrive, TestServer) {
    let mock = pipedrive::MockPipedrive::start().await;
    let (dirs, server) = start_pipedrive_on(&mock, extra).await;
    (dirs, mock, server)
}

/// As [`start_pipedrive`], against an existing mock (so several servers,
/// replicas of one service, can share it).
pub async fn start_pipedrive_on(
    mock: &pipedrive::MockPipedrive,
    extra: &[&str],
) -> (Dirs, TestServer) {
    let dirs = Dirs::with_adapters(&[artifacts::PIPEDRIVE, artifacts::TESTCRM]);
    dirs.configure_oauth(
        "pipedrive",
        pipedrive::CLIENT_ID,
        pipedrive::CLIENT_SECRET,
        "",
    );
    let rule = format!("*.pipedrive.com={}", mock.url);
    let mut args = vec!["--egress-override", rule.as_str()];
    args.extend_from_slice(extra);
    let server = TestServer::start(&dirs, &args).await;
    (dirs, server)
}

/// A server with the TypeScript HubSpot adapter (`examples/hubspot`),
/// pointed at a fresh mock HubSpot (`--egress-override
/// api.hubapi.com=<mock>`), with the mock's OAuth client in `hubspot.toml`
/// (`client_secret_post`, as HubSpot's token endpoint wants). The artifact
/// cache is the suite's shared one.
pub async fn start_hubspot(extra: &[&str]) -> (Dirs, hubspot::MockHubSpot, TestServer) {
    let mock = hubspot::MockHubSpot::start().await;
    let dirs = Dirs::with_adapters(&[&crate::examples::hubspot()]);
    dirs.configure_oauth(
        "hubspot",
        hubspot::CLIENT_ID,
        hubspot::CLIENT_SECRET,
        "client_auth = \"client_secret_post\"\n",
    );
    let rule = format!("api.hubapi.com={}", mock.url);
    let cache = crate::examples::shared_cache();
    let mut args = vec!["--egress-override", rule.as_str(), "--cache-dir", &cache];
    args.extend_from_slice(extra);
    let server = TestServer::start(&dirs, &args).await;
    (dirs, mock, server)
}
