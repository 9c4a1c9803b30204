//! The hot reads on SQLite: the bearer check's query, the one query every
//! authenticated request makes, and the page of `GET /items`.
//!
//! sqlx runs each SQLite connection on a worker thread of its own, so every
//! query is two thread switches (and one more per row returned), and its pool
//! pings a connection each time it is given back: two more. For a primary-key
//! read that is most of a request's CPU (bench/README.md). So these run on the
//! request's own thread, on SQLite connections opened with rusqlite (the same
//! SQLite library that sqlx links): a few microseconds, like the JWT check
//! before them. Those connections never wait: their busy timeout is zero, and
//! when one is busy, failing or all are in use, the query goes through sqlx
//! instead (the bearer check on connections of its own, without the ping),
//! which waits up to the usual busy timeout.
//!
//! All connections here are `query_only`. Each query is its own read
//! transaction, so it sees whatever any process committed before it started.
//! The bearer check's rows and the item pages are also kept until anyone
//! commits anything ([`super::auth_cache`]), which is cheaper to learn than
//! to read them.

use std::{path::Path, str::FromStr, sync::Mutex};

use rusqlite::{OpenFlags, OptionalExtension};
use sqlx::{ConnectOptions, SqliteConnection, sqlite::SqliteConnectOptions};
use tokio::sync::Semaphore;

use super::{
    BUSY_TIMEOUT, DbError, DbResult,
    auth_cache::{AuthCache, PageCache, WalIndex},
    items::{ItemRow, LIST_SQL},
    tokens::{AUTH_ROW_SQL, AuthRow},
    users::UserRow,
};

pub struct Readers {
    /// Used from the request's thread; empty for an in-memory database.
    inline: Mutex<Vec<rusqlite::Connection>>,
    /// sqlx connections, opened as needed up to `permits`.
    options: SqliteConnectOptions,
    idle: Mutex<Vec<SqliteConnection>>,
    permits: Semaphore,
    /// The bearer check's rows and the item pages until the next commit
    /// (`auth_cache`); `None` for an in-memory database.
    cache: Option<AuthCache<WalIndex>>,
    pages: Option<PageCache<WalIndex>>,
}

