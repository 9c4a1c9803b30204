//! `tollgate client`: registered OAuth2 clients, managed on the database
//! directly.

use clap::Subcommand;
use secrecy::ExposeSecret;

use crate::{
    app::StartError,
    auth::{
        clients::{
            self, AuthMethod, Client, ClientChange, ClientError, ClientSpec, ClientType,
            parse_grants,
        },
        scopes::ScopeSet,
    },
    db::{Store, clients::ClientRow},
};

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A secret, for the secret methods, is printed once,
    /// alone on the last line of standard output.
    Add {
        /// 3 to 64 of `A-Z a-z 0-9 . _ -`, not all digits.
        id: String,
        /// A name for people (the admin API and `client list` show it);
        /// up to 128 characters. Default: empty.
        #[arg(long)]
        name: Option<String>,
        /// Space-delimited grant types: password, refresh_token,
        /// client_credentials. Default: client_credentials (confidential),
        /// password refresh_token (public).
        #[arg(long)]
        grants: Option<String>,
        /// Space-delimited scopes the client's tokens may carry; none by default.
        #[arg(long, default_value = "")]
        scopes: String,
        /// A public client (method `none`, no secret).
        #[arg(long)]
        public: bool,
        /// client_secret_basic (default), client_secret_post, private_key_jwt or none.
        #[arg(long)]
        auth_method: Option<String>,
        /// For private_key_jwt: a file holding the client's public keys as an
        /// RFC 7517 JWK Set.
        #[arg(long)]
        jwks_file: Option<std::path::PathBuf>,
    },
    /// List clients (never a secret).
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show { id: String },
    /// Give a client a new secret, printed once on the last line; the old
    /// one and the client's own tokens stop working.
    RotateSecret { id: String },
    /// Disable a client (ends the sessions obtained through it).
    Disable { id: String },
    /// Enable a disabled client.
    Enable { id: String },
    /// Delete a client (ends the sessions obtained through it).
    Delete { id: String },
}

pub(super) async fn client(store: &Store, command: ClientCommand) -> Result<(), StartError> {
    match command {
        ClientCommand::Add {
            id,
            name,
            grants,
            scopes,
            public,
            auth_method,
            jwks_file,
        } => {
            let method = auth_method
                .map(|m| AuthMethod::parse(&m).ok_or(format!("unknown auth method `{m}`")))
                .transpose()?;
            let client_type = public.then_some(ClientType::Public);
            let is_public = public || method == Some(AuthMethod::None);
            let grants = match grants {
                Some(grants) => parse_grants(&grants)?,
                None if is_public => parse_grants("password refresh_token")?,
                None => parse_grants("client_credentials")?,
            };
            let jwks = jwks_file.map(std::fs::read_to_string).transpose()?;
            let spec = ClientSpec {
                client_id: &id,
                name: name.as_deref(),
                client_type,
                method,
                grants,
                scopes: ScopeSet::parse(&scopes).map_err(|e| e.0)?,
                jwks,
            };
            let (row, secret) = clients::register(store, spec)
                .await
                .map_err(|err| named(err, &id))?;
            println!(
                "registered client {} ({}, {}) with grants [{}] and scopes [{}]",
                row.client_id, row.client_type, row.auth_method, row.grant_types, row.scopes
            );
            if let Some(secret) = secret {
                println!("client secret (shown once; stored only as a hash):");
                println!("{}", secret.expose_secret());
            }
        }
        ClientCommand::List { json } => {
            let all = all_clients(store).await?;
            if json {
                let values: Vec<serde_json::Value> = all.iter().map(client_json).collect();
                println!("{}", serde_json::to_string_pretty(&values)?);
            } else {
                println!(
                    "{:<24} {:<12} {:<20} {:<9} {:<40} scopes",
                    "client_id", "type", "auth method", "status", "grants"
                );
                for c in &all {
                    println!(
                        "{:<24} {:<12} {:<20} {:<9} {:<40} {}",
                        c.client_id,
                        c.client_type,
                        c.auth_method,
                        if c.disabled { "disabled" } else { "enabled" },
                        c.grant_types,
                        c.scopes
                    );
                }
            }
        }
        ClientCommand::Show { id } => {
            let row = store
                .clients()
                .get(&id)
                .await?
                .ok_or_else(|| format!("no client `{id}`"))?;
            println!("{}", serde_json::to_string_pretty(&client_json(&row))?);
        }
        ClientCommand::RotateSecret { id } => {
            let secret = clients::rotate_secret(store, &id)
                .await
                .map_err(|err| named(err, &id))?;
            println!("new client secret for {id} (shown once; the old one no longer works):");
            println!("{}", secret.expose_secret());
        }
        ClientCommand::Disable { id } => {
            set_disabled(store, &id, true).await?;
            println!("client {id} disabled; its sessions have ended");
        }
        ClientCommand::Enable { id } => {
            set_disabled(store, &id, false).await?;
            println!("client {id} enabled");
        }
        ClientCommand::Delete { id } => {
            clients::delete(store, &id)
                .await
                .map_err(|err| named(err, &id))?;
            println!("client {id} deleted; its sessions have ended");
        }
    }
    Ok(())
}

async fn set_disabled(store: &Store, id: &str, disabled: bool) -> Result<(), StartError> {
    let change = ClientChange {
        disabled: Some(disabled),
        ..ClientChange::default()
    };
    clients::change(store, id, change)
        .await
        .map_err(|err| named(err, id))?;
    Ok(())
}

fn named(err: ClientError, id: &str) -> StartError {
    match err {
        ClientError::NotFound => format!("no client `{id}`").into(),
        ClientError::Taken => format!("a client `{id}` exists already").into(),
        other => other.to_string().into(),
    }
}

async fn all_clients(store: &Store) -> Result<Vec<ClientRow>, StartError> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = store.clients().list(after, 500).await?;
        let Some(last) = page.last() else {
            return Ok(all);
        };
        after = last.id;
        all.extend(page);
    }
}

/// A client as the CLI prints it: the API's fields, never the secret's hash.
fn client_json(row: &ClientRow) -> serde_json::Value {
    let client = Client::from_row(row.clone());
    let jwks = row
        .jwks
        .as_deref()
        .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok());
    serde_json::json!({
        "client_id": client.client_id,
        "name": row.name,
        "type": client.client_type.as_str(),
        "token_endpoint_auth_method": client.method.as_str(),
        "grant_types": client.grants.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scopes": client.scopes.names(),
        "jwks": jwks,
        "disabled": client.disabled,
        "created_at": humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(row.created_at.max(0) as u64)
        ).to_string(),
    })
}
