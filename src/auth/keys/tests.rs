use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use secrecy::SecretString;
use serde_json::json;

use super::*;
use crate::auth::jwt::{AccessClaims, AccessTokens, TokenError, now};

const ASYMMETRIC: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA];

fn claims() -> AccessClaims {
    let now = now();
    AccessClaims {
        iss: "http://127.0.0.1:8000".into(),
        aud: "tollgate".into(),
        sub: "1".into(),
        exp: now + 60,
        iat: now,
        jti: "j".into(),
        scope: "read:items".into(),
        client_id: "tollgate".into(),
        ver: 1,
        fam: Some(2),
        sid: None,
    }
}

fn keys(records: &[KeyRecord], at: i64) -> AccessTokens {
    let ring = KeyRing::from_records(records, at, None).unwrap();
    AccessTokens::from_ring(ring, "http://127.0.0.1:8000", "tollgate")
}

fn kek(text: &str) -> Kek {
    Kek::new(&SecretString::from(text.repeat(32))).unwrap()
}

/// A compact JWT with any header, signed by `sign` over the signing input.
fn forge(header: serde_json::Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let part = |v: String| URL_SAFE_NO_PAD.encode(v);
    let body = serde_json::to_string(&claims()).unwrap();
    let message = format!("{}.{}", part(header.to_string()), part(body));
    let signature = URL_SAFE_NO_PAD.encode(sign(message.as_bytes()));
    format!("{message}.{signature}")
}

#[test]
fn each_algorithm_signs_tokens_its_ring_verifies() {
    for alg in ASYMMETRIC {
        let record = generate(alg, 100, 100, None).unwrap();
        let keys = keys(std::slice::from_ref(&record), 100);
        let token = keys.sign(&claims()).unwrap();
        assert_eq!(keys.verify(&token).unwrap().fam, Some(2), "{alg}");
        assert_eq!(keys.family_of(&token), Some(2), "{alg}");
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            header,
            json!({"alg": alg.as_str(), "typ": "at+jwt", "kid": record.kid})
        );
    }
}

#[test]
fn a_generated_record_publishes_its_thumbprint_and_algorithm() {
    let expected_fields = [
        (
            SigningAlg::RS256,
            json!(["alg", "e", "kid", "kty", "n", "use"]),
        ),
        (
            SigningAlg::ES256,
            json!(["alg", "crv", "kid", "kty", "use", "x", "y"]),
        ),
        (
            SigningAlg::EdDSA,
            json!(["alg", "crv", "kid", "kty", "use", "x"]),
        ),
    ];
    for (alg, fields) in expected_fields {
        let record = generate(alg, 1, 2, None).unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&record.public_jwk).unwrap();
        let mut names: Vec<_> = jwk.as_object().unwrap().keys().cloned().collect();
        names.sort();
        assert_eq!(json!(names), fields, "{alg}");
        assert_eq!(jwk["alg"], alg.as_str());
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], record.kid.as_str());
        let parsed: PublicJwk = serde_json::from_value(jwk).unwrap();
        assert_eq!(parsed.thumbprint().as_deref(), Some(record.kid.as_str()));
        assert_eq!((record.created_at, record.activates_at), (1, 2));
    }
    assert_eq!(
        generate(SigningAlg::HS256, 1, 1, None).err(),
        Some(KeyError::Symmetric)
    );
}

#[test]
fn refuses_none_other_algorithms_unknown_kids_and_hmac_with_the_public_key() {
    let rsa = generate(SigningAlg::RS256, 1, 1, None).unwrap();
    let ec = generate(SigningAlg::ES256, 1, 1, None).unwrap();
    let keys = keys(&[rsa.clone(), ec.clone()], 1);
    let ec_ring = KeyRing::from_records(std::slice::from_ref(&ec), 1, None).unwrap();
    let ec_sign = |m: &[u8]| ec_ring.signer.sign(m).unwrap();
    let good = forge(
        json!({"alg": "ES256", "typ": "at+jwt", "kid": ec.kid}),
        ec_sign,
    );
    assert!(keys.verify(&good).is_ok());
    let hmac_with = |secret: &[u8]| {
        let key = EncodingKey::from_secret(secret);
        move |m: &[u8]| {
            let sig = jsonwebtoken::crypto::sign(m, &key, Algorithm::HS256).unwrap();
            URL_SAFE_NO_PAD.decode(sig).unwrap()
        }
    };
    let jwk = rsa.public_jwk.as_bytes();
    let forged = [
        forge(
            json!({"alg": "none", "typ": "at+jwt", "kid": ec.kid}),
            |_| Vec::new(),
        ),
        forge(
            json!({"alg": "RS256", "typ": "at+jwt", "kid": ec.kid}),
            ec_sign,
        ),
        forge(
            json!({"alg": "ES256", "typ": "at+jwt", "kid": rsa.kid}),
            ec_sign,
        ),
        forge(
            json!({"alg": "ES256", "typ": "at+jwt", "kid": "unknown"}),
            ec_sign,
        ),
        forge(json!({"alg": "ES256", "typ": "at+jwt"}), ec_sign),
        forge(
            json!({"alg": "ES256", "typ": "JWT", "kid": ec.kid}),
            ec_sign,
        ),
        forge(
            json!({"alg": "HS256", "typ": "at+jwt", "kid": rsa.kid}),
            hmac_with(jwk),
        ),
    ];
    for token in forged {
        assert_eq!(keys.verify(&token).err(), Some(TokenError::Invalid));
        assert_eq!(keys.family_of(&token), None);
    }
}

