//! PostgreSQL: the change feed that lets a node keep the hot reads' rows in
//! memory and still refuse a revocation made on another node at the very
//! next request.
//!
//! Without it every bearer check is a query (`super::batch`). With it, a
//! serving node keeps the rows in a [`Cache`](super::auth_cache::Cache)
//! under the feed's generation, as SQLite keeps them under its WAL index:
//!
//! - **Writers announce.** After each commit that could change a kept row (a
//!   user changed or deleted, a family revoked, an item written: see the
//!   calls of `Store::changed`), the writer numbers the change and announces
//!   it with `NOTIFY` (`tollgate_changed()`, in the migrations), then waits
//!   until every live node has heard of it ([`changed`]). Only then does its
//!   request answer. A `NOTIFY` is delivered in commit order, after the
//!   writer's own commit.
//! - **Nodes listen and acknowledge.** Each serving node listens on one
//!   connection of its own. A change empties its caches (the generation
//!   moves on), and then the node records in its row of `cache_nodes` that
//!   it has heard of that change. So once a writer's wait is over, no node
//!   answers from a row older than the commit.
//! - **A node that may have missed a change keeps nothing.** A node uses its
//!   caches only under a lease that its heartbeat renews every
//!   [`HEARTBEAT`] through the same connection: the heartbeat extends the
//!   lease in the database, then notifies the node on a channel of its own,
//!   and only that notification, once heard, lets the node go on. A lost
//!   connection, or a server that stops answering, ends the lease on the
//!   node within [`LEASE`], before the database would count the node as live
//!   no more. Writers wait only for nodes whose lease holds and whose
//!   listening connection's backend still exists (a node that stopped costs
//!   no wait).
//! - **The waits are bounded.** A writer waits at most
//!   [`MAX_AGE`](super::auth_cache::MAX_AGE) for a slow node: by then the
//!   node has read again every row it kept from before the commit. If the
//!   announcement itself fails (the database is gone), the writer waits that
//!   long instead.
//!
//! A change written outside tollgate (SQL by hand) announces nothing: nodes
//! see it within `MAX_AGE`, when their rows are read again. The CLI's
//! commands announce like the server's requests do.

use std::{
    sync::{
        Arc, Weak,
        atomic::{AtomicU64, Ordering::SeqCst},
    },
    time::{Duration, Instant},
};

use sqlx::{
    PgPool,
    postgres::{PgListener, PgNotification, PgPoolOptions},
};
use tokio::sync::{Notify, watch};

use super::{auth_cache::MAX_AGE, auth_cache::Signal, postgres};

/// The channel every change is announced on (`tollgate_changed()`).
const CHANNEL: &str = "tollgate_changes";

/// The channel a node's acknowledgement is announced on
/// (`tollgate_node_heard()`), for the writers waiting on a serving node.
const HEARD: &str = "tollgate_heard";

/// How often a node renews its lease.
pub const HEARTBEAT: Duration = Duration::from_millis(500);

/// How long a renewed lease lasts in the database.
pub const LEASE: Duration = Duration::from_secs(2);

/// How much sooner than the database a node counts its lease as over: the
/// database starts the lease when it runs the heartbeat, the node when it
/// sent it, and clocks may run at slightly different rates.
const MARGIN: Duration = Duration::from_millis(250);

/// The longest pause between a lost connection and the next attempt.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A node's view of the feed: cheap to clone; the [`Signal`] of its caches.
#[derive(Clone)]
pub struct Feed(Arc<Shared>);

struct Shared {
    /// Moves on with every change heard, and whenever the node may have
    /// missed one (a new connection).
    generation: AtomicU64,
    /// Nanoseconds after `epoch` until which the caches may be used; 0 while
    /// the node is not listening.
    live_until: AtomicU64,
    epoch: Instant,
    /// Woken when any node acknowledges a change.
    heard: Notify,
    /// Dropped with the last clone: the listening task ends.
    _stop: watch::Sender<()>,
    stopped: watch::Receiver<()>,
    started: std::sync::atomic::AtomicBool,
}

impl Feed {
    /// A feed that is not listening yet: its caches keep nothing until
    /// [`Feed::start`].
    pub fn new() -> Self {
        let (stop, stopped) = watch::channel(());
        Self(Arc::new(Shared {
            generation: AtomicU64::new(0),
            live_until: AtomicU64::new(0),
            epoch: Instant::now(),
            heard: Notify::new(),
            _stop: stop,
            stopped,
            started: false.into(),
        }))
    }

