//! The grant rules on a real store, without HTTP.

use std::time::Duration;

use secrecy::SecretString;

use super::*;
use crate::auth::{
    Policy,
    keys::SigningAlg,
    keystore::{KeySource, LiveKeys},
    password::Hasher,
    scopes::Scope,
    throttle::ThrottleConfig,
    users,
    users::NewAccount,
};

const PASSWORD: &str = "correct horse battery";

/// A context on a fresh SQLite file, with `ann` holding `read:items`.
async fn context(dir: &tempfile::TempDir) -> AuthContext {
    let url = format!("sqlite://{}", dir.path().join("g.db").display());
    let store = crate::db::Store::open(&url, 2, true).await.unwrap();
    let keys = LiveKeys::open(
        &store,
        KeySource {
            alg: SigningAlg::HS256,
            secret: Some(SecretString::from("k".repeat(32))),
            kek: None,
            issuer: "http://tollgate.test".into(),
            audience: "tollgate".into(),
        },
    )
    .await
    .unwrap();
    let hasher = Hasher::bcrypt(4, 2);
    let account = NewAccount {
        username: "ann",
        password: PASSWORD,
        email: None,
        full_name: None,
        scopes: ScopeSet::EMPTY.with(Scope::ReadItems),
    };
    users::create(&store, &hasher, &account).await.unwrap();
    AuthContext {
        store,
        keys,
        hasher,
        policy: Policy {
            access_ttl: Duration::from_secs(60),
            refresh_ttl: Duration::from_secs(600),
            throttle: ThrottleConfig {
                user_limit: 3,
                account_limit: 100,
                addr_limit: 100,
                max_delay: Duration::from_secs(60),
                window: Duration::from_secs(3600),
            },
            public_client: true,
        },
    }
}

/// The built-in public client, as the token endpoint uses it.
static BUILTIN: std::sync::LazyLock<Client> = std::sync::LazyLock::new(Client::builtin);

fn login<'a>(password: &'a str, scope: Option<&'a str>) -> PasswordLogin<'a> {
    PasswordLogin {
        username: "ann",
        password,
        scope,
        client: &BUILTIN,
        addr: Some("192.0.2.1".parse().unwrap()),
    }
}

#[tokio::test]
async fn a_login_grants_what_the_user_holds_and_never_more() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(&dir).await;
    let issued = password(&ctx, login(PASSWORD, None)).await.unwrap();
    assert_eq!(issued.scope.to_string(), "read:items");
    let claims = ctx.keys.verify(&issued.access_token).unwrap();
    assert_eq!(claims.client_id, "tollgate");
    assert!(matches!(
        password(&ctx, login(PASSWORD, Some("admin"))).await,
        Err(GrantError::InvalidScope(_))
    ));
    assert!(matches!(
        password(&ctx, login(PASSWORD, Some("no-such-scope"))).await,
        Err(GrantError::InvalidScope(_))
    ));
    let unknown = PasswordLogin {
        username: "nobody",
        ..login(PASSWORD, None)
    };
    assert!(matches!(
        password(&ctx, unknown).await,
        Err(GrantError::InvalidGrant)
    ));
}

#[tokio::test]
async fn repeated_failures_are_refused_even_with_the_right_password() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(&dir).await;
    for _ in 0..3 {
        assert!(matches!(
            password(&ctx, login("wrong password", None)).await,
            Err(GrantError::InvalidGrant)
        ));
    }
    assert!(matches!(
        password(&ctx, login(PASSWORD, None)).await,
        Err(GrantError::TooManyAttempts { .. })
    ));
}

#[tokio::test]
async fn a_refresh_rotates_once_and_a_reuse_ends_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(&dir).await;
    let first = password(&ctx, login(PASSWORD, None)).await.unwrap();
    let second = refresh(
        &ctx,
        first.refresh_token.as_deref().unwrap(),
        None,
        &BUILTIN,
    )
    .await
    .unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert!(matches!(
        refresh(
            &ctx,
            second.refresh_token.as_deref().unwrap(),
            Some("admin"),
            &BUILTIN
        )
        .await,
        Err(GrantError::InvalidScope(_))
    ));
    assert!(
        introspect(&ctx, &second.access_token)
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        refresh(
            &ctx,
            first.refresh_token.as_deref().unwrap(),
            None,
            &BUILTIN
        )
        .await,
        Err(GrantError::Reused)
    ));
    // The reuse revoked the whole session: the newer tokens are dead too.
    assert!(matches!(
        refresh(
            &ctx,
            second.refresh_token.as_deref().unwrap(),
            None,
            &BUILTIN
        )
        .await,
        Err(GrantError::Reused | GrantError::InvalidGrant)
    ));
    assert!(
        introspect(&ctx, &second.access_token)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        refresh(&ctx, "garbage", None, &BUILTIN).await,
        Err(GrantError::InvalidGrant)
    ));
}

#[tokio::test]
async fn revoking_either_token_ends_the_session_once() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(&dir).await;
    let issued = password(&ctx, login(PASSWORD, None)).await.unwrap();
    // Only the client it was issued to may revoke it (RFC 7009 §2.1).
    assert!(!revoke(&ctx, &issued.access_token, "other").await.unwrap());
    assert!(
        revoke(&ctx, &issued.access_token, "tollgate")
            .await
            .unwrap()
    );
    assert!(
        !revoke(&ctx, issued.refresh_token.as_deref().unwrap(), "tollgate")
            .await
            .unwrap(),
        "already ended"
    );
    assert!(!revoke(&ctx, "garbage", "tollgate").await.unwrap());
    assert!(
        introspect(&ctx, &issued.access_token)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        introspect(&ctx, issued.refresh_token.as_deref().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let other = password(&ctx, login(PASSWORD, None)).await.unwrap();
    assert!(
        revoke(&ctx, other.refresh_token.as_deref().unwrap(), "tollgate")
            .await
            .unwrap()
    );
    assert!(
        introspect(&ctx, &other.access_token)
            .await
            .unwrap()
            .is_none()
    );
}
