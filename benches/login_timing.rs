//! Login timing against the real server: an unknown username, a wrong password
//! and a throttled attempt should each cost one bcrypt verify, so that timing
//! tells none of them apart. Prints the medians and the ratio of the first two
//! (the target is within 10%). Then a second phase adds a user whose hash is
//! at one cost higher (made before the cost was lowered) and compares an
//! unknown username with a wrong password for that user: once such a hash has
//! been seen, the dummy is raised to its cost. A measurement, not a test: it
//! never fails on slowness.
//!
//! `cargo bench --bench login_timing` (release build). Settings:
//! `TOLLGATE_BENCH_COST` (bcrypt cost, default 12) and `TOLLGATE_BENCH_ROUNDS`
//! (samples per case, default 25: 20 to 45 s at cost 12 on two busy cores).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tollgate::{
    app::App,
    config::{Config, PasswordAlgorithm},
    db,
};

const USER: &str = "bench-user";
const OLDER_USER: &str = "bench-older";
const LOCKED_USER: &str = "bench-locked";
const PASSWORD: &str = "bench-password-1";
const WRONG: &str = "wrong-password-1";

struct Case {
    name: &'static str,
    username: &'static str,
    expect: StatusCode,
    samples: Vec<Duration>,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run());
}

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run() {
    let cost = env_or("TOLLGATE_BENCH_COST", 12);
    let rounds = env_or("TOLLGATE_BENCH_ROUNDS", 25).max(1) as usize;
    let dir = tempfile::tempdir().expect("a temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut config = Config::with_database(url);
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.password_hash = PasswordAlgorithm::Bcrypt;
    config.bcrypt_cost = cost;
    // The bench fails hundreds of logins for one name: no lock may get in the way.
    config.throttle.user_limit = u32::MAX;
    config.throttle.addr_limit = u32::MAX;

    let app = App::build(config).await.expect("the server starts");
    let state = app.state().clone();
    seed(&state, cost).await;
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::new();
    let token_url = format!("http://{addr}/token");
    let mut cases = [
        case("unknown username", "no-such-user", StatusCode::BAD_REQUEST),
        case("wrong password", USER, StatusCode::BAD_REQUEST),
        case("throttled", LOCKED_USER, StatusCode::TOO_MANY_REQUESTS),
    ];
    println!("login timing: bcrypt cost {cost}, {rounds} rounds, cases interleaved");
    // One unmeasured round warms connections, caches and the dummy hash.
    for round in 0..=rounds {
        for offset in 0..cases.len() {
            // Rotate the order each round, so no case always follows another.
            let case = &mut cases[(round + offset) % 3];
            let elapsed = attempt(&client, &token_url, case).await;
            if round > 0 {
                case.samples.push(elapsed);
            }
        }
    }

    println!(
        "{:<18} {:>4} {:>11} {:>11} {:>11}",
        "case", "n", "median ms", "p10 ms", "p90 ms"
    );
    for case in &mut cases {
        case.samples.sort();
        let (p10, median, p90) = (
            quantile(case, 0.1),
            quantile(case, 0.5),
            quantile(case, 0.9),
        );
        println!(
            "{:<18} {:>4} {median:>11.2} {p10:>11.2} {p90:>11.2}",
            case.name,
            case.samples.len()
        );
    }
    let (unknown, wrong) = (quantile(&cases[0], 0.5), quantile(&cases[1], 0.5));
    let ratio = unknown / wrong;
    let verdict = if (ratio - 1.0).abs() <= 0.10 {
        "within"
    } else {
        "NOT within"
    };
    println!("unknown/wrong median ratio: {ratio:.3} ({verdict} 10%)");
    println!(
        "throttled/wrong median ratio: {:.3}",
        quantile(&cases[2], 0.5) / wrong
    );

    // Phase 2: a hash at cost + 1, as left by a lowered TOLLGATE_BCRYPT_COST.
    seed_user(&state, OLDER_USER, cost + 1).await;
    let mut cases = [
        case("unknown username", "no-such-user", StatusCode::BAD_REQUEST),
        case("older cost", OLDER_USER, StatusCode::BAD_REQUEST),
    ];
    let first_unknown = attempt(&client, &token_url, &cases[0]).await;
    // The first attempt at the older user shows the hasher its cost.
    attempt(&client, &token_url, &cases[1]).await;
    state.auth.hasher.warm_up().await.expect("dummy hash ready");
    for round in 0..rounds {
        for offset in 0..cases.len() {
            let case = &mut cases[(round + offset) % 2];
            let elapsed = attempt(&client, &token_url, case).await;
            case.samples.push(elapsed);
        }
    }
    for case in &mut cases {
        case.samples.sort();
    }
    let (unknown, older) = (quantile(&cases[0], 0.5), quantile(&cases[1], 0.5));
    println!(
        "after a cost change (a user at cost {}): unknown before that user was seen {:.2} ms; \
         after: unknown {unknown:.2} ms, older-cost user {older:.2} ms, ratio {:.3}",
        cost + 1,
        first_unknown.as_secs_f64() * 1000.0,
        unknown / older
    );

    let _ = stop.send(());
    let _ = server.await;
}

fn case(name: &'static str, username: &'static str, expect: StatusCode) -> Case {
    Case {
        name,
        username,
        expect,
        samples: Vec::new(),
    }
}

/// A user with a real hash at the configured cost, and a username locked far
/// into the future (as the throttle would lock it).
async fn seed(state: &tollgate::state::AppState, cost: u32) {
    seed_user(state, USER, cost).await;
    let until_ms = (db::now() + 3600) * 1000;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&state.config.database_url)
        .await
        .expect("a raw connection");
    sqlx::query(
        "INSERT INTO login_failures (key, failures, locked_until_ms, updated_at)
         VALUES ($1, 1000, $2, $3)",
    )
    .bind(format!("user:{LOCKED_USER}"))
    .bind(until_ms)
    .bind(db::now())
    .execute(&pool)
    .await
    .expect("lock seeded");
    state.auth.hasher.warm_up().await.expect("dummy hash ready");
}

/// A user whose hash is at `cost`.
async fn seed_user(state: &tollgate::state::AppState, username: &str, cost: u32) {
    let hash = bcrypt::hash(PASSWORD, cost).expect("hashing works");
    let user = db::users::NewUser {
        username,
        password_hash: &hash,
        email: None,
        full_name: None,
        scopes: "",
    };
    state
        .store()
        .users()
        .create(&user)
        .await
        .expect("user seeded");
}

/// One login attempt over HTTP; its wall time, response read in full.
async fn attempt(client: &reqwest::Client, url: &str, case: &Case) -> Duration {
    let form = [("username", case.username), ("password", WRONG)];
    let started = Instant::now();
    let response = client.post(url).form(&form).send().await.expect("request");
    let status = response.status();
    response.bytes().await.expect("body");
    let elapsed = started.elapsed();
    assert_eq!(
        status, case.expect,
        "{}: the bench setup is wrong",
        case.name
    );
    elapsed
}

/// The `q` quantile of sorted samples, in milliseconds.
fn quantile(case: &Case, q: f64) -> f64 {
    let samples = &case.samples;
    let at = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[at].as_secs_f64() * 1000.0
}
