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
use tollgate_resource::{CachePolicy, JwksVerifier, Principal, ResourceGuard};

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
