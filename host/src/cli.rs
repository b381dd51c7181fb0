//! The operator and adapter-author commands besides `serve`:
//! `switchboard check FILE.wasm`, `switchboard adapters`,
//! `switchboard replicas`, `switchboard deploy FILE.wasm`,
//! `switchboard undeploy NAME` and `switchboard rotate-secret-key`.

use crate::config::SandboxConfig;
use crate::kv::NoKv;
use crate::registry::{AdapterStatus, read_operator_file};
use crate::runtime::{AuthType, Runtime};
use crate::store::{ReplicaRecord, Store};
use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Validate a component offline, as the server would load it, and describe
/// it. Also checks `NAME.toml` beside it, when there is one.
pub async fn check(file: &Path, sandbox: &SandboxConfig) -> anyhow::Result<String> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let operator_file = file.with_extension("toml");
    let settings = read_operator_file(&operator_file)
        .await
        .map_err(|e| anyhow::anyhow!("operator file {}: {e}", operator_file.display()))?;
    let runtime = Runtime::new(sandbox, Arc::new(NoKv), sandbox.egress_client()?, None)?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let (adapter, _) = runtime
        .load(bytes, &sha256, settings.runtime.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let m = adapter.manifest();
    let mut out = String::new();
    writeln!(out, "{}: ok", file.display())?;
    writeln!(out, "  platform:      {}", m.platform)?;
    writeln!(out, "  display name:  {}", m.display_name)?;
    writeln!(out, "  version:       {}", m.version)?;
    writeln!(
        out,
        "  wit:           switchboard:adapter@{}",
        adapter.wit_version().as_str()
    )?;
    writeln!(
        out,
        "  implements:    {}",
        m.implements
            .iter()
            .map(|op| crate::runtime::wit_name(*op))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    match &m.auth {
        AuthType::ApiKey => writeln!(out, "  auth:          api key")?,
        AuthType::Oauth(o) => {
            writeln!(
                out,
                "  auth:          oauth (authorize {}, token {})",
                o.authorize_url, o.token_url
            )?;
            writeln!(out, "  scopes:        {}", o.scopes.join(" "))?;
            match &settings.oauth {
                Some(app) => writeln!(out, "  oauth app:     client id {}", app.client_id)?,
                None => writeln!(
                    out,
                    "  oauth app:     not configured ([oauth] in {}); API-key login only",
                    operator_file.display()
                )?,
            }
        }
    }
    if m.allowed_hosts.is_empty() {
        writeln!(out, "  reaches:       no hosts (no network)")?;
    } else {
        writeln!(out, "  reaches:       {}", m.allowed_hosts.join(", "))?;
    }
    let needs = adapter.instance_needs();
    writeln!(
        out,
        "  instance:      {} core instances, {} memories ({:.1} MiB at start), {} tables",
        needs.core_instances,
        needs.memories,
        needs.initial_memory_bytes as f64 / (1024.0 * 1024.0),
        needs.tables
    )?;
    writeln!(out, "  sha256:        {sha256}")?;
    Ok(out)
}

/// Where `rotate-secret-key` finds the database and the keys.
#[derive(Debug, Clone, clap::Args)]
pub struct RotateArgs {
    /// The server's data directory (holds `secret-key` when no key is configured).
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", default_value = "data")]
    pub data_dir: std::path::PathBuf,
    /// Database URL. Defaults to `sqlite://<data-dir>/switchboard.db`.
    #[arg(long, env = "SWITCHBOARD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The key the credentials are sealed with now. Defaults to
    /// `<data-dir>/secret-key`.
    #[arg(long, env = "SWITCHBOARD_SECRET_KEY", hide_env_values = true, value_parser = crate::config::secret)]
    pub secret_key: Option<SecretString>,
    /// The key to seal them with from now on (64 hex digits). When unset and
    /// the current key is `<data-dir>/secret-key`, a new one is generated
    /// into that file.
    #[arg(long, env = "SWITCHBOARD_NEW_SECRET_KEY", hide_env_values = true, value_parser = crate::config::secret)]
    pub new_secret_key: Option<SecretString>,
}

/// How recently a replica must have sent a heartbeat for `rotate-secret-key`
/// to count it as running: well past the default heartbeat interval (5 s).
const ROTATION_SILENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Re-seal every stored credential with a new key, in one transaction. Run
/// it with the server stopped (on PostgreSQL, every replica; it refuses
/// while one sends heartbeats). When the key lives in
/// `<data-dir>/secret-key`, the file is replaced once the database is; the
/// new key is first written beside it as `secret-key.new`, so a crash in
/// between loses nothing.
pub async fn rotate_secret_key(args: &RotateArgs) -> anyhow::Result<String> {
    use crate::store::sealed::{Sealer, SecretKey};
    let url = crate::config::database_url(args.database_url.as_deref(), &args.data_dir);
    let postgres = crate::config::is_postgres_url(&url);
    anyhow::ensure!(
        !postgres || args.secret_key.is_some(),
        "on PostgreSQL, give the current key in --secret-key: the replicas share it, \
         so no data directory holds it"
    );
    let key_file = args.data_dir.join("secret-key");
    let current = match &args.secret_key {
        Some(text) => SecretKey::from_hex(text.expose_secret())
            .map_err(|e| anyhow::anyhow!("--secret-key: {e}"))?,
        None => {
            let text = std::fs::read_to_string(&key_file).with_context(|| {
                format!(
                    "no --secret-key given and cannot read {}",
                    key_file.display()
                )
            })?;
            SecretKey::from_hex(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", key_file.display()))?
        }
    };
    let in_file = args.secret_key.is_none();
    let new = match &args.new_secret_key {
        Some(text) => SecretKey::from_hex(text.expose_secret())
            .map_err(|e| anyhow::anyhow!("--new-secret-key: {e}"))?,
        None if in_file => SecretKey::generate(),
        None => bail!(
            "give --new-secret-key: the current key is configured, not in {}",
            key_file.display()
        ),
    };
    anyhow::ensure!(new.id() != current.id(), "the new key is the current key");
    let staged = args.data_dir.join("secret-key.new");
    if in_file {
        let _ = std::fs::remove_file(&staged);
        crate::private_file::write_new(&staged, new.to_hex().expose_secret().as_bytes())
            .with_context(|| format!("writing {}", staged.display()))?;
    }
    let (current_sealer, new_sealer) = (Sealer::new(&current), Sealer::new(&new));
    let count = if postgres {
        reseal_on_postgres(&url, current_sealer, &new_sealer).await?
    } else {
        let store = crate::store::sqlite::SqliteStore::open(&url, current_sealer)
            .await
            .context("opening the database with the current key")?;
        let count = store.rotate_secret_key(&new_sealer).await?;
        Store::close(&store).await;
        count
    };
    let mut out = format!(
        "re-sealed {count} credential value(s): key {} -> {}\n",
        current.id(),
        new.id()
    );
    if in_file {
        std::fs::rename(&staged, &key_file)
            .with_context(|| format!("replacing {}", key_file.display()))?;
        writeln!(out, "{} now holds the new key", key_file.display())?;
    } else {
        writeln!(
            out,
            "start the server with the new key in --secret-key / SWITCHBOARD_SECRET_KEY"
        )?;
    }
    Ok(out)
}

/// Re-seal on PostgreSQL, once no replica is running.
async fn reseal_on_postgres(
    url: &str,
    current: crate::store::sealed::Sealer,
    new: &crate::store::sealed::Sealer,
) -> anyhow::Result<usize> {
    use crate::store::postgres::{PgOptions, PgStore};
    let options = PgOptions {
        pool_size: 2,
        statement_timeout: std::time::Duration::from_secs(60),
        lease: std::time::Duration::from_secs(60),
        replica_id: "rotate-secret-key".to_owned(),
    };
    let store = PgStore::connect(url, &options, current)
        .await
        .context("opening the database with the current key")?;
    let running = store
        .live_replicas(ROTATION_SILENCE)
        .await?
        .unwrap_or_default();
    if !running.is_empty() {
        let ids: Vec<&str> = running.iter().map(|r| r.id.as_str()).collect();
        store.close().await;
        bail!(
            "stop every replica first: {} sent a heartbeat within {}s ({}); a replica \
             killed without shutting down counts until then",
            running.len(),
            ROTATION_SILENCE.as_secs(),
            ids.join(", ")
        );
    }
    let count = store.rotate_secret_key(new).await;
    store.close().await;
    count
}

/// `GET <url><path>` with the admin token: the JSON answer, or why not.
async fn admin_get(url: &str, path: &str, admin_token: &SecretString) -> anyhow::Result<Value> {
    admin_request(http::Method::GET, url, path, admin_token, None).await
}

/// `METHOD <url><path>` with the admin token and, when given, a body with
/// its content type: the JSON answer, or why not.
async fn admin_request(
    method: http::Method,
    url: &str,
    path: &str,
    admin_token: &SecretString,
    body: Option<(String, Vec<u8>)>,
) -> anyhow::Result<Value> {
    use http_body_util::BodyExt;
    let endpoint = format!("{}{path}", url.trim_end_matches('/'));
    let mut request = http::Request::builder()
        .method(method)
        .uri(&endpoint)
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", admin_token.expose_secret()),
        );
    let bytes = match body {
        Some((content_type, bytes)) => {
            request = request.header(http::header::CONTENT_TYPE, content_type);
            bytes
        }
        None => Vec::new(),
    };
    let request = request
        .body(http_body_util::Full::new(bytes::Bytes::from(bytes)))
        .with_context(|| format!("{endpoint} is not a URL"))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let response = client
        .request(request)
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .with_context(|| format!("reading the answer of {endpoint}"))?
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes).context("the answer is not JSON")?;
    if !status.is_success() {
        let message = body["returnMessage"]["message"]
            .as_str()
            .unwrap_or("no message");
        bail!("{endpoint} answered {status}: {message}");
    }
    Ok(body)
}

