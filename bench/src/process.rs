//! Servers under test as child processes: the release `switchboard` binary
//! and the baseline (this binary's `baseline` subcommand). Each is started on
//! a free 127.0.0.1 port and watched through `/proc` for memory and threads.

use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process; killed when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
}

/// A port that was free a moment ago.
pub(crate) fn free_port() -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

impl Server {
    /// `switchboard serve` over `plugins` and `data`, with `extra` flags. Its
    /// log goes to `data/../switchboard.log`.
    pub(crate) fn switchboard(
        binary: &Path,
        plugins: &Path,
        data: &Path,
        extra: &[String],
    ) -> Result<Self> {
        let addr = free_port()?;
        let log_path = data.with_extension("log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let child = Command::new(binary)
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--plugins-dir")
            .arg(plugins)
            .arg("--data-dir")
            .arg(data)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self { child, addr })
    }

    /// The baseline server: this same binary, `baseline --listen ADDR`.
    pub(crate) fn baseline() -> Result<Self> {
        let addr = free_port()?;
        let child = Command::new(std::env::current_exe()?)
            .args(["baseline", "--listen", &addr.to_string()])
            .stdout(Stdio::null())
            .spawn()?;
        Ok(Self { child, addr })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait until `GET /healthz` answers 200 (every adapter loaded), or
    /// until the process accepts connections when it has no `/healthz`.
    /// Returns how long that took from now.
    pub(crate) async fn ready(&mut self, deadline: Duration) -> Result<Duration> {
        let start = Instant::now();
        loop {
            self.exited()?;
            if healthz(self.addr).await {
                return Ok(start.elapsed());
            }
            if start.elapsed() > deadline {
                bail!("server not ready after {deadline:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// An error when the server has exited (it never should, while
    /// measured).
    pub(crate) fn exited(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            Some(status) => bail!("server exited during start-up: {status}"),
            None => Ok(()),
        }
    }

    /// Peak resident memory (VmHWM) and current threads, from `/proc`.
    pub(crate) fn usage(&self) -> Result<Usage> {
        Usage::of(self.pid())
    }

    /// Kill the server and reap it; a benchmark needs no graceful shutdown.
    pub(crate) fn stop(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn healthz(addr: SocketAddr) -> bool {
    use http_body_util::{BodyExt, Empty};
    let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await
    else {
        return false;
    };
    tokio::spawn(connection);
    let request = hyper::Request::get("/healthz")
        .header("host", addr.to_string())
        .body(Empty::<bytes::Bytes>::new())
        .expect("a valid request");
    match sender.send_request(request).await {
        // The baseline answers every path 200.
        Ok(response) => {
            let ok = response.status().is_success();
            let _ = response.into_body().collect().await;
            ok
        }
        Err(_) => false,
    }
}

/// Memory and threads of a process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    /// Peak resident set (VmHWM), MiB.
    pub(crate) peak_rss_mib: f64,
    pub(crate) threads: u64,
}

impl Usage {
    pub(crate) fn of(pid: u32) -> Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| -> Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("no {name} in /proc/{pid}/status"))
        };
        Ok(Self {
            peak_rss_mib: field("VmHWM:")? as f64 / 1024.0,
            threads: field("Threads:")?,
        })
    }
}

/// A scratch directory with `plugins/` and `data/` for one server.
#[derive(Debug)]
pub(crate) struct Scratch {
    _dir: tempfile::TempDir,
    pub(crate) plugins: PathBuf,
    pub(crate) data: PathBuf,
}

impl Scratch {
    pub(crate) fn new() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let plugins = dir.path().join("plugins");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&plugins)?;
        Ok(Self {
            _dir: dir,
            plugins,
            data,
        })
    }

    /// Where a server on this scratch logs (`Server::switchboard`).
    pub(crate) fn log(&self) -> PathBuf {
        self.data.with_extension("log")
    }
}
