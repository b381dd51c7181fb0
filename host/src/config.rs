//! The server's configuration: one typed struct, filled from CLI flags and
//! `SWITCHBOARD_*` environment variables, validated before anything starts.

use crate::egress::{EgressClient, EgressLimits, EgressOverride};
use crate::log_filter::LogFormat;
use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything `switchboard serve` needs. The defaults make a bare
/// `switchboard serve` work from the repository root.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Connections the kernel queues before the server accepts them. A burst
    /// larger than this drops SYNs, and each dropped client waits a second
    /// to retry. The kernel caps it at `net.core.somaxconn`.
    #[arg(long, env = "SWITCHBOARD_LISTEN_BACKLOG", default_value_t = 4096)]
    pub listen_backlog: u32,

    /// Log one `info` line per answered request (method, path, status,
    /// latency; never the query). Off, those lines are `debug`. Each line is
    /// a write to stderr: at 25,000 requests/s that cost a fifth of the
    /// server's throughput (BENCHMARKS.md), so a reverse proxy's access log
    /// is the cheaper place for it.
    #[arg(long, env = "SWITCHBOARD_ACCESS_LOG")]
    pub access_log: bool,

    /// How log lines are written: `text`, or `json` (one object per line,
    /// with the fields of the spans each line is in).
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Export OpenTelemetry traces over OTLP/HTTP (protobuf) to this
    /// collector, its base URL as in `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// (`http://otel-collector:4318`): spans go to `<URL>/v1/traces`. Unset:
    /// no traces.
    #[arg(long, env = "SWITCHBOARD_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Serve Prometheus metrics at `GET /metrics` on this address, a
    /// listener of its own so it is never exposed with the API. Unset: no
    /// metrics are kept.
    #[arg(long, env = "SWITCHBOARD_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Directory of adapter components (`*.wasm`) and their operator files (`NAME.toml`).
    #[arg(
        long,
        env = "SWITCHBOARD_PLUGINS_DIR",
        default_value = "target/plugins"
    )]
    pub plugins_dir: PathBuf,

    /// Directory for the SQLite database and the generated JWT secret.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Database URL. Defaults to `sqlite://<data-dir>/switchboard.db`, for
    /// one process. `postgres://USER:PASSWORD@HOST/DB` lets several replicas
    /// share one PostgreSQL; they must then share `--jwt-secret` and
    /// `--secret-key` too.
    #[arg(long, env = "SWITCHBOARD_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// PostgreSQL: most connections this replica opens.
    #[arg(long, env = "SWITCHBOARD_DATABASE_POOL_SIZE", default_value_t = 16)]
    pub database_pool_size: u32,

    /// PostgreSQL: longest one statement may run, and longest a request
    /// waits for a pooled connection. While the database is away, requests
    /// that need it answer `STORE_UNAVAILABLE` after at most this.
    #[arg(long, env = "SWITCHBOARD_DATABASE_STATEMENT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub database_statement_timeout: Duration,

    /// PostgreSQL: how long a create's reservation of its session outlives a
    /// replica that died mid-create, after which another replica may create
    /// it. Defaults to `--adapter-timeout` plus 5s.
    #[arg(long, env = "SWITCHBOARD_RESERVATION_LEASE", value_parser = humantime::parse_duration)]
    pub reservation_lease: Option<Duration>,

    /// HS256 secret for signing `jwtToken`s. When unset, one is generated into
    /// `<data-dir>/jwt-secret` on first start and reused after.
    #[arg(long, env = "SWITCHBOARD_JWT_SECRET", hide_env_values = true, value_parser = secret)]
    pub jwt_secret: Option<SecretString>,

    /// Key that encrypts stored credentials (API keys, OAuth tokens) with
    /// AES-256-GCM: 64 hex digits. When unset, one is generated into
    /// `<data-dir>/secret-key` on first start and reused after. Change it only
    /// with `switchboard rotate-secret-key`.
    #[arg(long, env = "SWITCHBOARD_SECRET_KEY", hide_env_values = true, value_parser = secret)]
    pub secret_key: Option<SecretString>,

    /// Refresh an OAuth access token before a call when it expires within this.
    #[arg(long, env = "SWITCHBOARD_OAUTH_REFRESH_MARGIN", default_value = "2m", value_parser = humantime::parse_duration)]
    pub oauth_refresh_margin: Duration,

    /// How long a minted `jwtToken` stays valid.
    #[arg(long, env = "SWITCHBOARD_JWT_TTL", default_value = "30d", value_parser = humantime::parse_duration)]
    pub jwt_ttl: Duration,

    /// When a valid `jwtToken` expires within this, every authorised answer
    /// carries a fresh one for the same user in `X-Refreshed-JWT-Token`, as
    /// App Connect does.
    #[arg(long, env = "SWITCHBOARD_JWT_RENEW_WITHIN", default_value = "7d", value_parser = humantime::parse_duration)]
    pub jwt_renew_within: Duration,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "SWITCHBOARD_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,

    /// Time limit for a whole HTTP request.
    #[arg(long, env = "SWITCHBOARD_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// How often this replica reports itself (and what it serves) to the
    /// fleet view, `GET /admin/replicas`. A replica silent for three of
    /// these is dropped from it.
    #[arg(long, env = "SWITCHBOARD_HEARTBEAT_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub heartbeat_interval: Duration,

    /// PostgreSQL: how often this replica looks for adapters deployed to the
    /// fleet through another replica, besides hearing of each at once
    /// (`LISTEN`), in case it missed the announcement.
    #[arg(long, env = "SWITCHBOARD_DEPLOYMENT_CHECK_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub deployment_check_interval: Duration,

    /// How long in-flight requests may take to finish after SIGINT/SIGTERM.
    #[arg(long, env = "SWITCHBOARD_SHUTDOWN_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// How many `requireDetails` lookups of one `GET /callLog` run at once.
    #[arg(long, env = "SWITCHBOARD_DETAILS_CONCURRENCY", default_value_t = 8)]
    pub details_concurrency: usize,

    /// How many completed call logs (`(user, session) → logId`) each
    /// process remembers, so lookups of them skip the database. A logId
    /// never changes once logged, so this is safe across replicas; 0 turns
    /// it off. About 100 bytes each.
    #[arg(long, env = "SWITCHBOARD_LOG_ID_CACHE", default_value_t = 100_000)]
    pub log_id_cache: usize,

    /// Enables the admin API (`/admin/adapters`) for requests bearing this
    /// token. Unset: no admin API.
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true, value_parser = secret)]
    pub admin_token: Option<SecretString>,

    /// Largest adapter upload the admin API accepts (`switchboard deploy`,
    /// `PUT /admin/adapters/{name}`), in MiB.
    #[arg(long, env = "SWITCHBOARD_ADMIN_UPLOAD_LIMIT_MIB", default_value_t = 64)]
    pub admin_upload_limit_mib: usize,

    /// When `/healthz` reports ready at start-up: `all`, once every adapter
    /// file has loaded or been refused; `any`, as soon as one serves (the
    /// rest keep loading, and their platforms answer `ADAPTER_LOADING`
    /// until they do).
    #[arg(long, env = "SWITCHBOARD_READY_WHEN", value_enum, default_value_t = ReadyWhen::All)]
    pub ready_when: ReadyWhen,

    /// How long the plugins directory must be quiet before changes load.
    #[arg(long, env = "SWITCHBOARD_RELOAD_DEBOUNCE", default_value = "150ms", value_parser = humantime::parse_duration)]
    pub reload_debounce: Duration,

    /// Directory of the compiled-artifact cache. Defaults to
    /// `<data-dir>/cache`. Several servers may share one: artifacts are
    /// keyed by the component's sha256 and the engine's settings, and
    /// written to a temp name and renamed.
    #[arg(long, env = "SWITCHBOARD_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Size cap of the compiled-artifact cache, in MiB. Least recently
    /// used artifacts go first, never one a loaded adapter uses. The
    /// default holds 1,000 Rust adapters the size of testCRM (0.7 MiB each)
    /// and 30 JavaScript ones (37 MiB each) together.
    #[arg(long, env = "SWITCHBOARD_CACHE_MAX_MIB", default_value_t = 2048)]
    pub cache_max_mib: u64,

    /// How adapters run: their limits and their egress.
    #[command(flatten)]
    pub sandbox: SandboxConfig,
}

