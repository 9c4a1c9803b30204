//! Slow and idle clients: a header-read timeout, an idle timeout and a bound
//! on open connections, none of which slows anyone else.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
};

use crate::helpers::TestApp;

/// Reads until the server closes the connection (or resets it); `None` if
/// it is still open after `patience`.
async fn closed_within(stream: &mut OwnedReadHalf, patience: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    match tokio::time::timeout(patience, stream.read_to_end(&mut received)).await {
        Ok(_) => Some(received),
        Err(_) => None,
    }
}

/// A connection that has been answered one `GET /healthz`, kept alive.
async fn one_request(app: &TestApp) -> (OwnedReadHalf, OwnedWriteHalf) {
    let stream = TcpStream::connect(app.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: tollgate\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 512];
    let n = reader.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    (reader, writer)
}

#[tokio::test]
async fn a_client_dribbling_header_lines_is_cut_off_while_others_are_served() {
    let app = TestApp::spawn_with(|config| {
        config.server.header_timeout = Duration::from_secs(1);
    })
    .await;
    let stream = TcpStream::connect(app.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    let dribble = tokio::spawn(async move {
        let head = "GET /healthz HTTP/1.1\r\nHost: tollgate\r\n";
        let mut sent = writer.write_all(head.as_bytes()).await;
        // One header line every 200 ms: always active, never done.
        while sent.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            sent = writer.write_all(b"X-Slow: still here\r\n").await;
        }
    });

    // Meanwhile another client is served at once.
    let other = Instant::now();
    let response = app.get("/healthz").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        other.elapsed() < Duration::from_millis(500),
        "{:?}",
        other.elapsed()
    );

    let received = closed_within(&mut reader, Duration::from_secs(5)).await;
    let elapsed = started.elapsed();
    let received = received.expect("the dribbling connection is still open after 5 s");
    assert!(
        elapsed >= Duration::from_millis(900),
        "closed too early: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(3), "closed late: {elapsed:?}");
    let text = String::from_utf8_lossy(&received);
    assert!(
        !text.contains(" 200 "),
        "the slow request was served: {text}"
    );
    dribble.abort();
}

#[tokio::test]
async fn a_connection_without_a_request_is_closed_after_the_idle_timeout() {
    let app = TestApp::spawn_with(|config| {
        config.server.header_timeout = Duration::from_secs(30);
        config.server.idle_timeout = Duration::from_secs(1);
    })
    .await;
    // One request, then silence on the kept-alive connection.
    let (mut reader, _writer) = one_request(&app).await;
    let started = Instant::now();
    let rest = closed_within(&mut reader, Duration::from_secs(5)).await;
    assert!(
        rest.is_some(),
        "the idle connection is still open after 5 s"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_kept_alive_connection_gets_the_header_timeout_for_its_next_request() {
    let app = TestApp::spawn_with(|config| {
        config.server.header_timeout = Duration::from_secs(1);
        config.server.idle_timeout = Duration::from_secs(30);
    })
    .await;
    let (mut reader, mut writer) = one_request(&app).await;
    // The next request's header starts, and never ends.
    let started = Instant::now();
    writer
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: tollgate\r\n")
        .await
        .unwrap();
    let rest = closed_within(&mut reader, Duration::from_secs(5))
        .await
        .expect("the connection is still open after 5 s");
    let elapsed = started.elapsed();
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(
        elapsed >= Duration::from_millis(900),
        "closed too early: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(3), "closed late: {elapsed:?}");
}

#[tokio::test]
async fn connections_past_the_bound_wait_until_one_closes() {
    let app = TestApp::spawn_with(|config| {
        config.server.max_connections = 1;
    })
    .await;
    let holder = TcpStream::connect(app.addr).await.unwrap();
    // Let the server accept it before the next one comes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = tokio::spawn({
        let request = app.get("/healthz");
        async move { request.send().await.map(|r| r.status()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "a second connection was served");
    drop(holder);
    let status = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once the first connection closed")
        .unwrap()
        .unwrap();
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_body_dribbled_past_the_body_timeout_fails_the_request_and_closes() {
    let app = TestApp::spawn_with(|config| {
        config.server.body_timeout = Duration::from_secs(1);
    })
    .await;
    let token = app.admin_token().await;
    let body = br#"{"name": "a slowly sent item, padded to a length"}"#;
    let stream = TcpStream::connect(app.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /items HTTP/1.1\r\nHost: tollgate\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let dribble = tokio::spawn(async move {
        // One byte every 200 ms: the whole body would take about 10 s.
        for byte in body {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let received = closed_within(&mut reader, Duration::from_secs(5))
        .await
        .expect("the connection is still open after 5 s");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900),
        "closed too early: {elapsed:?}"
    );
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    dribble.abort();
    // Nothing was created, and others are served as usual.
    let items = app.get_json("/items", &token).await;
    assert_eq!(items["data"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_body_sent_at_a_normal_pace_is_not_cut() {
    let app = TestApp::spawn_with(|config| {
        config.server.body_timeout = Duration::from_secs(2);
    })
    .await;
    let token = app.admin_token().await;
    // A body in two halves, half a second apart.
    let body = br#"{"name": "an item sent in two halves"}"#;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /items HTTP/1.1\r\nHost: tollgate\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (first, second) = body.split_at(body.len() / 2);
    stream.write_all(first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stream.write_all(second).await.unwrap();
    let mut received = Vec::new();
    stream.read_to_end(&mut received).await.unwrap();
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");
}

/// The idle clock runs from the end of the last request: requests closer
/// together than the timeout keep a connection open, and one in flight
/// longer than the timeout is answered, after which the clock starts again.
#[tokio::test]
async fn the_idle_timeout_counts_from_the_end_of_the_last_request() {
    let app = TestApp::spawn_with(|config| {
        config.server.idle_timeout = Duration::from_secs(1);
        config.server.body_timeout = Duration::from_secs(10);
    })
    .await;
    let token = app.admin_token().await;
    let stream = TcpStream::connect(app.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut answer = [0u8; 2048];

    // Five requests 600 ms apart: 3 s in all, never 1 s idle.
    for _ in 0..5 {
        writer
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: tollgate\r\n\r\n")
            .await
            .unwrap();
        let n = reader.read(&mut answer).await.unwrap();
        assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(600)).await;
    }

    // A request whose body takes 2.4 s to arrive: in flight past the timeout.
    let body = br#"{"name": "an item sent slowly"}"#;
    let head = format!(
        "POST /items HTTP/1.1\r\nHost: tollgate\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    for part in body.chunks(body.len() / 4 + 1) {
        tokio::time::sleep(Duration::from_millis(600)).await;
        writer.write_all(part).await.unwrap();
    }
    let n = reader.read(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");

    // Then silence: closed about 1 s after that answer.
    let ended = Instant::now();
    assert!(
        closed_within(&mut reader, Duration::from_secs(5))
            .await
            .is_some(),
        "the idle connection is still open after 5 s"
    );
    let idle = ended.elapsed();
    assert!(idle >= Duration::from_millis(900), "closed early: {idle:?}");
}
