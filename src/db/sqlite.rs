//! What is particular to SQLite: opening the file with the durability and
//! concurrency settings the service relies on, its file modes, its
//! migrations, and which of its errors pass without a restart.

use std::{path::Path, str::FromStr};

use sqlx::{
    SqlitePool,
    error::DatabaseError,
    sqlite::{
        SqliteConnectOptions, SqliteError, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    },
};

use super::{BUSY_TIMEOUT, OpenError};

/// Opens (creating if missing, mode 0600) and migrates the database file.
pub(super) async fn open(
    url: &str,
    shown: &str,
    max_connections: u32,
) -> Result<SqlitePool, OpenError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|err| OpenError::Url {
            url: shown.to_owned(),
            reason: err.to_string(),
        })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    let connect_error = |err: &dyn std::fmt::Display| OpenError::Connect {
        url: shown.to_owned(),
        reason: err.to_string(),
    };
    let path = options.get_filename().to_owned();
    if !is_memory(&path) {
        secure_file(&path).map_err(|err| connect_error(&err))?;
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(BUSY_TIMEOUT)
        // A ping before each use is one more round trip to the connection's
        // worker thread; a local file that broke fails the query itself.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(|err| connect_error(&err))?;
    sqlx::migrate!("./migrations/sqlite")
        .run(&pool)
        .await
        .map_err(|err| OpenError::Migrate {
            url: shown.to_owned(),
            reason: err.to_string(),
        })?;
    Ok(pool)
}

fn is_memory(path: &Path) -> bool {
    path.as_os_str().is_empty() || path.to_str().is_some_and(|p| p.starts_with(":memory:"))
}

/// The database file holds every password hash and the signing secret.
/// A new one is created 0600 before SQLite opens it; SQLite gives its `-wal`
/// and `-shm` files the mode of the database file. An existing file that the
/// group or others can read is left as it is (the operator may have reasons)
/// with one warning.
#[cfg(unix)]
fn secure_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format_args!("{:o}", mode & 0o777),
                    "the database file can be read by other users; it holds password hashes \
                     and signing keys (chmod 600 it)"
                );
            }
            Ok(())
        }
        Err(err) => Err(err),
    }
}

#[cfg(not(unix))]
fn secure_file(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// SQLITE_BUSY, SQLITE_LOCKED and their extended codes, SQLITE_IOERR,
/// SQLITE_FULL, SQLITE_CANTOPEN: conditions that pass without a restart.
pub(super) fn is_transient(err: &dyn DatabaseError) -> bool {
    let Some(err) = err.try_downcast_ref::<SqliteError>() else {
        return false;
    };
    let Some(code) = err.code().and_then(|c| c.parse::<i32>().ok()) else {
        return false;
    };
    matches!(code & 0xff, 5 | 6 | 10 | 13 | 14)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings the service relies on hold on every pooled connection.
    #[tokio::test]
    async fn connections_run_with_wal_foreign_keys_full_sync_and_a_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let pool = open(&url, &url, 2).await.unwrap();
        let mut conn = pool.acquire().await.unwrap();
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(journal, "wal");
        for (pragma, expected) in [
            ("foreign_keys", 1),
            ("synchronous", 2),
            ("busy_timeout", BUSY_TIMEOUT.as_millis() as i64),
        ] {
            let value: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("PRAGMA {pragma}")))
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(value, expected, "PRAGMA {pragma}");
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn new_database_files_are_private_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        // A permissive directory: files created by default would be 0644 or wider.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let path = dir.path().join("private.db");
        let url = format!("sqlite://{}", path.display());
        let pool = open(&url, &url, 1).await.unwrap();
        sqlx::query("INSERT INTO settings (key, value) VALUES ('k', 'v')")
            .execute(&pool)
            .await
            .unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{}{suffix}", path.display());
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{file} is {mode:o}");
        }
    }
}
