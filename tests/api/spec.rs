use crate::helpers::TestApp;

/// `openapi/openapi.json` is what client generators read: it must be exactly
/// what the code declares. Regenerate with `just openapi`.
#[test]
fn the_committed_spec_matches_the_code() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json exists");
    let generated = format!("{}\n", tollgate::api::service().spec());
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `just openapi` (or `cargo run -- openapi > openapi/openapi.json`)"
    );
}

#[tokio::test]
async fn the_served_spec_is_the_committed_one() {
    let app = TestApp::spawn().await;
    let served: serde_json::Value = app
        .get("/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(served, committed);
    let yaml = app.get("/openapi.yaml").send().await.unwrap();
    assert!(yaml.status().is_success());
    assert!(yaml.text().await.unwrap().contains("openapi: 3.0.0"));
}
