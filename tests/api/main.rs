//! The integration suite: every test starts the real server on an ephemeral
//! port with a fresh SQLite file, and talks HTTP to it.

mod helpers;

mod bearer;
mod cli;
mod cli_admin;
mod connections;
mod docs;
mod errors;
mod events;
mod files;
mod hash_queue;
mod hashing;
mod headers;
mod housekeeping;
mod items;
mod keys;
mod limits;
mod lockout;
mod logs;
mod metrics;
mod nodes;
mod outage;
mod pages;
mod password_policy;
mod passwords;
mod refresh;
mod rehash;
mod resource_server;
mod revoke;
mod scope_enum;
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
