//! The daemon's log lines on stderr: text (tracing's usual line) or JSON (one object per line, the same
//! fields), each prefixed with its syslog priority (`<4>` for a warning) when stderr is the journal, so
//! `journalctl -p warning` shows warnings and errors (systemd reads the prefix, SyslogLevelPrefix=yes).
//!
//! Only formatting: what is logged (never subjects, bodies, file names or matched words) is decided where
//! the events are made. Must not: write anything but the event's own fields.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;

pub use crate::config::LogFormat;

/// Log to stderr (journald picks it up under systemd) in `format`; `RUST_LOG` sets the level, default
/// `info`.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let journal = stderr_is_journal();
    // A log line that cannot be written (stderr closed: the journal gone, a pipe whose reader quit) is
    // lost, never more: tracing-subscriber would report it with eprintln!, which panics on that same
    // broken stderr and took the session (SMTP, milter, admin request) down with it.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(!journal && std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .event_format(Prioritised {
                journal,
                inner: format::Format::default(),
            })
            .try_init(),
        LogFormat::Json => builder
            .with_ansi(false)
            .event_format(JsonLines { journal })
            .try_init(),
    };
}

/// Whether stderr is the systemd journal's stream: `JOURNAL_STREAM` (set by systemd) names its device
/// and inode (systemd.exec(5)).
fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    // SAFETY: fstat writes into a zeroed stat buffer of the right type; fd 2 may be closed (then -1).
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(2, &mut stat) } != 0 {
        return false;
    }
    dev.parse() == Ok(stat.st_dev) && ino.parse() == Ok(stat.st_ino)
}

/// The syslog priority of a level (sd-daemon(3)): err, warning, info, debug.
fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// tracing's text line, with the priority prefix for the journal.
struct Prioritised<F> {
    journal: bool,
    inner: F,
}

impl<S, N, F> FormatEvent<S, N> for Prioritised<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        if self.journal {
            write!(writer, "<{}>", priority(event.metadata().level()))?;
        }
        self.inner.format_event(ctx, writer, event)
    }
}

/// One JSON object per event: `time` (RFC 3339, UTC), `level`, `target`, `message` and every field of
/// the event under its own name (numbers and booleans as such, the rest as text).
struct JsonLines {
    journal: bool,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut object = serde_json::Map::new();
        object.insert("time".into(), jiff::Timestamp::now().to_string().into());
        object.insert(
            "level".into(),
            meta.level().as_str().to_ascii_lowercase().into(),
        );
        object.insert("target".into(), meta.target().into());
        event.record(&mut Fields(&mut object));
        if self.journal {
            write!(writer, "<{}>", priority(meta.level()))?;
        }
        writeln!(writer, "{}", serde_json::Value::Object(object))
    }
}

/// Collects an event's fields into a JSON object.
struct Fields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.0.insert(field.name().into(), text.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_follow_syslog() {
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::DEBUG), 7);
    }
}
