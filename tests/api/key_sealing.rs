//! Private keys at rest: the command line never writes a key in the clear
//! beside sealed ones, a server with a key-encryption key says which keys are
//! in the clear, and `tollgate keys reseal` seals them.

use std::process::Output;

use reqwest::StatusCode;

use crate::{
    helpers::{TestApp, tollgate_command},
    served::Served,
};

const KEK: &str = "a key-encryption key of 32 bytes or more";

/// `tollgate ARGS` on the app's database, with `env` added.
fn run(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let output = tollgate_command(app.database_url())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output, text)
}

async fn sealing(app: &TestApp) -> Vec<Option<String>> {
    let rows: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT encryption_key_id FROM signing_keys ORDER BY created_at, kid")
            .fetch_all(&app.sql().await)
            .await
            .unwrap();
    rows.into_iter().map(|(id,)| id).collect()
}

#[tokio::test]
async fn no_key_is_written_in_the_clear_beside_sealed_ones() {
    let app = TestApp::spawn_with(|config| {
        config.key_encryption_key = Some(secrecy::SecretString::from(KEK));
    })
    .await;
    assert!(sealing(&app).await[0].is_some());
    for args in [&["keys", "rotate"][..], &["keys", "rotate", "--now"]] {
        let (output, text) = run(&app, args, &[]);
        assert!(!output.status.success(), "{args:?}: {text}");
        assert!(text.contains("TOLLGATE_KEY_ENCRYPTION_KEY"), "{text}");
        assert_eq!(sealing(&app).await.len(), 1, "nothing written");
    }
    let (output, text) = run(
        &app,
        &["keys", "rotate"],
        &[("TOLLGATE_KEY_ENCRYPTION_KEY", KEK)],
    );
    assert!(output.status.success(), "{text}");
    assert!(sealing(&app).await.iter().all(Option::is_some));
}

#[tokio::test]
async fn a_server_names_keys_in_the_clear_and_keys_reseal_seals_them() {
    let mut app = TestApp::spawn().await;
    let token = app.admin_token().await;
    assert_eq!(sealing(&app).await, [None]);
    app.stop().await;

    let env = [("TOLLGATE_KEY_ENCRYPTION_KEY", KEK)];
    let mut server = Served::start_on(app.database_url(), &env, &[]);
    server.addr().await;
    let warnings: Vec<&String> = server
        .lines
        .iter()
        .filter(|line| line.contains("tollgate keys reseal"))
        .collect();
    assert_eq!(warnings.len(), 1, "{:#?}", server.lines);
    assert!(!warnings[0].contains(KEK));
    server.terminate();
    assert!(server.exit_status().await.success());

    let (output, text) = run(&app, &["keys", "reseal"], &[]);
    assert!(!output.status.success());
    assert!(text.contains("TOLLGATE_KEY_ENCRYPTION_KEY"), "{text}");
    let (output, text) = run(&app, &["keys", "reseal"], &env);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("1 key(s) encrypted"), "{text}");
    assert!(!text.contains(KEK));
    assert!(sealing(&app).await[0].is_some());

    // The sealed key signs and verifies as before, under the same kid.
    let app = app
        .restart_with(|config| config.key_encryption_key = Some(secrecy::SecretString::from(KEK)))
        .await;
    assert_eq!(app.me_status(&token).await, StatusCode::OK);
    assert_eq!(
        crate::helpers::jwt_parts(&app.admin_token().await).0["kid"],
        crate::helpers::jwt_parts(&token).0["kid"]
    );
    let (output, text) = run(&app, &["keys", "reseal"], &env);
    assert!(
        output.status.success() && text.contains("0 key(s) encrypted"),
        "{text}"
    );
}
