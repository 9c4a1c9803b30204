//! The command line: `serve` (the default), `config`, `migrate`, and the
//! admin commands that work on the database directly. Each command takes
//! only the settings it uses, so its `--help` lists only those.

use std::io::{BufRead, IsTerminal};

use clap::{Parser, Subcommand};

use crate::{
    api,
    app::{App, StartError, shutdown_signal},
    auth::{
        hashes::Profile,
        kek::Kek,
        keystore,
        password::Hasher,
        scopes::ScopeSet,
        users::{self, NewAccount, UserChange, UserError},
    },
    config::{Config, ConfigArgs, DatabaseArgs},
    db::{self, Store, users::UserRow},
};

#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about = "OAuth2 password-flow token server and scoped API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default, with the settings from the environment).
    Serve(ConfigArgs),
    /// Print the effective configuration (secrets masked) and exit; non-zero
    /// with a message when a setting is invalid.
    Config(ConfigArgs),
    /// Create or migrate the database, then exit.
    Migrate(DatabaseArgs),
    /// Manage users.
    User {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// List and end sessions (logins); never shows a token.
    Sessions {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// List and rotate the asymmetric signing keys (shared by every node).
    Keys {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print the OpenAPI document.
    Openapi {
        /// YAML instead of JSON.
        #[arg(long)]
        yaml: bool,
    },
}

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

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List live sessions: login time, client id, last refresh, expiry.
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
    },
    /// End one session by id, or every session of a user.
    Revoke {
        /// The session id `sessions list` shows.
        #[arg(required_unless_present = "user", conflicts_with = "user")]
        id: Option<i64>,
        /// Every session of this user.
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys: kid, algorithm, state, and when each was created,
    /// signs and retires.
    List,
    /// Add the next key: published at once, signing once
    /// TOLLGATE_JWKS_MAX_AGE has passed, when the current key stops signing.
    /// Servers pick it up within 10 s; safe while they run.
    Rotate {
        /// Sign with the new key at once and retire the current one now: for
        /// a compromised key. Verifiers whose cached JWKS lacks the new key
        /// refuse its tokens until they refetch.
        #[arg(long)]
        now: bool,
    },
}

pub async fn run(cli: Cli) -> Result<(), StartError> {
    let command = match cli.command {
        Some(command) => command,
        // No subcommand: serve, with the settings from the environment.
        None => Command::Serve(ConfigArgs::from_env()?),
    };
    match command {
        Command::Openapi { yaml } => {
            let service = api::service();
            let spec = if yaml {
                service.spec_yaml()
            } else {
                service.spec()
            };
            println!("{spec}");
            Ok(())
        }
        Command::Config(args) => {
            let config = Config::try_from(args)?;
            for (name, value) in config.describe() {
                println!("{name}={value}");
            }
            Ok(())
        }
        Command::Serve(args) => {
            let config = Config::try_from(args)?;
            let shutdown = shutdown_signal();
            let app = App::build(config).await?;
            app.run(shutdown).await?;
            Ok(())
        }
        Command::Migrate(db) => {
            let store = Store::open(&db.database_url, 1).await?;
            store.close().await;
            eprintln!("database is up to date");
            Ok(())
        }
        Command::User { db, command } => {
            let store = Store::open(&db.database_url, 2).await?;
            let hasher = Hasher::new(db.password_profile()?, 1);
            let result = user(&store, &hasher, command).await;
            store.close().await;
            result
        }
        Command::Keys { config, command } => {
            let config = Config::try_from(config)?;
            let store = Store::open(&config.database_url, 1).await?;
            let result = keys(&store, &config, command).await;
            store.close().await;
            result
        }
        Command::Sessions { db, command } => {
            let store = Store::open(&db.database_url, 2).await?;
            let result = sessions(&store, command).await;
            store.close().await;
            result
        }
    }
}

async fn user(store: &Store, hasher: &Hasher, command: UserCommand) -> Result<(), StartError> {
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

async fn sessions(store: &Store, command: SessionsCommand) -> Result<(), StartError> {
    let now = db::now();
    match command {
        SessionsCommand::List { user } => {
            let user_id = match &user {
                Some(name) => Some(find(store, name).await?.id),
                None => None,
            };
            let sessions = store.tokens().live_sessions(user_id, now).await?;
            println!(
                "{:>6}  {:<20} {:<16} {:<20} {:<20} {:<20}",
                "id", "user", "client_id", "login", "last refresh", "expires"
            );
            for s in &sessions {
                println!(
                    "{:>6}  {:<20} {:<16} {:<20} {:<20} {:<20}",
                    s.id,
                    s.username,
                    s.client_id,
                    rfc3339(s.created_at),
                    rfc3339(s.last_refresh),
                    rfc3339(s.expires_at)
                );
            }
        }
        SessionsCommand::Revoke { id: Some(id), .. } => {
            if !store.tokens().revoke_family(id, now).await? {
                return Err(format!("no live session with id {id}").into());
            }
            println!("session {id} revoked");
        }
        SessionsCommand::Revoke {
            user: Some(name), ..
        } => {
            let user = find(store, &name).await?;
            let count = store.tokens().revoke_user_families(user.id, now).await?;
            println!("revoked {count} session(s) of {name}");
        }
        SessionsCommand::Revoke { .. } => unreachable!("clap requires an id or --user"),
    }
    Ok(())
}

async fn keys(store: &Store, config: &Config, command: KeysCommand) -> Result<(), StartError> {
    let now = db::now();
    match command {
        KeysCommand::List => {
            println!(
                "{:<44} {:<6} {:<10} {:<20} {:<20} {:<20}",
                "kid", "alg", "state", "created", "signs from", "retires"
            );
            let records = keystore::stored(store).await?;
            let signing = records
                .iter()
                .filter(|r| r.signs_at(now))
                .max_by_key(|r| (r.activates_at, r.created_at))
                .map(|r| r.kid.clone());
            for record in &records {
                let state = match record.retires_at {
                    Some(at) if at <= now => "retired",
                    _ if record.activates_at > now => "published",
                    _ if signing.as_deref() == Some(record.kid.as_str()) => "signing",
                    _ => "superseded",
                };
                println!(
                    "{:<44} {:<6} {:<10} {:<20} {:<20} {:<20}",
                    record.kid,
                    record.alg,
                    state,
                    rfc3339(record.created_at),
                    rfc3339(record.activates_at),
                    record.retires_at.map(rfc3339).unwrap_or_default()
                );
            }
        }
        KeysCommand::Rotate { now: at_once } => {
            if !config.jwt_alg.is_asymmetric() {
                return Err(
                    "TOLLGATE_JWT_ALG is HS256, which uses a shared secret and no stored keys: \
                     to rotate it, change TOLLGATE_JWT_SECRET"
                        .into(),
                );
            }
            let kek = config
                .key_encryption_key
                .as_ref()
                .map(Kek::new)
                .transpose()?;
            let wait = if at_once {
                std::time::Duration::ZERO
            } else {
                config.jwks_max_age
            };
            let record = keystore::rotate(store, config.jwt_alg, kek.as_ref(), wait).await?;
            println!(
                "added {} key {}: published now, signs from {}{}",
                record.alg,
                record.kid,
                rfc3339(record.activates_at),
                if at_once {
                    " (the previous key signs no more)"
                } else {
                    ""
                }
            );
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

async fn find(store: &Store, name: &str) -> Result<UserRow, StartError> {
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

fn rfc3339(secs: i64) -> String {
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
