//! Read connections: taken for one read on the caller's thread, then put
//! back. Read-only, so a read can never take the writer's lock.

use super::configure;
use crate::store::Result;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 16;

/// The pool of read connections to one database file.
#[derive(Debug)]
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Connections taken for a read now.
    busy: AtomicUsize,
}

impl Readers {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            busy: AtomicUsize::new(0),
        }
    }

    /// The database file.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        configure(&connection)?;
        Ok(connection)
    }

    /// Run `read` on an idle connection (or a new one).
    pub(super) fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let connection = match idle {
            Some(connection) => connection,
            None => self.open()?,
        };
        self.busy.fetch_add(1, Ordering::Relaxed);
        let result = read(&connection);
        self.busy.fetch_sub(1, Ordering::Relaxed);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(connection);
        }
        Ok(result?)
    }

    /// Read connections open (idle or busy), and idle.
    pub(super) fn counts(&self) -> (usize, usize) {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).len();
        (idle + self.busy.load(Ordering::Relaxed), idle)
    }

    /// Close the idle connections.
    pub(super) fn close(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
