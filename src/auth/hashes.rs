//! The stored password hash formats, bcrypt (`$2b$12$...`) and Argon2id (PHC
//! `$argon2id$v=19$m=...,t=...,p=...$salt$hash`): which algorithm and
//! parameters a hash uses, and hashing and verifying with each. A stored hash
//! is checked against fixed limits before any work, so a hostile or mistyped
//! row can never make tollgate allocate more than 1 GiB for one hash, nor
//! run an unknown algorithm (docs/decisions.md lists the limits).

use std::{cmp::Ordering, fmt};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{Output, PasswordHash, SaltString},
};
use rand::RngCore;

/// The most memory one Argon2 hash may use, in KiB (1 GiB): the highest
/// `TOLLGATE_ARGON2_MEMORY`, and the most a stored hash may ask for.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 1 << 20;
/// The most passes over that memory.
pub const MAX_ARGON2_ITERATIONS: u32 = 32;
/// The most lanes (computed one after another: the crate runs without threads).
pub const MAX_ARGON2_PARALLELISM: u32 = 16;
/// The bcrypt costs the bcrypt crate computes.
pub const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=31;

const SALT_BYTES: usize = 16;
const OUTPUT_BYTES: usize = 32;
/// Output lengths accepted in stored hashes (the PHC format's own range is 10 to 64).
const OUTPUT_RANGE: std::ops::RangeInclusive<usize> = 16..=64;

/// The Argon2id parameters of the OWASP Password Storage Cheat Sheet, which
/// it lists as equal in strength: memory in KiB, iterations, parallelism.
pub const OWASP_ARGON2ID: [Argon2Params; 5] = [
    Argon2Params::new(47_104, 1, 1),
    Argon2Params::new(19_456, 2, 1),
    Argon2Params::new(12_288, 3, 1),
    Argon2Params::new(9_216, 4, 1),
    Argon2Params::new(7_168, 5, 1),
];

/// Argon2id's cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Argon2Params {
    pub const fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Self {
        Self {
            memory_kib,
            iterations,
            parallelism,
        }
    }

    /// Within the limits above, and what Argon2 itself requires (at least
    /// 8 KiB of memory per lane).
    pub fn check(&self) -> Result<(), String> {
        let Self {
            memory_kib: m,
            iterations: t,
            parallelism: p,
        } = *self;
        if !(1..=MAX_ARGON2_PARALLELISM).contains(&p) {
            return Err(format!(
                "argon2id parallelism {p} is outside 1 to {MAX_ARGON2_PARALLELISM}"
            ));
        }
        if !(1..=MAX_ARGON2_ITERATIONS).contains(&t) {
            return Err(format!(
                "argon2id iterations {t} are outside 1 to {MAX_ARGON2_ITERATIONS}"
            ));
        }
        if m > MAX_ARGON2_MEMORY_KIB {
            return Err(format!(
                "argon2id memory {m} KiB is above the limit of {MAX_ARGON2_MEMORY_KIB} KiB"
            ));
        }
        if m < 8 * p {
            return Err(format!(
                "argon2id memory {m} KiB is below 8 KiB per lane ({p} lanes)"
            ));
        }
        Ok(())
    }

    /// Argon2id of `password` and `salt` into `out`, in `memory` (grown to
    /// the blocks these parameters need, never shrunk: the caller keeps it
    /// for the next hash, so the allocator is not asked for megabytes at
    /// every login).
    fn compute(
        &self,
        password: &str,
        salt: &[u8],
        out: &mut [u8],
        memory: &mut Memory,
    ) -> Result<(), String> {
        self.check()?;
        let params = Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(out.len()),
        )
        .map_err(|err| format!("argon2id parameters refused: {err}"))?;
        let blocks = params.block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..blocks])
            .map_err(|err| format!("argon2id failed: {err}"))
    }
}

/// Argon2's working memory, one 1 KiB block per KiB of `m`, kept by the
/// caller from one hash to the next (see [`Hasher`](crate::auth::password::Hasher)).
pub type Memory = Vec<Block>;

/// An algorithm with its parameters: how a new hash is made, or how a stored
/// one was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    Bcrypt { cost: u32 },
    Argon2id(Argon2Params),
}

impl Profile {
    /// The algorithm and parameters of a stored hash, refused when they are
    /// unknown or outside the limits. Reads the string only: nothing is
    /// allocated for the hash function.
    pub fn of(hash: &str) -> Result<Self, Unusable> {
        if hash.starts_with("$2") {
            let cost = bcrypt_cost(hash).ok_or(Unusable::Malformed)?;
            if !BCRYPT_COSTS.contains(&cost) {
                return Err(Unusable::Limits(format!(
                    "bcrypt cost {cost} is outside 4 to 31"
                )));
            }
            return Ok(Self::Bcrypt { cost });
        }
        if !hash.starts_with("$argon2id$") {
            return Err(Unusable::UnknownAlgorithm);
        }
        let phc = PasswordHash::new(hash).map_err(|_| Unusable::Malformed)?;
        Self::of_argon2id(&phc)
    }

