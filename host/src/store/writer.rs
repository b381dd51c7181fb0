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
//! Durability is unchanged: a write's result is handed back only after the
//! transaction holding it has committed (`synchronous = FULL`). Each write
//! runs in a savepoint, so a failed write undoes only itself and is answered
//! with its error; if the commit fails, every write of the batch is answered
//! with that failure.

use rusqlite::Connection;
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
}

/// One queued write, its result held until the batch commits.
trait Work: Send {
    /// Run the write; whether it succeeded (and must be kept).
    fn run(&mut self, connection: &Connection) -> bool;
    /// Answer the caller: `commit` is the batch's outcome.
    fn finish(self: Box<Self>, commit: Result<(), &str>);
}

struct Pending<T, F> {
    write: Option<F>,
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

    fn finish(self: Box<Self>, commit: Result<(), &str>) {
        let answer = match (commit, self.outcome) {
            (Err(why), _) => Err(WriteError::Commit(why.to_owned())),
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
}

impl std::fmt::Debug for dyn Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Work")
    }
}

impl Writer {
    /// Start the writer thread on `connection`. At most `max_batch` writes
    /// share a transaction.
    pub(super) fn start(connection: Connection, max_batch: usize) -> std::io::Result<Self> {
        let max_batch = max_batch.max(1);
        let (jobs, queue) = mpsc::channel(max_batch * 4);
        std::thread::Builder::new()
            .name("switchboard-db-writer".into())
            .spawn(move || run(connection, queue, max_batch))?;
        Ok(Self { jobs })
    }

    /// Run `write` (one or more statements, as one unit) in the next batch;
    /// returns its result once the batch has committed.
    pub(super) async fn write<T, F>(&self, write: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let work = Box::new(Pending {
            write: Some(write),
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
/// transaction, commit, answer.
fn run(connection: Connection, mut queue: mpsc::Receiver<Box<dyn Work>>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(work) => batch.push(work),
                Err(_) => break,
            }
        }
        let outcome = commit(&connection, &mut batch);
        let outcome = outcome.as_ref().map(|_| ()).map_err(String::as_str);
        for work in batch.drain(..) {
            work.finish(outcome);
        }
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
        let writer = Writer::start(connection, 64).expect("starts");
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
