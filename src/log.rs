//! jinit's own log lines on stderr, one record per line.
//!
//! `JINIT_LOG_FORMAT` picks the format, once, at the first line:
//! - `text` (the default): `jinit: <unit>: <from> -> <to> (<detail>)`, `jinit: warning: ...`;
//! - `logfmt`: `ts=2026-12-06T01:02:03.456Z level=info msg="..." unit=nginx from=starting ...`;
//! - `json`: one JSON object per line with the same keys.
//!
//! The structured formats are for log shippers: a UTC timestamp with milliseconds, a level
//! (info, warn, error) and, for a unit's state change, its fields apart. Any text in a record
//! (a unit's name, a path, an operator's value quoted in a problem) is escaped, so one record
//! is always one line. Services write to the container's stdout/stderr directly; jinit never
//! touches their output.

use std::io::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Logfmt,
    Json,
}

/// The variable that selects the format.
pub const FORMAT_VAR: &str = "JINIT_LOG_FORMAT";

static FORMAT: OnceLock<Format> = OnceLock::new();

fn format() -> Format {
    *FORMAT.get_or_init(|| {
        let value = std::env::var_os(FORMAT_VAR);
        let text = value.as_ref().map(|v| v.to_string_lossy());
        match parse_format(text.as_deref()) {
            Ok(f) => f,
            Err(shown) => {
                let line = format!(
                    "jinit: warning: {FORMAT_VAR}={shown} is not text, logfmt or json: logging as text\n"
                );
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
                Format::Text
            }
        }
    })
}

/// The format a value of `JINIT_LOG_FORMAT` names (unset or empty: text); an unknown value
/// comes back quoted and cut to 40 characters, for the warning.
pub fn parse_format(value: Option<&str>) -> Result<Format, String> {
    match value.map(str::trim) {
        None | Some("") | Some("text") => Ok(Format::Text),
        Some("logfmt") => Ok(Format::Logfmt),
        Some("json") => Ok(Format::Json),
        Some(other) => Err(format!("{:?}", other.chars().take(40).collect::<String>())),
    }
}

pub fn transition(unit: &str, from: &str, to: &str, detail: &str) {
    let msg = if detail.is_empty() {
        format!("{unit}: {from} -> {to}")
    } else {
        format!("{unit}: {from} -> {to} ({detail})")
    };
    let mut fields = vec![("unit", unit), ("from", from), ("to", to)];
    if !detail.is_empty() {
        fields.push(("detail", detail));
    }
    emit("info", &msg, &fields);
}

pub fn info(message: &str) {
    emit("info", message, &[]);
}

pub fn warn(message: &str) {
    emit("warn", message, &[]);
}

/// Why jinit (or a command of it) stops with an error; may span lines in the text format.
pub fn error(message: &str) {
    emit("error", message.trim_end(), &[]);
}

fn emit(level: &'static str, msg: &str, fields: &[(&'static str, &str)]) {
    let line = render(format(), &timestamp(SystemTime::now()), level, msg, fields);
    // One write per line so lines of concurrent writers do not interleave mid-line.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// One record as written, newline included.
pub fn render(
    format: Format,
    ts: &str,
    level: &str,
    msg: &str,
    fields: &[(&'static str, &str)],
) -> String {
    match format {
        Format::Text => match level {
            "warn" => format!("jinit: warning: {msg}\n"),
            _ => format!("jinit: {msg}\n"),
        },
        Format::Logfmt => {
            let mut out = format!("ts={ts} level={level} msg={}", logfmt_value(msg));
            for (k, v) in fields {
                out.push_str(&format!(" {k}={}", logfmt_value(v)));
            }
            out.push('\n');
            out
        }
        Format::Json => {
            let mut map = serde_json::Map::new();
            map.insert("ts".into(), ts.into());
            map.insert("level".into(), level.into());
            map.insert("msg".into(), msg.into());
            for (k, v) in fields {
                map.insert((*k).into(), (*v).into());
            }
            // serde_json escapes every control character: one line per record.
            let mut out = serde_json::Value::Object(map).to_string();
            out.push('\n');
            out
        }
    }
}

/// A logfmt value: bare when it is a plain word, else quoted with `"`, `\` and control
/// characters escaped (newline as \n, others as \u{...}).
fn logfmt_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && c != '"' && c != '=' && c != '\\');
    if plain {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// RFC 3339 in UTC with milliseconds: 2026-12-06T01:02:03.456Z.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        d.subsec_millis()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_by_name() {
        assert_eq!(parse_format(None), Ok(Format::Text));
        assert_eq!(parse_format(Some("")), Ok(Format::Text));
        assert_eq!(parse_format(Some("logfmt")), Ok(Format::Logfmt));
        assert_eq!(parse_format(Some(" json ")), Ok(Format::Json));
        let bad = parse_format(Some(&format!("xml\n{}", "y".repeat(100)))).unwrap_err();
        assert!(bad.starts_with("\"xml\\n"), "{bad}");
        assert!(bad.len() < 50, "{bad}");
    }

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        let at = |s: u64, ms: u64| timestamp(UNIX_EPOCH + Duration::from_millis(s * 1000 + ms));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 7), "2000-02-29T00:00:00.007Z");
        assert_eq!(at(1_796_518_923, 456), "2026-12-06T01:02:03.456Z");
        assert_eq!(at(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn text_is_as_before() {
        let t = "2026-12-06T01:02:03.456Z";
        assert_eq!(
            render(Format::Text, t, "info", "rendered 2 files", &[]),
            "jinit: rendered 2 files\n"
        );
        assert_eq!(
            render(Format::Text, t, "warn", "x", &[]),
            "jinit: warning: x\n"
        );
    }

    #[test]
    fn logfmt_quotes_and_escapes() {
        let line = render(
            Format::Logfmt,
            "2026-12-06T01:02:03.456Z",
            "info",
            "nginx: starting -> ready (12ms)",
            &[
                ("unit", "nginx"),
                ("to", "ready"),
                ("detail", "a \"b\"\nc=d\\\u{1b}"),
            ],
        );
        assert_eq!(
            line,
            "ts=2026-12-06T01:02:03.456Z level=info msg=\"nginx: starting -> ready (12ms)\" unit=nginx to=ready detail=\"a \\\"b\\\"\\nc=d\\\\\\u{1b}\"\n"
        );
        assert_eq!(line.matches('\n').count(), 1);
        assert_eq!(logfmt_value(""), "\"\"");
    }

    #[test]
    fn json_is_one_object_per_line() {
        let line = render(
            Format::Json,
            "2026-12-06T01:02:03.456Z",
            "error",
            "the configuration has 2 problems:\n  - A: bad\n  - B: \"worse\"",
            &[("unit", "web\u{0}")],
        );
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["ts"], "2026-12-06T01:02:03.456Z");
        assert_eq!(v["level"], "error");
        assert_eq!(v["unit"], "web\u{0}");
        assert!(v["msg"].as_str().unwrap().contains("\n  - B: \"worse\""));
    }
}
