//! Group commit for SQLite: every write runs on one connection, on a thread
//! of its own, and the writes waiting when a transaction starts share it,
//! and its fsync.
//!
//! SQLite has one writer at a time. With writes spread over several
//! connections, each concurrent writer waits in SQLite's busy handler, which
//! sleeps (1, 2, 5, 10 … 100 ms), and every write pays its own fsync. Here
//! writers queue in memory instead, and a batch of N writes costs one fsync.
//! The statements run on the writer thread itself, so a write costs no
//! thread hand-off beyond its submission and its answer.
//!
//! Each write runs in a savepoint, so a failed write undoes only itself and
//! is answered with its error; if the commit fails, every write of the
//! batch is answered with that failure.
//!
//! **Durability, pipelined.** The connection commits with `synchronous =
//! NORMAL` (no fsync at commit), and a second thread, the syncer, fsyncs the
//! WAL after each batch, while the writer thread already runs the next one.
//! A write is answered in one of two ways:
//! - [`Writer::write`]: once the WAL holding it is fsynced, so it survives a
//!   crash or a power loss;
//! - [`Writer::write_applied`]: as soon as its batch commits (other
//!   connections see it), before the fsync. It becomes durable with the next
//!   fsync, which any later durable write or [`Writer::sync`] waits for.
//!
//! So a request that makes several writes waits for one fsync, at its last
//! (durable) write, instead of one per write.

use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The write's own statements failed (it was rolled back alone).
    #[error(transparent)]
    Statement(#[from] rusqlite::Error),
    /// The batch's commit failed, and every write in it with it.
    #[error("the transaction holding this write failed to commit: {0}")]
    Commit(String),
    /// The writer thread is gone (the store was closed).
    #[error("the database writer has stopped")]
    Stopped,
    /// The batch committed, but the WAL could not be fsynced: whether it
    /// would survive a power loss is unknown.
    #[error("the write-ahead log could not be synced: {0}")]
    Sync(String),
}

/// One queued write, its result held until its batch commits (or is
/// synced).
trait Work: Send {
    /// Run the write; whether it succeeded (and must be kept).
    fn run(&mut self, connection: &Connection) -> bool;
    /// Whether the answer waits for the fsync.
    fn durable(&self) -> bool;
    /// Answer the caller with the batch's outcome.
    fn finish(self: Box<Self>, outcome: Result<(), WriteError>);
}

struct Pending<T, F> {
    write: Option<F>,
    durable: bool,
    outcome: Option<rusqlite::Result<T>>,
    reply: oneshot::Sender<Result<T, WriteError>>,
}

impl<T, F> Work for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> rusqlite::Result<T> + Send,
{
    fn run(&mut self, connection: &Connection) -> bool {
        let outcome = self.write.take().map(|write| write(connection));
        let ok = matches!(outcome, Some(Ok(_)));
        self.outcome = outcome;
        ok
    }

    fn durable(&self) -> bool {
        self.durable
    }

    fn finish(self: Box<Self>, outcome: Result<(), WriteError>) {
        let answer = match (outcome, self.outcome) {
            (Err(why), _) => Err(why),
            (Ok(()), Some(outcome)) => outcome.map_err(WriteError::from),
            (Ok(()), None) => Err(WriteError::Commit("write never ran".into())),
        };
        // The caller may have gone; the write stands either way.
        let _ = self.reply.send(answer);
    }
}

/// The handle writers queue on. Cheap to clone; the writer thread ends
/// (closing its connection) when the last handle is dropped.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Box<dyn Work>>,
    progress: Arc<Progress>,
}

/// How far writes have got, counted in applied-only writes: how many have
/// committed, and how many of those the last fsync covered.
#[derive(Debug, Default)]
struct Progress {
    applied: AtomicU64,
    synced: AtomicU64,
}

/// A batch handed from the writer thread to the syncer.
struct Committed {
    durable: Vec<Box<dyn Work>>,
    outcome: Result<(), String>,
    /// `Progress::applied` once this batch committed.
    applied: u64,
}

impl std::fmt::Debug for dyn Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Work")
    }
}

