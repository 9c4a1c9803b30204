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

/// Why the WAL index cannot tell this process of every commit, if it
/// cannot: it is SQLite's shared memory only in WAL mode, without exclusive
/// locking (which keeps the index in private memory), and every process sees
/// the same `-shm` file only on a local filesystem (SQLite: "WAL does not
/// work over a network filesystem").
pub(super) fn cache_refused(path: &Path, journal_mode: &str, locking_mode: &str) -> Option<String> {
    if !journal_mode.eq_ignore_ascii_case("wal") {
        return Some(format!("the journal mode is {journal_mode}, not WAL"));
    }
    if !locking_mode.eq_ignore_ascii_case("normal") {
        return Some(format!("the locking mode is {locking_mode}, not normal"));
    }
    match filesystem_of(path) {
        Some(fs) if is_network_filesystem(&fs) => Some(format!(
            "the database is on a {fs} filesystem, where the WAL index is not shared"
        )),
        Some(_) => None,
        None => Some("the filesystem of the database could not be read".into()),
    }
}

/// The type of the filesystem that holds `path`, from the mount table.
fn filesystem_of(path: &Path) -> Option<String> {
    // The file itself, or (not created yet) its directory.
    let path = std::fs::canonicalize(path)
        .or_else(|_| std::fs::canonicalize(path.parent().unwrap_or(path)))
        .ok()?;
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    // Fields: id parent major:minor root mount-point options ... - type source
    table
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let mount_point = unescape_mount(fields.nth(4)?);
            let fs = line.split(" - ").nth(1)?.split(' ').next()?;
            path.starts_with(&mount_point)
                .then(|| (mount_point.len(), fs.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fs)| fs)
}

/// The mount table writes a space as `\040` (and tab, newline, backslash alike).
fn unescape_mount(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

fn is_network_filesystem(fs: &str) -> bool {
    matches!(
        fs,
        "nfs"
            | "nfs4"
            | "cifs"
            | "smb3"
            | "smbfs"
            | "9p"
            | "afs"
            | "ceph"
            | "glusterfs"
            | "lustre"
            | "gfs2"
            | "ocfs2"
            | "virtiofs"
            | "davfs"
    ) || fs.starts_with("fuse")
}

/// The value of `name` in a URL's query string, if given.
pub(super) fn url_parameter(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.to_owned())
    })
}

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
            reason: super::describe::describe_migration(&err),
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

    /// The cache runs only where the WAL index tells every commit, and says
    /// why not otherwise; `TOLLGATE_CACHE=off` turns it off.
    #[tokio::test]
    async fn the_cache_runs_only_where_its_assumptions_hold() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        assert_eq!(cache_refused(&path, "wal", "normal"), None, "a local file");
        let reason = cache_refused(&path, "delete", "normal").unwrap();
        assert!(reason.contains("journal mode is delete"), "{reason}");
        let reason = cache_refused(&path, "wal", "exclusive").unwrap();
        assert!(reason.contains("locking mode is exclusive"), "{reason}");
        for fs in ["nfs", "nfs4", "cifs", "9p", "fuse.sshfs"] {
            assert!(is_network_filesystem(fs), "{fs}");
        }
        for fs in ["ext4", "xfs", "btrfs", "tmpfs", "overlay"] {
            assert!(!is_network_filesystem(fs), "{fs}");
        }
        assert_eq!(unescape_mount("/mnt/my\\040disk"), "/mnt/my disk");

        let url = format!("sqlite://{}", path.display());
        let store = crate::db::Store::open(&url, 2, true).await.unwrap();
        assert!(store.caches(), "WAL on a local filesystem");
        assert!(
            !crate::db::Store::open(&url, 2, false)
                .await
                .unwrap()
                .caches()
        );
        let vfs = format!("{url}?vfs=unix-dotfile");
        assert!(
            !crate::db::readers::Readers::open(&vfs, 1, true)
                .await
                .unwrap()
                .caches()
        );
        assert_eq!(url_parameter(&vfs, "vfs").as_deref(), Some("unix-dotfile"));
    }
}
