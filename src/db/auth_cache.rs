//! SQLite: the hot reads' rows (the bearer check's, and `GET /items`'
//! pages), kept until anyone commits anything to the database.
//!
//! Reading a row costs a read transaction, and on SQLite most of that is
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
//! a disabled user, a changed email, a new item, but also a login) empties
//! the caches.
//!
//! The header is written in two copies, second first; when they differ a
//! commit is under way, and the cache is not used. A row is cached only
//! under the header read before its query began, so it is at least as new as
//! that header. As a bound on anything unforeseen, a row is also read again
//! once it is [`MAX_AGE`] old.

use std::{
    collections::HashMap,
    fs::File,
    hash::Hash,
    os::unix::fs::FileExt,
    path::Path,
    sync::Mutex,
    time::{Duration, Instant},
};

use super::{items::ItemRow, tokens::AuthRow};

/// Two copies of the 48-byte `WalIndexHdr`.
const HEADER_LEN: usize = 96;

/// Rows older than this are read again, whatever the header says.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// At most this many rows are kept (a page counts its rows); past it the
/// cache starts again from empty.
const MAX_ROWS: usize = 10_000;

/// What the header said.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Header([u8; HEADER_LEN]);

/// Rows of type `V` by key `K`, kept while the header reads the same.
pub struct Cache<K, V> {
    shm: File,
    state: Mutex<State<K, V>>,
    /// Counted for the tests only: a shared counter on every request's path
    /// would cost more than it tells.
    #[cfg(test)]
    hits: std::sync::atomic::AtomicU64,
}

/// The bearer check's rows, by user and family.
pub type AuthCache = Cache<(i64, i64), AuthRow>;

/// `GET /items`' pages, by owner, the id they start after, and limit.
pub type PageCache = Cache<(i64, i64, i64), Vec<ItemRow>>;

struct State<K, V> {
    header: Header,
    rows: HashMap<K, (V, Instant)>,
    /// Rows held: a page counts each of its rows.
    held: usize,
}

/// How many rows a cached value counts for against [`MAX_ROWS`].
pub trait Rows {
    fn rows(&self) -> usize;
}

impl Rows for AuthRow {
    fn rows(&self) -> usize {
        1
    }
}

impl Rows for Vec<ItemRow> {
    fn rows(&self) -> usize {
        self.len().max(1)
    }
}

impl<K: Eq + Hash, V: Clone + Rows> Cache<K, V> {
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
                held: 0,
            }),
            #[cfg(test)]
            hits: std::sync::atomic::AtomicU64::new(0),
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

    /// The value cached under `header` for `key`, if any.
    pub fn get(&self, header: Header, key: &K) -> Option<V> {
        let mut state = lock(&self.state);
        if state.header != header {
            state.header = header;
            state.rows.clear();
            state.held = 0;
            return None;
        }
        let (value, cached_at) = state.rows.get(key)?;
        if cached_at.elapsed() >= MAX_AGE {
            return None;
        }
        #[cfg(test)]
        self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(value.clone())
    }

    /// Keeps `value`, read by a query that began after `header` was read,
    /// unless the header has changed since.
    pub fn put(&self, header: Header, key: K, value: &V) {
        let mut state = lock(&self.state);
        if state.header != header {
            return;
        }
        if state.held + value.rows() > MAX_ROWS {
            state.rows.clear();
            state.held = 0;
        }
        state.held += value.rows();
        if let Some((old, _)) = state.rows.insert(key, (value.clone(), Instant::now())) {
            state.held -= old.rows();
        }
    }

    /// How many reads the cache has answered.
    #[cfg(test)]
    pub fn hits(&self) -> u64 {
        self.hits.load(std::sync::atomic::Ordering::Relaxed)
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
        assert!(cache.get(first, &(1, 7)).is_none());
        cache.put(first, (1, 7), &row("a@example.test"));
        let hit = cache.get(cache.header().unwrap(), &(1, 7)).unwrap();
        assert_eq!(hit.user.email.as_deref(), Some("a@example.test"));
        assert!(cache.get(first, &(1, 8)).is_none(), "another family");
        assert_eq!(cache.hits(), 1);

        // A commit: the header changes, and what was kept is gone.
        std::fs::write(&shm, header_bytes(2)).unwrap();
        let second = cache.header().unwrap();
        assert!(cache.get(second, &(1, 7)).is_none());
        // A row read under the old header is not kept under the new one.
        cache.put(first, (1, 7), &row("stale@example.test"));
        assert!(cache.get(second, &(1, 7)).is_none());

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
    fn a_page_counts_its_rows_against_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        std::fs::write(dir.path().join("t.db-shm"), header_bytes(1)).unwrap();
        let cache = PageCache::open(&db).unwrap();
        let header = cache.header().unwrap();
        cache.get(header, &(1, 0, 10));
        let item = ItemRow {
            id: 1,
            name: "i".into(),
            description: None,
            created_at: 0,
            updated_at: 0,
        };
        let page = vec![item; MAX_ROWS / 2 + 1];
        cache.put(header, (1, 0, 10), &page);
        assert!(cache.get(header, &(1, 0, 10)).is_some());
        // A second such page would pass the bound: the cache starts again.
        cache.put(header, (2, 0, 10), &page);
        assert!(cache.get(header, &(1, 0, 10)).is_none());
        assert_eq!(cache.get(header, &(2, 0, 10)).unwrap().len(), page.len());
        // The same key again replaces its page without counting it twice.
        cache.put(header, (2, 0, 10), &page);
        assert!(cache.get(header, &(2, 0, 10)).is_some());
        assert_eq!(lock(&cache.state).held, page.len());
    }

    #[test]
    fn rows_are_read_again_after_max_age() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        std::fs::write(dir.path().join("t.db-shm"), header_bytes(1)).unwrap();
        let cache = AuthCache::open(&db).unwrap();
        let header = cache.header().unwrap();
        cache.get(header, &(1, 7));
        cache.put(header, (1, 7), &row("a@example.test"));
        assert!(cache.get(header, &(1, 7)).is_some());
        std::thread::sleep(MAX_AGE);
        assert!(cache.get(header, &(1, 7)).is_none());
    }
}
