//! SQLite: the bearer check's rows, kept until anyone commits anything to
//! the database.
//!
//! Reading the row costs a read transaction, and on SQLite most of that is
//! the lock on the WAL index (a mutex and a `fcntl` call each way), not the
//! query (bench/README.md). `PRAGMA data_version` would tell whether another
//! connection committed, but it is a read transaction too. The change signal
//! here costs one `pread`: the header of the WAL index (the `-shm` file next
//! to the database), which every connection of every process shares. SQLite
//! rewrites it at every commit, with a counter that each transaction
//! increments (`iChange`; see "The WAL-Index Format" in SQLite's file format
//! documentation), and readers learn of a commit only through it. So while
//! the header reads the same as when a row was cached, nobody has committed
//! since, and the row is what a query would return. Any commit (a revocation,
//! a disabled user, a changed email, but also a login or a new item) empties
//! the cache.
//!
//! The header is written in two copies, second first; when they differ a
//! commit is under way, and the cache is not used. A row is cached only
//! under the header read before its query began, so it is at least as new as
//! that header. As a bound on anything unforeseen, a row is also read again
//! once it is [`MAX_AGE`] old.

use std::{
    collections::HashMap,
    fs::File,
    os::unix::fs::FileExt,
    path::Path,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::tokens::AuthRow;

/// Two copies of the 48-byte `WalIndexHdr`.
const HEADER_LEN: usize = 96;

/// Rows older than this are read again, whatever the header says.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// Past this many rows the cache starts over.
const MAX_ROWS: usize = 10_000;

/// What the header said.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Header([u8; HEADER_LEN]);

pub struct AuthCache {
    shm: File,
    state: Mutex<State>,
    hits: AtomicU64,
}

struct State {
    header: Header,
    rows: HashMap<(i64, i64), (AuthRow, Instant)>,
}

impl AuthCache {
    /// The cache of the database at `path`, or `None` if it has no WAL index
    /// to watch (not in WAL mode, or not a file).
    pub fn open(path: &Path) -> Option<Self> {
        let mut shm = path.as_os_str().to_owned();
        shm.push("-shm");
        let shm = File::open(shm).ok()?;
        let cache = Self {
            shm,
            state: Mutex::new(State {
                header: Header([0; HEADER_LEN]),
                rows: HashMap::new(),
            }),
            hits: AtomicU64::new(0),
        };
        cache.header()?;
        Some(cache)
    }

    /// The header now, or `None` while a commit is writing it (or if it
    /// cannot be read): then the row is read from the database.
    pub fn header(&self) -> Option<Header> {
        let mut bytes = [0; HEADER_LEN];
        self.shm.read_exact_at(&mut bytes, 0).ok()?;
        let (first, second) = bytes.split_at(HEADER_LEN / 2);
        // `isInit` (byte 12) is set once SQLite has written the header.
        (first == second && first[12] == 1).then_some(Header(bytes))
    }

    /// The row cached under `header` for this user and family, if any.
    pub fn get(&self, header: Header, user_id: i64, family_id: i64) -> Option<AuthRow> {
        let mut state = lock(&self.state);
        if state.header != header {
            state.header = header;
            state.rows.clear();
            return None;
        }
        let (row, cached_at) = state.rows.get(&(user_id, family_id))?;
        if cached_at.elapsed() >= MAX_AGE {
            return None;
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(row.clone())
    }

    /// Keeps `row`, read by a query that began after `header` was read,
    /// unless the header has changed since.
    pub fn put(&self, header: Header, user_id: i64, family_id: i64, row: &AuthRow) {
        let mut state = lock(&self.state);
        if state.header != header {
            return;
        }
        if state.rows.len() >= MAX_ROWS {
            state.rows.clear();
        }
        state
            .rows
            .insert((user_id, family_id), (row.clone(), Instant::now()));
    }

    /// How many checks the cache has answered.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::users::UserRow;

    fn row(email: &str) -> AuthRow {
        AuthRow {
            user: UserRow {
                id: 1,
                username: "ann".into(),
                email: Some(email.into()),
                full_name: None,
                scopes: "read:items".into(),
                disabled: false,
                token_version: 0,
                created_at: 0,
            },
            family_revoked: false,
        }
    }

    /// A WAL-index header as SQLite writes it: both copies alike, `isInit` set.
    fn header_bytes(change: u8) -> [u8; HEADER_LEN] {
        let mut copy = [0u8; HEADER_LEN / 2];
        copy[8] = change;
        copy[12] = 1;
        let mut bytes = [0; HEADER_LEN];
        bytes[..HEADER_LEN / 2].copy_from_slice(&copy);
        bytes[HEADER_LEN / 2..].copy_from_slice(&copy);
        bytes
    }

    #[test]
    fn rows_last_while_the_header_reads_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let shm = dir.path().join("t.db-shm");
        assert!(AuthCache::open(&db).is_none(), "no -shm, no cache");
        std::fs::write(&shm, header_bytes(1)).unwrap();
        let cache = AuthCache::open(&db).unwrap();

        let first = cache.header().unwrap();
        assert!(cache.get(first, 1, 7).is_none());
        cache.put(first, 1, 7, &row("a@example.test"));
        let hit = cache.get(cache.header().unwrap(), 1, 7).unwrap();
        assert_eq!(hit.user.email.as_deref(), Some("a@example.test"));
        assert!(cache.get(first, 1, 8).is_none(), "another family");
        assert_eq!(cache.hits(), 1);

        // A commit: the header changes, and what was kept is gone.
        std::fs::write(&shm, header_bytes(2)).unwrap();
        let second = cache.header().unwrap();
        assert!(cache.get(second, 1, 7).is_none());
        // A row read under the old header is not kept under the new one.
        cache.put(first, 1, 7, &row("stale@example.test"));
        assert!(cache.get(second, 1, 7).is_none());

        // A header being written (copies differ) or never written: no cache.
        let mut torn = header_bytes(3);
        torn[HEADER_LEN / 2 + 8] = 2;
        std::fs::write(&shm, torn).unwrap();
        assert!(cache.header().is_none());
        let mut unset = header_bytes(3);
        unset[12] = 0;
        unset[HEADER_LEN / 2 + 12] = 0;
        std::fs::write(&shm, unset).unwrap();
        assert!(cache.header().is_none());
        std::fs::write(&shm, [0u8; 10]).unwrap();
        assert!(cache.header().is_none(), "too short");
    }

    #[test]
    fn rows_are_read_again_after_max_age() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        std::fs::write(dir.path().join("t.db-shm"), header_bytes(1)).unwrap();
        let cache = AuthCache::open(&db).unwrap();
        let header = cache.header().unwrap();
        cache.get(header, 1, 7);
        cache.put(header, 1, 7, &row("a@example.test"));
        assert!(cache.get(header, 1, 7).is_some());
        std::thread::sleep(MAX_AGE);
        assert!(cache.get(header, 1, 7).is_none());
    }
}
