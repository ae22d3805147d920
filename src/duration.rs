//! Parses the human durations of the spec ("500ms", "10s", "1h30m"). Pure, no I/O.

use std::time::Duration;

/// The longest duration anything accepts. Deadlines are `Instant + duration`, and an
/// `Instant` overflows (and panics) far below `Duration::MAX`: bounding every parsed value
/// keeps all of that arithmetic in range, and nobody means a kill-delay of 500 years.
pub const MAX: Duration = Duration::from_secs(366 * 86400);

/// Parses a sequence of `<number><unit>` pairs; units are ms, s, m, h, d.
/// A bare number is refused: "10" could mean seconds or milliseconds, and guessing
/// wrong turns a kill-delay into something nobody asked for. Sums above `MAX` are refused.
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration (write e.g. \"500ms\", \"10s\", \"2m\", \"12h\")".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad(text));
        }
        let number: f64 = rest[..digits].parse().map_err(|_| bad(text))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let seconds = match unit {
            "ms" => number / 1000.0,
            "s" => number,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            "d" => number * 86400.0,
            _ => return Err(bad(text)),
        };
        let part = Duration::try_from_secs_f64(seconds).map_err(|_| bad(text))?;
        total = match total.checked_add(part) {
            Some(t) if t <= MAX => t,
            _ => return Err(too_long(text)),
        };
    }
    Ok(total)
}

/// Checks a parsed duration against the range its key allows.
pub fn within(d: Duration, min: Duration, max: Duration) -> Result<Duration, String> {
    if d < min || d > max {
        Err(format!(
            "{} is out of range: allowed from {} to {}",
            show(d),
            show(min),
            show(max)
        ))
    } else {
        Ok(d)
    }
}

fn too_long(text: &str) -> String {
    format!(
        "duration {text:?} is too long (at most {}, that is 366d)",
        show(MAX)
    )
}

fn bad(text: &str) -> String {
    format!("bad duration {text:?} (write a number with a unit: ms, s, m, h or d, e.g. \"500ms\", \"10s\", \"1h30m\")")
}

/// A duration as one whole number and one unit, the largest that is exact ("90m", "1500ms",
/// "1d"): the form both HOCON (Jicofo) and Prometheus read, which neither "1h30m" (HOCON) nor
/// "1.5s" (Prometheus) is. None below millisecond precision.
pub fn whole(d: Duration) -> Option<String> {
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return None;
    }
    let ms = d.as_millis();
    if ms == 0 {
        return Some("0s".into());
    }
    [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ]
    .into_iter()
    .find(|(_, size)| ms.is_multiple_of(*size))
    .map(|(unit, size)| format!("{}{unit}", ms / size))
}

/// Formats a duration compactly for log lines and `jinit status`.
pub fn show(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else if ms < 3_600_000 {
        format!("{}m{}s", ms / 60_000, (ms / 1000) % 60)
    } else if ms < 48 * 3_600_000 {
        format!("{}h{}m", ms / 3_600_000, (ms / 60_000) % 60)
    } else {
        format!("{}d{}h", ms / 86_400_000, (ms / 3_600_000) % 24)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_units_and_combinations() {
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse("12h").unwrap(), Duration::from_secs(12 * 3600));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("1d").unwrap(), Duration::from_secs(86400));
    }

    #[test]
    fn refuses_nonsense() {
        for s in ["", "10", "s", "10x", "ten seconds", "-1s", "1..2s"] {
            assert!(parse(s).is_err(), "{s:?} should be refused");
        }
    }

    #[test]
    fn refuses_overflowing_and_absurd_durations() {
        // Each of these once overflowed `Duration` addition or an `Instant` deadline.
        for s in [
            "9000000000000000000s9000000000000000000s9000000000000000000s",
            "18000000000000000000s",
            "99999999999999999999999999999999d",
            "367d",
            "366d1ms",
        ] {
            let e = parse(s).unwrap_err();
            assert!(
                e.contains("too long") || e.contains("bad duration"),
                "{s}: {e}"
            );
        }
        assert_eq!(parse("366d").unwrap(), MAX);
    }

    #[test]
    fn ranges_name_both_ends() {
        let e = within(
            Duration::from_secs(7200),
            Duration::ZERO,
            Duration::from_secs(3600),
        )
        .unwrap_err();
        assert_eq!(e, "2h0m is out of range: allowed from 0ms to 1h0m");
        assert!(within(
            Duration::from_secs(1),
            Duration::ZERO,
            Duration::from_secs(1)
        )
        .is_ok());
    }

    #[test]
    fn whole_takes_the_largest_exact_unit() {
        let cases = [
            ("15s", "15s"),
            ("1h30m", "90m"),
            ("1.5s", "1500ms"),
            ("24h", "1d"),
            ("36h", "36h"),
            ("15d", "15d"),
            ("2m0s", "2m"),
            ("0s", "0s"),
        ];
        for (text, want) in cases {
            assert_eq!(whole(parse(text).unwrap()).as_deref(), Some(want), "{text}");
        }
        assert_eq!(whole(parse("0.5ms").unwrap()), None);
    }

    #[test]
    fn shows_compactly() {
        assert_eq!(show(Duration::from_millis(800)), "800ms");
        assert_eq!(show(Duration::from_millis(1500)), "1.5s");
        assert_eq!(show(Duration::from_secs(125)), "2m5s");
        assert_eq!(show(Duration::from_secs(7320)), "2h2m");
        assert_eq!(show(MAX), "366d0h");
    }
}
