use std::time::Duration;

use poem::{Request, Response};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpSocket},
    sync::oneshot,
};

use crate::config::ServerConfig;

/// Larger than the socket buffers on either side of a loopback
/// connection can hold, so most of it waits on the server.
const ANSWER: usize = 24 << 20;

/// A server answering every request with `ANSWER` bytes, with a header
/// timeout of 500 ms, this idle timeout and at most `max_connections`
/// open; it stops when the sender is dropped or sent to.
async fn serving(
    idle_timeout: Duration,
    max_connections: usize,
) -> (
    std::net::SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = ServerConfig {
        header_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_secs(10),
        idle_timeout,
        max_connections,
    };
    let ep = poem::endpoint::make(|_: Request| async { Response::from(vec![b'x'; ANSWER]) });
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let stopped = async { drop(stopped.await) };
        super::serve(listener, ep, &limits, stopped, Duration::ZERO).await
    });
    (addr, stop, server)
}

#[tokio::test]
async fn an_answer_read_slowly_is_not_cut_by_the_header_timeout() {
    let (addr, stop, server) = serving(Duration::from_secs(30), 4).await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: tollgate\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut received = vec![0; 64 << 10];
    let mut total = stream.read(&mut received).await.unwrap();
    // Still for three header timeouts, with most of the answer unsent.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    loop {
        let n = stream.read(&mut received).await.unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    // The head, then the whole body.
    assert!(total > ANSWER, "the answer was cut after {total} bytes");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// A client that asks for a large answer and never reads holds its
/// connection, and the answer buffered for it, only for the idle timeout:
/// with one connection allowed, the next client is served once it is gone.
#[tokio::test]
async fn a_client_that_never_reads_is_dropped_after_the_idle_timeout() {
    let (addr, _stop, _server) = serving(Duration::from_secs(1), 1).await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stuck = socket.connect(addr).await.unwrap();
    stuck
        .write_all(b"GET / HTTP/1.1\r\nHost: tollgate\r\n\r\n")
        .await
        .unwrap();
    let mut next = tokio::net::TcpStream::connect(addr).await.unwrap();
    next.write_all(b"GET / HTTP/1.1\r\nHost: tollgate\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(20), next.read_exact(&mut head))
        .await
        .expect("the next client is served once the stuck one is dropped")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    drop(stuck);
}

/// HTTP/2 with a zero window: at most `MAX_STREAMS` streams are taken (the
/// rest refused), and a connection on which nothing moves is dropped after
/// the idle timeout instead of holding its answers for ever.
#[tokio::test]
async fn an_http2_client_that_opens_no_window_is_bounded_and_dropped() {
    let (addr, _stop, _server) = serving(Duration::from_secs(1), 4).await;
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // SETTINGS: INITIAL_WINDOW_SIZE (4) = 0.
    out.extend_from_slice(&[0, 0, 6, 0x4, 0, 0, 0, 0, 0, 0, 0x4, 0, 0, 0, 0]);
    let streams = super::MAX_STREAMS + 16;
    for n in 0..streams {
        // GET / over http, :authority "t": indexed :method GET, :path /,
        // :scheme http, and :authority as a literal with an indexed name.
        let block = [0x82, 0x84, 0x86, 0x41, 0x01, b't'];
        let id = 2 * n + 1;
        out.extend_from_slice(&[0, 0, block.len() as u8, 0x1, 0x5]);
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&block);
    }
    conn.write_all(&out).await.unwrap();
    // Read frames until the server closes: it must, within the idle
    // timeout and a margin.
    let mut refused = 0;
    let read_all = async {
        let mut header = [0u8; 9];
        while conn.read_exact(&mut header).await.is_ok() {
            let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
            let mut payload = vec![0; len];
            if conn.read_exact(&mut payload).await.is_err() {
                break;
            }
            // RST_STREAM with REFUSED_STREAM (7).
            if header[3] == 0x3 && payload == [0, 0, 0, 7] {
                refused += 1;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read_all)
        .await
        .expect("the stalled HTTP/2 connection was dropped");
    assert!(refused >= 16, "streams past the bound refused: {refused}");
}
