//! PostgreSQL: the bearer checks that arrive together share one query.
//!
//! On PostgreSQL each bearer check is a round trip, and sqlx's work for one
//! query (plus the server's, on the same machine or not) is most of a
//! request's cost (bench/README.md). So checks go to one task, which sends
//! every check waiting at that moment as one query (`unnest` of the ids)
//! and hands each its row. A check that arrives alone is sent at once;
//! under load the checks that came in while a query was out go together in
//! the next. Nothing is cached: each check is answered by a query that began
//! after it arrived, so it sees every commit made before, on any node.
//!
//! At most [`IN_FLIGHT`] queries are out at a time; each waits for a pool
//! connection as any query does, so an outage answers every waiting check
//! with `Unavailable` within the pool's acquire timeout.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use sqlx::{FromRow, PgPool};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{DbError, DbResult, tokens::AuthRow};

/// The most checks one query carries.
const MAX_BATCH: usize = 256;

/// Queries out at once.
const IN_FLIGHT: usize = 2;

/// `tokens::AUTH_ROW_SQL` for many (user, family) pairs at once.
const BATCH_SQL: &str = "SELECT k.family_id AS key_family_id,
            u.id, u.username, u.email, u.full_name, u.scopes, u.disabled,
            u.token_version, u.created_at, f.revoked_at IS NOT NULL AS family_revoked
     FROM unnest($1::int8[], $2::int8[]) AS k(user_id, family_id)
     JOIN users u ON u.id = k.user_id
     JOIN token_families f ON f.id = k.family_id AND f.user_id = u.id";

#[derive(FromRow)]
struct KeyedRow {
    key_family_id: i64,
    #[sqlx(flatten)]
    row: AuthRow,
}

struct Check {
    user_id: i64,
    family_id: i64,
    answer: oneshot::Sender<DbResult<Option<AuthRow>>>,
}

pub struct AuthBatcher {
    checks: mpsc::Sender<Check>,
}

impl AuthBatcher {
    /// Starts the task that runs the queries; it ends with the last clone of
    /// the store.
    pub fn start(pool: PgPool) -> Self {
        let (checks, queue) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(pool, queue));
        Self { checks }
    }

    /// The user and family behind an access token; `None` if either is gone.
    pub async fn auth_row(&self, user_id: i64, family_id: i64) -> DbResult<Option<AuthRow>> {
        let (answer, answered) = oneshot::channel();
        let check = Check {
            user_id,
            family_id,
            answer,
        };
        let gone = || DbError::Unavailable(sqlx::Error::PoolClosed);
        self.checks.send(check).await.map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

async fn run(pool: PgPool, mut queue: mpsc::Receiver<Check>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        // Wait for a free slot first: the checks that arrive meanwhile
        // queue up and go out together.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let mut batch = Vec::with_capacity(MAX_BATCH);
        if queue.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            answer(&pool, batch).await;
            drop(slot);
        });
    }
}

async fn answer(pool: &PgPool, batch: Vec<Check>) {
    // The same token checked by several requests is asked for once.
    let keys: HashSet<(i64, i64)> = batch.iter().map(|c| (c.user_id, c.family_id)).collect();
    let (users, families): (Vec<i64>, Vec<i64>) = keys.into_iter().unzip();
    let rows: Result<Vec<KeyedRow>, sqlx::Error> = sqlx::query_as(BATCH_SQL)
        .bind(&users)
        .bind(&families)
        .fetch_all(pool)
        .await;
    match rows {
        Ok(rows) => {
            let rows: HashMap<(i64, i64), AuthRow> = rows
                .into_iter()
                .map(|r| ((r.row.user.id, r.key_family_id), r.row))
                .collect();
            for check in batch {
                let row = rows.get(&(check.user_id, check.family_id)).cloned();
                // A check whose request has gone is simply not answered.
                let _ = check.answer.send(Ok(row));
            }
        }
        Err(err) => {
            // The first check gets the error itself, the others its text in
            // the same class (sqlx's errors cannot be cloned).
            let text = err.to_string();
            let err = DbError::from(err);
            let unavailable = matches!(err, DbError::Unavailable(_));
            let mut first = Some(err);
            for check in batch {
                let err = first.take().unwrap_or_else(|| {
                    let copy = sqlx::Error::Protocol(text.clone());
                    if unavailable {
                        DbError::Unavailable(copy)
                    } else {
                        DbError::Other(copy)
                    }
                });
                let _ = check.answer.send(Err(err));
            }
        }
    }
}
