//! Password hashing (Argon2id or bcrypt, see [`hashes`]), run on the
//! blocking pool and never more at once than there are cores, so logins
//! cannot starve the async workers or each other, and Argon2's memory stays
//! bounded; and the rules a new password must meet.

use std::{
    collections::HashSet,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::sync::{Mutex, Semaphore, TryAcquireError};
use tracing::Span;

use crate::auth::hashes::{self, Memory, Profile};
use dummy::{Dummy, Noted};

mod dummy;

/// bcrypt reads at most 72 bytes; longer passwords are refused, never cut.
/// Argon2id keeps the same limit (one rule whatever the algorithm).
pub const MAX_PASSWORD_BYTES: usize = 72;
pub const MIN_PASSWORD_BYTES: usize = 8;

/// Hash jobs allowed to wait for a core before more are refused.
pub const DEFAULT_QUEUE_LIMIT: usize = 64;

/// The common passwords no one may set: the entries of 8 to 72 bytes (shorter
/// and longer ones are refused by length anyway) of the 20,000 most common
/// passwords compiled by Royce Williams, lowercased, in the order of that list,
/// as shipped by Django (`django/contrib/auth/common-passwords.txt.gz`, BSD
/// licence). One password per line.
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// Why a password cannot be set: its length, being on the list of common
/// passwords, or being the username. The reason never quotes the password.
pub fn validate(password: &str, username: Option<&str>) -> Result<(), String> {
    let len = password.len();
    if len < MIN_PASSWORD_BYTES {
        return Err(format!(
            "the password must be at least {MIN_PASSWORD_BYTES} bytes"
        ));
    }
    if len > MAX_PASSWORD_BYTES {
        return Err(format!(
            "the password is {len} bytes in UTF-8; at most {MAX_PASSWORD_BYTES} are read \
             (bcrypt's limit, kept for every algorithm), and a longer one is refused \
             rather than silently cut"
        ));
    }
    if username.is_some_and(|name| name.to_lowercase() == password.to_lowercase()) {
        return Err("the password must not be the username".into());
    }
    if is_common(password) {
        return Err(
            "that password is on the list of the most common passwords; choose another".into(),
        );
    }
    Ok(())
}

/// Whether `password` is on the list, compared without regard to case (the
/// list is lowercase, and `Password1` is as common as `password1`).
pub fn is_common(password: &str) -> bool {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let list = LIST.get_or_init(|| COMMON_PASSWORDS.lines().collect());
    list.contains(password.to_lowercase().as_str())
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The hash function refused its input (a message of the crate, never
    /// the password).
    #[error("hashing failed: {0}")]
    Hashing(String),
    #[error("hashing task failed")]
    Task,
    /// More jobs wait for a core than the queue limit allows.
    #[error("too many password checks are waiting")]
    Busy,
}

/// Hashes and verifies off the async threads, at most `permits` at a time,
/// with at most `queue_limit` more waiting. At most `permits` hashes hold
/// their memory at once, so hashing needs at most permits x one hash's memory.
#[derive(Clone)]
pub struct Hasher {
    profile: Profile,
    permits: Arc<Semaphore>,
    concurrency: usize,
    queue: Arc<Queue>,
    /// The profiles seen in stored hashes (see [`Hasher::note`]).
    noted: Arc<std::sync::Mutex<Noted>>,
    /// The dummy hash, remade when a heavier profile is noted.
    dummy: Arc<Mutex<Option<Dummy>>>,
    /// Argon2's working memory, kept from one hash to the next: at most one
    /// buffer per permit. Allocating and freeing megabytes per login leaves
    /// them resident in the allocator's per-thread arenas, across the
    /// blocking pool's many threads (measured: 665 MB at 19 MiB x 2 cores).
    memory: Arc<std::sync::Mutex<Vec<Memory>>>,
}

impl Hasher {
    /// New hashes with `profile`, at most `concurrency` at once.
    pub fn new(profile: Profile, concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            profile,
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            queue: Arc::new(Queue::new(DEFAULT_QUEUE_LIMIT)),
            noted: Arc::new(std::sync::Mutex::new(Noted {
                seen: HashSet::new(),
                heaviest: profile,
            })),
            dummy: Arc::new(Mutex::new(None)),
            memory: Arc::new(std::sync::Mutex::new(Vec::new())),
        }
    }

    /// bcrypt at `cost`: the hasher of tests and tools that need no other.
    pub fn bcrypt(cost: u32, concurrency: usize) -> Self {
        Self::new(Profile::Bcrypt { cost }, concurrency)
    }

    /// At most `limit` jobs wait for a core; one more is refused with
    /// [`HashError::Busy`] at once.
    pub fn with_queue_limit(mut self, limit: usize) -> Self {
        self.queue = Arc::new(Queue::new(limit));
        self
    }

    /// The number of cores: hashing is pure CPU, more at once only queues.
    /// One fewer would leave a core to other requests during a login storm,
    /// but caps logins at half the ceiling (measured in bench/README.md).
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }

    /// The algorithm and parameters of new hashes.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The most memory hashing holds at once: one hash per permit.
    pub fn peak_memory_bytes(&self) -> u64 {
        self.profile.memory_bytes() * self.concurrency as u64
    }

    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = password.to_owned();
        let profile = self.profile;
        self.run(move |memory| profile.hash(&password, memory).map_err(HashError::Hashing))
            .await
    }

    /// Checks `password` against `hash`; with no hash (unknown user, throttled
    /// attempt) it checks against a dummy hash and answers false. A stored
    /// hash of an unknown algorithm, or with parameters outside the limits of
    /// [`hashes`](crate::auth::hashes), is logged and treated the same way:
    /// nothing is computed with its parameters. The dummy follows the
    /// heaviest profile in use (see [`Hasher::note`]), so an unknown user
    /// costs what a stored hash costs. A password over 72 bytes never
    /// matches: bcrypt would compare only its first 72, and both algorithms
    /// keep one limit.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, HashError> {
        let hash = hash.filter(|_| password.len() <= MAX_PASSWORD_BYTES);
        let stored = match hash.map(|hash| (hash, Profile::of(hash))) {
            Some((hash, Ok(profile))) => Some((Arc::<str>::from(hash), profile)),
            Some((_, Err(why))) => {
                tracing::warn!(
                    event = "password_hash_unusable",
                    reason = %why,
                    "a stored password hash was not checked; the attempt fails"
                );
                None
            }
            None => None,
        };
        let (hash, profile, real) = match stored {
            Some((hash, profile)) => (hash, profile, true),
            None => {
                let dummy = self.dummy_hash().await?;
                (dummy.hash, dummy.profile, false)
            }
        };
        let password = password.to_owned();
        let matched = self
            .run(move |memory| Ok(hashes::verify(&password, &hash, &profile, memory)))
            .await?;
        Ok(real && matched)
    }

    /// Whether `hash` was made with another algorithm or other parameters
    /// than the configured ones: a login with it rehashes.
    pub fn needs_rehash(&self, hash: &str) -> bool {
        Profile::of(hash) != Ok(self.profile)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        // The permit goes with the work: a request given up while its hash
        // runs frees its slot only once the hash is done and the CPU free.
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(HashError::Task),
            Err(TryAcquireError::NoPermits) => {
                let _place = self.queue.enter().ok_or(HashError::Busy)?;
                Arc::clone(&self.permits)
                    .acquire_owned()
                    .await
                    .map_err(|_| HashError::Task)?
            }
        };
        let span = Span::current();
        let pool = Arc::clone(&self.memory);
        let keep = self.memory_kept();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // A buffer per permit at most: taken and given back under it.
            let mut memory = pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let memory_ref = memory.get_or_insert_with(Memory::new);
            let result = span.in_scope(|| work(memory_ref));
            if let Some(memory) = memory.filter(|m| m.len() <= keep) {
                pool.lock().unwrap_or_else(|e| e.into_inner()).push(memory);
            }
            result
        })
        .await
        .map_err(|_| HashError::Task)?
    }

    /// The largest Argon2 buffer kept for the next hash, in blocks (KiB): the
    /// configured memory, or the dummy's when that is larger. A larger one,
    /// for a stored hash of more memory, is freed after its hash.
    fn memory_kept(&self) -> usize {
        let kib = |profile: Profile| match profile {
            Profile::Argon2id(params) => params.memory_kib as usize,
            Profile::Bcrypt { .. } => 0,
        };
        kib(self.profile).max(kib(self.dummy_profile()))
    }

    /// Hash jobs that could start now without waiting (for the metrics).
    pub fn free_slots(&self) -> usize {
        self.permits.available_permits()
    }

    /// Hash jobs waiting for a core (for the metrics).
    pub fn waiting(&self) -> usize {
        self.queue.waiting.load(Ordering::Acquire)
    }
}

/// The jobs waiting for a permit, counted so that the wait stays bounded.
struct Queue {
    waiting: AtomicUsize,
    limit: usize,
}

impl Queue {
    fn new(limit: usize) -> Self {
        Self {
            waiting: AtomicUsize::new(0),
            limit,
        }
    }

    /// A place in the queue, given up when dropped; `None` when it is full.
    fn enter(&self) -> Option<Place<'_>> {
        let before = self.waiting.fetch_add(1, Ordering::AcqRel);
        if before >= self.limit {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Place(self))
    }
}

struct Place<'a>(&'a Queue);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests;
