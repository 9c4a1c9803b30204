//! The log: where its lines go, and the access log, one line per request
//! with a request id.
//!
//! Lines go to standard error, formatted by tracing-subscriber: its text
//! layout (in colour only on a terminal), or JSON. Warnings and errors (the
//! first admin's password among them) are written at once by the thread
//! that logs them; everything else goes through a bounded queue to a writer
//! thread ([`crate::log_writer`]), so a request never waits on a write. When
//! the queue is full, lines are dropped and counted, and the count is logged
//! at exit. A line written at once can therefore appear before info lines
//! that were logged a moment earlier.

use std::{cell::RefCell, fmt, fmt::Write as _, io::IsTerminal, time::Duration};

use poem::{
    Request, Response,
    http::{HeaderName, HeaderValue, Method, Uri},
};
use tokio::task::futures::TaskLocalFuture;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::{
    EnvFilter,
    filter::LevelFilter,
    fmt::{
        FmtContext, FormatEvent, FormatFields,
        format::Writer,
        writer::{BoxMakeWriter, MakeWriterExt},
    },
    registry::LookupSpan,
};

use crate::request_id::{REQUEST_ID_HEADER, RequestId};

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

/// `filter` (`TOLLGATE_LOG` or `--log`; else `RUST_LOG`, else `info`)
/// filters; `format` (`TOLLGATE_LOG_FORMAT` or `--log-format`) is `text`
/// (the default: tracing-subscriber's text lines, in colour on a terminal
/// when `NO_COLOR` is unset) or `json`. Each is `(name as given, value)`.
/// Either one invalid is an error naming it, not a log that silently shows
/// nothing.
pub fn init(
    filter: Option<(String, String)>,
    format: Option<(String, String)>,
) -> Result<LogGuard, String> {
    let (name, directives) = match (filter, var("RUST_LOG")?) {
        (Some(given), _) => given,
        (None, Some(directives)) => ("RUST_LOG".to_owned(), directives),
        (None, None) => ("TOLLGATE_LOG".to_owned(), "info".to_owned()),
    };
    let filter = self::filter(&name, &directives)?;
    let json = match format {
        None => false,
        Some((_, value)) if value.is_empty() || value == "text" => false,
        Some((_, value)) if value == "json" => true,
        Some((name, other)) => {
            return Err(format!("{name} is `{other}`; it must be `text` or `json`"));
        }
    };
    let (writer, guard) = writer();
    let ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    if json {
        builder
            .json()
            .map_event_format(|inner| WithRequestId { inner, json: true })
            .init();
    } else {
        builder
            .map_event_format(|inner| WithRequestId { inner, json: false })
            .init();
    }
    Ok(guard)
}

/// A variable's value; unset is `None`, a value that is not UTF-8 an error.
fn var(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not UTF-8")),
    }
}

/// The filter `directives` as tracing-subscriber reads them, except that a
/// bare word must be a level: tracing-subscriber would take `verbose` as a
/// target name and so log nothing at all. A target is `target=level`, or a
/// path with `::`.
fn filter(name: &str, directives: &str) -> Result<EnvFilter, String> {
    let levels = "trace, debug, info, warn, error or off";
    for directive in directives.split(',').map(str::trim) {
        let bare = !directive.is_empty() && !directive.contains(['=', '[', ':']);
        if bare && directive.parse::<LevelFilter>().is_err() {
            return Err(format!(
                "{name}=`{directives}`: `{directive}` is not a level ({levels}); \
                 name a target as `target=level`"
            ));
        }
    }
    EnvFilter::builder()
        .parse(directives)
        .map_err(|err| format!("{name}=`{directives}` is not a log filter: {err}"))
}

/// Standard error at once for warnings and errors, through the queue
/// otherwise (or at once for everything, if no thread could be started).
fn writer() -> (BoxMakeWriter, LogGuard) {
    match crate::log_writer::start() {
        Ok((queue, writer)) => (
            BoxMakeWriter::new(std::io::stderr.with_max_level(Level::WARN).or_else(queue)),
            LogGuard {
                writer: Some(writer),
            },
        ),
        Err(_) => (
            BoxMakeWriter::new(std::io::stderr),
            LogGuard { writer: None },
        ),
    }
}

/// Adds `request_id` to every event logged while a request is handled: at the
/// end of a text line, or as a top-level field of a JSON line.
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
        thread_local! {
            static LINE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        let Some(id) = crate::request_id::current() else {
            return self.inner.format_event(ctx, writer, event);
        };
        LINE.with(|line| {
            // Taken, not borrowed: an event logged while one is formatted
            // (by a value's `Display`) finds it empty rather than panicking.
            let mut line = line.take();
            line.clear();
            self.inner
                .format_event(ctx, Writer::new(&mut line), event)?;
            let text = line.trim_end_matches('\n');
            // A request id is only ever `[A-Za-z0-9._-]`: nothing to escape.
            let written = match text.strip_suffix('}') {
                Some(object) if self.json => {
                    writeln!(writer, "{object},\"request_id\":\"{}\"}}", id.as_str())
                }
                _ => writeln!(writer, "{text} request_id={}", id.as_str()),
            };
            LINE.set(line);
            written
        })
    }
}

