//! SQLite: the hot reads' rows (the bearer check's, and `GET /items`'
//! pages), kept until anyone commits anything to the database.
//!
//! A [`Cache`] keeps rows under a change [`Signal`]: a value that is the same
//! as long as nobody has committed, here [`WalIndex`], the header of the WAL
//! index (below). A row is cached only under the signal read before its
//! query began, so it is at least as new as that signal says. As a bound on
//! anything unforeseen, a row is also read again once [`MAX_AGE`] has passed
//! since its query began. PostgreSQL has no such signal that a node can
//! trust under every fault, so there every read is a query
//! (docs/decisions.md, "Several nodes").
//!
//! On SQLite, reading a row costs a read transaction, and most of that is
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
//! the caches. The header is written in two copies, second first; when they
//! differ a commit is under way, and the cache is not used.

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

/// Rows whose query began this long ago are read again, whatever the
/// signal says.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// At most this many rows are kept (a page counts its rows); past it the
/// cache starts again from empty.
const MAX_ROWS: usize = 10_000;

/// Where a cache learns that someone has committed.
pub trait Signal {
    /// The same value for as long as nobody has committed.
    type Value: Copy + Eq;

    /// The value now, or `None` when it cannot be known (then every read
    /// goes to the database).
    fn read(&self) -> Option<Self::Value>;
}

/// What the signal said, and when: taken before a read, it dates the rows
/// the read returns.
#[derive(Clone, Copy)]
pub struct Stamp<T> {
    value: T,
    at: Instant,
}

/// The WAL index of a SQLite database (module documentation).
pub struct WalIndex {
    shm: File,
}

/// What the WAL-index header said.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Header([u8; HEADER_LEN]);

impl WalIndex {
    /// The WAL index of the database at `path`, or `None` if it has none to
    /// watch (not in WAL mode, or not a file).
    pub fn open(path: &Path) -> Option<Self> {
        let mut shm = path.as_os_str().to_owned();
        shm.push("-shm");
        let index = Self {
            shm: File::open(shm).ok()?,
        };
        index.read()?;
        Some(index)
    }
}

impl Signal for WalIndex {
    type Value = Header;

    /// `None` while a commit is writing the header (or if it cannot be read).
    fn read(&self) -> Option<Header> {
        let mut bytes = [0; HEADER_LEN];
        self.shm.read_exact_at(&mut bytes, 0).ok()?;
        let (first, second) = bytes.split_at(HEADER_LEN / 2);
        // `isInit` (byte 12) is set once SQLite has written the header.
        (first == second && first[12] == 1).then_some(Header(bytes))
    }
}

/// Rows of type `V` by key `K`, kept while the signal `S` reads the same.
pub struct Cache<K, V, S: Signal> {
    signal: S,
    state: Mutex<State<K, V, S::Value>>,
    /// Counted for the tests only: a shared counter on every request's path
    /// would cost more than it tells.
    #[cfg(test)]
    hits: std::sync::atomic::AtomicU64,
}

/// The bearer check's rows, by user and family.
pub type AuthCache<S> = Cache<(i64, i64), AuthRow, S>;

/// `GET /items`' pages, by owner, the id they start after, and limit.
pub type PageCache<S> = Cache<(i64, i64, i64), Vec<ItemRow>, S>;