#[test]
fn the_newest_active_key_signs_and_every_record_verifies() {
    let old = generate(SigningAlg::ES256, 0, 0, None).unwrap();
    let new = generate(SigningAlg::EdDSA, 100, 400, None).unwrap();
    let records = [old.clone(), new.clone()];
    let before = KeyRing::from_records(&records, 399, None).unwrap();
    assert_eq!(before.signing_kid(), old.kid);
    assert_eq!(
        before.public_keys().len(),
        2,
        "the next key is published early"
    );
    let after = KeyRing::from_records(&records, 400, None).unwrap();
    assert_eq!(after.signing_kid(), new.kid);
    let old_token = keys(&records, 399).sign(&claims()).unwrap();
    assert!(keys(&records, 400).verify(&old_token).is_ok());

    let retired = KeyRecord {
        retires_at: Some(50),
        ..old.clone()
    };
    assert_eq!(
        KeyRing::from_records(std::slice::from_ref(&retired), 60, None).err(),
        Some(KeyError::NoActiveKey)
    );
    assert!(retired.prunable_at(50 + 900 + 1, 900) && !retired.prunable_at(50 + 900, 900));
    assert!(!old.prunable_at(i64::MAX, 900));
}

#[test]
fn a_revoked_record_neither_signs_nor_verifies_nor_is_published() {
    let old = generate(SigningAlg::ES256, 100, 100, None).unwrap();
    let new = generate(SigningAlg::ES256, 200, 200, None).unwrap();
    let old_token = keys(std::slice::from_ref(&old), 150)
        .sign(&claims())
        .unwrap();
    let revoked = KeyRecord {
        retires_at: Some(200),
        revoked_at: Some(200),
        ..old.clone()
    };
    let records = [revoked.clone(), new.clone()];
    let ring = KeyRing::from_records(&records, 200, None).unwrap();
    assert_eq!(ring.signing_kid(), new.kid);
    assert_eq!(ring.public_keys().len(), 1);
    assert_eq!(ring.public_keys()[0].kid, new.kid);
    assert!(keys(&records, 200).verify(&old_token).is_err());
    assert!(
        !revoked.signs_at(150),
        "revoked before its end, it signs no more"
    );
    let alone = KeyRecord {
        retires_at: None,
        ..revoked
    };
    assert_eq!(
        KeyRing::from_records(&[alone], 300, None).err(),
        Some(KeyError::NoActiveKey)
    );
}

#[test]
fn hs256_keeps_its_secret_derived_kid_and_an_empty_jwks() {
    let secret = SecretString::from("s".repeat(40));
    let ring = KeyRing::hmac(&secret);
    assert_eq!(ring.signing_alg(), SigningAlg::HS256);
    assert_eq!(ring.signing_kid().len(), 16);
    assert!(ring.public_keys().is_empty());
}