impl Writer {
    /// Start the writer thread on `connection` (in WAL mode, `synchronous =
    /// NORMAL`), and the syncer thread, which fsyncs `wal` (the database's
    /// `-wal` file) after each batch. At most `max_batch` writes share a
    /// transaction.
    pub(super) fn start(
        connection: Connection,
        wal: PathBuf,
        max_batch: usize,
    ) -> std::io::Result<Self> {
        let max_batch = max_batch.max(1);
        let (jobs, queue) = mpsc::channel(max_batch * 4);
        let (committed, to_sync) = std::sync::mpsc::channel();
        let progress = Arc::new(Progress::default());
        let (writer_progress, syncer_progress) = (progress.clone(), progress.clone());
        std::thread::Builder::new()
            .name("switchboard-db-writer".into())
            .spawn(move || run(connection, queue, max_batch, committed, &writer_progress))?;
        std::thread::Builder::new()
            .name("switchboard-db-syncer".into())
            .spawn(move || sync_each(&wal, to_sync, &syncer_progress))?;
        Ok(Self { jobs, progress })
    }

    /// Run `write` (one or more statements, as one unit) in the next batch;
    /// returns its result once the batch is committed and fsynced.
    pub(super) async fn write<T, F>(&self, write: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.submit(write, true).await
    }

    /// Run `write` in the next batch; returns its result once the batch has
    /// committed, before it is fsynced (see the module docs).
    pub(super) async fn write_applied<T, F>(&self, write: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.submit(write, false).await
    }

    /// Wait until every write answered so far is durable. Free when no
    /// applied-only write is waiting for an fsync.
    pub(super) async fn sync(&self) -> Result<(), WriteError> {
        let applied = self.progress.applied.load(Ordering::Acquire);
        if self.progress.synced.load(Ordering::Acquire) >= applied {
            return Ok(());
        }
        self.write(|_| Ok(())).await
    }

    async fn submit<T, F>(&self, write: F, durable: bool) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let work = Box::new(Pending {
            write: Some(write),
            durable,
            outcome: None,
            reply,
        });
        self.jobs
            .send(work)
            .await
            .map_err(|_| WriteError::Stopped)?;
        answer.await.map_err(|_| WriteError::Stopped)?
    }
}

/// The writer thread: take what is queued (at least one), run it in one
/// transaction, commit, answer the applied-only writes, and hand the
/// durable ones to the syncer.
fn run(
    connection: Connection,
    mut queue: mpsc::Receiver<Box<dyn Work>>,
    max_batch: usize,
    syncer: std::sync::mpsc::Sender<Committed>,
    progress: &Progress,
) {
    let mut batch = Vec::with_capacity(max_batch);
    let mut applied = 0;
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(work) => batch.push(work),
                Err(_) => break,
            }
        }
        let outcome = commit(&connection, &mut batch);
        let (durable, now): (Vec<_>, Vec<_>) = batch.drain(..).partition(|w| w.durable());
        if outcome.is_ok() {
            applied += now.len() as u64;
            progress.applied.store(applied, Ordering::Release);
        }
        for work in now {
            work.finish(outcome.clone().map_err(WriteError::Commit));
        }
        let committed = Committed {
            durable,
            outcome,
            applied,
        };
        if let Err(unsent) = syncer.send(committed) {
            // The syncer is gone: nothing can be made durable.
            for work in unsent.0.durable {
                work.finish(Err(WriteError::Stopped));
            }
        }
    }
}

/// The syncer thread: fsync the WAL after each batch the writer committed,
/// then answer that batch's durable writes. Batches that queued up while it
/// synced share the next fsync.
fn sync_each(
    wal: &std::path::Path,
    batches: std::sync::mpsc::Receiver<Committed>,
    progress: &Progress,
) {
    while let Ok(first) = batches.recv() {
        let mut ready = vec![first];
        ready.extend(batches.try_iter());
        let synced = sync_file(wal).map_err(|e| {
            tracing::error!(error = %e, wal = %wal.display(), "fsync of the write-ahead log failed");
            e.to_string()
        });
        for batch in ready {
            if synced.is_ok() && batch.outcome.is_ok() {
                progress.synced.fetch_max(batch.applied, Ordering::Release);
            }
            for work in batch.durable {
                work.finish(match (&batch.outcome, &synced) {
                    (Err(why), _) => Err(WriteError::Commit(why.clone())),
                    (Ok(()), Err(why)) => Err(WriteError::Sync(why.clone())),
                    (Ok(()), Ok(())) => Ok(()),
                });
            }
        }
    }
}

