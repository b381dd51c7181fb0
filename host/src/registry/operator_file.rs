//! The operator file `NAME.toml` beside `NAME.wasm`: per-adapter limits,
//! egress policy and config. Optional; an unknown key is an error that names
//! it. Secrets are never written inline: `[config_env]` maps a config key to
//! the environment variable that holds its value.
//!
//! ```toml
//! [limits]
//! cpu = "500ms"               # CPU per call
//! timeout = "5s"              # wall clock per call
//! memory_mib = 32             # at most the server's --adapter-memory-mib
//! max_concurrent_calls = 50   # more are answered ADAPTER_BUSY
//! max_requests = 20           # outbound HTTP requests per call
//!
//! [egress]
//! allow_hosts = ["files.example.com"]   # allowed on top of the manifest's
//! only_hosts = ["api.pipedrive.com"]    # narrow the manifest's to these
//!
//! [config]
//! region = "eu"
//!
//! [config_env]
//! region_token = "ACME_REGION_TOKEN"
//!
//! [runtime]
//! reuse = "per-user"          # default "never": a fresh instance per call
//! reuse_max_calls = 1000      # calls one kept instance serves
//! reuse_max_age = "60s"       # time from its creation until it is dropped
//! reuse_max_idle = 16         # instances kept between calls, all users
//!
//! [oauth]                     # the host's OAuth app; never given to the adapter
//! client_id = "abc123"        # or client_id_env = "PIPEDRIVE_CLIENT_ID"
//! client_secret_env = "PIPEDRIVE_CLIENT_SECRET"   # or client_secret_file = "/run/secrets/pd"
//! redirect_uri = "https://ringcentral.github.io/ringcentral-embeddable/redirect.html"
//! client_auth = "client_secret_post"  # default "client_secret_basic" (HTTP Basic)
//! ```

