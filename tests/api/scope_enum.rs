//! The scope machinery knows no scope by name: a small API with its own scope
//! enum of ten variants, declared nowhere else, gets the same spec, parsing
//! and enforcement as tollgate's own, through the same generic code
//! (`ScopeSetOf`, `ScopeTableOf`). A second, hand-kept list of scopes
//! anywhere in that code would leave these variants out, and fail here.

use poem::{
    Endpoint, EndpointExt, Request, Route,
    http::{Method, StatusCode},
};
use poem_openapi::{Enum, OAuthScopes, OpenApi, OpenApiService, SecurityScheme, auth::Bearer};
use serde_json::Value;
use tollgate::{
    api::bearer::{ScopeTable, ScopeTableOf},
    auth::scopes::ScopeSetOf,
};

/// More variants than a byte has bits; the last ones are the ones walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, OAuthScopes, Enum)]
enum NoteScope {
    /// Read notes.
    #[oai(rename = "read:notes")]
    ReadNotes,
    /// Write notes.
    #[oai(rename = "write:notes")]
    WriteNotes,
    #[oai(rename = "read:tags")]
    ReadTags,
    #[oai(rename = "write:tags")]
    WriteTags,
    #[oai(rename = "read:files")]
    ReadFiles,
    #[oai(rename = "write:files")]
    WriteFiles,
    #[oai(rename = "share")]
    Share,
    #[oai(rename = "archive")]
    Archive,
    /// The ninth: bit 8.
    #[oai(rename = "audit")]
    Audit,
    /// The tenth: bit 9.
    #[oai(rename = "export")]
    Export,
}

tollgate::scope_enum!(NoteScope);

/// A test-only scheme: the bearer value *is* the granted scopes, joined by `,`.
#[derive(SecurityScheme)]
#[oai(
    rename = "NotesAuth",
    ty = "oauth2",
    flows(password(token_url = "/token", scopes = "NoteScope")),
    checker = "check"
)]
struct NotesAuth(());

async fn check(req: &Request, bearer: Bearer) -> poem::Result<()> {
    let table = req
        .data::<ScopeTableOf<NoteScope>>()
        .expect("table attached");
    let granted = ScopeSetOf::<NoteScope>::parse(&bearer.token.replace(',', " "))
        .map_err(|_| poem::Error::from_status(StatusCode::UNAUTHORIZED))?;
    table.authorize(req, granted)?;
    Ok(())
}

struct NotesApi;

#[OpenApi]
impl NotesApi {
    #[oai(path = "/notes", method = "get")]
    async fn list(&self, #[oai(scope = "NoteScope::ReadNotes")] _auth: NotesAuth) {}

    #[oai(path = "/notes/:id", method = "delete")]
    async fn archive(
        &self,
        #[oai(scope = "NoteScope::Archive")] _auth: NotesAuth,
        _id: poem_openapi::param::Path<i64>,
    ) {
    }

    #[oai(path = "/audit", method = "get")]
    async fn audit(&self, #[oai(scope = "NoteScope::Audit")] _auth: NotesAuth) {}

    #[oai(path = "/export", method = "post")]
    async fn export(
        &self,
        #[oai(scope = "NoteScope::Export", scope = "NoteScope::ReadNotes")] _auth: NotesAuth,
    ) {
    }
}

fn spec() -> Value {
    serde_json::from_str(&OpenApiService::new(NotesApi, "notes", "1").spec()).unwrap()
}

async fn call(method: &Method, path: &str, granted: &[&str]) -> poem::Response {
    let app = Route::new()
        .nest("/", OpenApiService::new(NotesApi, "notes", "1"))
        .data(ScopeTableOf::<NoteScope>::from_api::<NotesApi>());
    let request = Request::builder()
        .method(method.clone())
        .uri(path.parse().unwrap())
        .header("Authorization", format!("Bearer {}", granted.join(",")))
        .finish();
    app.get_response(request).await
}

#[test]
fn a_declared_variant_is_in_the_scheme_the_schema_and_every_scope() {
    let spec = spec();
    let flow = &spec["components"]["securitySchemes"]["NotesAuth"]["flows"]["password"];
    let mut scheme: Vec<&str> = flow["scopes"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    scheme.sort_unstable();
    let mut every = ScopeSetOf::<NoteScope>::all().names();
    assert_eq!(every.len(), 10);
    every.sort_unstable();
    assert_eq!(scheme, every);
    let set = ScopeSetOf::<NoteScope>::parse("export audit read:notes").unwrap();
    assert_eq!(set.to_string(), "read:notes audit export");
    assert!(set.has(NoteScope::Export) && !set.has(NoteScope::Archive));
    // The two enums are separate worlds.
    assert!(ScopeSetOf::<NoteScope>::parse("read:items").is_err());
    assert!(
        ScopeTable::from_api::<tollgate::api::Api>()
            .operations()
            .count()
            >= 10
    );
}

#[tokio::test]
async fn every_operation_of_another_scope_enum_is_enforced_from_its_declaration() {
    let spec = spec();
    let every = ScopeSetOf::<NoteScope>::all().names();
    let mut walked = 0;
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, op) in operations.as_object().unwrap() {
            let needed: Vec<&str> = op["security"][0]["NotesAuth"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            let method: Method = method.to_uppercase().parse().unwrap();
            let path = path.replace("{id}", "7");
            let others: Vec<&str> = every
                .iter()
                .map(String::as_str)
                .filter(|s| !needed.contains(s))
                .collect();

            let refused = call(&method, &path, &others).await;
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{method} {path}");
            let challenge = refused.headers()["WWW-Authenticate"].to_str().unwrap();
            let named = ScopeSetOf::<NoteScope>::parse(&needed.join(" ")).unwrap();
            assert!(
                challenge.ends_with(&format!("scope=\"{named}\"")),
                "{challenge}"
            );

            // One short of a two-scope requirement is still refused.
            for missing in needed.iter().filter(|_| needed.len() > 1) {
                let partial: Vec<&str> = needed.iter().copied().filter(|s| s != missing).collect();
                let response = call(&method, &path, &partial).await;
                assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
            }

            let served = call(&method, &path, &needed).await;
            assert!(
                served.status().is_success(),
                "{method} {path}: {}",
                served.status()
            );
            walked += 1;
        }
    }
    assert_eq!(walked, 4);
}
