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
