//! The integration suite: every test starts the real server on an ephemeral
//! port with a fresh SQLite file, and talks HTTP to it.

mod helpers;

mod smoke;
mod spec;
