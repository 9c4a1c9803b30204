//! The integration suite: every test starts the real server on an ephemeral
//! port with a fresh SQLite file, and talks HTTP to it.

mod helpers;

mod bearer;
mod cli;
mod cli_admin;
mod docs;
mod errors;
mod events;
mod files;
mod housekeeping;
mod items;
mod limits;
mod lockout;
mod logs;
mod metrics;
mod nodes;
mod outage;
mod pages;
mod passwords;
mod refresh;
mod rehash;
mod revoke;
mod scopes;
mod served;
mod sessions;
mod smoke;
mod spec;
mod startup;
mod system;
mod throttle;
mod token;
mod user_changes;
mod users;
