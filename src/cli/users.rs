//! `tollgate user`: accounts, managed on the database directly.

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;

use crate::{
    app::StartError,
    auth::{
        hashes::Profile,
        password::Hasher,
        scopes::ScopeSet,
        users::{self, NewAccount, UserChange, UserError},
    },
    db::{Store, users::UserRow},
};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; prompts for the password (without echo on a terminal).
    Add {
        name: String,
        /// Space-delimited scopes, e.g. "read:items write:items"; none by default.
        #[arg(long, default_value = "")]
        scopes: String,
        /// Read the password as one line from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one user, with the algorithm of their password hash (never the hash).
    Show { name: String },
    /// Replace a user's scopes (ends their sessions).
    SetScopes { name: String, scopes: String },
    /// Grant scopes on top of those a user holds, e.g. the scopes of a new
    /// resource (ends their sessions if it adds any, as any change of scopes
    /// does; the next login carries them).
    AddScopes {
        name: String,
        /// Space-delimited scopes, e.g. "read:notes write:notes".
        scopes: String,
    },
    /// Set a user's password (ends their sessions); prompts for it.
    SetPassword {
        name: String,
        /// Read the password as one line from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user (ends their sessions).
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
    /// Delete a user with their items and sessions.
    Delete { name: String },
}

pub(super) async fn user(
    store: &Store,
    hasher: &Hasher,
    command: UserCommand,
) -> Result<(), StartError> {
    match command {
        UserCommand::Add {
            name,
            scopes,
            password_stdin,
        } => {
            crate::validate::username(&name)?;
            let scopes = ScopeSet::parse(&scopes).map_err(|e| e.0)?;
            let password = read_password(password_stdin)?;
            let new = NewAccount {
                username: &name,
                password: &password,
                email: None,
                full_name: None,
                scopes,
            };
            let user = users::create(store, hasher, &new)
                .await
                .map_err(|err| named(err, &name))?;
            println!(
                "created user {} (id {}) with scopes [{}]",
                user.username, user.id, user.scopes
            );
        }
        UserCommand::List { json } => {
            let all = all_users(store).await?;
            if json {
                let values: Vec<serde_json::Value> = all.iter().map(user_json).collect();
                println!("{}", serde_json::to_string_pretty(&values)?);
            } else {
                println!("{:>6}  {:<24} {:<9} scopes", "id", "username", "status");
                for u in &all {
                    println!(
                        "{:>6}  {:<24} {:<9} {}",
                        u.id,
                        u.username,
                        status(u),
                        u.scopes
                    );
                }
            }
        }
        UserCommand::Show { name } => {
            let user = find(store, &name).await?;
            let mut shown = user_json(&user);
            // Which algorithm, never the hash itself.
            let hash = store.users().password_hash(user.id).await?;
            let algorithm = match hash.as_deref().map(Profile::of) {
                Some(Ok(profile)) => profile.algorithm(),
                Some(Err(_)) => "unknown",
                None => "none",
            };
            shown["password_hash_algorithm"] = algorithm.into();
            println!("{}", serde_json::to_string_pretty(&shown)?);
        }
        UserCommand::SetScopes { name, scopes } => {
            let scopes = ScopeSet::parse(&scopes).map_err(|e| e.0)?;
            let change = UserChange {
                scopes: Some(scopes),
                ..UserChange::default()
            };
            apply(store, hasher, &name, change).await?;
            println!("{name} now holds [{scopes}]");
        }
        UserCommand::AddScopes { name, scopes } => {
            let added = ScopeSet::parse(&scopes).map_err(|e| e.0)?;
            let user = find(store, &name).await?;
            let held = ScopeSet::parse_lenient(&user.scopes);
            if held.contains(added) {
                println!("{name} already holds [{added}]; nothing changed");
                return Ok(());
            }
            let scopes = held.union(added);
            let change = UserChange {
                scopes: Some(scopes),
                ..UserChange::default()
            };
            apply(store, hasher, &user.username, change).await?;
            println!("{name} now holds [{scopes}]");
        }
        UserCommand::SetPassword {
            name,
            password_stdin,
        } => {
            let user = find(store, &name).await?;
            let password = read_password(password_stdin)?;
            let change = UserChange {
                password: Some(password),
                ..UserChange::default()
            };
            apply(store, hasher, &user.username, change).await?;
            println!("{name} has a new password; their sessions have ended");
        }
        UserCommand::Disable { name } => {
            let change = UserChange {
                disabled: Some(true),
                ..UserChange::default()
            };
            apply(store, hasher, &name, change).await?;
            println!("{name} is disabled");
        }
        UserCommand::Enable { name } => {
            let change = UserChange {
                disabled: Some(false),
                ..UserChange::default()
            };
            apply(store, hasher, &name, change).await?;
            println!("{name} is enabled");
        }
        UserCommand::Delete { name } => {
            let user = find(store, &name).await?;
            users::delete(store, user.id)
                .await
                .map_err(|err| named(err, &name))?;
            println!("deleted {name} with their items and sessions");
        }
    }
    Ok(())
}

async fn all_users(store: &Store) -> Result<Vec<UserRow>, StartError> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |u: &UserRow| u.id);
        let page = store.users().list(after, 200).await?;
        let done = page.len() < 200;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

pub(super) async fn find(store: &Store, name: &str) -> Result<UserRow, StartError> {
    store
        .users()
        .get_by_username(name)
        .await?
        .ok_or_else(|| format!("no user named `{name}`").into())
}

async fn apply(
    store: &Store,
    hasher: &Hasher,
    name: &str,
    change: UserChange,
) -> Result<(), StartError> {
    let user = find(store, name).await?;
    users::change(store, hasher, user.id, change)
        .await
        .map_err(|err| named(err, name))?;
    Ok(())
}

/// The API's messages, with the username where it helps.
fn named(err: UserError, name: &str) -> StartError {
    match err {
        UserError::UsernameTaken => format!("the username `{name}` is taken").into(),
        UserError::NotFound => format!("no user named `{name}`").into(),
        UserError::LastAdmin => format!("refused: {err}").into(),
        other => other.into(),
    }
}

fn status(user: &UserRow) -> &'static str {
    if user.disabled { "disabled" } else { "enabled" }
}

fn user_json(user: &UserRow) -> serde_json::Value {
    serde_json::json!({
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "full_name": user.full_name,
        "scopes": ScopeSet::parse_lenient(&user.scopes).names(),
        "disabled": user.disabled,
        "created_at": rfc3339(user.created_at),
    })
}

pub(super) fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn read_password(from_stdin: bool) -> Result<String, StartError> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let trimmed = line.strip_suffix('\n').unwrap_or(&line);
        return Ok(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned());
    }
    let first = rpassword::prompt_password("password: ")?;
    let again = rpassword::prompt_password("again: ")?;
    if first != again {
        return Err("the two passwords differ".into());
    }
    Ok(first)
}
