//! The log: where its lines go, and the access log, one line per request
//! with a request id.
//!
//! Lines go to standard error. Warnings and errors (the first admin's
//! password among them) are written at once by the thread that logs them;
//! everything else goes through a bounded queue to a writer thread
//! ([`crate::log_writer`]), so a request never waits on a write. When the
//! queue is full, lines are dropped and counted, and the count is logged at
//! exit. A line written at once can therefore appear before info lines that
//! were logged a moment earlier.

use std::{
    cell::RefCell,
    fmt,
    io::IsTerminal,
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use poem::{
    Request, Response,
    http::{HeaderName, HeaderValue, Method, Uri},
};
use tokio::task::futures::TaskLocalFuture;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::{
    EnvFilter,
    fmt::{
        FmtContext, FormatEvent, FormatFields,
        format::Writer,
        writer::{BoxMakeWriter, MakeWriterExt},
    },
    registry::LookupSpan,
};

use crate::log_format::AccessLine;

/// The header a client may set to trace its request, and that every answer carries.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest client-chosen request id that is kept.
const MAX_ID_LEN: usize = 64;

const HEX: &[u8; 16] = b"0123456789abcdef";

tokio::task_local! {
    /// The id of the request whose task is logging, read by [`WithRequestId`].
    static CURRENT: RequestId;
}

/// Keeps the writer thread alive; [`LogGuard::finish`] flushes it at exit.
pub struct LogGuard {
    writer: Option<crate::log_writer::Writer>,
}

impl LogGuard {
    /// Writes out every queued line, then reports the lines dropped, if any.
    pub fn finish(self) {
        let dropped = self.writer.map_or(0, crate::log_writer::Writer::finish);
        if dropped > 0 {
            tracing::warn!(dropped, "log lines dropped: the log writer fell behind");
        }
    }
}

/// `TOLLGATE_LOG` (else `RUST_LOG`, else `info`) filters; `TOLLGATE_LOG_FORMAT=json`
/// writes JSON lines. On a terminal (and `NO_COLOR` unset) the text is
/// tracing-subscriber's, in colour; elsewhere [`crate::log_format`]'s plain
/// lines, the same layout written faster, and the access log's line is
/// written straight to the queue (see [`AccessLog::finish`]).
pub fn init() -> LogGuard {
    let directives = std::env::var("TOLLGATE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, queue, guard) = writer();
    let ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    if std::env::var("TOLLGATE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder
            .json()
            .map_event_format(|inner| WithRequestId { inner, json: true })
            .init();
    } else if ansi {
        builder
            .map_event_format(|inner| WithRequestId { inner, json: false })
            .init();
    } else {
        builder.event_format(crate::log_format::PlainText).init();
        // A directive on a span or a field value (`[...]`) can only be
        // judged on the event itself; without one, the level check of
        // `tracing::enabled!` decides as the event's would.
        if let Some(queue) = queue
            && !directives.contains('[')
        {
            let _ = PLAIN_QUEUE.set(queue);
        }
    }
    guard
}

/// Where [`AccessLog::finish`] writes its plain text lines itself, when it may.
static PLAIN_QUEUE: OnceLock<crate::log_writer::Queue> = OnceLock::new();

/// Standard error at once for warnings and errors, through the queue
/// otherwise (or at once for everything, if no thread could be started).
fn writer() -> (BoxMakeWriter, Option<crate::log_writer::Queue>, LogGuard) {
    match crate::log_writer::start() {
        Ok((queue, writer)) => (
            BoxMakeWriter::new(
                std::io::stderr
                    .with_max_level(Level::WARN)
                    .or_else(queue.clone()),
            ),
            Some(queue),
            LogGuard {
                writer: Some(writer),
            },
        ),
        Err(_) => (
            BoxMakeWriter::new(std::io::stderr),
            None,
            LogGuard { writer: None },
        ),
    }
}

/// Adds `request_id` to every event logged while a request is handled: at the
/// end of a text line, or as a top-level field of a JSON line. (The plain
/// text format writes it itself.)
struct WithRequestId<F> {
    inner: F,
    json: bool,
}

impl<S, N, F> FormatEvent<S, N> for WithRequestId<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Ok(id) = CURRENT.try_with(|id| *id) else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::with_capacity(256);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let line = line.trim_end_matches('\n');
        // A request id is only ever `[A-Za-z0-9._-]`: nothing to escape.
        match line.strip_suffix('}') {
            Some(object) if self.json => {
                writeln!(writer, "{object},\"request_id\":\"{}\"}}", id.as_str())
            }
            _ => writeln!(writer, "{line} request_id={}", id.as_str()),
        }
    }
}

/// The id of the request being handled on this task, if any.
pub(crate) fn current_id() -> Option<RequestId> {
    CURRENT.try_with(|id| *id).ok()
}

/// A request's id: the client's `X-Request-Id` when it is 1 to 64 characters
/// of `A-Z a-z 0-9 . _ -`, else a new one. Anything else could forge parts of
/// a log line, so it is replaced, not cleaned.
#[derive(Clone, Copy)]
pub struct RequestId {
    bytes: [u8; MAX_ID_LEN],
    len: u8,
}

impl RequestId {
    /// The client's id, if it is one tollgate accepts.
    pub fn from_client(value: &[u8]) -> Option<Self> {
        let valid = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        if value.is_empty() || value.len() > MAX_ID_LEN || !value.iter().all(valid) {
            return None;
        }
        let mut bytes = [0; MAX_ID_LEN];
        bytes[..value.len()].copy_from_slice(value);
        Some(Self {
            bytes,
            len: value.len() as u8,
        })
    }

