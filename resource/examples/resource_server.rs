//! A service other than tollgate that accepts tollgate's access tokens:
//! `GET /reports/{id}` needs the `read:items` scope, declared once on the
//! security parameter and enforced from that declaration.
//!
//! `cargo run -p tollgate-resource --example resource_server`, with
//! - `TOLLGATE_URL`: tollgate's issuer (default `http://127.0.0.1:8000`);
//!   this service's Swagger UI (`/docs`) logs in at its `/token`, which
//!   needs this service's origin in tollgate's `TOLLGATE_CORS_ORIGINS`;
//! - `TOLLGATE_AUDIENCE`: the `aud` tokens must carry (default `tollgate`);
//! - `RESOURCE_BIND`: this service's address (default `127.0.0.1:8100`);
//! - `RESOURCE_ALLOW_HTTP`: `1` or `true` to fetch keys over plain HTTP from
//!   an issuer that is not on loopback (default: HTTPS required there).
//!
//! Revocation events (off unless one of the first two is set): the tokens
//! of a session ended at tollgate are refused here within about a second.
//! - `RESOURCE_EVENTS_TOKEN`: an access token holding the `events` scope,
//!   to poll with (it expires like any: for trying this out);
//! - `RESOURCE_EVENTS_CLIENT_ID` and `RESOURCE_EVENTS_CLIENT_SECRET`: a
//!   registered client's credentials with the `events` scope, sent as HTTP
//!   Basic (for a service that runs for good);
//! - `RESOURCE_EVENTS_WHEN_STALE`: `refuse` (default: answer 503 while no
//!   poll has been answered for the bound) or `accept` (verify as without
//!   events, and count);
//! - `RESOURCE_EVENTS_STALE_AFTER`: that bound in seconds (default 60);
//! - `RESOURCE_EVENTS_KEEP`: seconds a revoked session is remembered, at
//!   least tollgate's access-token lifetime (default 3600).
//!
//! tollgate must sign with RS256, ES256 or EdDSA and serve its metadata and
//! JWKS; under HS256 its JWKS is empty and every token is refused here.

use std::io::IsTerminal;

use poem::{
    EndpointExt, Request, Route, Server, endpoint::make_sync, listener::TcpListener, web::Html,
};
use poem_openapi::{
    OAuthScopes, Object, OpenApi, OpenApiService, SecurityScheme, auth::Bearer, param::Path,
    payload::Json,
};
use std::time::Duration;

use tollgate_resource::{
    CachePolicy, EventsAuth, EventsConfig, JwksVerifier, Principal, ResourceGuard, WhenStale,
};

/// The scopes this service checks. tollgate grants only the scopes it knows,
/// so this one is tollgate's `read:items`.
#[derive(Debug, Clone, Copy, OAuthScopes)]
enum ReportScope {
    /// Read reports.
    #[oai(rename = "read:items")]
    Read,
}

/// A tollgate access token, `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(
    rename = "Tollgate",
    ty = "oauth2",
    // Replaced at start by `TOLLGATE_URL`'s `/token` (see `docs_page`).
    flows(password(token_url = "/token", scopes = "ReportScope")),
    checker = "check"
)]
struct Auth(Principal);

async fn check(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    tollgate_resource::check(req, bearer).await
}

/// A report.
#[derive(Object)]
struct Report {
    id: i64,
    /// The tollgate user id the report was made for.
    owner: String,
    title: String,
}

struct ReportsApi;

#[OpenApi]
impl ReportsApi {
    /// Read a report.
    #[oai(path = "/reports/:id", method = "get")]
    async fn report(
        &self,
        id: Path<i64>,
        #[oai(scope = "ReportScope::Read")] auth: Auth,
    ) -> Json<Report> {
        Json(Report {
            id: id.0,
            owner: auth.0.subject,
            title: format!("report {}", id.0),
        })
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Colour codes only on a terminal, not in a file or a pipe.
    tracing_subscriber::fmt()
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let issuer = env("TOLLGATE_URL", "http://127.0.0.1:8000");
    let audience = env("TOLLGATE_AUDIENCE", "tollgate");
    let bind = env("RESOURCE_BIND", "127.0.0.1:8100");

    let allow_http = matches!(env("RESOURCE_ALLOW_HTTP", "").as_str(), "1" | "true");
    let policy = CachePolicy::default().allow_plain_http(allow_http);
    let verifier = JwksVerifier::with_policy(&issuer, &audience, policy);
    let _events = events_config().map(|config| {
        tracing::info!(when_stale = ?config.when_stale, "polling revocation events");
        verifier.subscribe(config)
    });
    let guard = ResourceGuard::new::<ReportsApi>(verifier, "reports");
    let service =
        OpenApiService::new(ReportsApi, "reports", "1.0").server(format!("http://{bind}"));
    let docs = docs_page(&service, &format!("{}/token", issuer.trim_end_matches('/')));
    let app = Route::new()
        .nest("/", service)
        .at("/docs", make_sync(move |_| Html(docs.clone())))
        .with(guard);
    tracing::info!(%bind, %issuer, "serving reports");
    Server::new(TcpListener::bind(bind)).run(app).await
}

/// Swagger UI whose Authorize button logs in at `token_url`: the security
/// scheme's `tokenUrl` is fixed when the code is compiled, so the page's
/// embedded spec gets the configured one.
fn docs_page(service: &OpenApiService<ReportsApi, ()>, token_url: &str) -> String {
    let spec = service.spec();
    let mut patched: serde_json::Value = serde_json::from_str(&spec).expect("the spec is JSON");
    patched["components"]["securitySchemes"]["Tollgate"]["flows"]["password"]["tokenUrl"] =
        token_url.into();
    service
        .swagger_ui_html()
        .replacen(&spec, &patched.to_string(), 1)
}

/// The revocation events settings from the environment, if they are on.
fn events_config() -> Option<EventsConfig> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let auth = match (
        var("RESOURCE_EVENTS_TOKEN"),
        var("RESOURCE_EVENTS_CLIENT_ID"),
    ) {
        (Some(token), _) => EventsAuth::Bearer(token),
        (None, Some(client_id)) => EventsAuth::ClientSecret {
            client_id,
            secret: var("RESOURCE_EVENTS_CLIENT_SECRET").unwrap_or_default(),
        },
        (None, None) => return None,
    };
    let seconds = |name: &str, default: u64| {
        Duration::from_secs(var(name).and_then(|v| v.parse().ok()).unwrap_or(default))
    };
    let mut config = EventsConfig::new(auth);
    config.when_stale = match var("RESOURCE_EVENTS_WHEN_STALE").as_deref() {
        Some("accept") => WhenStale::Accept,
        _ => WhenStale::Refuse,
    };
    config.stale_after = seconds("RESOURCE_EVENTS_STALE_AFTER", 60);
    config.keep_revoked = seconds("RESOURCE_EVENTS_KEEP", 3600);
    Some(config)
}
