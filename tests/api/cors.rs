//! CORS for `TOLLGATE_CORS_ORIGINS`: on the token and discovery endpoints
//! only, for the listed origins only.

use reqwest::{Method, StatusCode};

use crate::helpers::{ADMIN_PASSWORD, TestApp};

const ORIGIN: &str = "http://127.0.0.1:9000";

async fn app() -> TestApp {
    TestApp::spawn_with(|config| {
        config.cors_origins =
            tollgate::config::CorsOrigins(vec![ORIGIN.into(), "https://docs.example.com".into()]);
    })
    .await
}

fn allow_origin(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_listed_origin_gets_a_preflight_answer_and_can_log_in() {
    let app = app().await;
    for (path, method) in [
        ("/token", "POST"),
        ("/token/revoke", "POST"),
        ("/token/introspect", "POST"),
        ("/.well-known/oauth-authorization-server", "GET"),
        ("/.well-known/jwks.json", "GET"),
    ] {
        let preflight = app
            .client
            .request(Method::OPTIONS, app.url(path))
            .header("origin", ORIGIN)
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(allow_origin(&preflight).as_deref(), Some(ORIGIN), "{path}");
        let headers = preflight.headers();
        assert_eq!(headers["access-control-allow-methods"], method, "{path}");
        let allowed = headers["access-control-allow-headers"].to_str().unwrap();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"));
        assert!(headers.get("access-control-allow-credentials").is_none());
    }
    let login = app
        .post("/token")
        .header("origin", ORIGIN)
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(allow_origin(&login).as_deref(), Some(ORIGIN));
    assert!(login.headers()["vary"].to_str().unwrap().contains("origin"));
    let jwks = app
        .get("/.well-known/jwks.json")
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(allow_origin(&jwks).as_deref(), Some(ORIGIN));
    // An error answer carries it too, so that the page can read the error.
    let refused = app
        .post("/token")
        .header("origin", ORIGIN)
        .form(&[("username", "admin"), ("password", "wrong password")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(allow_origin(&refused).as_deref(), Some(ORIGIN));
}

#[tokio::test]
async fn no_cors_headers_for_other_origins_or_other_endpoints() {
    let app = app().await;
    let token = app.admin_token().await;
    let other = app
        .post("/token")
        .header("origin", "http://evil.example.com")
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(allow_origin(&other), None);
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/token"))
        .header("origin", "http://evil.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_ne!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(allow_origin(&preflight), None);
    for path in ["/users/me", "/items", "/openapi.json", "/docs"] {
        let response = app
            .get(path)
            .bearer_auth(&token)
            .header("origin", ORIGIN)
            .send()
            .await
            .unwrap();
        assert_eq!(allow_origin(&response), None, "{path}");
        let preflight = app
            .client
            .request(Method::OPTIONS, app.url(path))
            .header("origin", ORIGIN)
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert_eq!(allow_origin(&preflight), None, "{path}");
    }
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/token")
        .header("origin", ORIGIN)
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(allow_origin(&response), None);
    assert!(response.headers().get("vary").is_none());
}
