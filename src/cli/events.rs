//! `tollgate events`: the recent revocation events, as the poll delivers
//! them to receivers; never a token or a signed SET.

use clap::Subcommand;

use super::{sessions::printable, users::rfc3339};
use crate::{app::StartError, db::Store};

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List the newest revocation events: when, the session (`sid` and the
    /// id `sessions list` shows), the user id, what ended it, and the SET's `jti`.
    List {
        /// How many, newest first.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        limit: i64,
    },
}

pub(super) async fn events(store: &Store, command: EventsCommand) -> Result<(), StartError> {
    match command {
        EventsCommand::List { limit } => {
            let events = store.events().recent(limit).await?;
            println!(
                "{:>8}  {:<20} {:<24} {:>8} {:>8}  {:<18} jti",
                "id", "time", "sid", "session", "user", "reason"
            );
            for e in &events {
                println!(
                    "{:>8}  {:<20} {:<24} {:>8} {:>8}  {:<18} {}",
                    e.id,
                    rfc3339(e.created_at),
                    printable(&e.sid),
                    e.family_id,
                    e.user_id,
                    e.reason,
                    printable(&e.jti)
                );
            }
        }
    }
    Ok(())
}