    /// A new id, unique within the process and, by its random prefix, all but
    /// surely across processes and restarts: no system call, no lock.
    pub fn generate() -> Self {
        static PREFIX: OnceLock<u32> = OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let prefix = *PREFIX.get_or_init(rand::random);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Hex by hand: `write!` costs ten times as much through `core::fmt`.
        let mut bytes = [0; MAX_ID_LEN];
        let digits = (16 - n.leading_zeros() as usize / 4).max(8);
        let hex = |i: u32, v: u64| HEX[(v >> (4 * i) & 0xf) as usize];
        for i in 0..8 {
            bytes[7 - i] = hex(i as u32, u64::from(prefix));
        }
        for i in 0..digits {
            bytes[8 + digits - 1 - i] = hex(i as u32, n);
        }
        Self {
            bytes,
            len: (8 + digits) as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The access log of one request: one line per request with method, path
/// (never the query), status, latency and the request id, which the answer
/// also carries as `X-Request-Id`. Events logged while the request is
/// handled (inside [`AccessLog::scope`]) carry the same id.
pub struct AccessLog {
    method: Method,
    uri: Uri,
    id: RequestId,
}

/// The access log's target, as a module's events would have it.
const TARGET: &str = module_path!();

impl AccessLog {
    pub fn start(req: &Request) -> Self {
        let id = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| RequestId::from_client(v.as_bytes()))
            .unwrap_or_else(RequestId::generate);
        Self {
            method: req.method().clone(),
            // Cheap: the path's bytes are shared, not copied.
            uri: req.uri().clone(),
            id,
        }
    }

    /// Runs `future`, the handling of the request, with its id current.
    /// (Not an `async fn`: that would keep a second copy of `future`.)
    pub fn scope<F: Future>(&self, future: F) -> TaskLocalFuture<RequestId, F> {
        CURRENT.scope(self.id, future)
    }

    /// Sets `X-Request-Id` on the answer and writes the line, for a request
    /// answered `elapsed` after it arrived.
    ///
    /// With the plain text format the line is written by hand, to the same
    /// queue and in the same layout, after the same level check; otherwise
    /// (colour, JSON, no writer thread) it is a `tracing` event.
    pub fn finish(self, response: &mut Response, elapsed: Duration) {
        if let Ok(value) = HeaderValue::from_str(self.id.as_str()) {
            // A `HeaderName`, not the `&str`, which would be parsed each time.
            const NAME: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);
            response.headers_mut().insert(NAME, value);
        }
        let line = AccessLine {
            target: TARGET,
            method: self.method.as_str(),
            path: self.uri.path(),
            status: response.status().as_u16(),
            latency_us: elapsed.as_micros() as u64,
            request_id: self.id.as_str(),
        };
        match PLAIN_QUEUE.get() {
            Some(queue) => {
                if tracing::enabled!(target: TARGET, Level::INFO) {
                    thread_local! {
                        static TEXT: RefCell<String> = const { RefCell::new(String::new()) };
                    }
                    TEXT.with_borrow_mut(|text| {
                        text.clear();
                        crate::log_format::access_line(text, &line);
                        queue.push(text.as_bytes());
                    });
                }
            }
            None => CURRENT.sync_scope(self.id, || event(&line)),
        }
    }
}

/// The access log's line as a `tracing` event (the request id is added by
/// the formats, from [`CURRENT`]).
fn event(line: &AccessLine<'_>) {
    tracing::info!(
        target: TARGET,
        method = %line.method,
        path = %line.path,
        status = line.status,
        latency_us = line.latency_us,
        "request"
    );
}

#[cfg(test)]
mod tests {
    use super::{AccessLine, CURRENT, RequestId, TARGET, event};

    #[test]
    fn client_ids_are_kept_only_when_plain() {
        for good in ["a", "trace-me-1", "A.b_c-9", &"x".repeat(64)] {
            assert_eq!(
                RequestId::from_client(good.as_bytes()).map(|id| id.to_string()),
                Some(good.to_owned())
            );
        }
        for bad in [
            "",
            "1}:forged{status=500",
            "a b",
            "a=b",
            "a\"b",
            "é",
            &"x".repeat(65),
        ] {
            assert!(RequestId::from_client(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_line_written_by_hand_is_the_line_of_the_event() {
        let id = RequestId::from_client(b"trace-1").unwrap();
        for (method, path) in [("GET", "/users/me"), ("BREW", "/a\u{1b}[31m\nb")] {
            let line = AccessLine {
                target: TARGET,
                method,
                path,
                status: 404,
                latency_us: 1234,
                request_id: id.as_str(),
            };
            let traced =
                crate::log_format::tests::logged(|| CURRENT.sync_scope(id, || event(&line)));
            let mut by_hand = String::new();
            crate::log_format::access_line(&mut by_hand, &line);
            // After the timestamp, which is 27 characters in both.
            assert_eq!(by_hand[27..], traced[27..]);
            assert!(by_hand.ends_with(" status=404 latency_us=1234 request_id=trace-1\n"));
        }
    }

    #[test]
    fn generated_ids_differ_and_would_be_accepted_back() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(a.as_str().len(), 16);
        assert!(RequestId::from_client(a.as_str().as_bytes()).is_some());
        let (prefix, count) = a.as_str().split_at(8);
        assert_eq!(b.as_str()[..8], *prefix, "one prefix per process");
        let next = u64::from_str_radix(count, 16).unwrap() + 1;
        assert_eq!(u64::from_str_radix(&b.as_str()[8..], 16).unwrap(), next);
    }
}
