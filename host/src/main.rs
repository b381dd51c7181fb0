//! The `switchboard` command line.

use clap::{Parser, Subcommand};
use secrecy::SecretString;
use std::path::PathBuf;
use std::process::ExitCode;
use switchboard::config::{Config, SandboxConfig};
use switchboard::log_filter::LogFormat;

/// Self-hosted call-logging server for CRMs (RingCentral App Connect API,
/// WebAssembly adapters).
#[derive(Debug, Parser)]
#[command(name = "switchboard", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API.
    Serve(Box<Config>),
    /// Check an adapter component offline: it compiles, implements the
    /// world, and its manifest (and NAME.toml beside it) reads. Prints the
    /// manifest; exits non-zero with the reason otherwise.
    Check {
        /// The component, e.g. target/plugins/testcrm.wasm.
        file: PathBuf,
        #[command(flatten)]
        sandbox: SandboxConfig,
    },
    /// Create a working adapter project in a new directory NAME: a
    /// manifest, one operation, a unit test, a build script and a README.
    New(switchboard::scaffold::NewArgs),
    /// Re-seal every stored credential with a new secret key (run with the
    /// server stopped).
    RotateSecretKey(switchboard::cli::RotateArgs),
    /// List a running server's adapters (its admin API) as a table.
    Adapters(AdminArgs),
    /// List every live replica on the server's database and what each
    /// serves (its admin API), and name any version skew.
    Replicas(AdminArgs),
    /// Upload an adapter (and its operator file) to a running server, which
    /// checks it as `check` does and, if it would serve, puts it in its
    /// plugins directory; then wait until it serves.
    Deploy {
        #[command(flatten)]
        upload: switchboard::cli::DeployArgs,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Remove NAME.wasm (and NAME.toml) from a running server's plugins
    /// directory.
    Undeploy {
        /// The file's stem: `testcrm` removes `testcrm.wasm`.
        name: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

/// How to reach a running server's admin API.
#[derive(Debug, clap::Args)]
struct AdminArgs {
    /// The server's base URL.
    #[arg(long, env = "SWITCHBOARD_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The server's --admin-token.
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true, value_parser = switchboard::config::secret)]
    admin_token: SecretString,
}

/// mimalloc instead of the system allocator: a request makes many small,
/// short-lived allocations across threads, where glibc's malloc spent about
/// a fifth of the server's CPU under load (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
#[allow(clippy::print_stdout, reason = "the CLI prints its results")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    let (format, otlp_endpoint) = match &cli.command {
        Command::Serve(config) => (config.log_format, config.otlp_endpoint.as_deref()),
        _ => (LogFormat::Text, None),
    };
    let telemetry = match switchboard::telemetry::init(default_level, format, otlp_endpoint) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(config) => serve(*config).await,
        Command::Check { file, sandbox } => switchboard::cli::check(&file, &sandbox)
            .await
            .map(|out| print!("{out}")),
        Command::New(args) => std::env::current_dir()
            .map_err(anyhow::Error::from)
            .and_then(|here| Ok(switchboard::scaffold::create(&args, &here)?))
            .map(|dir| println!("created {}", dir.display())),
        Command::RotateSecretKey(args) => switchboard::cli::rotate_secret_key(&args)
            .await
            .map(|out| print!("{out}")),
        Command::Adapters(admin) => switchboard::cli::adapters(&admin.url, &admin.admin_token)
            .await
            .map(|out| print!("{out}")),
        Command::Replicas(admin) => switchboard::cli::replicas(&admin.url, &admin.admin_token)
            .await
            .map(|out| print!("{out}")),
        Command::Deploy { upload, admin } => {
            switchboard::cli::deploy(&admin.url, &admin.admin_token, &upload)
                .await
                .map(|out| print!("{out}"))
        }
        Command::Undeploy { name, admin } => {
            switchboard::cli::undeploy(&admin.url, &admin.admin_token, &name)
                .await
                .map(|out| print!("{out}"))
        }
    };
    telemetry.shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = listen(config.listen, config.listen_backlog)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    switchboard::serve(listener, config, shutdown_signal()).await
}

/// Bind `addr` with room for `backlog` pending connections (tokio's
/// `TcpListener::bind` queues 1024).
fn listen(addr: std::net::SocketAddr, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
