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
    time::{Duration, Instant},
};

use tokio::sync::{Mutex, Semaphore, TryAcquireError};
use tracing::Span;

use crate::auth::hashes::{self, Memory, Profile};

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

/// The most distinct stored profiles a hasher weighs against its dummy; more
/// are not looked at (a store holds a handful: one per past setting).
const MAX_NOTED: usize = 16;

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

/// The stored profiles seen so far, and the heaviest of them and the
/// configured one: the profile of the dummy.
struct Noted {
    seen: HashSet<Profile>,
    heaviest: Profile,
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

    /// Tells the hasher the profile of a stored hash a login is about to
    /// check. A profile heavier than the dummy's raises the dummy to it, so
    /// that after the settings change the users still on the old, heavier
    /// hashes are not told apart from unknown names by timing. Within one
    /// algorithm the parameters say which is heavier; across algorithms,
    /// the time one hash of each takes (measured in the background).
    pub fn note(&self, hash: &str) {
        let Ok(seen) = Profile::of(hash) else {
            return;
        };
        let heaviest = {
            let mut noted = self.noted.lock().unwrap_or_else(|e| e.into_inner());
            if seen == noted.heaviest || noted.seen.len() >= MAX_NOTED || !noted.seen.insert(seen) {
                return;
            }
            match seen.compare_work(&noted.heaviest) {
                Some(std::cmp::Ordering::Greater) => {
                    noted.heaviest = seen;
                    None
                }
                Some(_) => return,
                None => Some(noted.heaviest),
            }
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let hasher = self.clone();
        runtime.spawn(async move {
            let result = match heaviest {
                None => hasher.warm_up().await,
                Some(current) => hasher.weigh(seen, current).await,
            };
            if let Err(err) = result {
                tracing::warn!(error = %err, "could not prepare the dummy hash");
            }
        });
    }

    /// Makes a dummy of `candidate`, and keeps it instead of the dummy of
    /// `current` if it took longer to make.
    async fn weigh(&self, candidate: Profile, current: Profile) -> Result<(), HashError> {
        let made = self.make_dummy(candidate).await?;
        let mut slot = self.dummy.lock().await;
        let kept = match slot.as_ref().filter(|d| d.profile == current) {
            Some(dummy) => dummy.took,
            None => {
                drop(slot);
                let dummy = self.make_dummy(current).await?;
                let took = dummy.took;
                slot = self.dummy.lock().await;
                *slot = Some(dummy);
                took
            }
        };
        let mut noted = self.noted.lock().unwrap_or_else(|e| e.into_inner());
        if made.took > kept && noted.heaviest == current {
            noted.heaviest = candidate;
            *slot = Some(made);
        }
        Ok(())
    }

    /// The profile an unknown user's dummy verify runs with.
    pub fn dummy_profile(&self) -> Profile {
        self.noted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .heaviest
    }

    /// Computes the dummy hash ahead of the first unknown-user login.
    pub async fn warm_up(&self) -> Result<(), HashError> {
        self.dummy_hash().await.map(|_| ())
    }

    async fn dummy_hash(&self) -> Result<Dummy, HashError> {
        let profile = self.dummy_profile();
        let mut slot = self.dummy.lock().await;
        if let Some(dummy) = slot.as_ref().filter(|dummy| dummy.profile == profile) {
            return Ok(dummy.clone());
        }
        let dummy = self.make_dummy(profile).await?;
        *slot = Some(dummy.clone());
        Ok(dummy)
    }

    /// A hash of a random filler with `profile`, and how long it took.
    async fn make_dummy(&self, profile: Profile) -> Result<Dummy, HashError> {
        let filler = crate::auth::random_token(18);
        let (hash, took) = self
            .run(move |memory| {
                let started = Instant::now();
                let hash = profile.hash(&filler, memory).map_err(HashError::Hashing)?;
                Ok((hash, started.elapsed()))
            })
            .await?;
        Ok(Dummy {
            profile,
            hash: hash.into(),
            took,
        })
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

/// A hash of a random filler, verified against when there is no real hash.
#[derive(Clone)]
struct Dummy {
    profile: Profile,
    hash: Arc<str>,
    /// How long making it took: what a verify against it takes.
    took: Duration,
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

    use crate::auth::hashes::{Argon2Params, bcrypt_cost};

    const ARGON2_SMALL: Profile = Profile::Argon2id(Argon2Params::new(256, 1, 1));

    #[tokio::test]
    async fn verifies_with_either_algorithm_and_reads_the_profile() {
        for profile in [Profile::Bcrypt { cost: 4 }, ARGON2_SMALL] {
            let hasher = Hasher::new(profile, 2);
            let hash = hasher.hash("correct horse").await.unwrap();
            assert_eq!(Profile::of(&hash), Ok(profile));
            assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
            assert!(!hasher.verify("wrong horse", Some(&hash)).await.unwrap());
            assert!(!hasher.verify("correct horse", None).await.unwrap());
            let longest = "a".repeat(MAX_PASSWORD_BYTES);
            let hash = hasher.hash(&longest).await.unwrap();
            let longer = format!("{longest}b");
            assert!(!hasher.verify(&longer, Some(&hash)).await.unwrap());
            assert!(!hasher.needs_rehash(&hash));
        }
        let bcrypt4 = Hasher::bcrypt(4, 1).hash("correct horse").await.unwrap();
        let argon2 = Hasher::new(ARGON2_SMALL, 1);
        // Either way between the algorithms, and a change of parameters.
        assert!(argon2.needs_rehash(&bcrypt4));
        let argon2_hash = argon2.hash("correct horse").await.unwrap();
        assert!(Hasher::bcrypt(4, 1).needs_rehash(&argon2_hash));
        assert!(Hasher::bcrypt(5, 1).needs_rehash(&bcrypt4));
        let more_memory = Profile::Argon2id(Argon2Params::new(512, 1, 1));
        assert!(Hasher::new(more_memory, 1).needs_rehash(&argon2_hash));
        // A hash of either algorithm verifies whatever the configured one.
        assert!(
            argon2
                .verify("correct horse", Some(&bcrypt4))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_hostile_stored_hash_fails_like_an_unknown_user() {
        let hasher = Hasher::new(ARGON2_SMALL, 1);
        let hostile = "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHRzb21lc2FsdA\
                       $ZHVtbXloYXNoZHVtbXloYXNoZHVtbXloYXNoMTI";
        assert!(!hasher.verify("some password", Some(hostile)).await.unwrap());
        assert!(
            !hasher
                .verify(
                    "some password",
                    Some("$argon2id$v=19$m=65536,t=0,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
                )
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("some password", Some("plain text"))
                .await
                .unwrap()
        );
        // Noting it changes nothing.
        hasher.note(hostile);
        assert_eq!(hasher.dummy_profile(), ARGON2_SMALL);
    }

    #[test]
    fn peak_memory_is_one_hash_per_permit() {
        let hasher = Hasher::new(Profile::Argon2id(Argon2Params::new(19_456, 2, 1)), 3);
        assert_eq!(hasher.peak_memory_bytes(), 3 * 19_456 * 1024);
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
        let hasher = Hasher::bcrypt(10, 1).with_queue_limit(0);
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
    async fn the_dummy_follows_the_heaviest_noted_profile_of_its_algorithm() {
        let hasher = Hasher::bcrypt(4, 2);
        hasher.warm_up().await.unwrap();
        assert_eq!(
            bcrypt_cost(&hasher.dummy_hash().await.unwrap().hash),
            Some(4)
        );
        let older = Hasher::bcrypt(5, 1).hash("some password").await.unwrap();
        hasher.note(&older);
        assert_eq!(hasher.dummy_profile(), Profile::Bcrypt { cost: 5 });
        assert_eq!(
            bcrypt_cost(&hasher.dummy_hash().await.unwrap().hash),
            Some(5)
        );
        // A lower cost never lowers it again.
        hasher.note(&Hasher::bcrypt(4, 1).hash("x").await.unwrap());
        assert_eq!(hasher.dummy_profile(), Profile::Bcrypt { cost: 5 });

        let hasher = Hasher::new(ARGON2_SMALL, 2);
        let heavier = Profile::Argon2id(Argon2Params::new(512, 2, 1));
        hasher.note(&Hasher::new(heavier, 1).hash("x").await.unwrap());
        assert_eq!(hasher.dummy_profile(), heavier);
        let dummy = hasher.dummy_hash().await.unwrap();
        assert_eq!(Profile::of(&dummy.hash), Ok(heavier));
    }

    #[tokio::test]
    async fn across_algorithms_the_dummy_follows_the_slower_hash() {
        // Argon2id at 256 KiB takes well under a millisecond; bcrypt at 10
        // tens of milliseconds. Noted the other way round, it stays.
        let hasher = Hasher::new(ARGON2_SMALL, 2);
        hasher.warm_up().await.unwrap();
        let slower = Profile::Bcrypt { cost: 10 };
        let stored = Hasher::new(slower, 1).hash("x").await.unwrap();
        hasher.weigh(slower, ARGON2_SMALL).await.unwrap();
        assert_eq!(hasher.dummy_profile(), slower);
        assert_eq!(
            Profile::of(&hasher.dummy_hash().await.unwrap().hash),
            Ok(slower)
        );
        hasher.note(&stored);
        assert_eq!(hasher.dummy_profile(), slower);

        let hasher = Hasher::bcrypt(10, 2);
        hasher.weigh(ARGON2_SMALL, slower).await.unwrap();
        assert_eq!(hasher.dummy_profile(), slower);
    }
}
