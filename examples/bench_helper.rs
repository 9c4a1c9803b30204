//! The helper of the load benchmark (`bench/run.sh`); not part of the service.
//!
//! ```text
//! bench_helper hash-cpu [ROUNDS]            CPU time of one password verify with the
//!                                           hash settings of the environment (as served)
//! bench_helper seed DATABASE_URL TOTAL      insert users until there are TOTAL
//! bench_helper mint DATABASE_URL N FILE     access tokens for N random users
//! bench_helper start ADDR LOG -- CMD...     start CMD, time it until /healthz answers
//! bench_helper sign-rate ALG SECONDS        access tokens one thread signs per CPU second
//! bench_helper commit-rate URL SECONDS      serial durable single-row commits per second
//! bench_helper fresh-db POSTGRES_URL NAME   create database NAME there, print its URL
//! bench_helper drop-db POSTGRES_URL URL     drop the database of URL (made by fresh-db)
//! ```
//!
//! `seed` and `mint` write straight to the database (no bcrypt per user, no
//! HTTP), so 100,000 users take about a second.

use std::{
    error::Error,
    io::{Read, Write},
    net::TcpStream,
    process::{Command, Stdio},
    str::FromStr,
    time::{Duration, Instant},
};

use secrecy::SecretString;
use sqlx::{
    Connection, SqlitePool,
    sqlite::{
        SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions,
        SqliteSynchronous,
    },
};
use tollgate::{
    auth::{
        hashes,
        jwt::{AccessClaims, AccessTokens},
        random_token, sha256_hex,
    },
    config::Config,
    db,
};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The password of every seeded user (hashed once, at the cheapest cost).
const SEED_PASSWORD: &str = "bench-password";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> Result<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| "missing argument; see the usage in examples/bench_helper.rs".into())
    };
    match arg(0)? {
        "hash-cpu" => hash_cpu(arg(1).unwrap_or("3").parse()?),
        "seed" => runtime()?.block_on(seed(arg(1)?, arg(2)?.parse()?)),
        "mint" => runtime()?.block_on(mint(arg(1)?, arg(2)?.parse()?, arg(3)?)),
        "start" if arg(3)? == "--" => start(arg(1)?, arg(2)?, &args[4..]),
        "sign-rate" => sign_rate(arg(1)?, arg(2)?.parse()?),
        "commit-rate" => runtime()?.block_on(commit_rate(arg(1)?, arg(2)?.parse()?)),
        "fresh-db" => runtime()?.block_on(fresh_db(arg(1)?, arg(2)?)),
        "drop-db" => runtime()?.block_on(drop_db(arg(1)?, arg(2)?)),
        other => Err(format!("unknown command `{other}`").into()),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Prints `cpu_ms=... wall_ms=... profile=...`: the median over `rounds`
/// verifies, on this thread's own CPU clock, so other load on the machine
/// does not count. The profile is the server's, from the same variables.
fn hash_cpu(rounds: usize) -> Result<()> {
    let profile = Config::from_env()?.password_profile();
    let memory = &mut hashes::Memory::new();
    let hash = profile.hash(SEED_PASSWORD, memory)?;
    let mut cpu = Vec::new();
    let mut wall = Vec::new();
    for _ in 0..rounds.max(1) {
        let (cpu_start, wall_start) = (thread_cpu_ns(), Instant::now());
        assert!(hashes::verify(SEED_PASSWORD, &hash, &profile, memory));
        wall.push(wall_start.elapsed().as_secs_f64() * 1e3);
        cpu.push(
            thread_cpu_ns()
                .zip(cpu_start)
                .map(|(end, start)| (end - start) as f64 / 1e6),
        );
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let wall = median(wall);
    // Without a per-thread CPU clock, wall time on an idle core is the estimate.
    let cpu = cpu
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .map_or(wall, median);
    println!("cpu_ms={cpu:.2} wall_ms={wall:.2} profile={profile}");
    Ok(())
}

/// Prints `signs_per_cpu_s=...`: client_credentials-shaped access tokens
/// signed on this thread per second of its own CPU time.
fn sign_rate(alg: &str, seconds: f64) -> Result<()> {
    use tollgate::auth::keys::{KeyRing, SigningAlg, generate};
    let alg: SigningAlg = alg
        .parse()
        .map_err(|_| format!("unknown algorithm {alg}"))?;
    let now = db::now();
    let record = generate(alg, now, now, None)?;
    let ring = KeyRing::from_records(&[record], now, None)?;
    let keys = AccessTokens::from_ring(ring, "http://127.0.0.1:8000", "tollgate");
    let claims = AccessClaims {
        iss: "http://127.0.0.1:8000".into(),
        aud: "tollgate".into(),
        sub: "bench-client".into(),
        exp: now + 900,
        iat: now,
        jti: random_token(16),
        scope: "admin".into(),
        client_id: "bench-client".into(),
        ver: 1,
        fam: None,
        sid: None,
    };
    let start = thread_cpu_ns().ok_or("no per-thread CPU clock")?;
    let budget = (seconds * 1e9) as u64;
    let mut signed = 0u64;
    loop {
        for _ in 0..16 {
            std::hint::black_box(keys.sign(&claims)?);
        }
        signed += 16;
        let used = thread_cpu_ns().ok_or("no per-thread CPU clock")? - start;
        if used >= budget {
            println!("signs_per_cpu_s={:.0}", signed as f64 / (used as f64 / 1e9));
            return Ok(());
        }
    }
}

/// The CPU time this thread has run, from Linux's schedstat.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// A pool for bulk writes: `synchronous = NORMAL`, since a lost seed only
/// means running the benchmark again.
async fn bulk_pool(url: &str) -> Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)?
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(db::BUSY_TIMEOUT);
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

/// Inserts users `bench<N>` (scope `read:items`) until the table holds `total`.
async fn seed(url: &str, total: i64) -> Result<()> {
    let pool = bulk_pool(url).await?;
    let started = Instant::now();
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&pool)
        .await?;
    let hash = bcrypt::hash(SEED_PASSWORD, 4)?;
    let mut tx = pool.begin().await?;
    sqlx::query(
        "WITH RECURSIVE seq(n) AS (SELECT ? UNION ALL SELECT n + 1 FROM seq WHERE n < ?)
         INSERT INTO users (username, username_key, email, full_name, password_hash, scopes, created_at)
         SELECT 'bench' || n, 'bench' || n, 'bench' || n || '@example.test', 'Bench User ' || n,
                ?, 'read:items', ? FROM seq",
    )
    .bind(existing + 1)
    .bind(total)
    .bind(&hash)
    .bind(db::now())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    println!(
        "seeded {} users in {} ms",
        (total - existing).max(0),
        started.elapsed().as_millis()
    );
    Ok(())
}