/// What `switchboard deploy` uploads.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// The component; it replaces the server's file of the same name
    /// (`testcrm.wasm` replaces `testcrm.wasm`).
    pub file: PathBuf,
    /// Its operator file, uploaded with it as `NAME.toml`. Without it, the
    /// server's `NAME.toml`, if any, stays.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// How long to wait for the server to serve it.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub wait: Duration,
}

/// `switchboard deploy`: upload a component (and its operator file) to a
/// server's `PUT /admin/adapters/{name}`, then wait until it serves.
pub async fn deploy(
    url: &str,
    admin_token: &SecretString,
    args: &DeployArgs,
) -> anyhow::Result<String> {
    let file = &args.file;
    let name = file
        .file_stem()
        .filter(|_| file.extension().is_some_and(|e| e == "wasm"))
        .and_then(|stem| stem.to_str())
        .with_context(|| format!("{} is not a NAME.wasm file", file.display()))?;
    let component =
        std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let config = args
        .config
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
        })
        .transpose()?;
    let mut form = vec![("component", format!("{name}.wasm"), component)];
    if let Some(config) = config {
        form.push(("config", format!("{name}.toml"), config.into_bytes()));
    }
    let path = format!("/admin/adapters/{name}");
    let answer = admin_request(
        http::Method::PUT,
        url,
        &path,
        admin_token,
        Some(multipart(&form)),
    )
    .await?;
    let text = |key: &str| answer[key].as_str().unwrap_or_default().to_owned();
    let (platform, version, sha256) = (text("platform"), text("version"), text("sha256"));
    let deadline = std::time::Instant::now() + args.wait;
    loop {
        let entry = admin_get(url, &format!("/admin/adapters/{platform}"), admin_token).await;
        if entry.is_ok_and(|e| e["status"] == "serving" && e["sha256"] == sha256.as_str()) {
            return Ok(format!(
                "{name}.wasm: {platform} {version} serving (sha256 {sha256})\n"
            ));
        }
        if std::time::Instant::now() >= deadline {
            bail!(
                "{name}.wasm was accepted, but {platform} did not serve it within {:?}; see `switchboard adapters`",
                args.wait
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `switchboard undeploy NAME`: remove `NAME.wasm` (and its operator file)
/// from a server's plugins directory.
pub async fn undeploy(url: &str, admin_token: &SecretString, name: &str) -> anyhow::Result<String> {
    let path = format!("/admin/adapters/{name}");
    admin_request(http::Method::DELETE, url, &path, admin_token, None).await?;
    Ok(format!("{name}.wasm removed\n"))
}

/// A `multipart/form-data` body of `(field, file name, bytes)` parts: its
/// content type and bytes. The boundary is random, and checked absent from
/// every part.
fn multipart(parts: &[(&str, String, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = loop {
        let candidate = format!("switchboard-{:032x}", rand::random::<u128>());
        let found = parts.iter().any(|(_, _, bytes)| {
            bytes
                .windows(candidate.len())
                .any(|w| w == candidate.as_bytes())
        });
        if !found {
            break candidate;
        }
    };
    let mut body = Vec::new();
    for (field, file_name, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Fetch the admin list and render it as a table.
pub async fn adapters(url: &str, admin_token: &SecretString) -> anyhow::Result<String> {
    let body = admin_get(url, "/admin/adapters", admin_token).await?;
    let statuses: Vec<AdapterStatus> =
        serde_json::from_value(body["adapters"].clone()).context("unexpected admin list")?;
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let rows = statuses
        .iter()
        .map(|s| {
            vec![
                dash(&s.platform),
                dash(&s.version),
                format!("{:?}", s.status).to_lowercase(),
                s.calls.to_string(),
                s.errors.to_string(),
                s.kept_instances.to_string(),
                dash(&s.loaded_at),
                s.file.clone(),
                dash(&s.last_error),
            ]
        })
        .collect();
    let header = [
        "PLATFORM",
        "VERSION",
        "STATUS",
        "CALLS",
        "ERRORS",
        "KEPT",
        "LOADED",
        "FILE",
        "LAST ERROR",
    ];
    Ok(table(&header, rows))
}

/// Fetch the fleet view and render it as a table: one row per replica and
/// adapter file, then one line per platform with version skew.
pub async fn replicas(url: &str, admin_token: &SecretString) -> anyhow::Result<String> {
    let body = admin_get(url, "/admin/replicas", admin_token).await?;
    let replicas: Vec<ReplicaRecord> =
        serde_json::from_value(body["replicas"].clone()).context("unexpected fleet view")?;
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut rows = Vec::new();
    for r in &replicas {
        let replica = [
            r.id.clone(),
            r.listen.clone(),
            r.version.clone(),
            r.heartbeat_at.clone(),
        ];
        if r.adapters.is_empty() {
            rows.push(
                [
                    &replica[..],
                    &["-".into(), "-".into(), "-".into(), "-".into()],
                ]
                .concat(),
            );
        }
        for a in &r.adapters {
            let sha = a.sha256.as_deref().map_or("-", |s| &s[..s.len().min(12)]);
            let adapter = [
                dash(&a.platform),
                dash(&a.version),
                a.status.clone(),
                sha.to_owned(),
            ];
            rows.push([&replica[..], &adapter[..]].concat());
        }
    }
    let header = [
        "REPLICA",
        "LISTEN",
        "SERVER",
        "HEARTBEAT",
        "PLATFORM",
        "VERSION",
        "STATUS",
        "SHA256",
    ];
    let mut out = table(&header, rows);
    for skew in body["skew"].as_array().into_iter().flatten() {
        let platform = skew["platform"].as_str().unwrap_or("?");
        let served: Vec<String> = skew["sha256"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(sha, ids)| format!("{} on {ids}", &sha[..sha.len().min(12)]))
            .collect();
        writeln!(out, "SKEW {platform}: {}", served.join("; "))?;
    }
    Ok(out)
}

/// Left-aligned columns, two spaces apart.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}