impl Readers {
    /// Opens the `size` inline connections and the first sqlx one now, so a
    /// bad URL fails at start; up to `size` sqlx ones open as needed. The
    /// database must exist and be migrated (`super::connect`, `super::migrate`).
    /// With `cache`, the rows are kept until the next commit where the
    /// cache's assumptions hold ([`cache_refused`]); where they do not, one
    /// line says why and every read is a query.
    pub async fn open(url: &str, size: usize, cache: bool) -> DbResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(DbError::Other)?
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("query_only", "ON");
        let mut first = options.connect().await?;
        let path = options.get_filename().to_owned();
        let vfs = url_parameter(url, "vfs");
        if vfs.as_deref().is_some_and(|vfs| vfs != "unix") {
            // The inline connections would lock the file in another way than
            // sqlx's: every read goes through sqlx.
            tracing::warn!(vfs, "SQLite VFS other than unix: no inline reads, no cache");
            return Ok(Self::through_sqlx(options, first, size));
        }
        let modes: (String, String) =
            sqlx::query_as("SELECT * FROM pragma_journal_mode, pragma_locking_mode")
                .fetch_one(&mut first)
                .await?;
        let (inline, cache, pages) = tokio::task::spawn_blocking(move || {
            let inline = open_inline(&path, size);
            if inline.is_empty() || !cache {
                return (inline, None, None);
            }
            if let Some(reason) = cache_refused(&path, &modes.0, &modes.1) {
                tracing::warn!("the SQLite row cache is off: {reason}");
                return (inline, None, None);
            }
            (inline, AuthCache::open(&path), PageCache::open(&path))
        })
        .await
        .map_err(|_| DbError::Other(sqlx::Error::WorkerCrashed))?;
        Ok(Self {
            inline: Mutex::new(inline),
            options,
            idle: Mutex::new(vec![first]),
            permits: Semaphore::new(size.max(1)),
            cache,
            pages,
        })
    }

    /// Readers that only use sqlx: no inline connections, no cache.
    fn through_sqlx(options: SqliteConnectOptions, first: SqliteConnection, size: usize) -> Self {
        Self {
            inline: Mutex::new(Vec::new()),
            options,
            idle: Mutex::new(vec![first]),
            permits: Semaphore::new(size.max(1)),
            cache: None,
            pages: None,
        }
    }

    /// Whether reads are kept until the next commit.
    pub fn caches(&self) -> bool {
        self.cache.is_some()
    }

    /// The user and family behind an access token; `None` if either is gone.
    pub async fn auth_row(&self, user_id: i64, family_id: i64) -> DbResult<Option<AuthRow>> {
        let Some((cache, stamp)) = self
            .cache
            .as_ref()
            .and_then(|cache| Some((cache, cache.stamp()?)))
        else {
            return self.read_auth_row(user_id, family_id).await;
        };
        if let Some(row) = cache.get(stamp, &(user_id, family_id)) {
            return Ok(Some(row));
        }
        let row = self.read_auth_row(user_id, family_id).await?;
        if let Some(row) = &row {
            cache.put(stamp, (user_id, family_id), row);
        }
        Ok(row)
    }

    /// How many bearer checks the cache has answered (0 without one).
    #[cfg(test)]
    pub fn cache_hits(&self) -> u64 {
        self.cache.as_ref().map_or(0, AuthCache::hits)
    }

    /// How many item pages the cache has answered (0 without one).
    #[cfg(test)]
    pub fn page_cache_hits(&self) -> u64 {
        self.pages.as_ref().map_or(0, PageCache::hits)
    }

    /// `auth_row` from the database.
    async fn read_auth_row(&self, user_id: i64, family_id: i64) -> DbResult<Option<AuthRow>> {
        if let Some(row) = self.auth_row_inline(user_id, family_id) {
            return Ok(row);
        }
        let permit = tokio::time::timeout(BUSY_TIMEOUT, self.permits.acquire())
            .await
            .map_err(|_| DbError::Unavailable(sqlx::Error::PoolTimedOut))?
            .map_err(|_| DbError::Unavailable(sqlx::Error::PoolClosed))?;
        let idle = lock(&self.idle).pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.options.connect().await?,
        };
        let row = sqlx::query_as(AUTH_ROW_SQL)
            .bind(user_id)
            .bind(family_id)
            .fetch_optional(&mut conn)
            .await
            .map_err(DbError::from);
        // A connection that failed is dropped (closed); the next opens anew.
        // One whose query was cancelled is dropped too, with this future.
        if row.is_ok() {
            lock(&self.idle).push(conn);
        }
        drop(permit);
        row
    }

    /// `None` when no inline connection is free, or the query did not
    /// succeed at once (busy, or an error for the sqlx path to classify).
    fn auth_row_inline(&self, user_id: i64, family_id: i64) -> Option<Option<AuthRow>> {
        self.inline(|conn| query_inline(conn, user_id, family_id))
    }

    /// One page of an owner's items (`items::LIST_SQL`), or `None` when the
    /// caller should read it through sqlx instead, as for `auth_row`.
    /// Kept until the next commit, as the bearer check's rows are.
    pub fn items_page(&self, owner_id: i64, after_id: i64, limit: i64) -> Option<Vec<ItemRow>> {
        let key = (owner_id, after_id, limit);
        let cached = self
            .pages
            .as_ref()
            .and_then(|cache| Some((cache, cache.stamp()?)));
        if let Some((cache, stamp)) = cached
            && let Some(rows) = cache.get(stamp, &key)
        {
            return Some(rows);
        }
        let rows = self.items_page_inline(owner_id, after_id, limit)?;
        if let Some((cache, stamp)) = cached {
            cache.put(stamp, key, &rows);
        }
        Some(rows)
    }

    fn items_page_inline(&self, owner_id: i64, after_id: i64, limit: i64) -> Option<Vec<ItemRow>> {
        self.inline(|conn| {
            let mut statement = conn.prepare_cached(LIST_SQL)?;
            let rows = statement.query_map((owner_id, after_id, limit), |row| {
                Ok(ItemRow {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    description: row.get(2)?,
                    created_at: row.get(3)?,
                    updated_at: row.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Runs `read` on a free inline connection: `None` when none is free or
    /// it did not succeed at once.
    fn inline<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Option<T> {
        let conn = lock(&self.inline).pop()?;
        let result = read(&conn);
        lock(&self.inline).push(conn);
        result.ok()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Why the WAL index cannot tell this process of every commit, if it
/// cannot: it is SQLite's shared memory only in WAL mode, without exclusive
/// locking (which keeps the index in private memory), and every process sees
/// the same `-shm` file only on a local filesystem (SQLite: "WAL does not
/// work over a network filesystem").
pub fn cache_refused(path: &Path, journal_mode: &str, locking_mode: &str) -> Option<String> {
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
fn url_parameter(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.to_owned())
    })
}

/// `size` connections to the file at `path`, or none if it is not a file (an
/// in-memory database is private to each connection) or cannot be opened.
fn open_inline(path: &Path, size: usize) -> Vec<rusqlite::Connection> {
    if !path.is_file() {
        return Vec::new();
    }
    let open = || -> rusqlite::Result<rusqlite::Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(std::time::Duration::ZERO)?;
        conn.pragma_update(None, "query_only", true)?;
        conn.prepare_cached(AUTH_ROW_SQL)?;
        conn.prepare_cached(LIST_SQL)?;
        Ok(conn)
    };
    match (0..size).map(|_| open()).collect() {
        Ok(conns) => conns,
        Err(err) => {
            tracing::warn!(error = %err, "no inline read connections; bearer checks go through sqlx");
            Vec::new()
        }
    }
}

fn query_inline(
    conn: &rusqlite::Connection,
    user_id: i64,
    family_id: i64,
) -> rusqlite::Result<Option<AuthRow>> {
    let mut statement = conn.prepare_cached(AUTH_ROW_SQL)?;
    // By position, in the order of AUTH_ROW_SQL (by name costs a lookup
    // each); `column_names_match_the_query` keeps the two in step.
    statement
        .query_row((user_id, family_id), |row| {
            Ok(AuthRow {
                user: UserRow {
                    id: row.get(0)?,
                    username: row.get(1)?,
                    email: row.get(2)?,
                    full_name: row.get(3)?,
                    scopes: row.get(4)?,
                    disabled: row.get(5)?,
                    token_version: row.get(6)?,
                    created_at: row.get(7)?,
                },
                family_revoked: row.get(8)?,
            })
        })
        .optional()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Store;

    /// Both paths read the same row, and see a change committed elsewhere
    /// at once.
    #[tokio::test]
    async fn inline_and_sqlx_paths_agree_and_see_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let store = Store::open(&url, 2, false).await.unwrap();
        let (user, fam) = crate::db::testing::user_with_session(&store, "r@example.test").await;
        let readers = Readers::open(&url, 1, true).await.unwrap();
        assert_eq!(lock(&readers.inline).len(), 1);
        {
            let inline = lock(&readers.inline);
            let statement = inline[0].prepare_cached(AUTH_ROW_SQL).unwrap();
            assert_eq!(
                statement.column_names(),
                [
                    "id",
                    "username",
                    "email",
                    "full_name",
                    "scopes",
                    "disabled",
                    "token_version",
                    "created_at",
                    "family_revoked"
                ],
                "query_inline reads these columns by position"
            );
        }

        let inline = readers.auth_row_inline(user.id, fam).unwrap().unwrap();
        let taken = lock(&readers.inline).pop().unwrap();
        let via_sqlx = readers.auth_row(user.id, fam).await.unwrap().unwrap();
        lock(&readers.inline).push(taken);
        assert_eq!(format!("{inline:?}"), format!("{via_sqlx:?}"));
        assert_eq!(inline.user.email.as_deref(), Some("r@example.test"));
        assert!(!inline.family_revoked);

        for n in 0..3 {
            store
                .items()
                .create(user.id, &format!("item {n}"), (n == 1).then_some("d"))
                .await
                .unwrap();
        }
        let page = |rows: Vec<ItemRow>| format!("{rows:?}");
        let inline = readers.items_page(user.id, 0, 2).unwrap();
        let crate::db::Backend::Sqlite(pool) = store.backend() else {
            unreachable!("a SQLite URL")
        };
        let via_sqlx: Vec<ItemRow> = sqlx::query_as(LIST_SQL)
            .bind(user.id)
            .bind(0)
            .bind(2)
            .fetch_all(pool)
            .await
            .unwrap();
        assert_eq!(inline.len(), 2);
        assert_eq!(inline[1].description.as_deref(), Some("d"));
        assert_eq!(page(inline), page(via_sqlx));
        let rest = readers.items_page(user.id, 2, 10).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].name, "item 2");

        // Cached until the next commit, by any connection of any process.
        readers.auth_row(user.id, fam).await.unwrap().unwrap();
        let hits = readers.cache_hits();
        readers.auth_row(user.id, fam).await.unwrap().unwrap();
        readers.auth_row(user.id, fam).await.unwrap().unwrap();
        assert_eq!(readers.cache_hits(), hits + 2, "no commit in between");
        let path = dir.path().join("r.db");
        let other = rusqlite::Connection::open(&path).unwrap();
        other
            .execute("UPDATE users SET email = 'new@example.test'", ())
            .unwrap();
        let row = readers.auth_row(user.id, fam).await.unwrap().unwrap();
        assert_eq!(row.user.email.as_deref(), Some("new@example.test"));
        assert_eq!(readers.cache_hits(), hits + 2, "a commit empties the cache");
        readers.auth_row(user.id, fam).await.unwrap().unwrap();
        assert_eq!(readers.cache_hits(), hits + 3);
        store
            .items()
            .create(user.id, "unrelated", None)
            .await
            .unwrap();
        readers.auth_row(user.id, fam).await.unwrap().unwrap();
        assert_eq!(readers.cache_hits(), hits + 3, "any commit at all");

        // Pages too: kept until the next commit of anyone.
        let kept = readers.items_page(user.id, 0, 10).unwrap();
        let hits = readers.page_cache_hits();
        assert_eq!(
            readers.items_page(user.id, 0, 10).unwrap().len(),
            kept.len()
        );
        assert_eq!(readers.page_cache_hits(), hits + 1, "no commit in between");
        other
            .execute(
                "INSERT INTO items (owner_id, name, created_at, updated_at) VALUES (?1, 'elsewhere', 0, 0)",
                [user.id],
            )
            .unwrap();
        let fresh = readers.items_page(user.id, 0, 10).unwrap();
        assert_eq!(fresh.len(), kept.len() + 1);
        assert_eq!(fresh.last().unwrap().name, "elsewhere");
        assert_eq!(readers.page_cache_hits(), hits + 1, "a commit empties it");

        // Each table the cache reads, written outside tollgate's write
        // paths: no writer has to remember anything.
        readers.auth_row(user.id, fam).await.unwrap().unwrap();
        let hits = readers.cache_hits();
        assert!(
            !readers
                .auth_row(user.id, fam)
                .await
                .unwrap()
                .unwrap()
                .family_revoked
        );
        assert_eq!(readers.cache_hits(), hits + 1, "kept");
        other
            .execute(
                "UPDATE token_families SET revoked_at = 1 WHERE id = ?1",
                [fam],
            )
            .unwrap();
        let row = readers.auth_row(user.id, fam).await.unwrap().unwrap();
        assert!(row.family_revoked, "a revocation empties the cache");
        other
            .execute("UPDATE users SET disabled = 1 WHERE id = ?1", [user.id])
            .unwrap();
        assert!(
            readers
                .auth_row(user.id, fam)
                .await
                .unwrap()
                .unwrap()
                .user
                .disabled
        );
        assert!(readers.auth_row(user.id + 1, fam).await.unwrap().is_none());
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
        let store = Store::open(&url, 2, true).await.unwrap();
        assert!(store.caches(), "WAL on a local filesystem");
        assert!(!Store::open(&url, 2, false).await.unwrap().caches());
        let vfs = format!("{url}?vfs=unix-dotfile");
        assert!(!Readers::open(&vfs, 1, true).await.unwrap().caches());
        assert_eq!(url_parameter(&vfs, "vfs").as_deref(), Some("unix-dotfile"));
    }
}