/// When a starting server reports ready (`--ready-when`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadyWhen {
    /// Every adapter file has loaded or been refused.
    All,
    /// At least one adapter serves.
    Any,
}

/// Limits and policy for running adapters. The sandbox checks these values
/// itself when it starts (it knows its own granularity and bounds).
#[derive(Debug, Clone, Args)]
pub struct SandboxConfig {
    /// CPU time one adapter call may use before it is stopped.
    #[arg(long, env = "SWITCHBOARD_ADAPTER_CPU", default_value = "1s", value_parser = humantime::parse_duration)]
    pub adapter_cpu: Duration,

    /// Wall-clock time one adapter call may take, including waiting on the CRM.
    #[arg(long, env = "SWITCHBOARD_ADAPTER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub adapter_timeout: Duration,

    /// Linear memory one adapter instance may use, in MiB.
    #[arg(long, env = "SWITCHBOARD_ADAPTER_MEMORY_MIB", default_value_t = 64)]
    pub adapter_memory_mib: u32,

    /// Outbound HTTP requests one adapter call may make; more are refused.
    #[arg(long, env = "SWITCHBOARD_ADAPTER_MAX_REQUESTS", default_value_t = 100)]
    pub adapter_max_requests: u32,

    /// Adapter instances alive at once, across all adapters. Calls beyond it
    /// are answered `ADAPTER_BUSY`.
    #[arg(long, env = "SWITCHBOARD_MAX_INSTANCES", default_value_t = 1000)]
    pub max_instances: u32,

