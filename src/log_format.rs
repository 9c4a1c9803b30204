//! The text log line when standard error is not a terminal: the layout of
//! tracing-subscriber's default (`TIMESTAMP  LEVEL spans: target: message
//! key=value ...`) without colours, written with a fraction of its
//! `core::fmt` calls, since at the default level every request writes one.
//! Control characters in messages and text values are escaped, so no value
//! can start a line of its own.

use std::{cell::RefCell, fmt, fmt::Write as _, time::SystemTime};

use tracing::{
    Event, Level, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, format::Writer},
    registry::LookupSpan,
};

/// The plain text format; `request_id` is appended while a request runs.
pub struct PlainText;

impl<S, N> FormatEvent<S, N> for PlainText
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        timestamp(&mut w)?;
        let meta = event.metadata();
        w.write_str(match *meta.level() {
            Level::ERROR => " ERROR ",
            Level::WARN => "  WARN ",
            Level::INFO => "  INFO ",
            Level::DEBUG => " DEBUG ",
            Level::TRACE => " TRACE ",
        })?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                w.write_str(span.name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(w, "{{{fields}}}")?;
                }
                w.write_str(": ")?;
            }
        }
        w.write_str(meta.target())?;
        w.write_char(':')?;
        let mut fields = Fields {
            w: w.by_ref(),
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        if let Some(id) = crate::request_log::current_id() {
            write!(w, " request_id={id}")?;
        }
        w.write_char('\n')
    }
}

/// The access log's line for one request, as [`PlainText`] writes the event
/// [`crate::request_log`] logs through `tracing` otherwise, but without the
/// event: at the default level every request writes one, and building and
/// dispatching the event cost three times the writing.
pub(crate) fn access_line(out: &mut String, line: &AccessLine<'_>) {
    let mut w = Writer::new(out);
    // Writing to a `String` cannot fail.
    let _ = (|| {
        timestamp(&mut w)?;
        w.write_str("  INFO ")?;
        w.write_str(line.target)?;
        w.write_str(": request method=")?;
        escaped(&mut w, line.method)?;
        w.write_str(" path=")?;
        escaped(&mut w, line.path)?;
        w.write_str(" status=")?;
        digits(&mut w, line.status.into(), false)?;
        w.write_str(" latency_us=")?;
        digits(&mut w, line.latency_us, false)?;
        w.write_str(" request_id=")?;
        w.write_str(line.request_id)?;
        w.write_char('\n')
    })();
}

/// The fields of one access log line.
pub(crate) struct AccessLine<'a> {
    pub target: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub latency_us: u64,
    pub request_id: &'a str,
}

/// `2026-12-01T21:21:35.775464Z`; the part up to the second is formatted
/// once a second per thread.
fn timestamp(w: &mut Writer<'_>) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != secs {
            let at = time::OffsetDateTime::from_unix_timestamp(secs as i64)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            text.clear();
            let _ = write!(
                text,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second()
            );
            *cached = secs;
        }
        w.write_str(text)
    })?;
    let mut micros = [b'0'; 7];
    let mut n = now.subsec_micros();
    for digit in micros[..6].iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
    micros[6] = b'Z';
    w.write_str(std::str::from_utf8(&micros).unwrap_or_default())
}

/// ` message key=value ...`: text values quoted as `Debug` quotes them,
/// numbers written digit by digit.
struct Fields<'a> {
    w: Writer<'a>,
    result: fmt::Result,
}

impl Fields<'_> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = (|| {
                self.w.write_char(' ')?;
                let name = field.name();
                if name != "message" {
                    // `strip_prefix`, not `trim_start_matches`: a `&str`
                    // pattern builds a searcher on every call.
                    self.w.write_str(name.strip_prefix("r#").unwrap_or(name))?;
                    self.w.write_char('=')?;
                }
                value(&mut self.w)
            })();
        }
    }
}

impl Visit for Fields<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| digits(w, value, false));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| digits(w, value.unsigned_abs(), value < 0));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.field(field, |w| escaped(w, value));
        } else {
            self.field(field, |w| write!(w, "{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field, |w| escaped(w, &value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` and `?value` fields, and messages with arguments, land
        // here; written through the escaping as they are formatted.
        self.field(field, |w| write!(Escaping(w), "{value:?}"));
    }
}

/// A writer that escapes what is written to it, as [`escaped`] does.
struct Escaping<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        escaped(self.0, text)
    }
}

/// Control characters (a line feed, an escape sequence) as `\u{..}`.
fn escaped(w: &mut Writer<'_>, text: &str) -> fmt::Result {
    // Every control character is below 0x20, 0x7f, or U+0080 to U+009F,
    // whose UTF-8 starts with 0xc2: text without those bytes has none.
    let maybe_control = |b: &u8| *b < 0x20 || *b == 0x7f || *b == 0xc2;
    if !text.as_bytes().iter().any(maybe_control) {
        return w.write_str(text);
    }
    for c in text.chars() {
        if c.is_control() {
            write!(w, "\\u{{{:x}}}", c as u32)?;
        } else {
            w.write_char(c)?;
        }
    }
    Ok(())
}

fn digits(w: &mut Writer<'_>, mut n: u64, negative: bool) -> fmt::Result {
    let mut buf = [0u8; 21];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative {
        at -= 1;
        buf[at] = b'-';
    }
    w.write_str(std::str::from_utf8(&buf[at..]).unwrap_or_default())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use super::PlainText;

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

    /// What [`PlainText`] writes for the events `log` logs.
    pub(crate) fn logged(log: impl FnOnce()) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(PlainText)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn lines_keep_the_default_layout() {
        let line = logged(
            || tracing::info!(addr = %"127.0.0.1:80", n = 42u64, d = -7i64, ok = true, path = "/x", "listening"),
        );
        let (stamp, rest) = line.split_once("  INFO ").unwrap();
        let year = time::OffsetDateTime::now_utc().year().to_string();
        assert!(stamp.len() == 27 && stamp.starts_with(&year) && stamp.ends_with('Z'));
        assert_eq!(&stamp[10..11], "T");
        assert_eq!(
            rest,
            "tollgate::log_format::tests: listening addr=127.0.0.1:80 n=42 d=-7 ok=true path=\"/x\"\n"
        );
    }

    #[test]
    fn control_characters_cannot_start_a_line() {
        let line = logged(|| tracing::warn!(value = %"x\ny", "a {}", "b\nc\x1b[31m"));
        assert!(line.contains("  WARN "), "{line}");
        assert!(
            line.ends_with(": a b\\u{a}c\\u{1b}[31m value=x\\u{a}y\n"),
            "{line}"
        );
    }

    #[test]
    fn c1_controls_are_escaped_and_other_text_is_not() {
        let line = logged(|| tracing::info!(value = %"a\u{85}b \u{a9} \u{7f}", "x"));
        assert!(
            line.ends_with(": x value=a\\u{85}b \u{a9} \\u{7f}\n"),
            "{line}"
        );
    }
}
