use super::*;

const SMALL: Profile = Profile::Argon2id(Argon2Params::new(64, 1, 1));

#[test]
fn argon2id_hashes_are_phc_strings_that_verify() {
    let memory = &mut Memory::new();
    let hash = SMALL.hash("correct horse", memory).unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
    let profile = Profile::of(&hash).unwrap();
    assert_eq!(profile, SMALL);
    assert!(verify("correct horse", &hash, &profile, memory));
    assert!(!verify("wrong horse", &hash, &profile, memory));
    assert_ne!(SMALL.hash("correct horse", memory).unwrap(), hash, "salted");
    assert_eq!(memory.len(), 64, "one block per KiB, kept");
}

#[test]
fn hashes_agree_with_the_crates_own_phc_hasher_either_way() {
    use argon2::{PasswordHasher, PasswordVerifier};
    let memory = &mut Memory::new();
    let params = Argon2Params::new(256, 2, 2);
    let argon2 = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(256, 2, 2, None).unwrap(),
    );
    // A buffer left larger and dirty by a bigger hash changes nothing.
    Profile::Argon2id(Argon2Params::new(1024, 1, 1))
        .hash("x", memory)
        .unwrap();
    let ours = Profile::Argon2id(params)
        .hash("correct horse", memory)
        .unwrap();
    let phc = PasswordHash::new(&ours).unwrap();
    assert!(argon2.verify_password(b"correct horse", &phc).is_ok());
    assert!(argon2.verify_password(b"wrong horse", &phc).is_err());
    let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
    let theirs = argon2
        .hash_password(b"correct horse", &salt)
        .unwrap()
        .to_string();
    let profile = Profile::of(&theirs).unwrap();
    assert_eq!(profile, Profile::Argon2id(params));
    assert!(verify("correct horse", &theirs, &profile, memory));
    assert!(!verify("correct horsf", &theirs, &profile, memory));
}

#[test]
fn hostile_or_unknown_hashes_are_refused_before_any_work() {
    let salt_and_hash = "c29tZXNhbHRzb21lc2FsdA$ZHVtbXloYXNoZHVtbXloYXNoZHVtbXloYXNoMTI";
    let refused = |params: &str| {
        let hash = format!("$argon2id$v=19${params}${salt_and_hash}");
        Profile::of(&hash).unwrap_err()
    };
    assert!(
        matches!(refused("m=4194304,t=1,p=1"), Unusable::Limits(why) if why.contains("4194304 KiB"))
    );
    assert!(matches!(refused("m=65536,t=0,p=1"), Unusable::Limits(_)));
    assert!(matches!(refused("m=65536,t=1,p=0"), Unusable::Limits(_)));
    assert!(matches!(
        refused("m=65536,t=1000000,p=1"),
        Unusable::Limits(_)
    ));
    assert!(matches!(
        refused("m=65536,t=1,p=1,keyid=AAAA"),
        Unusable::Limits(_)
    ));
    assert!(matches!(refused("m=65536,t=1"), Unusable::Malformed));
    assert!(matches!(
        refused("m=99999999999,t=1,p=1"),
        Unusable::Malformed
    ));
    for unknown in [
        "$argon2i$v=19$m=65536,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$scrypt$ln=16,r=8,p=1$c29tZXNhbHQ$aGFzaA",
        "plaintext-password",
        "",
    ] {
        assert_eq!(
            Profile::of(unknown),
            Err(Unusable::UnknownAlgorithm),
            "{unknown}"
        );
    }
    assert_eq!(
        Profile::of("$2b$99$x"),
        Err(Unusable::Limits("bcrypt cost 99 is outside 4 to 31".into()))
    );
    assert_eq!(Profile::of("$argon2id$garbage"), Err(Unusable::Malformed));
    // The reasons never quote the salt or hash.
    let why = refused("m=4194304,t=1,p=1").to_string();
    assert!(!why.contains("c29tZ") && !why.contains("ZHVtb"), "{why}");
}

#[test]
fn work_is_compared_within_an_algorithm_only() {
    let bcrypt = |cost| Profile::Bcrypt { cost };
    assert_eq!(
        bcrypt(12).compare_work(&bcrypt(10)),
        Some(Ordering::Greater)
    );
    let [m46, m19, ..] = OWASP_ARGON2ID.map(Profile::Argon2id);
    assert_eq!(m19.compare_work(&m46), Some(Ordering::Less));
    assert_eq!(m46.compare_work(&m46), Some(Ordering::Equal));
    assert_eq!(m46.compare_work(&bcrypt(12)), None);
    for params in OWASP_ARGON2ID {
        assert!(params.check().is_ok());
    }
}
