//! PostgreSQL: the hot reads that arrive together share one query.
//!
//! On PostgreSQL each query is a round trip, and sqlx's work for one query
//! (plus the server's, on the same machine or not) is most of a request's
//! cost (bench/README.md). So the bearer check's row and the item list's
//! page each go to a task of their own, which sends every read waiting at
//! that moment as one query (an `unnest` of the keys) and hands each its
//! rows. A read that arrives alone is sent at once; under load the reads
//! that came in while a query was out go together in the next. Each read is
//! answered by a query that began after it arrived, so it sees every commit
//! made before, on any node. A serving node also keeps the rows it read
//! while its change feed is live (`super::feed`), and answers from them
//! until a change is announced.
//!
//! One query is out at a time per kind of read (two out at once cost more
//! CPU per request and answered slower: bench/README.md), on a connection
//! the task keeps for itself, opened with the pool's settings but outside
//! it, since sqlx pings every connection returned to a pool, one more round
//! trip per query. The connection is dropped after any error and replaced
//! after [`MAX_LIFETIME`]; a new one must open within the pool's acquire
//! timeout, so an outage answers every waiting read with `Unavailable`
//! within it, and a connection lost while idle is replaced without failing
//! the reads (see [`query`]). Each kind of read therefore holds one
//! connection beside the pool's.

use std::{
    collections::HashMap,
    hash::Hash,
    time::{Duration, Instant},
};

use sqlx::{ConnectOptions, Connection, FromRow, PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};

use super::{
    BUSY_TIMEOUT, DbError, DbResult,
    auth_cache::{AuthCache, PageCache},
    feed::Feed,
    items::ItemRow,
    postgres,
    tokens::AuthRow,
};

/// The most reads one query carries.
const MAX_BATCH: usize = 256;

/// How long a task keeps its connection: sqlx's default for pooled ones.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The longest a shared query may take before its reads are answered
/// `Unavailable` and its connection dropped: a server that stops answering
/// without closing the connection (a network partition) must not hold every
/// waiting read, and the next query gets a new connection.
const QUERY_TIMEOUT: Duration = BUSY_TIMEOUT;

/// One kind of read that can be asked for many keys at once.
trait Batched: Send + 'static {
    type Key: Copy + Eq + Hash + Send + Sync + 'static;
    type Value: Clone + Send + 'static;

    /// The values of `keys` (no duplicates); a key left out has none.
    fn fetch(
        conn: &mut PgConnection,
        keys: Vec<Self::Key>,
    ) -> impl Future<Output = Result<HashMap<Self::Key, Self::Value>, sqlx::Error>> + Send;
}

/// `tokens::AUTH_ROW_SQL` for many (user, family) pairs at once.
struct AuthRows;

#[derive(FromRow)]
struct KeyedAuthRow {
    key_family_id: i64,
    #[sqlx(flatten)]
    row: AuthRow,
}

impl Batched for AuthRows {
    type Key = (i64, i64);
    type Value = AuthRow;

    async fn fetch(
        conn: &mut PgConnection,
        keys: Vec<(i64, i64)>,
    ) -> Result<HashMap<(i64, i64), AuthRow>, sqlx::Error> {
        const SQL: &str = "SELECT k.family_id AS key_family_id,
                u.id, u.username, u.email, u.full_name, u.scopes, u.disabled,
                u.token_version, u.created_at, f.revoked_at IS NOT NULL AS family_revoked
         FROM unnest($1::int8[], $2::int8[]) AS k(user_id, family_id)
         JOIN users u ON u.id = k.user_id
         JOIN token_families f ON f.id = k.family_id AND f.user_id = u.id";
        let (users, families): (Vec<i64>, Vec<i64>) = keys.into_iter().unzip();
        let rows: Vec<KeyedAuthRow> = sqlx::query_as(SQL)
            .bind(&users)
            .bind(&families)
            .fetch_all(&mut *conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| ((r.row.user.id, r.key_family_id), r.row))
            .collect())
    }
}

/// `items::LIST_SQL` for many (owner, after id, limit) pages at once.
struct ItemPages;

#[derive(FromRow)]
struct KeyedItemRow {
    key: i64,
    #[sqlx(flatten)]
    row: ItemRow,
}

impl Batched for ItemPages {
    type Key = (i64, i64, i64);
    type Value = Vec<ItemRow>;

