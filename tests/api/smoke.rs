use crate::helpers::{ADMIN, ADMIN_PASSWORD, TestApp};

#[tokio::test]
async fn a_logged_in_admin_reads_their_account() {
    let app = TestApp::spawn().await;
    let tokens = app.login(ADMIN, ADMIN_PASSWORD, None).await;
    let me = app.get_json("/users/me", &tokens.access).await;
    assert_eq!(me["username"], ADMIN);
}
