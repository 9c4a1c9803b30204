//! `tollgate sessions`: list and end logins; never shows a token.

use clap::Subcommand;

use super::users::{find, rfc3339};
use crate::{
    app::StartError,
    db::{
        self, Store,
        events::{Ending, Reason},
    },
};

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

pub(super) async fn sessions(store: &Store, command: SessionsCommand) -> Result<(), StartError> {
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
                    printable(&s.client_id),
                    rfc3339(s.created_at),
                    rfc3339(s.last_refresh),
                    rfc3339(s.expires_at)
                );
            }
        }
        SessionsCommand::Revoke { id: Some(id), .. } => {
            if store
                .end_sessions(Ending::Family(id), Reason::Revoked, now)
                .await?
                == 0
            {
                return Err(format!("no live session with id {id}").into());
            }
            println!("session {id} revoked");
        }
        SessionsCommand::Revoke {
            user: Some(name), ..
        } => {
            let user = find(store, &name).await?;
            let count = store
                .end_sessions(Ending::User(user.id), Reason::Revoked, now)
                .await?;
            println!("revoked {count} session(s) of {name}");
        }
        SessionsCommand::Revoke { .. } => unreachable!("clap requires an id or --user"),
    }
    Ok(())
}

/// `text` with control and format characters escaped (`\u{1b}`), for a
/// terminal: a stored value written before they were refused cannot clear
/// the screen or reorder a line.
pub(super) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match crate::validate::is_unprintable(c) {
            true => c.escape_unicode().to_string(),
            false => c.to_string(),
        })
        .collect()
}
