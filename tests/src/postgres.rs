//! A throwaway PostgreSQL cluster per test: `initdb` and `pg_ctl` into a
//! temp dir, listening on a free loopback port, stopped when dropped.
//!
//! PostgreSQL refuses to run as root, so as root every command runs through
//! `runuser -u postgres --`, and the temp dir is handed to that user. The
//! binaries are found on `PATH`, else under `/usr/lib/postgresql/*/bin`
//! (where Debian's `postgresql` package puts them).

use std::path::PathBuf;
use std::process::Command;

/// A running cluster with one superuser, `postgres`, trusted on loopback.
#[derive(Debug)]
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    fsync: bool,
}

/// The directory holding `initdb` and `pg_ctl`.
fn binaries() -> PathBuf {
    find_binaries().expect(
        "PostgreSQL's server binaries (initdb, pg_ctl): install Debian's `postgresql` package",
    )
}

fn find_binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file());
    if on_path.is_some() {
        return on_path;
    }
    let mut installed: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    installed.sort();
    installed.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

impl Postgres {
    /// Whether PostgreSQL's server binaries are installed.
    pub fn available() -> bool {
        find_binaries().is_some()
    }

    /// `initdb` a fresh cluster and start it (`pg_ctl -w` returns once it
    /// accepts connections), without fsync: the tests kill Switchboard,
    /// never the machine.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// As [`Postgres::start`], with fsync on, as in production: for
    /// benchmarks that compare its durable commits with SQLite's.
    pub fn start_durable() -> Self {
        Self::start_with(true)
    }

    fn start_with(fsync: bool) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("switchboard-pg-")
            .tempdir()
            .unwrap();
        if is_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path()));
        }
        let port = free_port();
        let mut cluster = Self {
            bin: binaries(),
            dir,
            port,
            fsync,
        };
        let data = cluster.data();
        run(cluster
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data));
        // The port was free a moment ago; another test may have taken it
        // since (the postmaster then cannot bind it). Try another.
        for _ in 0..2 {
            if cluster.try_pg_ctl_start().is_ok() {
                return cluster;
            }
            cluster.port = free_port();
        }
        cluster.pg_ctl_start();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn pg_ctl_start(&self) {
        if let Err(why) = self.try_pg_ctl_start() {
            panic!("{why}");
        }
    }

    /// Start the cluster on its port, or say why not, with its log.
    fn try_pg_ctl_start(&self) -> Result<(), String> {
        // TCP on loopback only (no Unix socket).
        let fsync = if self.fsync { "on" } else { "off" };
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync={fsync} \
             -c max_connections=200",
            self.port
        );
        let log = self.dir.path().join("log");
        let mut command = self.command("pg_ctl");
        command
            .arg("-D")
            .arg(self.data())
            .args(["-l"])
            .arg(&log)
            .args(["-o", &options, "-w", "start"]);
        let out = command.output().unwrap();
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{command:?} failed: {}\n{}\nthe server's log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        ))
    }

    /// The database URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The flags that put a test server on this database, as one of its
    /// replicas (the harness gives every server the same `--jwt-secret`).
    pub fn server_args(&self) -> Vec<String> {
        vec![
            "--database-url".into(),
            self.url(),
            "--secret-key".into(),
            crate::SECRET_KEY.into(),
        ]
    }

    /// A pool on the database, for reading back what the server stored.
    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.url()).await.unwrap()
    }

    /// Stop the cluster (fast shutdown: connections are cut).
    pub fn stop(&self) {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"]));
    }

    /// Start the cluster again after [`Postgres::stop`].
    pub fn restart(&self) {
        self.pg_ctl_start();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(command: &mut Command) {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