struct State<K, V, T> {
    signal: Option<T>,
    /// Each row with the time its query began.
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

impl<K: Eq + Hash, V: Clone + Rows> Cache<K, V, WalIndex> {
    /// The cache of the SQLite database at `path`, or `None` if it has no
    /// WAL index to watch.
    pub fn open(path: &Path) -> Option<Self> {
        Some(Self::new(WalIndex::open(path)?))
    }
}

impl<K: Eq + Hash, V: Clone + Rows, S: Signal> Cache<K, V, S> {
    pub fn new(signal: S) -> Self {
        Self {
            signal,
            state: Mutex::new(State {
                signal: None,
                rows: HashMap::new(),
                held: 0,
            }),
            #[cfg(test)]
            hits: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// What the signal says now; `None` when the cache must not be used.
    pub fn stamp(&self) -> Option<Stamp<S::Value>> {
        Some(Stamp {
            value: self.signal.read()?,
            at: Instant::now(),
        })
    }

    /// The value cached under `stamp`'s signal for `key`, if any.
    pub fn get(&self, stamp: Stamp<S::Value>, key: &K) -> Option<V> {
        let mut state = lock(&self.state);
        if state.signal != Some(stamp.value) {
            state.signal = Some(stamp.value);
            state.rows.clear();
            state.held = 0;
            return None;
        }
        let (value, read_at) = state.rows.get(key)?;
        if stamp.at.saturating_duration_since(*read_at) >= MAX_AGE {
            return None;
        }
        #[cfg(test)]
        self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(value.clone())
    }

    /// Keeps `value`, read by a query that began after `stamp` was taken,
    /// unless the signal has changed since.
    pub fn put(&self, stamp: Stamp<S::Value>, key: K, value: &V) {
        let mut state = lock(&self.state);
        if state.signal != Some(stamp.value) {
            return;
        }
        if state.held + value.rows() > MAX_ROWS {
            state.rows.clear();
            state.held = 0;
        }
        state.held += value.rows();
        if let Some((old, _)) = state.rows.insert(key, (value.clone(), stamp.at)) {
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
        assert!(
            AuthCache::<WalIndex>::open(&db).is_none(),
            "no -shm, no cache"
        );
        std::fs::write(&shm, header_bytes(1)).unwrap();
        let cache = AuthCache::<WalIndex>::open(&db).unwrap();

        let first = cache.stamp().unwrap();
        assert!(cache.get(first, &(1, 7)).is_none());
        cache.put(first, (1, 7), &row("a@example.test"));
        let hit = cache.get(cache.stamp().unwrap(), &(1, 7)).unwrap();
        assert_eq!(hit.user.email.as_deref(), Some("a@example.test"));
        assert!(cache.get(first, &(1, 8)).is_none(), "another family");
        assert_eq!(cache.hits(), 1);

        // A commit: the header changes, and what was kept is gone.
        std::fs::write(&shm, header_bytes(2)).unwrap();
        let second = cache.stamp().unwrap();
        assert!(cache.get(second, &(1, 7)).is_none());
        // A row read under the old header is not kept under the new one.
        cache.put(first, (1, 7), &row("stale@example.test"));
        assert!(cache.get(second, &(1, 7)).is_none());

        // A header being written (copies differ) or never written: no cache.
        let mut torn = header_bytes(3);
        torn[HEADER_LEN / 2 + 8] = 2;
        std::fs::write(&shm, torn).unwrap();
        assert!(cache.stamp().is_none());
        let mut unset = header_bytes(3);
        unset[12] = 0;
        unset[HEADER_LEN / 2 + 12] = 0;
        std::fs::write(&shm, unset).unwrap();
        assert!(cache.stamp().is_none());
        std::fs::write(&shm, [0u8; 10]).unwrap();
        assert!(cache.stamp().is_none(), "too short");
    }

    #[test]
    fn a_page_counts_its_rows_against_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        std::fs::write(dir.path().join("t.db-shm"), header_bytes(1)).unwrap();
        let cache = PageCache::<WalIndex>::open(&db).unwrap();
        let header = cache.stamp().unwrap();
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
        let cache = AuthCache::<WalIndex>::open(&db).unwrap();
        let header = cache.stamp().unwrap();
        cache.get(header, &(1, 7));
        cache.put(header, (1, 7), &row("a@example.test"));
        assert!(cache.get(cache.stamp().unwrap(), &(1, 7)).is_some());
        // The age counts from when the read began (the stamp), not from
        // when the row was kept.
        std::thread::sleep(MAX_AGE / 2);
        cache.put(header, (1, 8), &row("b@example.test"));
        std::thread::sleep(MAX_AGE / 2);
        assert!(cache.get(cache.stamp().unwrap(), &(1, 7)).is_none());
        assert!(cache.get(cache.stamp().unwrap(), &(1, 8)).is_none());
    }
}