/// Starts a token family for each of `count` random enabled users and writes
/// one signed access token per line to `out`, as `/token` would have issued.
async fn mint(url: &str, count: i64, out: &str) -> Result<()> {
    let pool = bulk_pool(url).await?;
    let store = db::Store::open(url, 1, false).await?;
    let secret = match std::env::var("TOLLGATE_JWT_SECRET") {
        Ok(secret) => secret,
        Err(_) => {
            sqlx::query_scalar("SELECT value FROM settings WHERE key = 'jwt_secret'")
                .fetch_one(&pool)
                .await?
        }
    };
    // The server's default issuer for its default listen address.
    let issuer =
        std::env::var("TOLLGATE_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8000".into());
    let audience = std::env::var("TOLLGATE_AUDIENCE").unwrap_or_else(|_| "tollgate".into());
    let keys = AccessTokens::new(&SecretString::from(secret), &issuer, &audience);
    let users: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT id, scopes, token_version FROM users WHERE disabled = 0 ORDER BY random() LIMIT ?",
    )
    .bind(count)
    .fetch_all(&pool)
    .await?;
    let now = db::now();
    let mut tokens = String::new();
    for (user_id, scope, version) in users {
        let sid = random_token(16);
        let family = db::tokens::NewFamily {
            sid: &sid,
            user_id,
            user_version: version,
            scope: &scope,
            client_id: "bench",
            expires_at: now + 3600,
        };
        let fam = store
            .tokens()
            .start_family(&family, &sha256_hex(&random_token(32)), now)
            .await?
            .ok_or("the user changed while minting")?;
        let claims = AccessClaims {
            iss: issuer.clone(),
            aud: audience.clone(),
            sub: user_id.to_string(),
            exp: now + 3600,
            iat: now,
            jti: random_token(16),
            scope,
            client_id: "bench".into(),
            ver: version,
            fam: Some(fam),
            sid: Some(sid.clone()),
        };
        tokens.push_str(&keys.sign(&claims)?);
        tokens.push('\n');
    }
    std::fs::write(out, tokens)?;
    Ok(())
}

