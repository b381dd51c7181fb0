//! `switchboard-bench`: load and scale benchmarks against the release
//! server, run by `cargo xtask bench` (which builds what they need).
//!
//! - `http`: requests/s and latency of `POST`, `GET` (with and without
//!   details) and `PATCH /callLog` with testCRM on SQLite, as a ratio to the
//!   baseline; then `POST` and `GET` on PostgreSQL with one replica and with
//!   two (when PostgreSQL's binaries are installed), against SQLite's; and
//!   `POST` and `GET` again with metrics and JSON logs on, against the same
//!   SQLite run.
//! - `slow-crm`: concurrent Pipedrive creates against a CRM that answers
//!   slowly: total time, peak RSS, threads.
//! - `many-adapters`: cold and warm start-up with many adapters, RSS, and
//!   latency spread over all of them.
//! - `guest-languages`: `POST /callLog` with testCRM in Rust, TypeScript and
//!   Python, each as a ratio to the Rust one, by our generator and by wrk.
//! - `all`: every one in order. `--quick` shrinks every run to a smoke test
//!   that only checks the benchmarks still work.
//! - `baseline`: the minimal hyper server the `http` figures are divided by;
//!   `http` measures it with `wrk` too, when wrk is installed, and prints
//!   both.
//!
//! Results are printed as Markdown for `BENCHMARKS.md`.

mod baseline;
mod guest_languages;
mod http;
mod load;
mod many_adapters;
mod observability;
mod process;
mod replicas;
mod report;
mod slow_crm;
mod wrk;

use clap::{Args, Parser, Subcommand};
use load::Load;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Switchboard load and scale benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the baseline on `--listen`.
    Baseline {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// HTTP load against testCRM, beside the baseline.
    Http(Common),
    /// Concurrent creates against a slow CRM.
    SlowCrm(Common),
    /// Many adapters in one server.
    ManyAdapters(Common),
    /// testCRM in Rust, TypeScript and Python under the same load.
    GuestLanguages(Common),
    /// Every benchmark.
    All(Common),
}

#[derive(Args)]
struct Common {
    /// The release server binary.
    #[arg(long, default_value = "target/release/switchboard")]
    server: PathBuf,
    /// Connections the load runs keep open.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How long each load run counts requests.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// How long each load run sends requests before it counts them.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Creates fired at once against the slow CRM.
    #[arg(long, default_value_t = 2000)]
    slow_creates: usize,
    /// How long the slow CRM takes to answer each request.
    #[arg(long, default_value = "250ms", value_parser = humantime::parse_duration)]
    slow_delay: Duration,
    /// testCRM copies in the many-adapters run.
    #[arg(long, default_value_t = 1000)]
    adapters: usize,
    /// How long a start of the many-adapters run may take, cold or warm.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    start_deadline: Duration,
    /// A smoke run: tiny loads, to check the benchmarks still work.
    #[arg(long)]
    quick: bool,
}

impl Common {
    fn load(&self) -> Load {
        if self.quick {
            Load {
                connections: 4,
                warmup: Duration::from_millis(100),
                duration: Duration::from_millis(500),
            }
        } else {
            Load {
                connections: self.connections,
                warmup: self.warmup,
                duration: self.duration,
            }
        }
    }

    fn slow_creates(&self) -> usize {
        if self.quick { 20 } else { self.slow_creates }
    }

    fn adapters(&self) -> usize {
        if self.quick { 5 } else { self.adapters }
    }

    async fn many_adapters(&self, table: &mut report::Table) -> anyhow::Result<()> {
        let (adapters, deadline) = (self.adapters(), self.start_deadline);
        many_adapters::run(&self.server, adapters, deadline, self.load(), table).await
    }
}

/// The HTTP runs: the baselines, SQLite, then PostgreSQL beside it.
async fn http_and_replicas(c: &Common, table: &mut report::Table) -> anyhow::Result<()> {
    let load = c.load();
    let baselines = http::baselines(load, table).await?;
    let sqlite = http::run(&c.server, load, baselines, table).await?;
    observability::run(&c.server, load, baselines, sqlite, table).await?;
    replicas::run(&c.server, load, baselines, sqlite, table).await
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Two workers: the machine the targets are set for has two cores, and
    // the load generator shares them with the server, as a client would.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut table = report::Table::default();
        match cli.command {
            Command::Baseline { listen } => {
                return baseline::serve(tokio::net::TcpListener::bind(listen).await?).await;
            }
            Command::Http(c) => http_and_replicas(&c, &mut table).await?,
            Command::SlowCrm(c) => slow_crm::run(&c.server, c.slow_creates(), c.slow_delay).await?,
            Command::ManyAdapters(c) => c.many_adapters(&mut table).await?,
            Command::GuestLanguages(c) => {
                guest_languages::run(&c.server, c.load(), &mut table).await?
            }
            Command::All(c) => {
                http_and_replicas(&c, &mut table).await?;
                guest_languages::run(&c.server, c.load(), &mut table).await?;
                c.many_adapters(&mut table).await?;
                slow_crm::run(&c.server, c.slow_creates(), c.slow_delay).await?;
            }
        }
        table.print();
        Ok(())
    })
}
