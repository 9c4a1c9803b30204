//! The ceiling of the load benchmark (`bench/run.sh`); not part of the service.
//!
//! ```text
//! jwt_ceiling USER_JSON [--one-query]
//! ```
//!
//! A bare poem server that does what `GET /users/me` cannot do without: it
//! verifies the bearer token with tollgate's own `AccessTokens::verify` (same key,
//! algorithm, `typ`, `kid`, `exp`, `iss`, `aud` and `sub` checks) and answers
//! the user's JSON from memory. No database, no log, no OpenAPI layer. With
//! `--one-query` (PostgreSQL) it also runs one prepared primary-key query
//! per request on the user's row, over a sqlx pool with sqlx's defaults and
//! as many connections as tollgate's (two per core): what a server that
//! reads its user at every request, and nothing else, costs. It
//! reads tollgate's settings: `TOLLGATE_BIND`, `TOLLGATE_ISSUER`,
//! `TOLLGATE_AUDIENCE`, and the key from `TOLLGATE_JWT_SECRET` or else, once at
//! start, from the SQLite database of `TOLLGATE_DATABASE_URL`. `USER_JSON` is a
//! file holding the body that tollgate's `/users/me` answered. `GET /healthz`
//! answers as tollgate's does.

use secrecy::SecretString;
use std::{error::Error, str::FromStr, sync::Arc};

use poem::{
    EndpointExt, IntoResponse, Request, Response, Route, Server, get, handler,
    http::{StatusCode, header},
    listener::TcpListener,
    web::{Data, Json},
};
use serde_json::Value;
use sqlx::{
    PgPool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqlitePoolOptions},
};
use tollgate::auth::jwt::AccessTokens;

struct Ceiling {
    keys: AccessTokens,
    user: Value,
    /// The `sub` the user's tokens carry.
    sub: String,
    /// With `--one-query`: the pool each request reads the user through.
    pool: Option<PgPool>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (user_json, one_query) = match args.as_slice() {
        [user_json] => (user_json, false),
        [user_json, flag] if flag == "--one-query" => (user_json, true),
        _ => return Err("usage: jwt_ceiling USER_JSON [--one-query]".into()),
    };
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let secret = match std::env::var("TOLLGATE_JWT_SECRET") {
        Ok(secret) => secret,
        Err(_) => stored_secret(&env("TOLLGATE_DATABASE_URL", "sqlite://tollgate.db")).await?,
    };
    let issuer = env("TOLLGATE_ISSUER", "tollgate");
    let audience = env("TOLLGATE_AUDIENCE", "tollgate");
    let user: Value = serde_json::from_str(&std::fs::read_to_string(user_json)?)?;
    let sub = user["id"]
        .as_i64()
        .ok_or("the user JSON has no id")?
        .to_string();
    let pool = match one_query {
        true => Some(
            PgPoolOptions::new()
                .max_connections(
                    std::thread::available_parallelism().map_or(4, |n| n.get() as u32 * 2),
                )
                .connect(&env("TOLLGATE_DATABASE_URL", ""))
                .await?,
        ),
        false => None,
    };
    let state = Arc::new(Ceiling {
        keys: AccessTokens::new(&SecretString::from(secret), &issuer, &audience),
        user,
        sub,
        pool,
    });
    let app = Route::new()
        .at("/users/me", get(me))
        .at("/healthz", get(healthz))
        .data(state);
    let addr = env("TOLLGATE_BIND", "127.0.0.1:8000");
    Server::new(TcpListener::bind(addr)).run(app).await?;
    Ok(())
}

/// The generated HS256 key, as tollgate keeps it.
async fn stored_secret(url: &str) -> Result<String, Box<dyn Error>> {
    let options = SqliteConnectOptions::from_str(url)?.read_only(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let secret = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'jwt_secret'")
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    Ok(secret)
}

#[handler]
async fn me(req: &Request, state: Data<&Arc<Ceiling>>) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token);
    let user_id = match token.map(|token| state.keys.verify(token)) {
        Some(Ok(claims)) if claims.sub == state.sub => claims.sub.parse::<i64>().unwrap_or(0),
        _ => return StatusCode::UNAUTHORIZED.into_response(),
    };
    if let Some(pool) = &state.pool {
        let row: Result<Option<(i64, String, bool)>, _> =
            sqlx::query_as("SELECT id, username, disabled FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(pool)
                .await;
        match row {
            Ok(Some((_, _, false))) => {}
            Ok(_) => return StatusCode::UNAUTHORIZED.into_response(),
            Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    }
    Json(state.user.clone())
        .with_header(header::CACHE_CONTROL, "no-store")
        .into_response()
}

#[handler]
fn healthz() -> Json<Value> {
    Json(serde_json::json!({"status": "ok"}))
}