/// fsync (data and size) of the file at `path`. Opened each time: the file
/// SQLite writes may have been replaced since the last time.
fn sync_file(path: &std::path::Path) -> std::io::Result<()> {
    match std::fs::File::open(path) {
        Ok(file) => file.sync_data(),
        // No WAL yet: nothing was written through one.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Run `batch` in one transaction, each write in a savepoint.
fn commit(connection: &Connection, batch: &mut [Box<dyn Work>]) -> Result<(), String> {
    let text = |e: rusqlite::Error| e.to_string();
    connection
        .prepare_cached("BEGIN IMMEDIATE")
        .and_then(|mut begin| begin.execute([]))
        .map_err(text)?;
    // Prepared once per connection, not parsed per write.
    let run = |sql: &str| connection.prepare_cached(sql)?.execute([]).map(|_| ());
    let ran = (|| {
        for work in batch.iter_mut() {
            run("SAVEPOINT write")?;
            if !work.run(connection) {
                run("ROLLBACK TO write")?;
            }
            run("RELEASE write")?;
        }
        run("COMMIT")
    })();
    if let Err(e) = ran {
        // Still in the transaction if it failed before ending it.
        let _ = connection.execute_batch("ROLLBACK");
        return Err(text(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (tempfile::TempDir, Writer, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.db");
        let connection = Connection::open(&path).expect("opens");
        connection
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER PRIMARY KEY);")
            .expect("schema");
        let wal = path.with_extension("db-wal");
        let writer = Writer::start(connection, wal, 64).expect("starts");
        (dir, writer, path)
    }

    fn stored(path: &std::path::Path) -> Vec<i64> {
        let connection = Connection::open(path).expect("opens");
        let mut statement = connection
            .prepare("SELECT n FROM t ORDER BY n")
            .expect("prepares");
        statement
            .query_map([], |row| row.get(0))
            .expect("reads")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    #[tokio::test]
    async fn a_failed_write_undoes_only_itself() {
        let (_dir, writer, path) = writer();
        // Submitted together, so they share batches; 13 inserts a row and
        // then fails (a duplicate key), which must leave no trace of it.
        let writes = (0..40).map(|n| {
            let writer = writer.clone();
            async move {
                writer
                    .write(move |c| {
                        c.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                        if n == 13 {
                            c.execute("INSERT INTO t (n) VALUES (1000)", [])?;
                            c.execute("INSERT INTO t (n) VALUES (0)", [])?;
                        }
                        Ok(n)
                    })
                    .await
            }
        });
        let results = futures::future::join_all(writes).await;
        for (n, result) in results.iter().enumerate() {
            match n {
                13 => assert!(
                    matches!(result, Err(WriteError::Statement(_))),
                    "{result:?}"
                ),
                _ => assert_eq!(result.as_ref().ok(), Some(&(n as i64))),
            }
        }
        let expected: Vec<i64> = (0..40).filter(|n| *n != 13).collect();
        assert_eq!(stored(&path), expected);
    }

    #[tokio::test]
    async fn applied_writes_are_seen_at_once_and_synced_by_the_next_durable_one() {
        let (_dir, writer, path) = writer();
        writer
            .write_applied(|c| c.execute("INSERT INTO t (n) VALUES (1)", []))
            .await
            .expect("writes");
        assert_eq!(stored(&path), [1]);
        assert!(writer.progress.applied.load(Ordering::Acquire) >= 1);
        writer.sync().await.expect("syncs");
        assert!(
            writer.progress.synced.load(Ordering::Acquire)
                >= writer.progress.applied.load(Ordering::Acquire)
        );
        // Nothing is waiting: a sync is free, and answers at once.
        writer.sync().await.expect("syncs");
    }

    #[tokio::test]
    async fn answers_come_after_the_commit() {
        let (_dir, writer, path) = writer();
        writer
            .write(|c| c.execute("INSERT INTO t (n) VALUES (7)", []))
            .await
            .expect("writes");
        // Another connection sees the row as soon as the write answered.
        assert_eq!(stored(&path), [7]);
    }
}