/// Text a client chose, as a log field: every character that `Debug` would
/// write as `\u{..}` (control characters such as an escape or a line feed,
/// and format characters such as the bidi override U+202E) is written that
/// way, so no value can start a line of its own or reorder what a terminal
/// shows. The rest is written as it is, unquoted.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return f.write_str(self.0);
        }
        for c in self.0.chars() {
            // `escape_debug` writes a character as itself, as `\"`-style
            // (quotes, backslash, \t \r \n) or as `\u{..}`.
            let shown_as_is = c.escape_debug().len() == 1 || matches!(c, '"' | '\'' | '\\');
            if shown_as_is {
                f.write_char(c)?;
            } else {
                write!(f, "\\u{{{:x}}}", c as u32)?;
            }
        }
        Ok(())
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
        self.id.scope(future)
    }

    /// Sets `X-Request-Id` on the answer and logs the line, for a request
    /// answered `elapsed` after it arrived.
    pub fn finish(self, response: &mut Response, elapsed: Duration) {
        if let Ok(value) = HeaderValue::from_str(self.id.as_str()) {
            // A `HeaderName`, not the `&str`, which would be parsed each time.
            const NAME: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);
            response.headers_mut().insert(NAME, value);
        }
        let status = response.status().as_u16();
        let latency_us = elapsed.as_micros() as u64;
        self.id.sync_scope(|| {
            event(self.method.as_str(), self.uri.path(), status, latency_us);
        });
    }
}

/// The access log's line (the request id is added by the format).
fn event(method: &str, path: &str, status: u16, latency_us: u64) {
    tracing::info!(
        target: TARGET,
        method = %Escaped(method),
        path = %Escaped(path),
        status,
        latency_us,
        "request"
    );
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use super::{Escaped, RequestId, WithRequestId, event};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// What the text format of [`super::init`] (or its JSON) writes for the
    /// events `log` logs.
    fn logged(json: bool, log: impl FnOnce()) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone());
        if json {
            let subscriber = builder
                .json()
                .map_event_format(|inner| WithRequestId { inner, json: true })
                .finish();
            tracing::subscriber::with_default(subscriber, log);
        } else {
            let subscriber = builder
                .map_event_format(|inner| WithRequestId { inner, json: false })
                .finish();
            tracing::subscriber::with_default(subscriber, log);
        }
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn the_access_line_has_every_field_and_the_request_id() {
        let id = RequestId::from_client(b"trace-1").unwrap();
        let line = logged(false, || {
            id.sync_scope(|| event("GET", "/users/me", 404, 1234));
        });
        assert!(
            line.ends_with(
                "  INFO tollgate::request_log: request method=GET path=/users/me \
                 status=404 latency_us=1234 request_id=trace-1\n"
            ),
            "{line}"
        );
        let line = logged(true, || id.sync_scope(|| event("GET", "/x", 200, 7)));
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(json["request_id"], "trace-1");
        assert_eq!(json["fields"]["path"], "/x");
        assert_eq!(json["fields"]["status"], 200);
        assert_eq!(json["target"], "tollgate::request_log");
    }

    #[test]
    fn control_and_format_characters_in_a_path_are_escaped() {
        let path = "/a\u{1b}[31m\nb\u{202e}c\u{2066}\u{200f}\u{ad}\u{85}\"\\é";
        for json in [false, true] {
            let line = logged(json, || event("GET", path, 404, 1));
            for raw in [
                '\u{1b}', '\u{202e}', '\u{2066}', '\u{200f}', '\u{ad}', '\u{85}',
            ] {
                assert!(!line.contains(raw), "{raw:?} in {line}");
            }
            assert_eq!(line.matches('\n').count(), 1, "{line}");
        }
        assert_eq!(
            Escaped(path).to_string(),
            "/a\\u{1b}[31m\\u{a}b\\u{202e}c\\u{2066}\\u{200f}\\u{ad}\\u{85}\"\\é"
        );
    }

    #[test]
    fn every_format_character_is_escaped() {
        // Category Cf, as of Unicode 16.
        let format = [
            0xad, 0x600, 0x605, 0x61c, 0x6dd, 0x70f, 0x890, 0x891, 0x8e2, 0x180e, 0x200b, 0x200c,
            0x200d, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2060, 0x2064, 0x2066,
            0x2067, 0x2068, 0x2069, 0x206a, 0x206f, 0xfeff, 0xfff9, 0xfffb, 0x110bd, 0x110cd,
            0x13430, 0x1343f, 0x1bca0, 0x1bca3, 0x1d173, 0x1d17a, 0xe0001, 0xe0020, 0xe007f,
        ];
        for code in format {
            let c = char::from_u32(code).unwrap();
            assert_eq!(
                Escaped(&c.to_string()).to_string(),
                format!("\\u{{{code:x}}}")
            );
        }
    }
}
