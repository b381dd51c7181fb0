//! The schema: migrations embedded in the binary, applied in order on the
//! writer's connection at open. `PRAGMA user_version` counts those applied.

use super::configure;
use anyhow::Context as _;
use rusqlite::Connection;
use std::path::Path;

/// The schema, in order.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_initial.sql"),
    include_str!("../../../migrations/sqlite/0002_oauth.sql"),
    include_str!("../../../migrations/sqlite/0003_message_logs.sql"),
];

/// Open the writer's connection: WAL, full fsync, foreign keys, migrated.
pub(super) fn open_writer(path: &Path) -> anyhow::Result<Connection> {
    let mut connection = Connection::open(path)
        .with_context(|| format!("opening the database {}", path.display()))?;
    configure(&connection)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", true)?;
    migrate(&mut connection)?;
    Ok(connection)
}

/// Apply the migrations this database has not seen, each in a transaction.
fn migrate(connection: &mut Connection) -> anyhow::Result<()> {
    let applied: usize = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    anyhow::ensure!(
        applied <= MIGRATIONS.len(),
        "the database has schema version {applied}, newer than this server ({}); \
         run the newer server",
        MIGRATIONS.len()
    );
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = connection.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("migration {}", index + 1))?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_a_newer_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let version = |c: &Connection| -> usize {
            c.pragma_query_value(None, "user_version", |row| row.get(0))
                .expect("version")
        };
        let connection = open_writer(&path).expect("migrates");
        assert_eq!(version(&connection), MIGRATIONS.len());
        drop(connection);
        let connection = open_writer(&path).expect("already migrated");
        connection
            .pragma_update(None, "user_version", MIGRATIONS.len() + 1)
            .expect("bumps");
        drop(connection);
        let err = open_writer(&path).expect_err("newer schema");
        assert!(err.to_string().contains("newer than this server"), "{err}");
    }
}