    async fn fetch(
        conn: &mut PgConnection,
        keys: Vec<(i64, i64, i64)>,
    ) -> Result<HashMap<(i64, i64, i64), Vec<ItemRow>>, sqlx::Error> {
        // Each page is the same indexed range scan as the single query's,
        // under LATERAL; `k.n` says which page a row belongs to.
        const SQL: &str = "SELECT k.n AS key, i.id, i.name, i.description, i.created_at, i.updated_at
         FROM unnest($1::int8[], $2::int8[], $3::int8[]) WITH ORDINALITY AS k(owner_id, after_id, lim, n)
         CROSS JOIN LATERAL (
             SELECT id, name, description, created_at, updated_at FROM items
             WHERE owner_id = k.owner_id AND id > k.after_id ORDER BY id LIMIT k.lim) i
         ORDER BY k.n, i.id";
        let mut owners = Vec::with_capacity(keys.len());
        let mut afters = Vec::with_capacity(keys.len());
        let mut limits = Vec::with_capacity(keys.len());
        for &(owner, after, limit) in &keys {
            owners.push(owner);
            afters.push(after);
            limits.push(limit);
        }
        let rows: Vec<KeyedItemRow> = sqlx::query_as(SQL)
            .bind(&owners)
            .bind(&afters)
            .bind(&limits)
            .fetch_all(&mut *conn)
            .await?;
        let mut pages: HashMap<_, Vec<ItemRow>> = HashMap::with_capacity(keys.len());
        for r in rows {
            // `n` counts from 1, in the order of `keys`.
            let key = usize::try_from(r.key - 1)
                .ok()
                .and_then(|i| keys.get(i))
                .ok_or_else(|| sqlx::Error::Protocol("a page row with no page".into()))?;
            pages.entry(*key).or_default().push(r.row);
        }
        Ok(pages)
    }
}

/// The shared queries of one store, and the rows a serving node keeps
/// while its change feed is live (`super::feed`).
pub struct Batchers {
    auth_rows: Batcher<AuthRows>,
    item_pages: Batcher<ItemPages>,
    feed: Feed,
    rows: AuthCache<Feed>,
    pages: PageCache<Feed>,
}

impl Batchers {
    /// Starts one task per kind of read; they end with the last clone of
    /// the store. The caches keep nothing until the feed is started.
    pub fn start(pool: &PgPool) -> Self {
        let feed = Feed::new();
        Self {
            auth_rows: Batcher::start(pool.clone()),
            item_pages: Batcher::start(pool.clone()),
            rows: AuthCache::new(feed.clone()),
            pages: PageCache::new(feed.clone()),
            feed,
        }
    }

    /// The change feed of this store's caches.
    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    /// The user and family behind an access token; `None` if either is gone.
    pub async fn auth_row(&self, user_id: i64, family_id: i64) -> DbResult<Option<AuthRow>> {
        let key = (user_id, family_id);
        let stamp = self.rows.stamp();
        if let Some(stamp) = stamp
            && let Some(row) = self.rows.get(stamp, &key)
        {
            return Ok(Some(row));
        }
        // The shared query begins after this read was queued, so after the
        // stamp was taken.
        let row = self.auth_rows.get(key).await?;
        if let (Some(stamp), Some(row)) = (stamp, &row) {
            self.rows.put(stamp, key, row);
        }
        Ok(row)
    }

    /// `Items::list` for PostgreSQL.
    pub async fn items_page(
        &self,
        owner_id: i64,
        after_id: i64,
        limit: i64,
    ) -> DbResult<Vec<ItemRow>> {
        let key = (owner_id, after_id, limit);
        let stamp = self.pages.stamp();
        if let Some(stamp) = stamp
            && let Some(rows) = self.pages.get(stamp, &key)
        {
            return Ok(rows);
        }
        let rows = self.item_pages.get(key).await?.unwrap_or_default();
        if let Some(stamp) = stamp {
            self.pages.put(stamp, key, &rows);
        }
        Ok(rows)
    }

    /// How many bearer checks the cache has answered.
    #[cfg(test)]
    pub fn cache_hits(&self) -> u64 {
        self.rows.hits()
    }
}

struct Read<B: Batched> {
    key: B::Key,
    answer: oneshot::Sender<DbResult<Option<B::Value>>>,
}

struct Batcher<B: Batched> {
    reads: mpsc::Sender<Read<B>>,
}

