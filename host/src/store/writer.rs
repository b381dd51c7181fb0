//! Group commit for SQLite: every write statement goes through one
//! connection, and the statements waiting when a transaction starts share
//! it, and its fsync.
//!
//! SQLite has one writer at a time. With writes spread over a pool, each
//! concurrent writer waits in SQLite's busy handler, which sleeps (1, 2, 5,
//! 10 … 100 ms), and every statement pays its own fsync. Here writers queue
//! in memory instead, and a batch of N statements costs one fsync.
//!
//! Durability is unchanged: a statement's result is handed back only after
//! the transaction holding it has committed (`synchronous = FULL`). A failed
//! statement undoes only itself (SQLite rolls back the statement, not the
//! transaction) and is answered with its error; if the commit itself fails,
//! every statement of the batch is answered with that failure.
//!
//! Each statement must be one SQL statement, so it is atomic on its own.

use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection, Sqlite};
use tokio::sync::{mpsc, oneshot};

/// A write statement with its arguments bound (owned, so it can cross to
/// the writer task).
pub(super) type Statement = sqlx::query::Query<'static, Sqlite, SqliteArguments<'static>>;

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Statement(#[from] sqlx::Error),
    #[error("the transaction holding this write failed to commit: {0}")]
    Commit(String),
    #[error("the database writer has stopped")]
    Stopped,
}

/// What a statement answered: rows it changed, and the first column of the
/// first row it returned (for `RETURNING`).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Written {
    pub(super) rows_affected: u64,
    pub(super) returned: Option<i64>,
}

struct Job {
    statement: Statement,
    /// Whether to read a `RETURNING` integer rather than count rows.
    returning: bool,
    reply: oneshot::Sender<Result<Written, WriteError>>,
}

/// The handle writers queue on. Cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("returning", &self.returning)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Open the writer's own connection and start its task. At most
    /// `max_batch` statements share a transaction.
    pub(super) async fn open(
        options: &SqliteConnectOptions,
        max_batch: usize,
    ) -> Result<Self, sqlx::Error> {
        let connection = options.connect().await?;
        let (jobs, queue) = mpsc::channel(max_batch.max(1) * 4);
        tokio::spawn(run(connection, queue, max_batch.max(1)));
        Ok(Self { jobs })
    }

    /// Run `statement`; returns once it is durable.
    pub(super) async fn execute(&self, statement: Statement) -> Result<Written, WriteError> {
        self.submit(statement, false).await
    }

    /// Run a `… RETURNING <integer>` statement; returns the integer once it
    /// is durable.
    pub(super) async fn returning_i64(&self, statement: Statement) -> Result<i64, WriteError> {
        let written = self.submit(statement, true).await?;
        written
            .returned
            .ok_or(WriteError::Statement(sqlx::Error::RowNotFound))
    }

    async fn submit(&self, statement: Statement, returning: bool) -> Result<Written, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                statement,
                returning,
                reply,
            })
            .await
            .map_err(|_| WriteError::Stopped)?;
        answer.await.map_err(|_| WriteError::Stopped)?
    }
}

/// The writer task: take what is queued (at least one), run it in one
/// transaction, commit, answer. Ends when every [`Writer`] is dropped.
async fn run(mut connection: SqliteConnection, mut queue: mpsc::Receiver<Job>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut batch, max_batch).await > 0 {
        for (reply, outcome) in commit(&mut connection, batch.drain(..)).await {
            // The caller may have gone; the write stands either way.
            let _ = reply.send(outcome);
        }
    }
    let _ = connection.close().await;
}

type Reply = oneshot::Sender<Result<Written, WriteError>>;

/// Run `batch` in one transaction. One outcome per job, in order, to be
/// sent once this returns (after the commit).
async fn commit(
    connection: &mut SqliteConnection,
    batch: impl ExactSizeIterator<Item = Job>,
) -> Vec<(Reply, Result<Written, WriteError>)> {
    let mut outcomes = Vec::with_capacity(batch.len());
    let begun = sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *connection)
        .await
        .map_err(|e| e.to_string());
    for job in batch {
        let outcome = match &begun {
            Err(why) => Err(WriteError::Commit(why.clone())),
            Ok(_) => run_statement(connection, job.statement, job.returning).await,
        };
        outcomes.push((job.reply, outcome));
    }
    if begun.is_err() {
        return outcomes;
    }
    if let Err(e) = sqlx::query("COMMIT").execute(&mut *connection).await {
        // Still in a transaction if the commit failed before ending it.
        let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
        let why = e.to_string();
        for (_, outcome) in &mut outcomes {
            *outcome = Err(WriteError::Commit(why.clone()));
        }
    }
    outcomes
}

async fn run_statement(
    connection: &mut SqliteConnection,
    statement: Statement,
    returning: bool,
) -> Result<Written, WriteError> {
    if returning {
        use sqlx::Row;
        let row = statement.fetch_optional(&mut *connection).await?;
        let returned = row.map(|r| r.try_get::<i64, _>(0)).transpose()?;
        Ok(Written {
            rows_affected: u64::from(returned.is_some()),
            returned,
        })
    } else {
        let done = statement.execute(&mut *connection).await?;
        Ok(Written {
            rows_affected: done.rows_affected(),
            returned: None,
        })
    }
}
