//! What the storage tests start from.

use super::{Store, tokens::NewFamily, users::NewUser, users::UserRow};

/// A user (`reader`, with `email`) and one live session (family) of theirs.
pub async fn user_with_session(store: &Store, email: &str) -> (UserRow, i64) {
    let user = store
        .users()
        .create(&NewUser {
            username: "reader",
            password_hash: "x",
            email: Some(email),
            full_name: None,
            scopes: "read:items",
        })
        .await
        .unwrap();
    let family = NewFamily {
        sid: "s",
        user_id: user.id,
        user_version: user.token_version,
        scope: "read:items",
        client_id: "t",
        expires_at: super::now() + 60,
    };
    let fam = store
        .tokens()
        .start_family(&family, "h", 0)
        .await
        .unwrap()
        .unwrap();
    (user, fam)
}
