//! `TestApp`: a real tollgate server on 127.0.0.1:0 over a fresh database:
//! a SQLite file in a temporary directory, or, when
//! `TOLLGATE_TEST_DATABASE_URL=postgres://...` is set, a new PostgreSQL
//! database on that server, dropped when the test ends.

#![allow(dead_code)]

use std::{net::SocketAddr, path::PathBuf};

use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tokio::{sync::oneshot, task::JoinHandle};
use tollgate::{
    app::App,
    auth::scopes::ScopeSet,
    config::{Config, PasswordAlgorithm},
    db::{self, Store},
    state::AppState,
};

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
/// The cheapest bcrypt cost, so the suite runs fast; logins still run real
/// bcrypt. The suite hashes with bcrypt unless a test sets Argon2id.
pub const TEST_COST: u32 = 4;

pub struct TestApp {
    pub addr: SocketAddr,
    /// The metrics listener, when `config.metrics_bind` was set.
    pub metrics_addr: Option<SocketAddr>,
    pub client: Client,
    pub state: AppState,
    pub config: Config,
    db: std::sync::Arc<TestDb>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// A server with the default settings (bcrypt cost 4) and an `admin` user
    /// holding every scope, password [`ADMIN_PASSWORD`].
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Like [`spawn`](Self::spawn), with the settings changed by `adjust` first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let db = std::sync::Arc::new(TestDb::new().await);
        let mut config = Config::with_database(db.url.clone());
        config.bind = "127.0.0.1:0".parse().unwrap();
        config.password_hash = PasswordAlgorithm::Bcrypt;
        config.bcrypt_cost = TEST_COST;
        adjust(&mut config);
        seed_admin(&config).await;
        Self::start(config, db).await
    }

    /// A server on the database at `url` (created and migrated if need be),
    /// seeded like [`spawn`](Self::spawn).
    pub async fn spawn_on(url: &str) -> Self {
        let mut db = TestDb::new().await;
        db.url = url.to_owned();
        let db = std::sync::Arc::new(db);
        let mut config = Config::with_database(url);
        config.bind = "127.0.0.1:0".parse().unwrap();
        config.password_hash = PasswordAlgorithm::Bcrypt;
        config.bcrypt_cost = TEST_COST;
        seed_admin(&config).await;
        Self::start(config, db).await
    }

    async fn start(mut config: Config, db: std::sync::Arc<TestDb>) -> Self {
        let app = App::build(config.clone()).await.expect("app builds");
        let addr = app.local_addr();
        let metrics_addr = app.metrics_addr();
        let state = app.state().clone();
        // The first instance's default issuer (its port) is kept for restarts
        // and siblings, as nodes of one deployment share TOLLGATE_ISSUER.
        config
            .issuer
            .get_or_insert_with(|| state.auth.keys.issuer().to_owned());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            metrics_addr,
            client: Client::new(),
            state,
            config,
            db,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Stops the server (gracefully) and starts a new one on the same database
    /// and settings, on a new port.
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        let config = self.config.clone();
        let db = self.db.clone();
        Self::start(config, db).await
    }

    /// Like [`restart`](Self::restart), with the settings changed by `adjust`.
    pub async fn restart_with(mut self, adjust: impl FnOnce(&mut Config)) -> Self {
        self.stop().await;
        let mut config = self.config.clone();
        adjust(&mut config);
        let db = self.db.clone();
        Self::start(config, db).await
    }

    /// Another server process's view: a second instance on the same database.
    pub async fn sibling(&self) -> Self {
        Self::start(self.config.clone(), self.db.clone()).await
    }

    /// Another node of this deployment that reaches the same database at
    /// `url` (through a relay or a pooler).
    pub async fn node_via(&self, url: &str) -> Self {
        let mut config = self.config.clone();
        config.database_url = url.to_owned();
        Self::start(config, self.db.clone()).await
    }

    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }

    /// The SQLite file (tests that only make sense on SQLite).
    pub fn db_path(&self) -> PathBuf {
        self.db.dir.path().join("tollgate.db")
    }

    /// The database URL every process of this test shares.
    pub fn database_url(&self) -> &str {
        &self.db.url
    }

    pub fn store(&self) -> &Store {
        self.state.store()
    }

    /// A pool on the same database for raw SQL in either engine (write the
    /// parameters as `$1`, which both read).
    pub async fn sql(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::pool::PoolOptions::new()
            .max_connections(1)
            .connect(&self.db.url)
            .await
            .expect("a raw connection to the test database")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path))
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path))
    }

    pub fn put(&self, path: &str) -> RequestBuilder {
        self.client.put(self.url(path))
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.client.patch(self.url(path))
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.client.delete(self.url(path))
    }

    /// `GET path` with a bearer token.
    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        self.get(path)
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// `method path` with a bearer token and a JSON body.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: &Value,
    ) -> Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// `POST /token` with these form fields.
    pub async fn token_request(&self, form: &[(&str, &str)]) -> Response {
        self.post("/token")
            .form(form)
            .send()
            .await
            .expect("request")
    }

    /// `POST /token` with the refresh grant, and a `scope` if given.
    pub async fn refresh(&self, refresh_token: &str, scope: Option<&str>) -> Response {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        self.token_request(&form).await
    }

    /// The status of `GET /users/me` with this access token.
    pub async fn me_status(&self, access_token: &str) -> StatusCode {
        let response = self.get("/users/me").bearer_auth(access_token).send().await;
        response.expect("request").status()
    }

    /// A successful password grant's body; panics on anything else.
    pub async fn login(&self, username: &str, password: &str, scope: Option<&str>) -> Tokens {
        let mut form = vec![("username", username), ("password", password)];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let response = self.token_request(&form).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "login of {username} failed"
        );
        Tokens::from(response.json::<Value>().await.unwrap())
    }

    /// An access token for `admin` with every scope.
    pub async fn admin_token(&self) -> String {
        self.login(ADMIN, ADMIN_PASSWORD, None).await.access
    }

    /// Creates a user through the API (as admin) and returns its id.
    pub async fn create_user(&self, username: &str, password: &str, scopes: &[&str]) -> i64 {
        let admin = self.admin_token().await;
        let response = self
            .post("/users")
            .bearer_auth(admin)
            .json(&serde_json::json!({
                "username": username,
                "password": password,
                "scopes": scopes,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json::<Value>().await.unwrap()["id"]
            .as_i64()
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The tokens of a successful token response.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub scope: String,
    pub body: Value,
}

impl From<Value> for Tokens {
    fn from(body: Value) -> Self {
        Self {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
            scope: body["scope"].as_str().unwrap().to_owned(),
            body,
        }
    }
}

pub fn database_url(path: &std::path::Path) -> String {
    format!("sqlite://{}", path.display())
}

/// The PostgreSQL server the suite also runs against, if any.
pub fn postgres_url() -> Option<String> {
    std::env::var("TOLLGATE_TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
}

/// True when the suite runs on PostgreSQL; a test that only makes sense on
/// SQLite (its file, its locks) returns early then, saying so.
pub fn skip_on_postgres(test: &str) -> bool {
    let skip = postgres_url().is_some();
    if skip {
        eprintln!("{test}: SQLite only, skipped on PostgreSQL");
    }
    skip
}

/// A test's database: a directory for the SQLite file (always made, also for
/// the CLI's files) and, on PostgreSQL, a database of its own on the server,
/// dropped when the last process of the test lets go of it.
pub struct TestDb {
    pub url: String,
    dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let Some(server) = postgres_url() else {
            let url = database_url(&dir.path().join("tollgate.db"));
            return Self {
                url,
                dir,
                postgres: None,
            };
        };
        use sqlx::{Connection, Executor};
        let name = format!(
            "tollgate_test_{}",
            tollgate::auth::random_token(9)
                .to_lowercase()
                .replace('-', "_")
        );
        let mut admin = sqlx::PgConnection::connect(&server)
            .await
            .expect("the test PostgreSQL server");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("CREATE DATABASE");
        let mut url = url::Url::parse(&server).expect("a URL");
        url.set_path(&name);
        Self {
            url: url.to_string(),
            dir,
            postgres: Some((server, name)),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, whose tasks still hold
        // connections: drop the database from a thread of its own, without
        // waiting for it (DROP DATABASE waits for every backend to answer,
        // and a backend writing to a blocked runtime would never answer).
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                use sqlx::{Connection, Executor};
                let mut admin = sqlx::PgConnection::connect(&server).await?;
                admin
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await
                    .map(drop)
            })
        });
    }
}