    fn of_argon2id(phc: &PasswordHash<'_>) -> Result<Self, Unusable> {
        let output = phc.hash.ok_or(Unusable::Malformed)?;
        if phc.salt.is_none() || !OUTPUT_RANGE.contains(&output.len()) {
            return Err(Unusable::Malformed);
        }
        if phc.version != Some(u32::from(Version::V0x13)) {
            return Err(Unusable::Limits("argon2id version other than 19".into()));
        }
        let (mut m, mut t, mut p) = (None, None, None);
        for (name, value) in phc.params.iter() {
            let slot = match name.as_str() {
                "m" => &mut m,
                "t" => &mut t,
                "p" => &mut p,
                // A secret key id or associated data: tollgate uses neither.
                _ => {
                    return Err(Unusable::Limits(
                        "argon2id parameter other than m, t, p".into(),
                    ));
                }
            };
            *slot = Some(value.decimal().map_err(|_| Unusable::Malformed)?);
        }
        let (Some(m), Some(t), Some(p)) = (m, t, p) else {
            return Err(Unusable::Malformed);
        };
        let params = Argon2Params::new(m, t, p);
        params.check().map_err(Unusable::Limits)?;
        Ok(Self::Argon2id(params))
    }

    /// `bcrypt` or `argon2id`.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::Bcrypt { .. } => "bcrypt",
            Self::Argon2id(_) => "argon2id",
        }
    }

    /// The memory one hash takes, in bytes (bcrypt's state is 4 KiB).
    pub fn memory_bytes(&self) -> u64 {
        match self {
            Self::Bcrypt { .. } => 4 << 10,
            Self::Argon2id(params) => u64::from(params.memory_kib) << 10,
        }
    }

    /// A new hash of `password` with these parameters and a random salt;
    /// Argon2id computes in `memory`.
    pub fn hash(&self, password: &str, memory: &mut Memory) -> Result<String, String> {
        match self {
            Self::Bcrypt { cost } => bcrypt::hash(password, *cost).map_err(|err| err.to_string()),
            Self::Argon2id(params) => {
                let mut salt = [0u8; SALT_BYTES];
                rand::rngs::OsRng.fill_bytes(&mut salt);
                let mut out = [0u8; OUTPUT_BYTES];
                params.compute(password, &salt, &mut out, memory)?;
                let salt = SaltString::encode_b64(&salt).map_err(|err| err.to_string())?;
                let out = Output::new(&out).map_err(|err| err.to_string())?;
                let Argon2Params {
                    memory_kib: m,
                    iterations: t,
                    parallelism: p,
                } = params;
                Ok(format!("$argon2id$v=19$m={m},t={t},p={p}${salt}${out}"))
            }
        }
    }

    /// Which of two profiles costs more to compute, where that follows from
    /// the parameters: within one algorithm. `None` across algorithms.
    pub fn compare_work(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Self::Bcrypt { cost: a }, Self::Bcrypt { cost: b }) => Some(a.cmp(b)),
            (Self::Argon2id(a), Self::Argon2id(b)) => {
                // Each pass fills the memory once; lanes run one after another.
                let work = |p: &Argon2Params| u64::from(p.memory_kib) * u64::from(p.iterations);
                Some(work(a).cmp(&work(b)).then(a.memory_kib.cmp(&b.memory_kib)))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bcrypt { cost } => write!(f, "bcrypt cost {cost}"),
            Self::Argon2id(p) => write!(
                f,
                "argon2id m={} t={} p={}",
                p.memory_kib, p.iterations, p.parallelism
            ),
        }
    }
}

/// Why a stored hash is not checked. The reasons quote parameters, never
/// any part of the salt or hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("the stored password hash is of an unknown algorithm")]
    UnknownAlgorithm,
    #[error("the stored password hash is malformed")]
    Malformed,
    #[error("the stored password hash is refused: {0}")]
    Limits(String),
}

/// Whether `password` matches `hash`, whose profile has been read with
/// [`Profile::of`] (so its parameters are within the limits); Argon2id
/// computes in `memory`. The outputs are compared in constant time.
pub fn verify(password: &str, hash: &str, profile: &Profile, memory: &mut Memory) -> bool {
    let params = match profile {
        Profile::Bcrypt { .. } => return bcrypt::verify(password, hash).unwrap_or(false),
        Profile::Argon2id(params) => params,
    };
    let Ok(phc) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (phc.salt, phc.hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = [0u8; 64];
    let out = &mut out[..expected.len()];
    params.compute(password, salt, out, memory).is_ok()
        && Output::new(out).is_ok_and(|computed| computed == expected)
}

/// The cost field of a `$2b$12$...` hash.
pub fn bcrypt_cost(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests;
