//! Ended sessions and their events (`session_events`), and each receiver's
//! acknowledgements (`event_acks`).
//!
//! [`Tx::end_sessions`] is the one way a session ends: it marks the live
//! families it names revoked and writes one event per family it changed, in
//! the caller's transaction, with two set-based statements whatever the
//! number of sessions. A family already revoked is not changed again, so it
//! gets no second event.

use sqlx::FromRow;

use super::{DbResult, Store, Tx, TxInner, deadline, on_pool, on_tx};

/// Which sessions to end.
#[derive(Debug, Clone, Copy)]
pub enum Ending<'a> {
    /// One family, by id.
    Family(i64),
    /// The family of the refresh token with this hash, spent or not.
    RefreshToken(&'a str),
    /// Every family of a user.
    User(i64),
    /// Every family obtained by a client.
    Client(&'a str),
}

/// Why sessions ended, as stored in the event row (for `tollgate events
/// list` and the log; it is not in the SET).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// RFC 7009 revocation, or `tollgate sessions revoke`.
    Revoked,
    /// A spent refresh token presented again.
    RefreshReuse,
    /// Too many wrong current passwords on one session.
    PasswordGuessing,
    LogoutAll,
    /// A password, scope or disabled change.
    UserChanged,
    UserDeleted,
    ClientDeleted,
    ClientDisabled,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Revoked => "revoked",
            Reason::RefreshReuse => "refresh_reuse",
            Reason::PasswordGuessing => "password_guessing",
            Reason::LogoutAll => "logout_all",
            Reason::UserChanged => "user_changed",
            Reason::UserDeleted => "user_deleted",
            Reason::ClientDeleted => "client_deleted",
            Reason::ClientDisabled => "client_disabled",
        }
    }
}

/// An event as the poll delivers it.
#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: i64,
    pub jti: String,
    pub sid: String,
    pub created_at: i64,
}

/// An event as `tollgate events list` shows it.
#[derive(Debug, Clone, FromRow)]
pub struct EventListRow {
    pub id: i64,
    pub jti: String,
    pub sid: String,
    pub user_id: i64,
    pub family_id: i64,
    pub reason: String,
    pub created_at: i64,
}

/// The families an [`Ending`] names, as `$3`, among those not yet revoked.
macro_rules! live_families {
    ($ending:literal) => {
        concat!("revoked_at IS NULL AND ", $ending)
    };
}

/// SQLite: its writer is alone (`BEGIN IMMEDIATE`), so the events are
/// written from the families still live, then the families revoked.
macro_rules! sqlite_statements {
    ($which:literal) => {
        [
            concat!(
                "INSERT INTO session_events (jti, sid, user_id, family_id, reason, created_at)
                 SELECT lower(hex(randomblob(16))), sid, user_id, id, $1, $2
                 FROM token_families WHERE ",
                live_families!($which)
            ),
            concat!(
                "UPDATE token_families SET revoked_at = $1 WHERE ",
                live_families!($which)
            ),
        ]
    };
}

/// PostgreSQL: one statement. The update locks each row it revokes; a
/// concurrent ending of the same family waits, then finds it revoked and
/// writes nothing.
macro_rules! postgres_statement {
    ($which:literal) => {
        concat!(
            "WITH ended AS (UPDATE token_families SET revoked_at = $2 WHERE ",
            live_families!($which),
            " RETURNING id, sid, user_id)
             INSERT INTO session_events (jti, sid, user_id, family_id, reason, created_at)
             SELECT replace(gen_random_uuid()::text, '-', ''), sid, user_id, id, $1, $2
             FROM ended"
        )
    };
}

/// The SQLite pair and the PostgreSQL statement of each [`Ending`].
macro_rules! ending_sql {
    ($which:literal) => {
        (sqlite_statements!($which), postgres_statement!($which))
    };
}

