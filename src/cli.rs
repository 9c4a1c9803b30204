//! The command line: `serve` (the default) and the admin commands that work
//! on the database directly.

use std::io::{BufRead, IsTerminal};

use clap::{Parser, Subcommand};

use crate::{
    api,
    app::{App, AppState, StartError, shutdown_signal},
    auth::{password, scopes::ScopeSet},
    config::{Config, ConfigArgs},
    db::{self, users::Change},
    validate,
};

#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about = "OAuth2 password-flow token server and scoped API"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Create or migrate the database, then exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
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
    List,
    /// Replace a user's scopes (ends their tokens).
    SetScopes { name: String, scopes: String },
    /// Disable a user (ends their tokens).
    Disable { name: String },
}

pub async fn run(cli: Cli) -> Result<(), StartError> {
    match cli.command {
        Some(Command::Openapi { yaml }) => {
            let service = api::service();
            println!(
                "{}",
                if yaml {
                    service.spec_yaml()
                } else {
                    service.spec()
                }
            );
            Ok(())
        }
        command => {
            let config = Config::try_from(cli.config)?;
            match command {
                None | Some(Command::Serve) => {
                    let shutdown = shutdown_signal();
                    let app = App::build(config).await?;
                    app.run(shutdown).await?;
                    Ok(())
                }
                Some(Command::Migrate) => {
                    AppState::open(config).await?;
                    eprintln!("database is up to date");
                    Ok(())
                }
                Some(Command::User(command)) => user(AppState::open(config).await?, command).await,
                Some(Command::Openapi { .. }) => unreachable!("handled above"),
            }
        }
    }
}

async fn user(state: AppState, command: UserCommand) -> Result<(), StartError> {
    let pool = &state.pool;
    match command {
        UserCommand::Add {
            name,
            scopes,
            password_stdin,
        } => {
            validate::username(&name)?;
            let scopes = ScopeSet::parse(&scopes).map_err(|e| e.0)?;
            let password = read_password(password_stdin)?;
            password::validate(&password, Some(&name))?;
            let hash = state.hasher.hash(&password).await?;
            let new = db::users::NewUser {
                username: &name,
                password_hash: &hash,
                email: None,
                full_name: None,
                scopes: &scopes.to_string(),
            };
            let user = db::users::create(pool, &new)
                .await
                .map_err(|err| match err {
                    db::DbError::Conflict => format!("the username `{name}` is taken").into(),
                    other => StartError::from(other),
                })?;
            println!(
                "created user {} (id {}) with scopes [{}]",
                user.username, user.id, user.scopes
            );
        }
        UserCommand::List => {
            let mut after = 0;
            println!("{:>6}  {:<24} {:<9} scopes", "id", "username", "status");
            loop {
                let page = db::users::list(pool, after, 200).await?;
                let Some(last) = page.last() else { break };
                after = last.id;
                for u in &page {
                    let status = if u.disabled { "disabled" } else { "enabled" };
                    println!("{:>6}  {:<24} {:<9} {}", u.id, u.username, status, u.scopes);
                }
            }
        }
        UserCommand::SetScopes { name, scopes } => {
            let scopes = ScopeSet::parse(&scopes).map_err(|e| e.0)?;
            let patch = db::users::UserPatch {
                scopes: Some(scopes.to_string()),
                ..Default::default()
            };
            change(&state, &name, patch).await?;
            println!("{name} now holds [{scopes}]");
        }
        UserCommand::Disable { name } => {
            let patch = db::users::UserPatch {
                disabled: Some(true),
                ..Default::default()
            };
            change(&state, &name, patch).await?;
            println!("{name} is disabled");
        }
    }
    Ok(())
}

async fn change(
    state: &AppState,
    name: &str,
    patch: db::users::UserPatch,
) -> Result<(), StartError> {
    let user = db::users::get_by_username(&state.pool, name)
        .await?
        .ok_or_else(|| format!("no user named `{name}`"))?;
    match db::users::update(&state.pool, user.id, &patch).await? {
        Change::Done(_) => Ok(()),
        Change::NotFound => Err(format!("no user named `{name}`").into()),
        Change::LastAdmin => {
            Err("refused: that would leave no enabled user holding `admin`".into())
        }
    }
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
