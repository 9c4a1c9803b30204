//! A connection's clocks: requests in flight, since when it has had none,
//! and whether an answer is stuck behind a client that does not read.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use hyper_util::rt::TokioIo;
use poem::http::Version;
use tokio::net::TcpStream;

/// The connection clocks' settings.
#[derive(Clone, Copy)]
pub(super) struct Clocks {
    /// HTTP/1: a request's whole header within this of the last answer, or
    /// of the connection's start.
    pub(super) header: Duration,
    /// Any protocol: no request in flight for this long closes it; and
    /// with requests in flight, no sign of life (a request starting or
    /// ending, the client taking bytes) for this long drops it.
    pub(super) idle: Duration,
}

/// Why a connection is to be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Closing {
    /// No request in flight: close it, letting hyper finish what it was
    /// doing.
    Idle,
    /// Requests in flight, but nothing moved for the idle timeout: a client
    /// that takes no data (HTTP/1 never reading, HTTP/2 with a zero window),
    /// or a handler stuck. Dropped at once: a graceful close would wait for
    /// it.
    Stalled,
}

/// Requests in flight on one connection, and since when it has had none.
/// Requests only count and stamp; nothing wakes the watch per request (a
/// wake and a timer reset per request cost about 3% of a small request's
/// CPU).
pub(super) struct Activity {
    in_flight: AtomicUsize,
    idle_since: Mutex<Instant>,
    /// The socket refused the last write: an answer is still going out to a
    /// client that reads slowly (hyper takes a body whole into its buffer
    /// and is done with the request long before the client has it all).
    blocked: AtomicBool,
    /// Set by the first HTTP/2 request: its streams have no header clock.
    pub(super) http2: AtomicBool,
    /// When the connection opened, and the milliseconds since then of its
    /// last sign of life: a request starting or ending, a write taken.
    opened: Instant,
    alive_ms: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            blocked: AtomicBool::new(false),
            http2: AtomicBool::new(false),
            opened: Instant::now(),
            alive_ms: AtomicU64::new(0),
        }
    }

    /// Notes a sign of life.
    fn alive(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.alive_ms.store(ms, Ordering::Relaxed);
    }

    /// How long nothing has moved.
    fn stalled_for(&self, now: Instant) -> Duration {
        let alive = self.opened + Duration::from_millis(self.alive_ms.load(Ordering::Relaxed));
        now.saturating_duration_since(alive)
    }

    pub(super) fn start(self: &Arc<Self>, version: Version) -> Busy {
        if version == Version::HTTP_2 {
            self.http2.store(true, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.alive();
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

    /// Resolves once no request has been in flight for [`Self::timeout`]
    /// ([`Closing::Idle`]), or once requests are in flight but nothing has
    /// moved for the idle timeout ([`Closing::Stalled`]). Bytes arriving do
    /// not count: a client dribbling a header is not busy. It sleeps until
    /// the deadline as of its last look and then looks again: a request that
    /// ended since moves the deadline on, and while one is in flight it
    /// looks every eighth of the timeout, so that the connection closes at
    /// most that late.
    pub(super) async fn idle(&self, clocks: Clocks) -> Closing {
        let mut deadline = *self.idle_since.lock().expect("not poisoned") + self.timeout(clocks);
        loop {
            tokio::time::sleep_until(deadline.into()).await;
            let now = Instant::now();
            let timeout = self.timeout(clocks);
            if self.in_flight.load(Ordering::Acquire) > 0 || self.blocked.load(Ordering::Acquire) {
                if self.stalled_for(now) >= clocks.idle {
                    return Closing::Stalled;
                }
                deadline = now + timeout.min(clocks.idle) / 8;
                continue;
            }
            deadline = *self.idle_since.lock().expect("not poisoned") + timeout;
            if now >= deadline {
                return Closing::Idle;
            }
        }
    }
}

/// The connection's socket, telling its [`Activity`] when writes block and
/// when they move again. A write that goes through at once (nearly every
/// one) costs a load of the flag and a clock read.
pub(super) struct Watched {
    pub(super) io: TokioIo<TcpStream>,
    pub(super) activity: Arc<Activity>,
}

impl Watched {
    fn wrote<T>(&self, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        let blocked = &self.activity.blocked;
        match &poll {
            Poll::Pending => blocked.store(true, Ordering::Release),
            Poll::Ready(_) if blocked.load(Ordering::Relaxed) => {
                // The client took some: progress restarts the clocks.
                *self.activity.idle_since.lock().expect("not poisoned") = Instant::now();
                self.activity.alive();
                blocked.store(false, Ordering::Release);
            }
            Poll::Ready(_) => self.activity.alive(),
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
pub(super) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.alive();
        *self.0.idle_since.lock().expect("not poisoned") = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