type EndingSql = ([&'static str; 2], &'static str);

const BY_FAMILY: EndingSql = ending_sql!("id = $3");
const BY_REFRESH: EndingSql =
    ending_sql!("id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $3)");
const BY_USER: EndingSql = ending_sql!("user_id = $3");
const BY_CLIENT: EndingSql = ending_sql!("client_id = $3");

/// Binds the key of an [`Ending`] as the statement's last parameter.
macro_rules! bind_key {
    ($query:expr, $which:expr) => {
        match $which {
            Ending::Family(id) | Ending::User(id) => $query.bind(id),
            Ending::RefreshToken(key) | Ending::Client(key) => $query.bind(key),
        }
    };
}

impl Tx {
    /// Ends the live sessions `which` names, writing one event for each, in
    /// this transaction; returns how many ended. Every path that ends a
    /// session calls this (or [`Store::end_sessions`]). Ending a session
    /// already ended changes nothing.
    pub async fn end_sessions(
        &mut self,
        which: Ending<'_>,
        reason: Reason,
        now: i64,
    ) -> DbResult<u64> {
        let (sqlite, postgres) = match which {
            Ending::Family(_) => BY_FAMILY,
            Ending::RefreshToken(_) => BY_REFRESH,
            Ending::User(_) => BY_USER,
            Ending::Client(_) => BY_CLIENT,
        };
        let ended = deadline(async {
            Ok(match &mut self.0 {
                TxInner::Sqlite(tx) => {
                    let query = sqlx::query(sqlite[0]).bind(reason.as_str()).bind(now);
                    let written = bind_key!(query, which)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected();
                    let query = sqlx::query(sqlite[1]).bind(now);
                    // `$2` is unused here: bound anyway so `$3` stays `$3`.
                    let query = query.bind(now);
                    bind_key!(query, which).execute(&mut **tx).await?;
                    written
                }
                TxInner::Postgres(tx) => {
                    let query = sqlx::query(postgres).bind(reason.as_str()).bind(now);
                    bind_key!(query, which)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected()
                }
            })
        })
        .await?;
        self.1.written += ended;
        Ok(ended)
    }
}

impl Store {
    /// [`Tx::end_sessions`] in a transaction of its own.
    pub async fn end_sessions(&self, which: Ending<'_>, reason: Reason, now: i64) -> DbResult<u64> {
        let mut tx = self.begin_write(&[]).await?;
        let ended = tx.end_sessions(which, reason, now).await?;
        tx.commit().await?;
        Ok(ended)
    }

    pub fn events(&self) -> Events<'_> {
        Events(self)
    }
}

/// The queries of the event stream that need no caller's transaction.
pub struct Events<'a>(&'a Store);

/// A receiver's queue: the events since `$2` it has not acknowledged.
const PENDING_WHERE: &str = "e.created_at >= $2 AND NOT EXISTS
    (SELECT 1 FROM event_acks a WHERE a.receiver = $1 AND a.event_id = e.id)";

impl Events<'_> {
    /// Up to `limit` events of `receiver`'s queue, oldest first.
    pub async fn pending(&self, receiver: &str, since: i64, limit: i64) -> DbResult<Vec<EventRow>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT e.id, e.jti, e.sid, e.created_at FROM session_events e
             WHERE {PENDING_WHERE} ORDER BY e.id LIMIT +$3"
        ));
        Ok(on_pool!(self.0, |pool| sqlx::query_as(sql)
            .bind(receiver)
            .bind(since)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// When the oldest event of `receiver`'s queue was written, if any.
    pub async fn oldest_pending(&self, receiver: &str, since: i64) -> DbResult<Option<i64>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT MIN(e.created_at) FROM session_events e WHERE {PENDING_WHERE}"
        ));
        Ok(on_pool!(self.0, |pool| sqlx::query_scalar(sql)
            .bind(receiver)
            .bind(since)
            .fetch_one(pool)
            .await)?)
    }

    /// Records `receiver`'s acknowledgement of the events with these `jti`s,
    /// in one transaction; unknown (or purged) ones are passed over. Returns
    /// how many were new.
    pub async fn acknowledge(&self, receiver: &str, jtis: &[String]) -> DbResult<u64> {
        const SQL: &str = "INSERT INTO event_acks (receiver, event_id)
             SELECT $1, id FROM session_events WHERE jti = $2
             ON CONFLICT DO NOTHING";
        if jtis.is_empty() {
            return Ok(0);
        }
        let mut tx = self.0.begin_write(&[]).await?;
        let mut added = 0;
        for jti in jtis {
            added += on_tx!(tx, |conn| sqlx::query(SQL)
                .bind(receiver)
                .bind(jti)
                .execute(conn)
                .await?
                .rows_affected());
        }
        tx.commit().await?;
        Ok(added)
    }

    /// The newest `limit` events, newest first.
    pub async fn recent(&self, limit: i64) -> DbResult<Vec<EventListRow>> {
        const SQL: &str =
            "SELECT id, jti, sid, user_id, family_id, reason, created_at FROM session_events
             ORDER BY id DESC LIMIT +$1";
        Ok(on_pool!(self.0, |pool| sqlx::query_as(SQL)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// Deletes the events written before `before` (with their
    /// acknowledgements, by cascade), in batches.
    pub async fn purge(&self, before: i64) -> DbResult<u64> {
        self.0
            .delete_in_batches(
                "DELETE FROM session_events WHERE id IN (
                    SELECT id FROM session_events WHERE created_at < $1 AND id > $2 LIMIT $3)",
                [before, 0],
            )
            .await
    }
}
