//! The HTTP server: poem's endpoint served through hyper, with the limits
//! poem's own `Server` does not set. A client gets `header_timeout` to send a
//! request's whole header (and, on HTTP/1.1, to start the next request on a
//! kept-alive connection), then `body_timeout` to send its body; a connection
//! with no request in flight for `idle_timeout` is closed; at most
//! `max_connections` are open at once, and further ones wait in the listen
//! backlog, unaccepted, until one closes. On shutdown it stops accepting, lets
//! requests in flight finish within the grace period, then drops what is left.
//!
//! The header and idle clocks are one watch per connection ([`Activity`]),
//! not hyper's header-read timer: that one is a boxed timer set and cancelled
//! around every request's header, which on a kept-alive connection costs a
//! timer-wheel registration per request for a deadline that almost never
//! fires. A request's header is complete when hyper hands it over, so "the
//! header within `header_timeout` of the last answer (or of the connection's
//! start)" is "no request in flight for `header_timeout`", as hyper counted
//! it. An answer still going out counts too: hyper takes a body whole into
//! its buffer long before a slow client has it, so a socket that refused
//! its last write holds the connection busy until the client reads again
//! ([`Watched`]).

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, combinators::BoxBody};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use poem::{
    Endpoint, Response,
    http::{self, Version, uri::Scheme},
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
    task::JoinSet,
};

use crate::config::ServerConfig;

/// Serves `ep` on `listener` until `shutdown` resolves, then gives requests
/// in flight up to `grace` to finish.
pub async fn serve<E>(
    listener: TcpListener,
    ep: E,
    limits: &ServerConfig,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()>
where
    E: Endpoint<Output = Response> + 'static,
{
    let local = LocalAddr(listener.local_addr()?.into());
    let shared = Arc::new(Shared {
        ep,
        local,
        builder: builder(),
        body_timeout: limits.body_timeout,
        clocks: Clocks {
            header: limits.header_timeout,
            idle: limits.idle_timeout,
        },
    });
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(err) = done {
                    tracing::error!(error = %err, "a connection task failed");
                }
            }
            (slot, accepted) = accept(&listener, &slots) => match accepted {
                Ok((socket, peer)) => {
                    let shared = Arc::clone(&shared);
                    let stopped = stopped.clone();
                    connections.spawn(serve_connection(shared, socket, peer, stopped, slot));
                }
                Err(err) => {
                    // Out of file descriptors, most likely: retry shortly
                    // rather than spin.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "grace period over; closing the connections left"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// What every connection shares.
struct Shared<E> {
    ep: E,
    local: LocalAddr,
    builder: auto::Builder<TokioExecutor>,
    body_timeout: Duration,
    clocks: Clocks,
}

fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // The header clock is the connection's own (see the module doc).
        .header_read_timeout(None)
        // One `send` of head and body together rather than a `writev` of
        // the two: for answers of a few hundred bytes the copy costs less
        // than the vectored write's path through the kernel (bench/README.md).
        .writev(false);
    // poem's own settings for HTTP/2.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_pending_accept_reset_streams(20)
        .max_header_list_size(16384);
    builder
}

/// Waits for a free slot, then for a connection. Cancel-safe: dropped
/// half-way, it gives the slot back and loses no connection.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (OwnedSemaphorePermit, io::Result<(TcpStream, SocketAddr)>) {
    let slot = Arc::clone(slots)
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    (slot, listener.accept().await)
}

async fn serve_connection<E>(
    shared: Arc<Shared<E>>,
    socket: TcpStream,
    peer: SocketAddr,
    mut stopped: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) where
    E: Endpoint<Output = Response> + 'static,
{
    let activity = Arc::new(Activity::new());
    let service = {
        let shared = Arc::clone(&shared);
        let activity = Arc::clone(&activity);
        // The TCP peer is the request's `RemoteAddr`, as under poem's Server.
        let remote = RemoteAddr(peer.into());
        hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let shared = Arc::clone(&shared);
            let remote = remote.clone();
            let busy = activity.start(req.version());
            async move {
                let mut req: poem::Request =
                    (req, shared.local.clone(), remote, Scheme::HTTP).into();
                let body: BoxBody<Bytes, io::Error> = req.take_body().into();
                if body.is_end_stream() {
                    req.set_body(body);
                } else {
                    req.set_body(Deadline::new(body, shared.body_timeout).boxed());
                }
                // `call`, not `get_response`: that `async fn` would hold a second
                // copy of the endpoint's future (bench/README.md).
                let response = match shared.ep.call(req).await {
                    Ok(response) => response,
                    Err(err) => err.into_response(),
                };
                drop(busy);
                Ok::<_, Infallible>(http::Response::from(response))
            }
        })
    };
    let conn = shared.builder.serve_connection_with_upgrades(
        Watched {
            io: TokioIo::new(socket),
            activity: Arc::clone(&activity),
        },
        service,
    );
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                // A header timeout, a reset, a malformed request: the
                // connection is closed; nothing for the operator to do.
                tracing::debug!(%peer, error = %err, "connection closed");
            }
            return;
        }
        () = activity.idle(shared.clocks) => {
            tracing::debug!(%peer, "closing an idle connection, or one slow to send a header");
            if !activity.http2.load(Ordering::Relaxed) {
                // HTTP/1 with no request in flight: at most a header still
                // trickling in, which a graceful shutdown would wait for.
                return;
            }
        }
        _ = stopped.wait_for(|stop| *stop) => {}
    }
    // Finish the request in flight, if any, then close.
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// The connection clocks' settings.
#[derive(Clone, Copy)]
struct Clocks {
    /// HTTP/1: a request's whole header within this of the last answer, or
    /// of the connection's start.
    header: Duration,
    /// Any protocol: no request in flight for this long closes it.
    idle: Duration,
}

