//! The dummy hash an attempt without a real hash is verified against, and
//! how it follows the heaviest profile in use.

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};

use super::{HashError, Hasher};
use crate::auth::hashes::Profile;

/// The most distinct stored profiles a hasher weighs against its dummy; more
/// are not looked at (a store holds a handful: one per past setting).
const MAX_NOTED: usize = 16;

/// The stored profiles seen so far, and the heaviest of them and the
/// configured one: the profile of the dummy.
pub(super) struct Noted {
    pub(super) seen: HashSet<Profile>,
    pub(super) heaviest: Profile,
}

/// A hash of a random filler, verified against when there is no real hash.
#[derive(Clone)]
pub(super) struct Dummy {
    pub(super) profile: Profile,
    pub(super) hash: Arc<str>,
    /// How long making it took: what a verify against it takes.
    took: Duration,
}

impl Hasher {
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
    pub(super) async fn weigh(
        &self,
        candidate: Profile,
        current: Profile,
    ) -> Result<(), HashError> {
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

    pub(super) async fn dummy_hash(&self) -> Result<Dummy, HashError> {
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
}
