//! Uses the client progenitor generated from openapi/openapi.json against a
//! running tollgate: every call goes through the generated code, the token
//! request (a form body) included; only the bearer header is set by hand,
//! since progenitor leaves authentication to the `reqwest::Client` it is given.
//!
//! Environment: E2E_BASE_URL, E2E_CLIENT_USER, E2E_CLIENT_PASSWORD (a user
//! holding read:items and write:items).

use std::{env, num::NonZeroU32, process::ExitCode};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, LOCATION};
use tollgate_client_check::{Client, Error, types};

type Outcome = Result<(), String>;

fn say(message: &str) {
    println!("  [rust client] {message}");
}

fn check(condition: bool, message: impl Into<String>) -> Outcome {
    if condition {
        Ok(())
    } else {
        Err(message.into())
    }
}

fn var(name: &str) -> Result<String, String> {
    env::var(name).map_err(|_| format!("{name} is not set"))
}

fn login_form(user: &str, password: &str, scope: Option<&str>) -> types::TokenRequest {
    types::TokenRequest {
        grant_type: types::TokenRequestGrantType::Password,
        username: Some(user.into()),
        password: Some(password.into()),
        scope: scope.map(Into::into),
        ..Default::default()
    }
}

async fn run() -> Outcome {
    let base = var("E2E_BASE_URL")?;
    let user = var("E2E_CLIENT_USER")?;
    let password = var("E2E_CLIENT_PASSWORD")?;
    let anonymous = Client::new(&base);

    // POST /token, a form body, through the generated TokenRequest.
    match anonymous
        .issue_token(&login_form(&user, "not-the-password", None))
        .await
    {
        Err(Error::ErrorResponse(body)) if body.error == types::ErrorBodyError::InvalidGrant => {
            say("POST /token with a wrong password: 400 ErrorBody(error=invalid_grant)");
        }
        other => return Err(format!("a wrong password gave {other:?}")),
    }
    let issued = anonymous
        .issue_token(&login_form(
            &user,
            &password,
            Some("read:items write:items"),
        ))
        .await
        .map_err(|e| format!("POST /token: {e}"))?;
    let no_store = issued.headers().get("cache-control").map(|v| v.as_bytes());
    check(no_store == Some(b"no-store"), "no Cache-Control: no-store")?;
    let token = issued.into_inner();
    check(
        token.token_type == "bearer" && token.scope == "read:items write:items",
        format!("unexpected token body {token:?}"),
    )?;
    say(&format!(
        "POST /token: 200 TokenBody(scope={:?}, expires_in={})",
        token.scope, token.expires_in
    ));

    let mut headers = HeaderMap::new();
    let bearer = HeaderValue::from_str(&format!("Bearer {}", token.access_token))
        .map_err(|e| e.to_string())?;
    headers.insert(AUTHORIZATION, bearer);
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .map_err(|e| e.to_string())?;
    let authed = Client::new_with_client(&base, http);

    let me = authed
        .get_me()
        .await
        .map_err(|e| format!("GET /users/me: {e}"))?
        .into_inner();
    check(me.username == user, format!("GET /users/me gave {me:?}"))?;
    check(
        me.scopes.contains(&types::Scope::ReadItems)
            && me.scopes.contains(&types::Scope::WriteItems),
        format!("unexpected scopes {:?}", me.scopes),
    )?;
    // Required and nullable in the spec: present as Option, never defaulted.
    say(&format!(
        "GET /users/me: User(id={}, username={:?}, email={:?}, scopes={:?})",
        me.id, me.username, me.email, me.scopes
    ));

    let new = types::NewItem {
        name: "made by the progenitor client"
            .parse()
            .map_err(|e| format!("{e}"))?,
        description: Some("from clients/rust".parse().map_err(|e| format!("{e}"))?),
    };
    let created = authed
        .create_item(&new)
        .await
        .map_err(|e| format!("POST /items: {e}"))?;
    check(
        created.status() == 201,
        format!("POST /items: {}", created.status()),
    )?;
    let location = created.headers().get(LOCATION).cloned();
    let item = created.into_inner();
    let expected = format!("/items/{}", item.id);
    check(
        location.as_ref().map(|v| v.as_bytes()) == Some(expected.as_bytes()),
        format!("Location is {location:?}"),
    )?;
    say(&format!(
        "POST /items: 201 Item(id={}, name={:?}), Location {expected}",
        item.id, item.name
    ));

    let page = authed
        .list_items(None, NonZeroU32::new(200))
        .await
        .map_err(|e| format!("GET /items: {e}"))?
        .into_inner();
    check(
        page.data
            .iter()
            .any(|listed| listed.id == item.id && listed.name == item.name),
        "the new item is not listed",
    )?;
    say(&format!(
        "GET /items: ItemPage with {} item(s), the new one among them (next_cursor {:?})",
        page.data.len(),
        page.next_cursor
    ));

    let again = authed
        .get_item(item.id)
        .await
        .map_err(|e| format!("GET /items/{}: {e}", item.id))?
        .into_inner();
    check(
        again.description.as_deref() == Some("from clients/rust"),
        format!("GET /items/{{id}} gave {again:?}"),
    )?;
    say(&format!("GET /items/{}: the same item", item.id));

    // The scope check, seen from the client: this token lacks `admin`.
    match authed.list_users(None, None).await {
        Err(Error::ErrorResponse(body)) if body.status() == 403 => {
            say("GET /users without admin: 403 ErrorBody(error=insufficient_scope)");
        }
        other => return Err(format!("GET /users without admin gave {other:?}")),
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("  [rust client] FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}
