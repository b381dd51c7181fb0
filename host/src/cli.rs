//! The operator and adapter-author commands besides `serve`:
//! `switchboard check FILE.wasm` and `switchboard adapters`.

use crate::config::RuntimeConfig;
use crate::registry::{AdapterStatus, WIT_VERSION, read_operator_file};
use crate::runtime::{AdapterKv, AuthType, Runtime};
use anyhow::{Context, bail};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// Storage for `check`: an adapter's manifest must not use it.
struct NoKv;

#[async_trait]
impl AdapterKv for NoKv {
    async fn get(&self, _: &str, _: &str) -> anyhow::Result<Option<Vec<u8>>> {
        bail!("key-value storage is not available while reading the manifest")
    }
    async fn set(&self, _: &str, _: &str, _: &[u8]) -> anyhow::Result<()> {
        bail!("key-value storage is not available while reading the manifest")
    }
    async fn delete(&self, _: &str, _: &str) -> anyhow::Result<()> {
        bail!("key-value storage is not available while reading the manifest")
    }
    async fn increment(&self, _: &str, _: &str, _: i64) -> anyhow::Result<i64> {
        bail!("key-value storage is not available while reading the manifest")
    }
}

/// Validate a component offline, as the server would load it, and describe
/// it. Also checks `NAME.toml` beside it, when there is one.
pub async fn check(file: &Path, runtime_config: &RuntimeConfig) -> anyhow::Result<String> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let operator_file = file.with_extension("toml");
    let settings = read_operator_file(&operator_file)
        .await
        .map_err(|e| anyhow::anyhow!("operator file {}: {e}", operator_file.display()))?;
    let runtime = Runtime::new(runtime_config, Arc::new(NoKv), None)?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let (adapter, _) = runtime
        .load(bytes, &sha256, settings)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let m = adapter.manifest();
    let mut out = String::new();
    writeln!(out, "{}: ok", file.display())?;
    writeln!(out, "  platform:      {}", m.platform)?;
    writeln!(out, "  display name:  {}", m.display_name)?;
    writeln!(out, "  version:       {}", m.version)?;
    writeln!(out, "  wit:           switchboard:adapter@{WIT_VERSION}")?;
    match &m.auth {
        AuthType::ApiKey => writeln!(out, "  auth:          api key")?,
        AuthType::Oauth(o) => {
            writeln!(
                out,
                "  auth:          oauth (authorize {}, token {})",
                o.authorize_url, o.token_url
            )?;
            writeln!(out, "  scopes:        {}", o.scopes.join(" "))?;
        }
    }
    if m.allowed_hosts.is_empty() {
        writeln!(out, "  reaches:       no hosts (no network)")?;
    } else {
        writeln!(out, "  reaches:       {}", m.allowed_hosts.join(", "))?;
    }
    writeln!(out, "  sha256:        {sha256}")?;
    Ok(out)
}

/// Fetch the admin list and render it as a table.
pub async fn adapters(url: &str, admin_token: &str) -> anyhow::Result<String> {
    let endpoint = format!("{}/admin/adapters", url.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .get(&endpoint)
        .bearer_auth(admin_token)
        .send()
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.context("the answer is not JSON")?;
    if !status.is_success() {
        let message = body["returnMessage"]["message"]
            .as_str()
            .unwrap_or("no message");
        bail!("{endpoint} answered {status}: {message}");
    }
    let statuses: Vec<AdapterStatus> =
        serde_json::from_value(body["adapters"].clone()).context("unexpected admin list")?;
    Ok(table(&statuses))
}

fn table(statuses: &[AdapterStatus]) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<[String; 8]> = statuses
        .iter()
        .map(|s| {
            [
                dash(&s.platform),
                dash(&s.version),
                format!("{:?}", s.status).to_lowercase(),
                s.calls.to_string(),
                s.errors.to_string(),
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
        "LOADED",
        "FILE",
        "LAST ERROR",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
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
