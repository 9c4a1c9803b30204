//! Password hashing with bcrypt, run on the blocking pool and never more at
//! once than there are cores, so logins cannot starve the async workers or
//! each other; and the rules a new password must meet.

use std::{
    collections::HashSet,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU32, AtomicUsize, Ordering},
    },
};

use tokio::sync::{Mutex, Semaphore, TryAcquireError};
use tracing::Span;

/// bcrypt reads at most 72 bytes; longer passwords are refused, never cut.
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
            "the password is {len} bytes in UTF-8; bcrypt reads at most {MAX_PASSWORD_BYTES}, \
             and a longer one is refused rather than silently cut"
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
    #[error("bcrypt failed: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("hashing task failed")]
    Task,
    /// More jobs wait for a core than the queue limit allows.
    #[error("too many password checks are waiting")]
    Busy,
}

/// Hashes and verifies off the async threads, at most `permits` at a time,
/// with at most `queue_limit` more waiting.
#[derive(Clone)]
pub struct Hasher {
    cost: u32,
    permits: Arc<Semaphore>,
    queue: Arc<Queue>,
    /// The highest cost seen among stored hashes (see [`Hasher::note_cost`]).
    noted: Arc<AtomicU32>,
    /// The dummy hash, remade when a higher cost is noted.
    dummy: Arc<Mutex<Option<Dummy>>>,
}

impl Hasher {
    pub fn new(cost: u32, concurrency: usize) -> Self {
        Self {
            cost,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            queue: Arc::new(Queue::new(DEFAULT_QUEUE_LIMIT)),
            noted: Arc::new(AtomicU32::new(0)),
            dummy: Arc::new(Mutex::new(None)),
        }
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

    pub fn cost(&self) -> u32 {
        self.cost
    }

    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = password.to_owned();
        let cost = self.cost;
        self.run(move || bcrypt::hash(password, cost).map_err(HashError::from))
            .await
    }

    /// Checks `password` against `hash`; with no hash (unknown user, throttled
    /// attempt) it checks against a dummy hash and answers false. The dummy is
    /// at the configured cost or the highest noted one, whichever is higher,
    /// so an unknown user costs what the slowest stored hash seen costs. A
    /// password over 72 bytes never matches: bcrypt would compare only its
    /// first 72.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, HashError> {
        let hash = hash.filter(|_| password.len() <= MAX_PASSWORD_BYTES);
        let (hash, real): (Arc<str>, bool) = match hash {
            Some(hash) => (hash.into(), true),
            None => (self.dummy_hash().await?, false),
        };
        let password = password.to_owned();
        let matched = self
            .run(move || Ok(bcrypt::verify(password, &hash).unwrap_or(false)))
            .await?;
        Ok(real && matched)
    }

    /// Whether `hash` was made at another cost than the configured one.
    pub fn needs_rehash(&self, hash: &str) -> bool {
        cost_of(hash) != Some(self.cost)
    }

    /// Tells the hasher the cost of a stored hash a login is about to check.
    /// A cost above the dummy's raises the dummy to it (remade in the
    /// background), so that after the cost is lowered the users still at the
    /// old, higher cost are not told apart from unknown names by timing.
    pub fn note_cost(&self, hash: &str) {
        let Some(cost) = cost_of(hash).filter(|c| (4..=31).contains(c)) else {
            return;
        };
        let before = self.noted.fetch_max(cost, Ordering::Relaxed);
        if cost > before.max(self.cost)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let hasher = self.clone();
            runtime.spawn(async move { hasher.warm_up().await });
        }
    }

    /// The cost an unknown user's dummy verify runs at.
    pub fn dummy_cost(&self) -> u32 {
        self.cost.max(self.noted.load(Ordering::Relaxed))
    }

    /// Computes the dummy hash ahead of the first unknown-user login.
    pub async fn warm_up(&self) -> Result<(), HashError> {
        self.dummy_hash().await.map(|_| ())
    }

    async fn dummy_hash(&self) -> Result<Arc<str>, HashError> {
        let cost = self.dummy_cost();
        let mut slot = self.dummy.lock().await;
        if let Some(dummy) = slot.as_ref().filter(|dummy| dummy.cost >= cost) {
            return Ok(Arc::clone(&dummy.hash));
        }
        let filler = crate::auth::random_token(18);
        let hash: Arc<str> = self
            .run(move || bcrypt::hash(filler, cost).map_err(HashError::from))
            .await?
            .into();
        *slot = Some(Dummy {
            cost,
            hash: Arc::clone(&hash),
        });
        Ok(hash)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
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
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(work)
        })
        .await
        .map_err(|_| HashError::Task)?
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