/// Requests in flight on one connection, and since when it has had none.
/// Requests only count and stamp; nothing wakes the watch per request (a
/// wake and a timer reset per request cost about 3% of a small request's
/// CPU).
struct Activity {
    in_flight: AtomicUsize,
    idle_since: Mutex<Instant>,
    /// The socket refused the last write: an answer is still going out to a
    /// client that reads slowly (hyper takes a body whole into its buffer
    /// and is done with the request long before the client has it all).
    blocked: AtomicBool,
    /// Set by the first HTTP/2 request: its streams have no header clock.
    http2: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            blocked: AtomicBool::new(false),
            http2: AtomicBool::new(false),
        }
    }

    fn start(self: &Arc<Self>, version: Version) -> Busy {
        if version == Version::HTTP_2 {
            self.http2.store(true, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(self))
    }

    /// How long the connection may go with no request in flight: until a
    /// connection is known to be HTTP/2, the header clock counts too (a
    /// client that opens one and sends nothing whole is cut off as hyper's
    /// header timer cut it off).
    fn timeout(&self, clocks: Clocks) -> Duration {
        if self.http2.load(Ordering::Relaxed) {
            clocks.idle
        } else {
            clocks.idle.min(clocks.header)
        }
    }

    /// Resolves once no request has been in flight for [`Self::timeout`].
    /// Bytes arriving do not count: a client dribbling a header is not busy.
    /// It sleeps until the deadline as of its last look and then looks
    /// again: a request that ended since moves the deadline on, and while
    /// one is in flight it looks every eighth of the timeout, so that the
    /// connection closes at most that late after its last request ended.
    async fn idle(&self, clocks: Clocks) {
        let mut deadline = *self.idle_since.lock().expect("not poisoned") + self.timeout(clocks);
        loop {
            tokio::time::sleep_until(deadline.into()).await;
            let now = Instant::now();
            let timeout = self.timeout(clocks);
            if self.in_flight.load(Ordering::Acquire) > 0 || self.blocked.load(Ordering::Acquire) {
                deadline = now + timeout / 8;
                continue;
            }
            deadline = *self.idle_since.lock().expect("not poisoned") + timeout;
            if now >= deadline {
                return;
            }
        }
    }
}

/// The connection's socket, telling its [`Activity`] when writes block and
/// when they move again. A write that goes through at once (nearly every
/// one) costs a load of the flag and nothing else.
struct Watched {
    io: TokioIo<TcpStream>,
    activity: Arc<Activity>,
}

impl Watched {
    fn wrote<T>(&self, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        let blocked = &self.activity.blocked;
        match &poll {
            Poll::Pending => blocked.store(true, Ordering::Release),
            Poll::Ready(_) if blocked.load(Ordering::Relaxed) => {
                // The client took some: progress restarts the clock.
                *self.activity.idle_since.lock().expect("not poisoned") = Instant::now();
                blocked.store(false, Ordering::Release);
            }
            Poll::Ready(_) => {}
        }
        poll
    }
}

impl hyper::rt::Read for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.wrote(poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(poll)
    }
}

/// One request in flight; its end restarts the idle clock.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.idle_since.lock().expect("not poisoned") = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request body that must arrive in full by a deadline; past it, reading
/// fails, the handler answers 400, and hyper closes the connection.
struct Deadline {
    inner: BoxBody<Bytes, io::Error>,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Deadline {
    fn new(inner: BoxBody<Bytes, io::Error>, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl hyper::body::Body for Deadline {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

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

    #[tokio::test]
    async fn an_answer_read_slowly_is_not_cut_by_the_header_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = ServerConfig {
            header_timeout: Duration::from_millis(500),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 4,
        };
        let ep = poem::endpoint::make(|_: Request| async { Response::from(vec![b'x'; ANSWER]) });
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            super::serve(
                listener,
                ep,
                &limits,
                async { drop(stopped.await) },
                Duration::ZERO,
            )
            .await
        });

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
        let paused = Instant::now();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        loop {
            let n = stream.read(&mut received).await.unwrap();
            if n == 0 {
                break;
            }
            total += n;
        }
        assert!(paused.elapsed() >= Duration::from_millis(1500));
        // The head, then the whole body.
        assert!(total > ANSWER, "the answer was cut after {total} bytes");
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}