    /// Of each instance's linear memory, this much is reset in place (only
    /// the pages it touched, found with `PAGEMAP_SCAN` on Linux 6.7+) and
    /// kept mapped for the next instance, instead of being given back to
    /// the kernel and faulted in again. It halves the cost of a fresh
    /// instance; it costs up to this much resident memory per idle slot.
    #[arg(
        long,
        env = "SWITCHBOARD_ADAPTER_KEEP_RESIDENT_KIB",
        default_value_t = 1024
    )]
    pub adapter_keep_resident_kib: u32,

    /// Memory the compiles running at once may take together, in MiB. A
    /// compile is reckoned at 64 MiB plus 40 times its component's size
    /// (a 14 MB JavaScript component peaks near 600 MiB), and waits until
    /// that much is free; one larger than this runs alone.
    #[arg(long, env = "SWITCHBOARD_COMPILE_MEMORY_MIB", default_value_t = 1024)]
    pub compile_memory_mib: u32,

    /// Compiled functions kept in memory, in MiB, so a component sharing
    /// functions with one compiled before (a copy under another platform,
    /// a new version, another adapter of the same SDK) compiles only the
    /// rest. 0 turns it off.
    #[arg(long, env = "SWITCHBOARD_COMPILE_CACHE_MIB", default_value_t = 256)]
    pub compile_cache_mib: u32,

    /// Let adapters reach private, loopback and link-local addresses (for
    /// development against a local mock CRM). Off by default (SSRF).
    #[arg(
        long,
        env = "SWITCHBOARD_EGRESS_ALLOW_PRIVATE",
        default_value_t = false
    )]
    pub egress_allow_private: bool,

    /// Time allowed to connect to a CRM.
    #[arg(long, env = "SWITCHBOARD_EGRESS_CONNECT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub egress_connect_timeout: Duration,

    /// Time allowed for a CRM's response to start, and between two chunks
    /// of its body.
    #[arg(long, env = "SWITCHBOARD_EGRESS_RESPONSE_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub egress_response_timeout: Duration,

    /// Largest CRM response body accepted, in MiB.
    #[arg(
        long,
        env = "SWITCHBOARD_EGRESS_MAX_RESPONSE_MIB",
        default_value_t = 16
    )]
    pub egress_max_response_mib: u64,

    /// Send one host's requests elsewhere: `HOST=URL`, HOST may be a
    /// wildcard (`*.pipedrive.com=http://127.0.0.1:9000`). Repeatable; the
    /// environment variable takes a comma-separated list. A rewritten
    /// destination is the operator's choice and counts as allowed.
    #[arg(
        long = "egress-override",
        env = "SWITCHBOARD_EGRESS_OVERRIDES",
        value_delimiter = ','
    )]
    pub egress_override: Vec<EgressOverride>,
}

/// A secret flag's value, held so that `Debug` never shows it.
pub fn secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(text.into())
}

