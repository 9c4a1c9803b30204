//! The rules of user accounts, for the API, the command line and the first
//! start alike: creating a user (written once, here), changing one (which
//! changes end sessions), deleting one, and the last-admin rule.

use crate::{
    auth::{
        password::{self, HashError, Hasher},
        scopes::{Scope, ScopeSet},
    },
    db::{
        self, DbError, Store,
        events::{Ending, Reason},
        users::{NewUser, USERS_LOCK, UserRow, UserValues},
    },
    validate,
};

/// Why a user could not be created, changed or deleted.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A field breaks its rule; `reason` never quotes the value.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("that username is taken")]
    UsernameTaken,
    #[error("no such user")]
    NotFound,
    /// The change would leave no enabled user holding `admin`.
    #[error("that would leave no enabled user holding `admin`")]
    LastAdmin,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

fn check(field: &'static str, rule: Result<(), String>) -> Result<(), UserError> {
    rule.map_err(|reason| UserError::Invalid { field, reason })
}

/// A user to create.
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub email: Option<&'a str>,
    pub full_name: Option<&'a str>,
    pub scopes: ScopeSet,
}

/// Validates, hashes and inserts a user.
pub async fn create(
    store: &Store,
    hasher: &Hasher,
    new: &NewAccount<'_>,
) -> Result<UserRow, UserError> {
    check("username", validate::username(new.username))?;
    check(
        "password",
        password::validate(new.password, Some(new.username)),
    )?;
    if let Some(email) = new.email {
        check("email", validate::email(email))?;
    }
    let hash = hasher.hash(new.password).await?;
    let row = NewUser {
        username: new.username,
        password_hash: &hash,
        email: new.email,
        full_name: new.full_name,
        scopes: &new.scopes.to_string(),
    };
    store.users().create(&row).await.map_err(|err| match err {
        DbError::Conflict => UserError::UsernameTaken,
        other => other.into(),
    })
}