/// Creates the admin the tests log in as, before the server's first start (so
/// it skips creating one with a random password).
async fn seed_admin(config: &Config) {
    let store = Store::open(&config.database_url, 1, false)
        .await
        .expect("the database opens");
    let hasher = tollgate::auth::password::Hasher::new(config.password_profile(), 1);
    let hash = hasher.hash(ADMIN_PASSWORD).await.unwrap();
    let admin = db::users::NewUser {
        username: ADMIN,
        password_hash: &hash,
        email: None,
        full_name: None,
        scopes: &ScopeSet::all().to_string(),
    };
    store.users().create(&admin).await.expect("admin seeded");
    store.close().await;
}

/// The JSON body of an error response, checked for the contract's shape.
pub async fn error_of(response: Response) -> (StatusCode, String, Value) {
    let status = response.status();
    let body: Value = response.json().await.expect("error bodies are JSON");
    let code = body["error"]
        .as_str()
        .expect("`error` is a string")
        .to_owned();
    assert!(body["error_description"].is_string(), "{body}");
    (status, code, body)
}

/// Asserts an error response with `status` and `error` code `code`, naming
/// `context` and the body on failure; returns the body.
pub async fn expect_error(
    response: Response,
    status: StatusCode,
    code: &str,
    context: impl std::fmt::Display,
) -> Value {
    let (actual, error, body) = error_of(response).await;
    assert_eq!(
        (actual, error.as_str()),
        (status, code),
        "{context}: {body}"
    );
    body
}

/// A password the suite gives the users it creates.
pub const PASSWORD: &str = "user-password-1";

impl TestApp {
    /// Creates `username` with `scopes` and returns an access token holding all of them.
    pub async fn user_token(&self, username: &str, scopes: &[&str]) -> String {
        self.create_user(username, PASSWORD, scopes).await;
        self.login(username, PASSWORD, None).await.access
    }

    /// `GET path` with `token` as the bearer; asserts a 200 and returns the JSON body.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        let response = self.get(path).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }
}

/// The header and claims of a JWT, decoded without checking anything.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let mut parts = token.split('.');
    let mut json = || {
        let part = parts.next().expect("a JWT has three parts");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    (json(), json())
}

/// The `WWW-Authenticate` header of a response, or "" when there is none.
pub fn challenge(response: &Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A response header as a string, or "" when it is missing.
pub fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The `tollgate` binary on `database_url`, with bcrypt at cost 4 and no
/// `TOLLGATE_*` setting inherited from the environment running the tests.
pub fn tollgate_command(database_url: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"));
    for (name, _) in std::env::vars() {
        if name.starts_with("TOLLGATE_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
        .env("TOLLGATE_DATABASE_URL", database_url)
        .env("TOLLGATE_PASSWORD_HASH", "bcrypt")
        .env("TOLLGATE_BCRYPT_COST", TEST_COST.to_string())
        .env("NO_COLOR", "1");
    command
}
