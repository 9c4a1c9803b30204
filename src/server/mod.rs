//! The HTTP server: poem's endpoint served through hyper, with the limits
//! poem's own `Server` does not set. A client gets `header_timeout` to send a
//! request's whole header (and, on HTTP/1.1, to start the next request on a
//! kept-alive connection), then `body_timeout` to send its body; a connection
//! with no request in flight for `idle_timeout` is closed; at most
//! `max_connections` are open at once, and further ones wait in the listen
//! backlog, unaccepted, until one closes. On shutdown it stops accepting, lets
//! requests in flight finish within the grace period, then drops what is left.
//! A connection with requests in flight on which nothing moves for
//! `idle_timeout` (a client that never reads, an HTTP/2 client that opens no
//! window) is dropped; an HTTP/2 connection has at most [`MAX_STREAMS`]
//! streams, each buffering at most [`MAX_SEND_BUFFER`] ahead of its window.
//! The metrics listener is served the same way, with the same limits.
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
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, combinators::BoxBody};
use hyper::body::{Body as _, Incoming};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use poem::{
    Endpoint, Response,
    http::{self, uri::Scheme},
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
    task::JoinSet,
};

mod activity;
mod deadline;

use activity::{Activity, Clocks, Closing, Watched};
use deadline::Deadline;

use crate::config::ServerConfig;

/// How long a connection asked to close (HTTP/2's GOAWAY) may take to
/// finish its requests before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Streams one HTTP/2 connection may have open at once: each holds its
/// request and answer (the Swagger UI page is 1.7 MB), so the bound is on
/// memory as much as on work.
const MAX_STREAMS: u32 = 32;

/// Bytes of an answer hyper takes ahead of what the client's window lets
/// out, per HTTP/2 stream.
const MAX_SEND_BUFFER: usize = 64 * 1024;

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
        .max_header_list_size(16384)
        .max_concurrent_streams(MAX_STREAMS)
        .max_send_buf_size(MAX_SEND_BUFFER);
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
        closing = activity.idle(shared.clocks) => {
            if closing == Closing::Stalled {
                tracing::debug!(%peer, "dropping a connection on which nothing moved for the idle timeout");
                return;
            }
            tracing::debug!(%peer, "closing an idle connection, or one slow to send a header");
            if !activity.http2.load(Ordering::Relaxed) {
                // HTTP/1 with no request in flight: at most a header still
                // trickling in, which a graceful shutdown would wait for.
                return;
            }
        }
        _ = stopped.wait_for(|stop| *stop) => {}
    }
    // Finish the requests in flight, if any, then close; a client that takes
    // nothing after the GOAWAY does not hold the connection past the grace.
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(CLOSE_GRACE, conn).await;
}

#[cfg(test)]
mod tests;