/// On a database with no users at all, creates `admin` with every scope and
/// a random password, and returns that password (to be shown once).
/// Several processes starting at once create one admin between them.
pub async fn create_first_admin(
    store: &Store,
    hasher: &Hasher,
) -> Result<Option<String>, UserError> {
    if store.users().count().await? > 0 {
        return Ok(None);
    }
    let password = crate::auth::random_token(18);
    let hash = hasher.hash(&password).await?;
    let admin = NewUser {
        username: "admin",
        password_hash: &hash,
        email: None,
        full_name: None,
        scopes: &ScopeSet::all().to_string(),
    };
    match store.users().create_if_none(&admin).await {
        Ok(Some(_)) => Ok(Some(password)),
        Ok(None) | Err(DbError::Conflict) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// A partial change; `None` leaves a field as it is. No `Debug`: it may
/// carry a password.
#[derive(Default)]
pub struct UserChange {
    pub email: Option<Option<String>>,
    pub full_name: Option<Option<String>>,
    pub scopes: Option<ScopeSet>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
}

impl UserChange {
    /// The names of the fields this change sets, for the security log.
    pub fn fields(&self) -> Vec<&'static str> {
        [
            ("email", self.email.is_some()),
            ("full_name", self.full_name.is_some()),
            ("scopes", self.scopes.is_some()),
            ("disabled", self.disabled.is_some()),
            ("password", self.password.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// Whether a user with these scopes counts as an administrator.
pub fn holds_admin(scopes: &str) -> bool {
    ScopeSet::parse_lenient(scopes).has(Scope::Admin)
}

/// Whether going from `before` to `after` ends the user's sessions: a change
/// of scopes, of the disabled flag, or a new password does; a change of
/// email or full name does not, nor setting what is already set.
pub fn ends_sessions(before: &UserRow, after: &UserValues) -> bool {
    ScopeSet::parse_lenient(&before.scopes) != ScopeSet::parse_lenient(&after.scopes)
        || before.disabled != after.disabled
        || after.password_hash.is_some()
}

/// Applies `change` to user `id`. Refused as [`UserError::LastAdmin`] when
/// it would leave no enabled user holding `admin`. Concurrent changes run one
/// after the other (one write transaction named [`USERS_LOCK`]), so two
/// requests that would each remove the last admin leave one.
pub async fn change(
    store: &Store,
    hasher: &Hasher,
    id: i64,
    change: UserChange,
) -> Result<UserRow, UserError> {
    if let Some(Some(email)) = &change.email {
        check("email", validate::email(email))?;
    }
    let password_hash = match &change.password {
        Some(new) => {
            // The username never changes, so it can be read before the
            // transaction: hashing inside it would hold the lock for a hash.
            let user = store.users().get(id).await?.ok_or(UserError::NotFound)?;
            check("password", password::validate(new, Some(&user.username)))?;
            Some(hasher.hash(new).await?)
        }
        None => None,
    };
    let mut tx = store.begin_write(&[USERS_LOCK]).await?;
    let before = tx.user_for_update(id).await?.ok_or(UserError::NotFound)?;
    let mut after = UserValues {
        email: change.email.unwrap_or_else(|| before.email.clone()),
        full_name: change.full_name.unwrap_or_else(|| before.full_name.clone()),
        scopes: change
            .scopes
            .map_or_else(|| before.scopes.clone(), |s| s.to_string()),
        disabled: change.disabled.unwrap_or(before.disabled),
        password_hash,
        token_version: before.token_version,
    };
    let ending = ends_sessions(&before, &after);
    if ending {
        after.token_version += 1;
    }
    let was_admin = !before.disabled && holds_admin(&before.scopes);
    let stays_admin = !after.disabled && holds_admin(&after.scopes);
    if was_admin && !stays_admin && !tx.any_other_enabled_user(id, holds_admin).await? {
        return Err(UserError::LastAdmin);
    }
    let row = tx.write_user(id, &after).await?;
    if ending {
        tx.end_sessions(Ending::User(id), Reason::UserChanged, db::now())
            .await?;
    }
    tx.commit().await?;
    Ok(row)
}

/// Deletes user `id` with its items and sessions, unless it is the last
/// enabled admin.
pub async fn delete(store: &Store, id: i64) -> Result<UserRow, UserError> {
    let mut tx = store.begin_write(&[USERS_LOCK]).await?;
    let user = tx.user_for_update(id).await?.ok_or(UserError::NotFound)?;
    if !user.disabled
        && holds_admin(&user.scopes)
        && !tx.any_other_enabled_user(id, holds_admin).await?
    {
        return Err(UserError::LastAdmin);
    }
    // Before the cascade deletes the families: each live one gets its event.
    tx.end_sessions(Ending::User(id), Reason::UserDeleted, db::now())
        .await?;
    tx.delete_user(id).await?;
    tx.commit().await?;
    Ok(user)
}

/// Logout-all: every token of user `id` stops working (its version moves)
/// and each live session ends with its event, in one transaction. `false`
/// when there is no such user.
pub async fn logout_all(store: &Store, id: i64) -> Result<bool, DbError> {
    let mut tx = store.begin_write(&[]).await?;
    if !tx.bump_version(id).await? {
        return Ok(false);
    }
    tx.end_sessions(Ending::User(id), Reason::LogoutAll, db::now())
        .await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scopes: &str, disabled: bool) -> UserRow {
        UserRow {
            id: 1,
            username: "u".into(),
            email: None,
            full_name: None,
            scopes: scopes.into(),
            disabled,
            token_version: 1,
            created_at: 0,
        }
    }

    fn values(scopes: &str, disabled: bool, password: bool) -> UserValues {
        UserValues {
            email: Some("new@example.test".into()),
            full_name: None,
            scopes: scopes.into(),
            disabled,
            password_hash: password.then(|| "h".into()),
            token_version: 1,
        }
    }

    #[test]
    fn scope_disabled_and_password_changes_end_sessions_and_nothing_else_does() {
        let before = row("read:items admin", false);
        assert!(!ends_sessions(
            &before,
            &values("admin read:items", false, false)
        ));
        assert!(ends_sessions(&before, &values("read:items", false, false)));
        assert!(ends_sessions(
            &before,
            &values("read:items admin", true, false)
        ));
        assert!(ends_sessions(
            &before,
            &values("read:items admin", false, true)
        ));
    }

    #[test]
    fn admin_means_holding_the_admin_scope() {
        assert!(holds_admin("read:items admin"));
        assert!(!holds_admin("read:items"));
        assert!(!holds_admin("administrator"));
    }
}
