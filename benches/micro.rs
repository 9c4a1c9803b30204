//! Micro-benchmarks of the per-request work of a bearer check: JWT issue and
//! verify, the scope check, and the user lookup on a temporary SQLite file.
//! `cargo bench --bench micro`; each group runs for about two seconds.

use secrecy::SecretString;
use std::{hint::black_box, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use poem::http::Method;
use tollgate::{
    api::{Api, bearer::ScopeTable},
    auth::{
        jwt::{AccessClaims, AccessTokens},
        keys::{KeyRing, SigningAlg, generate},
        scopes::ScopeSet,
    },
    db,
};

const SECRET: &str = "micro-benchmark-signing-key-of-48-bytes-length!!";
const ISSUER: &str = "http://127.0.0.1:8000";

fn keys() -> AccessTokens {
    AccessTokens::new(&SecretString::from(SECRET), ISSUER, "tollgate")
}

/// A ring of one freshly generated key (HS256: the benchmark secret).
fn keys_for(alg: SigningAlg) -> AccessTokens {
    let ring = match alg {
        SigningAlg::HS256 => KeyRing::hmac(&SecretString::from(SECRET)),
        alg => {
            let record = generate(alg, 0, 0, None).expect("generates");
            KeyRing::from_records(&[record], 0, None).expect("opens")
        }
    };
    AccessTokens::from_ring(ring, ISSUER, "tollgate")
}

fn claims() -> AccessClaims {
    let now = db::now();
    AccessClaims {
        iss: ISSUER.into(),
        aud: "tollgate".into(),
        sub: "42".into(),
        exp: now + 900,
        iat: now,
        jti: "Xk2l9cQmR1vTzq0bFJ8s3w".into(),
        scope: "read:items write:items".into(),
        client_id: "tollgate".into(),
        ver: 1,
        fam: Some(7),
        sid: Some("q3Jt0pVd8sKx1mWn5bZc7g".into()),
    }
}

fn jwt(c: &mut Criterion) {
    let keys = keys();
    let claims = claims();
    let token = keys.sign(&claims).expect("signs");
    let mut group = c.benchmark_group("jwt");
    group.bench_function("issue", |b| {
        b.iter(|| keys.sign(black_box(&claims)).expect("signs"))
    });
    group.bench_function("verify", |b| {
        b.iter(|| keys.verify(black_box(&token)).expect("verifies"))
    });
    // What `AccessTokens::verify` replaced: the same checks through `jsonwebtoken::decode`.
    let key = jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&["tollgate"]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    group.bench_function("verify with jsonwebtoken::decode (reference)", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<AccessClaims>(black_box(&token), &key, &validation)
                .expect("verifies")
        })
    });
    group.finish();
}

/// Sign and verify with each algorithm, with the key ring as the server uses it.
fn algorithms(c: &mut Criterion) {
    let claims = claims();
    let mut group = c.benchmark_group("jwt by algorithm");
    for alg in SigningAlg::ALL {
        let keys = keys_for(alg);
        let token = keys.sign(&claims).expect("signs");
        group.bench_function(format!("sign {alg}"), |b| {
            b.iter(|| keys.sign(black_box(&claims)).expect("signs"))
        });
        group.bench_function(format!("verify {alg}"), |b| {
            b.iter(|| keys.verify(black_box(&token)).expect("verifies"))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("key generation");
    group.sample_size(10);
    for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
        group.bench_function(format!("generate {alg}"), |b| {
            b.iter(|| generate(black_box(alg), 0, 0, None).expect("generates"))
        });
    }
    group.finish();
}

fn scopes(c: &mut Criterion) {
    let table = ScopeTable::from_api::<Api>();
    let granted = ScopeSet::parse_lenient("read:items write:items");
    let mut group = c.benchmark_group("scopes");
    group.bench_function("parse granted scope claim", |b| {
        b.iter(|| ScopeSet::parse_lenient(black_box("read:items write:items")))
    });
    group.bench_function("table lookup and contains", |b| {
        b.iter(|| {
            let needed = table
                .needed(black_box(&Method::GET), black_box("/items"))
                .expect("declared");
            granted.contains(needed)
        })
    });
    group.finish();
}

/// The one query of every bearer check, on a file database: as the service
/// runs it (`Readers`: on the calling thread), and through sqlx's pool.
fn user_lookup(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("micro.db").display());
    let (store, readers, user_id, family_id) = runtime.block_on(async {
        let store = db::Store::open(&url, 2, false).await.expect("opens");
        let user = store
            .users()
            .create(&db::users::NewUser {
                username: "micro",
                password_hash: "$2b$04$not-a-real-hash-only-a-benchmark-row",
                email: None,
                full_name: None,
                scopes: "read:items",
            })
            .await
            .expect("user");
        let family = db::tokens::NewFamily {
            sid: "micro-session",
            user_id: user.id,
            user_version: user.token_version,
            scope: "read:items",
            client_id: "tollgate",
            expires_at: db::now() + 3600,
        };
        let family_id = store
            .tokens()
            .start_family(&family, "micro-refresh-hash", db::now())
            .await
            .expect("family")
            .expect("the user is unchanged");
        let readers = db::readers::Readers::open(&url, 1, true)
            .await
            .expect("readers");
        (store, readers, user.id, family_id)
    });
    let mut group = c.benchmark_group("user lookup");
    group.bench_function("readers (inline)", |b| {
        b.to_async(&runtime).iter(|| async {
            readers
                .auth_row(black_box(user_id), black_box(family_id))
                .await
                .expect("query")
                .expect("row")
        })
    });
    group.bench_function("auth_row through the store", |b| {
        b.to_async(&runtime).iter(|| async {
            store
                .auth_row(black_box(user_id), black_box(family_id))
                .await
                .expect("query")
                .expect("row")
        })
    });
    group.finish();
    runtime.block_on(store.close());
}

criterion_group! {
    name = micro;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = jwt, algorithms, scopes, user_lookup
}
criterion_main!(micro);