/// A configuration value that cannot work, found at start-up.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Check values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |msg: &str| Err(ConfigError(msg.to_owned()));
        if self.body_limit == 0 {
            return bad("--body-limit must be greater than 0");
        }
        if self.details_concurrency == 0 {
            return bad("--details-concurrency must be at least 1");
        }
        if self.jwt_ttl.is_zero() {
            return bad("--jwt-ttl must be greater than 0");
        }
        if self.jwt_renew_within >= self.jwt_ttl {
            return bad("--jwt-renew-within must be shorter than --jwt-ttl");
        }
        if let Some(secret) = &self.jwt_secret
            && secret.expose_secret().len() < 32
        {
            return bad("--jwt-secret must be at least 32 bytes");
        }
        if let Some(endpoint) = &self.otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return bad("--otlp-endpoint must be an http:// or https:// URL");
        }
        if let Some(token) = &self.admin_token
            && token.expose_secret().len() < 16
        {
            return bad("--admin-token must be at least 16 bytes");
        }
        if self.heartbeat_interval.is_zero() {
            return bad("--heartbeat-interval must be greater than 0");
        }
        if self.deployment_check_interval.is_zero() {
            return bad("--deployment-check-interval must be greater than 0");
        }
        if self.database_pool_size < 2 {
            // A refresh holds one connection for its lock and uses another.
            return bad("--database-pool-size must be at least 2");
        }
        if self.database_statement_timeout.is_zero() {
            return bad("--database-statement-timeout must be greater than 0");
        }
        if self
            .reservation_lease
            .is_some_and(|l| l < Duration::from_secs(1))
        {
            return bad("--reservation-lease must be at least 1s");
        }
        if self.is_postgres() && (self.jwt_secret.is_none() || self.secret_key.is_none()) {
            return bad(
                "on PostgreSQL, --jwt-secret and --secret-key are required: replicas share \
                 the database, so every replica must sign jwtTokens and seal credentials with \
                 the same keys (a key generated per data directory would differ per replica)",
            );
        }
        Ok(())
    }

    /// Whether the database is PostgreSQL (so this may be one of several
    /// replicas).
    pub fn is_postgres(&self) -> bool {
        self.database_url.as_deref().is_some_and(is_postgres_url)
    }

    /// How long a reservation outlives a replica that stopped renewing it.
    pub fn reservation_lease(&self) -> Duration {
        self.reservation_lease
            .unwrap_or(self.sandbox.adapter_timeout + Duration::from_secs(5))
    }

    /// The database URL, defaulting to a SQLite file in the data dir.
    pub fn database_url(&self) -> String {
        database_url(self.database_url.as_deref(), &self.data_dir)
    }
}

/// Whether a database URL names PostgreSQL (rather than a SQLite file).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `configured`, or the SQLite file in `data_dir`.
pub fn database_url(configured: Option<&str>, data_dir: &std::path::Path) -> String {
    configured.map_or_else(
        || format!("sqlite://{}", data_dir.join("switchboard.db").display()),
        str::to_owned,
    )
}

impl SandboxConfig {
    /// The outbound client these flags describe: rewrites, SSRF guard and
    /// limits.
    pub fn egress_client(&self) -> anyhow::Result<EgressClient> {
        EgressClient::new(
            self.egress_override.clone(),
            self.egress_allow_private,
            EgressLimits {
                connect_timeout: self.egress_connect_timeout,
                response_timeout: self.egress_response_timeout,
                max_response_bytes: self.egress_max_response_mib * 1024 * 1024,
            },
        )
    }

    /// Memory limit per instance, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.adapter_memory_mib as usize * 1024 * 1024
    }

    /// The sandbox flags parsed from `args`, the rest at their defaults.
    #[cfg(test)]
    pub(crate) fn parse(args: &[&str]) -> Self {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            sandbox: SandboxConfig,
        }
        let all = std::iter::once("switchboard").chain(args.iter().copied());
        <Flags as clap::Parser>::try_parse_from(all)
            .expect("parses")
            .sandbox
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    fn parse(args: &[&str]) -> Config {
        let mut all = vec!["switchboard"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("parses").config
    }

    #[test]
    fn defaults_are_valid() {
        let config = parse(&[]);
        config.validate().expect("defaults validate");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.body_limit, 1024 * 1024);
        assert_eq!(config.database_url(), "sqlite://data/switchboard.db");
    }

    #[test]
    fn rejects_values_that_cannot_work() {
        let err = parse(&["--jwt-secret", "short"])
            .validate()
            .expect_err("short secret");
        assert!(err.to_string().contains("--jwt-secret"), "{err}");
        let err = parse(&["--database-url", "postgres://db/switchboard"])
            .validate()
            .expect_err("replicas need shared secrets");
        assert!(err.to_string().contains("replicas share"), "{err}");
        let shared = [
            "--database-url",
            "postgres://db/switchboard",
            "--jwt-secret",
            "0123456789abcdef0123456789abcdef",
            "--secret-key",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        ];
        parse(&shared).validate().expect("shared secrets given");
    }

    #[test]
    fn overrides_repeat() {
        let config = parse(&[
            "--egress-override",
            "*.pipedrive.com=http://127.0.0.1:9000",
            "--egress-override",
            "crm.example=https://staging.example",
        ]);
        assert_eq!(config.sandbox.egress_override.len(), 2);
        let mut all = vec!["switchboard"];
        all.extend(["--egress-override", "nonsense"]);
        assert!(Cli::try_parse_from(all).is_err());
    }
}
