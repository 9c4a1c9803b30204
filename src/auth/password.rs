//! Password hashing with bcrypt, run on the blocking pool and never more at
//! once than there are cores, so logins cannot starve the async workers or
//! each other.

use std::sync::Arc;

use tokio::sync::{OnceCell, Semaphore};
use tracing::Span;

/// bcrypt reads at most 72 bytes; longer passwords are refused, never cut.
pub const MAX_PASSWORD_BYTES: usize = 72;
pub const MIN_PASSWORD_BYTES: usize = 8;

/// Why a password cannot be set.
pub fn validate(password: &str) -> Result<(), String> {
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
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("bcrypt failed: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("hashing task failed")]
    Task,
}

/// Hashes and verifies off the async threads, at most `permits` at a time.
#[derive(Clone)]
pub struct Hasher {
    cost: u32,
    permits: Arc<Semaphore>,
    dummy: Arc<OnceCell<String>>,
}

impl Hasher {
    pub fn new(cost: u32, concurrency: usize) -> Self {
        Self {
            cost,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(OnceCell::new()),
        }
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
    /// attempt) it checks against a dummy hash at the same cost and answers
    /// false, so every case costs the same time. A password over 72 bytes
    /// never matches: bcrypt would compare only its first 72.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, HashError> {
        let hash = hash.filter(|_| password.len() <= MAX_PASSWORD_BYTES);
        let (hash, real) = match hash {
            Some(hash) => (hash.to_owned(), true),
            None => (self.dummy_hash().await?.to_owned(), false),
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

    /// Computes the dummy hash ahead of the first unknown-user login.
    pub async fn warm_up(&self) -> Result<(), HashError> {
        self.dummy_hash().await.map(|_| ())
    }

    async fn dummy_hash(&self) -> Result<&str, HashError> {
        let hash = self
            .dummy
            .get_or_try_init(|| async {
                let filler = crate::auth::random_token(18);
                let cost = self.cost;
                self.run(move || bcrypt::hash(filler, cost).map_err(HashError::from))
                    .await
            })
            .await?;
        Ok(hash)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        // The permit goes with the work: a request given up while its hash
        // runs frees its slot only once the hash is done and the CPU free.
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| HashError::Task)?;
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
        assert!(validate("short").is_err());
        assert!(validate(&"a".repeat(72)).is_ok());
        assert!(validate(&"a".repeat(73)).is_err());
        // 24 three-byte characters are 72 bytes; 25 are 75.
        assert!(validate(&"\u{20ac}".repeat(24)).is_ok());
        assert!(validate(&"\u{20ac}".repeat(25)).is_err());
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
}