#[test]
fn sealed_private_keys_open_only_with_their_key_encryption_key() {
    let kek_a = kek("a");
    let record = generate(SigningAlg::EdDSA, 1, 1, Some(&kek_a)).unwrap();
    assert_eq!(record.encryption_key_id.as_deref(), Some(kek_a.id()));
    assert!(KeyRing::from_records(std::slice::from_ref(&record), 1, Some(&kek_a)).is_ok());
    let missing = KeyRing::from_records(std::slice::from_ref(&record), 1, None);
    assert!(matches!(
        missing,
        Err(KeyError::MissingEncryptionKey { .. })
    ));
    let wrong = KeyRing::from_records(std::slice::from_ref(&record), 1, Some(&kek("b")));
    assert!(matches!(wrong, Err(KeyError::WrongEncryptionKey { .. })));

    let mut damaged = record.clone();
    *damaged.private_key.last_mut().unwrap() ^= 1;
    let opened = KeyRing::from_records(&[damaged], 1, Some(&kek_a));
    assert!(matches!(
        opened,
        Err(KeyError::Kek(KekError::Damaged { .. }))
    ));
    let moved = KeyRecord {
        kid: "another".into(),
        ..record.clone()
    };
    assert!(kek_a.open(&moved.kid, &moved.private_key).is_err());

    let kek_b = kek("b");
    let resealed = reseal(&record, Some(&kek_a), Some(&kek_b)).unwrap();
    assert_eq!(resealed.encryption_key_id.as_deref(), Some(kek_b.id()));
    assert!(KeyRing::from_records(&[resealed], 1, Some(&kek_b)).is_ok());
    let plain = reseal(&record, Some(&kek_a), None).unwrap();
    assert!(KeyRing::from_records(&[plain], 1, None).is_ok());
}

#[test]
fn key_encryption_keys_are_long_enough_and_sealing_is_randomized() {
    assert_eq!(
        Kek::new(&SecretString::from("x".repeat(31))).err(),
        Some(KekError::Short(31))
    );
    let kek = kek("a");
    assert_ne!(kek.seal("k", b"same"), kek.seal("k", b"same"));
    assert_eq!(kek.open("k", &kek.seal("k", b"same")).unwrap(), b"same");
    assert_eq!(kek.id().len(), 16);
}

#[test]
fn debug_output_carries_no_key_material() {
    let secret = "z".repeat(40);
    let kek = Kek::new(&SecretString::from(secret.clone())).unwrap();
    let record = generate(SigningAlg::EdDSA, 1, 1, None).unwrap();
    let pkcs8_b64 = URL_SAFE_NO_PAD.encode(&record.private_key);
    let shown = format!(
        "{record:?} {kek:?} {:?}",
        KeyRing::hmac(&SecretString::from(secret.clone()))
    );
    assert!(!shown.contains(&secret) && !shown.contains(&pkcs8_b64));
    assert!(!shown.contains(&format!("{:?}", record.private_key)));
    assert!(shown.contains("[redacted]"));
}

/// The public documents (`tollgate_resource::jwks`) as tollgate serves them.
mod documents {
    use serde_json::json;

    use secrecy::SecretString;

    use crate::auth::{
        jwks::{AuthorizationServerMetadata, jwks_cache_control},
        keys::{KeyRing, SigningAlg},
    };

    #[test]
    fn hs256_publishes_an_empty_key_set() {
        let ring = KeyRing::hmac(&SecretString::from("s".repeat(32)));
        assert_eq!(
            serde_json::to_value(ring.jwks()).unwrap(),
            json!({"keys": []})
        );
        let cache = jwks_cache_control(std::time::Duration::from_secs(300));
        assert_eq!(cache, "public, max-age=300");
    }

    #[test]
    fn the_metadata_names_every_endpoint_under_the_issuer() {
        let metadata = AuthorizationServerMetadata::new(
            "https://auth.example.com/",
            SigningAlg::EdDSA,
            &["read:items", "admin"],
        );
        let value = serde_json::to_value(&metadata).unwrap();
        assert_eq!(
            value["issuer"], "https://auth.example.com/",
            "as configured"
        );
        assert_eq!(value["token_endpoint"], "https://auth.example.com/token");
        assert_eq!(
            value["jwks_uri"],
            "https://auth.example.com/.well-known/jwks.json"
        );
        assert_eq!(
            value["introspection_endpoint"],
            "https://auth.example.com/token/introspect"
        );
        assert_eq!(
            value["grant_types_supported"],
            json!(["password", "refresh_token", "client_credentials"])
        );
        assert_eq!(value["scopes_supported"], json!(["read:items", "admin"]));
        assert_eq!(
            value["access_token_signing_alg_values_supported"],
            json!(["EdDSA"])
        );
        // private_key_jwt is listed, so its algorithms must be (RFC 8414 §2).
        let algs = &value["token_endpoint_auth_signing_alg_values_supported"];
        assert!(algs.as_array().unwrap().contains(&json!("ES256")), "{algs}");
    }
}