use crate::runtime::{EgressOverrides, LimitOverrides, OperatorSettings, Reuse, ReuseBounds};
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why an operator file cannot apply.
#[derive(Debug, thiserror::Error)]
pub enum OperatorFileError {
    /// The file could not be read.
    #[error("{0}")]
    Read(#[from] std::io::Error),
    /// The TOML does not parse, or has a key this file does not know.
    #[error("{0}")]
    Syntax(String),
    /// A variable the file names is not set.
    #[error("{key}: environment variable {variable} is not set")]
    MissingVariable {
        /// The key naming it.
        key: String,
        /// The variable.
        variable: String,
    },
    /// `[oauth]` needs exactly one of two keys.
    #[error("oauth needs exactly one of {0} and {1}")]
    OneOf(&'static str, &'static str),
    /// `oauth.client_secret_file` could not be read.
    #[error("oauth.client_secret_file {path}: {source}")]
    SecretFile {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A `reuse_*` bound is set while instances are not reused.
    #[error("runtime.{0} applies only with reuse = \"per-user\"")]
    ReuseOff(&'static str),
    /// A config key is in both `[config]` and `[config_env]`.
    #[error("{0} is set in both [config] and [config_env]")]
    Duplicate(String),
}

/// The operator's OAuth app for one adapter (`[oauth]` in `NAME.toml`).
#[derive(Debug, Clone)]
pub struct OAuthApp {
    /// The client id registered with the CRM.
    pub client_id: String,
    /// The client secret; never given to the adapter.
    pub client_secret: SecretString,
    /// The redirect URI registered with the CRM. When unset, the client's
    /// `callbackUri` without its query is used.
    pub redirect_uri: Option<String>,
    /// How the secret is presented to the token endpoint.
    pub client_auth: TokenEndpointAuth,
}

/// How the host presents the client secret to the CRM's token endpoint, by
/// RFC 6749's names (§2.3.1): `client_auth = "client_secret_post"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuth {
    /// HTTP Basic with the id and secret: the RFC's default.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body (HubSpot).
    ClientSecretPost,
}

impl PartialEq for OAuthApp {
    fn eq(&self, other: &Self) -> bool {
        use secrecy::ExposeSecret;
        self.client_id == other.client_id
            && self.client_secret.expose_secret() == other.client_secret.expose_secret()
            && self.redirect_uri == other.redirect_uri
            && self.client_auth == other.client_auth
    }
}

impl Eq for OAuthApp {}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorFile {
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    egress: Egress,
    #[serde(default)]
    runtime: Runtime,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    config_env: BTreeMap<String, String>,
    oauth: Option<OAuth>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuth {
    client_id: Option<String>,
    client_id_env: Option<String>,
    client_secret_env: Option<String>,
    /// A file holding the secret (a mounted secret); relative to this file's directory.
    client_secret_file: Option<PathBuf>,
    redirect_uri: Option<String>,
    #[serde(default)]
    client_auth: TokenEndpointAuth,
}

/// Everything the operator file sets for one adapter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdapterSettings {
    /// What the runtime applies: limits, egress policy, config.
    pub runtime: OperatorSettings,
    /// The host's OAuth app for this adapter, when the operator set one.
    pub oauth: Option<OAuthApp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    #[serde(default, with = "humantime_serde")]
    cpu: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    memory_mib: Option<u32>,
    max_concurrent_calls: Option<u32>,
    max_requests: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Egress {
    #[serde(default)]
    allow_hosts: Vec<String>,
    only_hosts: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Runtime {
    #[serde(default)]
    reuse: ReuseName,
    reuse_max_calls: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    reuse_max_age: Option<Duration>,
    reuse_max_idle: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ReuseName {
    #[default]
    Never,
    PerUser,
}

impl Runtime {
    fn reuse(self) -> Result<Reuse, OperatorFileError> {
        let defaults = ReuseBounds::default();
        match self.reuse {
            ReuseName::PerUser => Ok(Reuse::PerUser(ReuseBounds {
                max_calls: self.reuse_max_calls.unwrap_or(defaults.max_calls),
                max_age: self.reuse_max_age.unwrap_or(defaults.max_age),
                max_idle: self.reuse_max_idle.unwrap_or(defaults.max_idle),
            })),
            ReuseName::Never => {
                let set = [
                    ("reuse_max_calls", self.reuse_max_calls.is_some()),
                    ("reuse_max_age", self.reuse_max_age.is_some()),
                    ("reuse_max_idle", self.reuse_max_idle.is_some()),
                ];
                match set.into_iter().find(|(_, set)| *set) {
                    Some((key, _)) => Err(OperatorFileError::ReuseOff(key)),
                    None => Ok(Reuse::Never),
                }
            }
        }
    }
}

/// Parse operator-file text; `env` resolves `[config_env]` and `[oauth]`
/// variable names, and `dir` relative secret files.
pub(super) fn parse(
    text: &str,
    env: impl Fn(&str) -> Option<String>,
    dir: &Path,
) -> Result<AdapterSettings, OperatorFileError> {
    let file: OperatorFile =
        toml::from_str(text).map_err(|e| OperatorFileError::Syntax(e.message().to_owned()))?;
    let variable = |key: &str, name: &str| {
        env(name).ok_or_else(|| OperatorFileError::MissingVariable {
            key: key.to_owned(),
            variable: name.to_owned(),
        })
    };
    let oauth = match file.oauth {
        None => None,
        Some(oauth) => Some(OAuthApp {
            client_id: match (oauth.client_id, oauth.client_id_env) {
                (Some(id), None) => id,
                (None, Some(name)) => variable("oauth.client_id_env", &name)?,
                _ => return Err(OperatorFileError::OneOf("client_id", "client_id_env")),
            },
            client_secret: match (oauth.client_secret_env, oauth.client_secret_file) {
                (Some(name), None) => variable("oauth.client_secret_env", &name)?,
                (None, Some(file)) => {
                    let path = dir.join(file);
                    match std::fs::read_to_string(&path) {
                        Ok(text) => text.trim().to_owned(),
                        Err(source) => return Err(OperatorFileError::SecretFile { path, source }),
                    }
                }
                _ => {
                    return Err(OperatorFileError::OneOf(
                        "client_secret_env",
                        "client_secret_file",
                    ));
                }
            }
            .into(),
            redirect_uri: oauth.redirect_uri,
            client_auth: oauth.client_auth,
        }),
    };
    let mut config: BTreeMap<String, SecretString> = file
        .config
        .into_iter()
        .map(|(key, value)| (key, value.into()))
        .collect();
    for (key, name) in file.config_env {
        let value = variable(&format!("config_env.{key}"), &name)?;
        if config.insert(key.clone(), value.into()).is_some() {
            return Err(OperatorFileError::Duplicate(key));
        }
    }
    let runtime = OperatorSettings {
        config,
        limits: LimitOverrides {
            cpu: file.limits.cpu,
            timeout: file.limits.timeout,
            memory_mib: file.limits.memory_mib,
            max_concurrent_calls: file.limits.max_concurrent_calls,
            max_requests: file.limits.max_requests,
        },
        egress: EgressOverrides {
            allow_hosts: file.egress.allow_hosts,
            only_hosts: file.egress.only_hosts,
        },
        reuse: file.runtime.reuse()?,
    };
    Ok(AdapterSettings { runtime, oauth })
}

/// Read the operator file at `path`; a missing file means defaults.
pub async fn read(path: &Path) -> Result<AdapterSettings, OperatorFileError> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => parse(
            &text,
            |name| std::env::var(name).ok(),
            path.parent().unwrap_or(Path::new(".")),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AdapterSettings::default()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn env(name: &str) -> Option<String> {
        (name == "SECRET_VAR").then(|| "s3cret".to_owned())
    }

    #[test]
    fn oauth_app_comes_from_the_environment() {
        let settings = parse(
            "[oauth]\nclient_id = \"id-1\"\nclient_secret_env = \"SECRET_VAR\"\n",
            env,
            Path::new("."),
        )
        .expect("parses");
        let oauth = settings.oauth.expect("oauth set");
        assert_eq!(
            (
                oauth.client_id.as_str(),
                oauth.client_secret.expose_secret()
            ),
            ("id-1", "s3cret")
        );
        assert!(!format!("{oauth:?}").contains("s3cret"));
        assert!(
            settings.runtime.config.is_empty(),
            "the secret is not adapter config"
        );
        let err = parse(
            "[oauth]\nclient_id = \"x\"\nclient_secret_env = \"NOPE\"\n",
            env,
            Path::new("."),
        )
        .expect_err("missing variable");
        assert!(err.to_string().contains("NOPE"), "{err}");
        let err = parse(
            "[oauth]\nclient_secret_env = \"SECRET_VAR\"\n",
            env,
            Path::new("."),
        )
        .expect_err("no id");
        assert!(err.to_string().contains("client_id"), "{err}");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pd-secret"), "from-file\n").expect("writes");
        let settings = parse(
            "[oauth]\nclient_id = \"x\"\nclient_secret_file = \"pd-secret\"\n",
            env,
            dir.path(),
        )
        .expect("parses");
        let oauth = settings.oauth.expect("oauth");
        assert_eq!(oauth.client_secret.expose_secret(), "from-file");
        assert_eq!(oauth.client_auth, TokenEndpointAuth::ClientSecretBasic);
    }

    #[test]
    fn the_client_auth_method_is_named_as_in_rfc_6749() {
        let app = |method: &str| {
            parse(
                &format!(
                    "[oauth]\nclient_id = \"x\"\nclient_secret_env = \"SECRET_VAR\"\n{method}"
                ),
                env,
                Path::new("."),
            )
            .map(|settings| settings.oauth.expect("oauth").client_auth)
        };
        assert_eq!(
            app("client_auth = \"client_secret_post\"").expect("parses"),
            TokenEndpointAuth::ClientSecretPost
        );
        let err = app("client_auth = \"post\"").expect_err("unknown method");
        assert!(err.to_string().contains("client_secret_basic"), "{err}");
    }

    #[test]
    fn parses_every_section() {
        let settings = parse(
            r#"
            [limits]
            cpu = "250ms"
            timeout = "2s"
            memory_mib = 16
            max_concurrent_calls = 4
            [egress]
            allow_hosts = ["extra.example.com"]
            only_hosts = ["api.example.com"]
            [config]
            region = "eu"
            [config_env]
            token = "SECRET_VAR"
            "#,
            env,
            Path::new("."),
        )
        .expect("parses")
        .runtime;
        assert_eq!(settings.limits.cpu, Some(Duration::from_millis(250)));
        assert_eq!(settings.limits.timeout, Some(Duration::from_secs(2)));
        assert_eq!(settings.limits.memory_mib, Some(16));
        assert_eq!(settings.limits.max_concurrent_calls, Some(4));
        assert_eq!(settings.egress.allow_hosts, ["extra.example.com"]);
        assert_eq!(
            settings.egress.only_hosts,
            Some(vec!["api.example.com".to_owned()])
        );
        let config = |key: &str| {
            settings
                .config
                .get(key)
                .map(|v| v.expose_secret().to_owned())
        };
        assert_eq!(config("region").as_deref(), Some("eu"));
        assert_eq!(config("token").as_deref(), Some("s3cret"));
        assert!(
            !format!("{settings:?}").contains("s3cret"),
            "Debug must not show values"
        );
    }

    #[test]
    fn instances_are_reused_only_when_asked() {
        let reuse = |text: &str| parse(text, env, Path::new(".")).map(|s| s.runtime.reuse);
        assert_eq!(reuse("").expect("parses"), Reuse::Never);
        assert_eq!(
            reuse("[runtime]\nreuse = \"per-user\"\n").expect("parses"),
            Reuse::PerUser(ReuseBounds::default())
        );
        let bounded = "[runtime]\nreuse = \"per-user\"\nreuse_max_calls = 5\n\
                       reuse_max_age = \"2s\"\nreuse_max_idle = 3\n";
        assert_eq!(
            reuse(bounded).expect("parses"),
            Reuse::PerUser(ReuseBounds {
                max_calls: 5,
                max_age: Duration::from_secs(2),
                max_idle: 3,
            })
        );
        let err = reuse("[runtime]\nreuse_max_calls = 5\n").expect_err("reuse is off");
        assert!(err.to_string().contains("reuse_max_calls"), "{err}");
        let err = reuse("[runtime]\nreuse = \"always\"\n").expect_err("unknown policy");
        assert!(err.to_string().contains("per-user"), "{err}");
    }

    #[test]
    fn errors_name_the_problem() {
        let parse = |text: &str| parse(text, env, Path::new(".")).map_err(|e| e.to_string());
        let err = parse("[limits]\ncpus = \"1s\"\n").expect_err("unknown key");
        assert!(err.contains("cpus"), "{err}");
        let err = parse("[limts]\n").expect_err("unknown table");
        assert!(err.contains("limts"), "{err}");
        let err = parse("[limits]\ncpu = \"fast\"\n").expect_err("bad duration");
        assert!(err.contains("fast") || err.contains("duration"), "{err}");
        let err = parse("[config_env]\ntoken = \"MISSING_VAR\"\n").expect_err("missing env");
        assert!(err.contains("MISSING_VAR"), "{err}");
        assert!(parse("").is_ok());
    }
}