/// Starts `cmd` (output appended to `log`) and prints `PID MS`: the time from
/// the start until `GET /healthz` on `addr` answers 200. The server is left
/// running.
fn start(addr: &str, log: &str, cmd: &[String]) -> Result<()> {
    let (program, args) = cmd.split_first().ok_or("no command to start")?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    while started.elapsed() < Duration::from_secs(30) {
        if healthz(addr) {
            println!(
                "{} {:.1}",
                child.id(),
                started.elapsed().as_secs_f64() * 1e3
            );
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!("the server exited at start: {status}").into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill()?;
    Err("the server did not answer /healthz within 30 s".into())
}

fn healthz(addr: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut response = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut response).is_ok()
        && response.starts_with("HTTP/1.1 200")
}

/// Prints `commits_per_s=...`: single-row inserts, each its own transaction,
/// one after another on one connection with the server's durability settings
/// (SQLite: WAL, `synchronous = FULL`; PostgreSQL: its defaults, so
/// `synchronous_commit = on`; its `fsync` and `synchronous_commit` are
/// printed first), in a scratch table dropped after.
async fn commit_rate(url: &str, seconds: f64) -> Result<()> {
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(db::BUSY_TIMEOUT);
        commits::<sqlx::Sqlite>(
            &mut SqliteConnection::connect_with(&options).await?,
            seconds,
        )
        .await
    } else {
        let mut conn = sqlx::postgres::PgConnection::connect(url).await?;
        let fsync: String = sqlx::query_scalar("SHOW fsync")
            .fetch_one(&mut conn)
            .await?;
        let commit: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut conn)
            .await?;
        print!("fsync={fsync} synchronous_commit={commit} ");
        commits::<sqlx::Postgres>(&mut conn, seconds).await
    }
}

async fn commits<DB: sqlx::Database>(conn: &mut DB::Connection, seconds: f64) -> Result<()>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS bench_commits (id BIGINT NOT NULL)")
        .execute(&mut *conn)
        .await?;
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        sqlx::raw_sql("INSERT INTO bench_commits (id) VALUES (1)")
            .execute(&mut *conn)
            .await?;
        count += 1;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    sqlx::raw_sql("DROP TABLE bench_commits")
        .execute(&mut *conn)
        .await?;
    println!("commits_per_s={rate:.0} commits={count}");
    Ok(())
}

/// Creates database `name` on the PostgreSQL server of `url`; prints its URL.
async fn fresh_db(url: &str, name: &str) -> Result<()> {
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err("a database name of a-z, 0-9 and _".into());
    }
    let mut conn = sqlx::postgres::PgConnection::connect(url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let (base, _) = url
        .rsplit_once('/')
        .ok_or("a postgres:// URL with a database")?;
    println!("{base}/{name}");
    Ok(())
}

/// Drops the database that `fresh_db` made (the last part of `db_url`).
async fn drop_db(url: &str, db_url: &str) -> Result<()> {
    let name = db_url.rsplit('/').next().unwrap_or_default();
    if !name.starts_with("tollgate_bench_") {
        return Err(format!("not a benchmark database: {name}").into());
    }
    let mut conn = sqlx::postgres::PgConnection::connect(url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    Ok(())
}
