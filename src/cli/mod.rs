//! The command line: `serve` (the default), `config`, `migrate`, and the
//! admin commands that work on the database directly. Each command takes
//! only the settings it uses, so its `--help` lists only those.

mod clients;
mod events;
mod keys;
mod sessions;
mod users;

use clap::{ArgMatches, Parser, Subcommand};

use crate::{
    api,
    app::{App, StartError, shutdown_signal},
    auth::password::Hasher,
    config::{Config, ConfigArgs, DatabaseArgs, KeysArgs, KeysConfig, LogArgs, PasswordArgs},
    db::Store,
};
pub use clients::ClientCommand;
pub use events::EventsCommand;
pub use keys::KeysCommand;
pub use sessions::SessionsCommand;
pub use users::UserCommand;

#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about = "OAuth2 password-flow token server and scoped API"
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,

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
        #[command(flatten)]
        password: PasswordArgs,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage registered OAuth2 clients.
    Client {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// List and end sessions (logins); never shows a token.
    Sessions {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// List the recent revocation events (one per ended session).
    Events {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// List, rotate, revoke and reseal the asymmetric signing keys (shared by
    /// every node).
    Keys {
        #[command(flatten)]
        keys: KeysArgs,
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

/// Runs the command `cli`, parsed from `matches` (whose settings `tollgate
/// config` and the start-up line show as given).
pub async fn run(cli: Cli, matches: &ArgMatches) -> Result<(), StartError> {
    let settings = |name: &str| {
        let given = matches.subcommand_matches(name);
        given.map_or_else(Config::from_env, Config::from_matches)
    };
    if let Some((_, given)) = matches.subcommand() {
        crate::config::warn_about_flags(given);
    }
    let Some(command) = cli.command else {
        // No subcommand: serve, with the settings from the environment.
        return serve(Config::from_env()?).await;
    };
    match command {
        Command::Openapi { yaml } => {
            let spec = if yaml {
                api::docs::spec_yaml()
            } else {
                api::docs::spec()
            };
            println!("{spec}");
            Ok(())
        }
        Command::Config(_) => {
            let config = settings("config")?;
            for (name, value) in config.describe() {
                println!("{name}={value}");
            }
            Ok(())
        }
        Command::Serve(_) => serve(settings("serve")?).await,
        Command::Migrate(db) => {
            let store = Store::open(&db.url()?, 1, false).await?;
            store.close().await;
            eprintln!("database is up to date");
            Ok(())
        }
        Command::User {
            db,
            password,
            command,
        } => {
            let hasher = Hasher::new(password.password_profile()?, 1);
            let store = Store::open(&db.url()?, 2, false).await?;
            let result = users::user(&store, &hasher, command).await;
            store.close().await;
            result
        }
        Command::Keys { command, .. } => {
            let given = matches
                .subcommand_matches("keys")
                .expect("the keys command");
            let config = KeysConfig::from_matches(given)?;
            let store = Store::open(&config.database_url, 1, false).await?;
            let result = keys::keys(&store, &config.signing, command).await;
            store.close().await;
            result.map_err(|err| crate::config::name_as_given(&err.to_string(), given).into())
        }
        Command::Events { db, command } => {
            let store = Store::open(&db.url()?, 1, false).await?;
            let result = events::events(&store, command).await;
            store.close().await;
            result
        }
        Command::Client { db, command } => {
            let store = Store::open(&db.url()?, 2, false).await?;
            let result = clients::client(&store, command).await;
            store.close().await;
            result
        }
        Command::Sessions { db, command } => {
            let store = Store::open(&db.url()?, 2, false).await?;
            let result = sessions::sessions(&store, command).await;
            store.close().await;
            result
        }
    }
}

async fn serve(config: Config) -> Result<(), StartError> {
    let shutdown = shutdown_signal();
    let app = App::build(config).await?;
    app.run(shutdown).await?;
    Ok(())
}