impl<B: Batched> Batcher<B> {
    fn start(pool: PgPool) -> Self {
        let (reads, queue) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run::<B>(pool, queue));
        Self { reads }
    }

    async fn get(&self, key: B::Key) -> DbResult<Option<B::Value>> {
        let (answer, answered) = oneshot::channel();
        let gone = || DbError::Unavailable(sqlx::Error::PoolClosed);
        self.reads
            .send(Read { key, answer })
            .await
            .map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

async fn run<B: Batched>(pool: PgPool, mut queue: mpsc::Receiver<Read<B>>) {
    let mut conn: Option<(PgConnection, Instant)> = None;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The reads that arrive while a query is out queue up and go together
    // in the next.
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if let Some((old, _)) = conn.take_if(|(_, opened)| opened.elapsed() > MAX_LIFETIME) {
            let _ = old.close().await;
        }
        let values = query::<B>(&pool, &mut conn, &batch).await;
        answer::<B>(values, &mut batch);
    }
    if let Some((conn, _)) = conn {
        let _ = conn.close().await;
    }
}

/// The batch's query on the task's connection, opening one if there is
/// none. After any error the connection is dropped. A kept
/// connection that the server has closed meanwhile (a restart, an idle
/// timeout) costs no request: the query, which only reads, runs once more on
/// a new one.
async fn query<B: Batched>(
    pool: &PgPool,
    conn: &mut Option<(PgConnection, Instant)>,
    batch: &[Read<B>],
) -> Result<Answers<B>, sqlx::Error> {
    if let Some((kept, _)) = conn {
        match answer_keys::<B>(kept, batch).await {
            Ok(answers) => return Ok(answers),
            Err(err) => {
                *conn = None;
                let lost = matches!(err, sqlx::Error::Io(_))
                    || err.as_database_error().is_some_and(postgres::is_transient);
                if !lost {
                    return Err(err);
                }
            }
        }
    }
    let (fresh, _) = conn.insert((connect(pool).await?, Instant::now()));
    let answers = answer_keys::<B>(fresh, batch).await;
    if answers.is_err() {
        *conn = None;
    }
    answers
}

/// A new connection with the pool's settings, within the pool's acquire
/// timeout. Not one of the pool's idle connections: after a restart of the
/// server those are as stale as the one being replaced.
async fn connect(pool: &PgPool) -> Result<PgConnection, sqlx::Error> {
    let options = pool.connect_options();
    tokio::time::timeout(postgres::ACQUIRE_TIMEOUT, options.connect())
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
}

/// Each key of `batch` asked for once, with how many reads asked for it.
type Answers<B> = (
    HashMap<<B as Batched>::Key, <B as Batched>::Value>,
    HashMap<<B as Batched>::Key, usize>,
);

async fn answer_keys<B: Batched>(
    conn: &mut PgConnection,
    batch: &[Read<B>],
) -> Result<Answers<B>, sqlx::Error> {
    // The same key asked for by several requests is asked for once.
    let mut readers: HashMap<B::Key, usize> = HashMap::with_capacity(batch.len());
    for read in batch {
        *readers.entry(read.key).or_default() += 1;
    }
    let keys = readers.keys().copied().collect();
    let values = tokio::time::timeout(QUERY_TIMEOUT, B::fetch(conn, keys))
        .await
        // Not `Io`: a query that timed out is not tried again.
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
    Ok((values, readers))
}

fn answer<B: Batched>(values: Result<Answers<B>, sqlx::Error>, batch: &mut Vec<Read<B>>) {
    match values {
        Ok((mut values, mut readers)) => {
            for read in batch.drain(..) {
                // The last read of a key takes the value, the others a copy.
                let left = readers.get_mut(&read.key).map_or(0, |n| {
                    *n -= 1;
                    *n
                });
                let value = if left == 0 {
                    values.remove(&read.key)
                } else {
                    values.get(&read.key).cloned()
                };
                // A read whose request has gone is simply not answered.
                let _ = read.answer.send(Ok(value));
            }
        }
        Err(err) => {
            // The first read gets the error itself, the others its text in
            // the same class (sqlx's errors cannot be cloned).
            let text = err.to_string();
            let err = DbError::from(err);
            let unavailable = matches!(err, DbError::Unavailable(_));
            let mut first = Some(err);
            for read in batch.drain(..) {
                let err = first.take().unwrap_or_else(|| {
                    let copy = sqlx::Error::Protocol(text.clone());
                    if unavailable {
                        DbError::Unavailable(copy)
                    } else {
                        DbError::Other(copy)
                    }
                });
                let _ = read.answer.send(Err(err));
            }
        }
    }
}