/// A hash of a random filler, verified against when there is no real hash.
struct Dummy {
    cost: u32,
    hash: Arc<str>,
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

/// The cost field of a `$2b$12$...` hash.
pub fn cost_of(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_counted_in_bytes() {
        assert!(validate("short", None).is_err());
        assert!(validate(&"a".repeat(72), None).is_ok());
        assert!(validate(&"a".repeat(73), None).is_err());
        // 24 three-byte characters are 72 bytes; 25 are 75.
        assert!(validate(&"\u{20ac}".repeat(24), None).is_ok());
        assert!(validate(&"\u{20ac}".repeat(25), None).is_err());
    }

    #[tokio::test]
    async fn verifies_and_reads_the_cost() {
        let hasher = Hasher::new(4, 2);
        let hash = hasher.hash("correct horse").await.unwrap();
        assert_eq!(cost_of(&hash), Some(4));
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("wrong horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("correct horse", None).await.unwrap());
        let longest = "a".repeat(MAX_PASSWORD_BYTES);
        let hash = hasher.hash(&longest).await.unwrap();
        let longer = format!("{longest}b");
        assert!(!hasher.verify(&longer, Some(&hash)).await.unwrap());
        assert!(!hasher.needs_rehash(&hash));
        assert!(Hasher::new(5, 1).needs_rehash(&hash));
    }

    #[test]
    fn common_passwords_and_the_username_are_refused() {
        assert!(COMMON_PASSWORDS.lines().count() >= 3000);
        for common in [
            "password1",
            "Password1",
            "iloveyou",
            "12345678",
            "qwertyuiop",
        ] {
            let reason = validate(common, None).unwrap_err();
            assert!(reason.contains("common"), "{common}: {reason}");
            assert!(!reason.contains(common), "{reason}");
        }
        assert!(validate("Alice.Smith", Some("alice.smith")).is_err());
        assert!(validate("alice.smith!", Some("alice.smith")).is_ok());
        // No composition rules: a long phrase of lowercase words passes.
        assert!(validate("staple battery horse correct", Some("alice")).is_ok());
        // The first admin's generated password meets the rules it would be held to.
        for _ in 0..100 {
            assert!(validate(&crate::auth::random_token(18), Some("admin")).is_ok());
        }
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        // One permit, no waiting place: with a job running, the next is Busy.
        let hasher = Hasher::new(10, 1).with_queue_limit(0);
        let running = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash("first password").await })
        };
        while hasher.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            hasher.hash("second password").await,
            Err(HashError::Busy)
        ));
        assert!(running.await.unwrap().is_ok());
        assert!(hasher.hash("third password").await.is_ok());
    }

    #[tokio::test]
    async fn the_dummy_follows_the_highest_noted_cost() {
        let hasher = Hasher::new(4, 2);
        hasher.warm_up().await.unwrap();
        assert_eq!(cost_of(&hasher.dummy_hash().await.unwrap()), Some(4));
        let older = Hasher::new(5, 1).hash("some password").await.unwrap();
        hasher.note_cost(&older);
        assert_eq!(hasher.dummy_cost(), 5);
        assert_eq!(cost_of(&hasher.dummy_hash().await.unwrap()), Some(5));
        // A lower cost never lowers it again.
        hasher.note_cost("$2b$04$invalid");
        assert_eq!(hasher.dummy_cost(), 5);
    }
}