    /// Starts listening, on a connection with `pool`'s settings outside it.
    /// Only a serving node starts its feed: a node that listens makes every
    /// writer wait for it. Later calls do nothing.
    pub fn start(&self, pool: &PgPool) {
        if self.0.started.swap(true, SeqCst) {
            return;
        }
        let options = (*pool.connect_options()).clone();
        let own = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(postgres::ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        let stopped = self.0.stopped.clone();
        tokio::spawn(listen(Arc::downgrade(&self.0), own, stopped));
    }

    /// Whether the node is using its caches now (tests).
    #[cfg(test)]
    pub fn is_live(&self) -> bool {
        self.read().is_some()
    }
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

impl Signal for Feed {
    type Value = u64;

    fn read(&self) -> Option<u64> {
        // The lease first: the generation moves on before a lease starts,
        // so a live lease is never read with the generation before it.
        let until = self.0.live_until.load(SeqCst);
        if until == 0 || nanos_since(self.0.epoch) >= until {
            return None;
        }
        Some(self.0.generation.load(SeqCst))
    }
}

fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Announces a change committed just now, and waits until every live node
/// has heard of it, at most `MAX_AGE` (module documentation). A serving
/// node's `feed` hears the acknowledgements and looks again at each; without
/// one (the CLI) the writer looks again after growing pauses.
pub async fn changed(pool: &PgPool, feed: Option<&Feed>) {
    let began = Instant::now();
    let feed = feed.filter(|feed| feed.read().is_some());
    if let Err(err) = announce(pool, feed, began).await {
        tracing::warn!(
            error = %err,
            "could not announce a change to the other nodes; waiting until their caches expire"
        );
        tokio::time::sleep(MAX_AGE.saturating_sub(began.elapsed())).await;
    }
}

async fn announce(pool: &PgPool, feed: Option<&Feed>, began: Instant) -> Result<(), sqlx::Error> {
    let change: i64 = sqlx::query_scalar("SELECT tollgate_changed()")
        .fetch_one(pool)
        .await?;
    let mut pause = Duration::from_millis(1);
    loop {
        // Waiting for acknowledgements from before the count, so that none
        // is missed between the two.
        let heard = feed.map(|feed| {
            let mut heard = Box::pin(feed.0.heard.notified());
            heard.as_mut().enable();
            heard
        });
        let behind: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM cache_nodes n
             WHERE n.seen < $1 AND n.lease_until > now()
               AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = n.pid)",
        )
        .bind(change)
        .fetch_one(pool)
        .await?;
        if behind == 0 {
            return Ok(());
        }
        let left = MAX_AGE.saturating_sub(began.elapsed());
        if left <= pause {
            tracing::warn!(
                nodes = behind,
                "nodes have not acknowledged a change; going on once their caches expire"
            );
            tokio::time::sleep(left).await;
            return Ok(());
        }
        match heard {
            Some(heard) => {
                let _ = tokio::time::timeout(left.min(Duration::from_millis(20)), heard).await;
            }
            None => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(20));
            }
        }
    }
}

/// The node's listening task: one session per connection, until the feed
/// is dropped.
async fn listen(shared: Weak<Shared>, pool: PgPool, mut stopped: watch::Receiver<()>) {
    let channel = format!("tollgate_node_{:016x}", rand::random::<u64>());
    let mut backoff = Duration::from_millis(100);
    loop {
        let ended = tokio::select! {
            ended = session(&shared, &pool, &channel) => ended,
            _ = stopped.changed() => break,
        };
        // Whatever ended the session, the node may have missed a change.
        let Some(shared) = shared.upgrade() else {
            break;
        };
        shared.live_until.store(0, SeqCst);
        shared.generation.fetch_add(1, SeqCst);
        drop(shared);
        match ended {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(err) => {
                tracing::warn!(error = %err, "the change feed's connection failed; caches off until it is back");
                let pause = tokio::time::sleep(backoff);
                tokio::select! {
                    () = pause => {}
                    _ = stopped.changed() => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    pool.close().await;
}

/// One connection's life: listen, register, then hear changes and beat
/// until the connection is lost (`Ok`) or fails (`Err`).
async fn session(shared: &Weak<Shared>, pool: &PgPool, channel: &str) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection ends the session; its replacement registers anew.
    listener.eager_reconnect(false);
    listener.listen_all([CHANNEL, HEARD, channel]).await?;
    // The rows of nodes long gone.
    sqlx::query("DELETE FROM cache_nodes WHERE lease_until < now() - interval '1 hour'")
        .execute(&mut listener)
        .await?;
    // Listening before registering: every change numbered after the row
    // exists is heard. Changes before it are older than anything kept.
    let node: i64 = sqlx::query_scalar(
        "INSERT INTO cache_nodes (pid, lease_until, seen)
         SELECT pg_backend_pid(), now(), CASE WHEN is_called THEN last_value ELSE 0 END
         FROM changes
         RETURNING id",
    )
    .fetch_one(&mut listener)
    .await?;
    let epoch = match shared.upgrade() {
        Some(shared) => {
            shared.generation.fetch_add(1, SeqCst);
            shared.epoch
        }
        None => return Ok(()),
    };
    // Heartbeats sent before this point belong to an earlier session.
    let registered = nanos_since(epoch);
    let result = hear(shared, &mut listener, node, channel, epoch, registered).await;
    // A node that goes away takes its row with it; one that vanishes leaves
    // it to expire.
    if result.is_ok() {
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            sqlx::query("DELETE FROM cache_nodes WHERE id = $1")
                .bind(node)
                .execute(&mut listener),
        )
        .await;
    }
    result
}

async fn hear(
    shared: &Weak<Shared>,
    listener: &mut PgListener,
    node: i64,
    channel: &str,
    epoch: Instant,
    registered: u64,
) -> Result<(), sqlx::Error> {
    let mut next_beat = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= next_beat {
            let sent = nanos_since(epoch);
            let kept: bool = sqlx::query_scalar("SELECT tollgate_node_beat($1, $2, $3, $4)")
                .bind(node)
                .bind(LEASE.as_secs_f64())
                .bind(channel)
                .bind(sent.to_string())
                .fetch_one(&mut *listener)
                .await?;
            if !kept {
                return Err(sqlx::Error::Protocol(
                    "the node's row in cache_nodes is gone".into(),
                ));
            }
            next_beat = tokio::time::Instant::now() + HEARTBEAT;
        }
        let heard = tokio::select! {
            heard = listener.try_recv() => heard?,
            () = tokio::time::sleep_until(next_beat) => continue,
        };
        let Some(first) = heard else {
            return Err(sqlx::Error::Protocol(
                "the change feed's connection was lost".into(),
            ));
        };
        let Some(shared) = shared.upgrade() else {
            return Ok(());
        };
        // This notification and any others already received, together.
        let mut change = None;
        let mut next = Some(first);
        while let Some(notification) = next {
            note(&shared, &notification, registered, &mut change);
            next = listener.next_buffered();
        }
        drop(shared);
        if let Some(change) = change {
            let kept: bool = sqlx::query_scalar("SELECT tollgate_node_heard($1, $2)")
                .bind(node)
                .bind(change)
                .fetch_one(&mut *listener)
                .await?;
            if !kept {
                return Err(sqlx::Error::Protocol(
                    "the node's row in cache_nodes is gone".into(),
                ));
            }
        }
    }
}

/// Acts on one notification: a change empties the caches (and is to be
/// acknowledged); an acknowledgement wakes the writers waiting here; the
/// node's own heartbeat extends its lease.
fn note(shared: &Shared, notification: &PgNotification, registered: u64, change: &mut Option<i64>) {
    if notification.channel() == HEARD {
        shared.heard.notify_waiters();
        return;
    }
    if notification.channel() == CHANNEL {
        shared.generation.fetch_add(1, SeqCst);
        if let Ok(number) = notification.payload().parse::<i64>() {
            *change = Some(change.map_or(number, |c: i64| c.max(number)));
        }
        return;
    }
    let Ok(sent) = notification.payload().parse::<u64>() else {
        return;
    };
    if sent >= registered {
        let until = sent.saturating_add((LEASE - MARGIN).as_nanos() as u64);
        shared.live_until.fetch_max(until, SeqCst);
    }
}

/// These need PostgreSQL: they run when `TOLLGATE_TEST_DATABASE_URL` names a
/// server, each on a database of its own, and pass without one.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Backend, Store};
    use sqlx::{Connection, Executor, PgConnection};

    /// A new database on the test server, dropped at the end.
    struct TestPg {
        server: String,
        name: String,
        url: String,
    }

    impl TestPg {
        async fn new() -> Option<Self> {
            let server = std::env::var("TOLLGATE_TEST_DATABASE_URL")
                .ok()
                .filter(|url| url.starts_with("postgres"))?;
            let name = format!("tollgate_feed_{:016x}", rand::random::<u64>());
            let mut admin = PgConnection::connect(&server).await.unwrap();
            admin
                .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .unwrap();
            let mut url = url::Url::parse(&server).unwrap();
            url.set_path(&name);
            Some(Self {
                server,
                name,
                url: url.to_string(),
            })
        }

        async fn drop_database(self) {
            let mut admin = PgConnection::connect(&self.server).await.unwrap();
            admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                )))
                .await
                .unwrap();
        }
    }

    fn pool(store: &Store) -> &PgPool {
        match store.backend() {
            Backend::Postgres(pool) => pool,
            Backend::Sqlite(_) => unreachable!("a PostgreSQL URL"),
        }
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A serving node answers from its rows until a change is announced,
    /// by another store as the CLI's would be; a change by hand within
    /// MAX_AGE; and a node that loses the feed keeps nothing until it is back.
    #[tokio::test]
    async fn a_node_keeps_rows_until_a_change_is_announced() {
        let Some(db) = TestPg::new().await else {
            return;
        };
        // The writer, like the CLI, does not listen.
        let writer = Store::open(&db.url, 2).await.unwrap();
        let node = Store::open(&db.url, 2).await.unwrap();
        let (user, fam) = crate::db::testing::user_with_session(&writer, "a@example.test").await;
        let reads = node.batchers().unwrap();

        // Not started: nothing is kept.
        reads.auth_row(user.id, fam).await.unwrap().unwrap();
        reads.auth_row(user.id, fam).await.unwrap().unwrap();
        assert_eq!(reads.cache_hits(), 0, "no feed, no cache");

        node.start_change_feed();
        until("the node hears its heartbeat", || reads.feed().is_live()).await;
        reads.auth_row(user.id, fam).await.unwrap().unwrap();
        reads.auth_row(user.id, fam).await.unwrap().unwrap();
        assert_eq!(reads.cache_hits(), 1, "kept while nothing changes");

        // Announced: the writer's call returns once the node has emptied
        // its cache, so the very next read is fresh.
        assert!(writer.tokens().revoke_family(fam, 1).await.unwrap());
        let row = reads.auth_row(user.id, fam).await.unwrap().unwrap();
        assert!(row.family_revoked, "the revocation is seen at once");
        assert_eq!(reads.cache_hits(), 1);
        let seen: i64 = sqlx::query_scalar("SELECT seen FROM cache_nodes")
            .fetch_one(pool(&writer))
            .await
            .unwrap();
        let last: i64 = sqlx::query_scalar("SELECT last_value FROM changes")
            .fetch_one(pool(&writer))
            .await
            .unwrap();
        assert_eq!(seen, last, "the node acknowledged the change");

        // By hand, announced by nobody: seen once the row is MAX_AGE old.
        reads.auth_row(user.id, fam).await.unwrap().unwrap();
        sqlx::query("UPDATE users SET email = 'b@example.test'")
            .execute(pool(&writer))
            .await
            .unwrap();
        tokio::time::sleep(MAX_AGE).await;
        let row = reads.auth_row(user.id, fam).await.unwrap().unwrap();
        assert_eq!(row.user.email.as_deref(), Some("b@example.test"));

        // The node's listening connection ends: it keeps nothing, then
        // listens again and keeps rows again.
        sqlx::query("SELECT pg_terminate_backend(pid) FROM cache_nodes")
            .execute(pool(&writer))
            .await
            .unwrap();
        until("the node sees its feed is lost", || !reads.feed().is_live()).await;
        let hits = reads.cache_hits();
        sqlx::query("UPDATE users SET email = 'c@example.test'")
            .execute(pool(&writer))
            .await
            .unwrap();
        let row = reads.auth_row(user.id, fam).await.unwrap().unwrap();
        assert_eq!(row.user.email.as_deref(), Some("c@example.test"));
        until("the node listens again", || reads.feed().is_live()).await;
        reads.auth_row(user.id, fam).await.unwrap().unwrap();
        reads.auth_row(user.id, fam).await.unwrap().unwrap();
        assert!(reads.cache_hits() > hits, "kept again");
        let nodes: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM cache_nodes n
             WHERE EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = n.pid)",
        )
        .fetch_one(pool(&writer))
        .await
        .unwrap();
        assert_eq!(nodes, 1, "registered anew");

        writer.close().await;
        drop(node);
        db.drop_database().await;
    }

    /// A writer waits for a live node that does not answer, but no longer
    /// than MAX_AGE; a node whose connection is gone costs no wait.
    #[tokio::test]
    async fn a_writer_waits_for_live_nodes_at_most_max_age() {
        let Some(db) = TestPg::new().await else {
            return;
        };
        let writer = Store::open(&db.url, 2).await.unwrap();
        let pool = pool(&writer);
        // A node that is connected and leased but never acknowledges.
        let mut silent = PgConnection::connect(&db.url).await.unwrap();
        sqlx::query(
            "INSERT INTO cache_nodes (pid, lease_until, seen)
             VALUES (pg_backend_pid(), now() + interval '1 minute', 0)",
        )
        .execute(&mut silent)
        .await
        .unwrap();
        let began = Instant::now();
        changed(pool, None).await;
        assert!(began.elapsed() >= MAX_AGE, "waited for the silent node");

        // Its connection closes: no more waiting for it.
        silent.close().await.unwrap();
        until_gone(pool).await;
        let began = Instant::now();
        changed(pool, None).await;
        assert!(began.elapsed() < MAX_AGE, "no wait for a node that is gone");

        writer.close().await;
        db.drop_database().await;
    }

    /// Until no backend of a node in `cache_nodes` exists.
    async fn until_gone(pool: &PgPool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let live: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM cache_nodes n
                 WHERE EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = n.pid)",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            if live == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "the backend did not go away");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
