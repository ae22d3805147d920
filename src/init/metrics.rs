//! Prometheus metrics of what jinit runs: the text that `jinit metrics` prints and the port of
//! `JINIT_METRICS_PORT` serves (`scrape`).
//!
//! The supervisor writes it (`text`): each unit's state, restarts, last exit, reloads, start
//! and readiness time; the re-renders; and the certificate of `jinit acme`, read from the
//! status file it leaves beside the control socket (PID 1 parses no certificate itself).

use super::os::Os;
use super::slots::Units;
use super::unit::{State, Unit};
use crate::acme;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The variable that turns the endpoint on: the TCP port (0: any free one, logged).
pub const PORT_VAR: &str = "JINIT_METRICS_PORT";

/// Where to serve, from `JINIT_METRICS_PORT`: None when unset or empty.
pub fn address() -> Result<Option<SocketAddr>, String> {
    let Some(value) = std::env::var_os(PORT_VAR) else {
        return Ok(None);
    };
    let text = value.to_string_lossy();
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<u16>() {
        Ok(port) => Ok(Some(SocketAddr::from(([0, 0, 0, 0], port)))),
        Err(_) => Err(format!(
            "{PORT_VAR}={:?} is not a TCP port (1-65535); unset it to serve no metrics",
            text.chars().take(40).collect::<String>()
        )),
    }
}

/// What the supervisor counts of its re-renders.
#[derive(Debug, Default)]
pub struct Renders {
    /// Renders done, the boot's included.
    pub total: u64,
    /// Renders that kept the current config: a template or value error, or a rejected
    /// validation of one of the files.
    pub failed: u64,
    /// When a render last went through without a problem.
    pub last_ok: Option<SystemTime>,
}

/// The metrics text (Prometheus text format 0.0.4).
pub fn text<O: Os>(units: &Units<O>, renders: &Renders, now: Instant) -> String {
    let mut out = Out::default();
    let wall = SystemTime::now();
    out.family("jinit_build_info", "gauge", "jinit's version.");
    out.sample(
        "jinit_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );

    out.family(
        "jinit_unit_state",
        "gauge",
        "1 for the state each unit is in (kind: service or oneshot), 0 for the others.",
    );
    for s in &units.slots {
        let u = &s.unit;
        let current = u.state.word();
        for state in State::WORDS {
            out.sample(
                "jinit_unit_state",
                &[
                    ("unit", u.name()),
                    ("kind", u.spec.kind.word()),
                    ("state", state),
                ],
                u8::from(state == current),
            );
        }
    }
    let per_unit = |out: &mut Out, name, kind, help, value: &dyn Fn(&Unit) -> Option<String>| {
        out.family(name, kind, help);
        for s in &units.slots {
            if let Some(v) = value(&s.unit) {
                out.sample(name, &[("unit", s.unit.name())], v);
            }
        }
    };
    per_unit(
        &mut out,
        "jinit_unit_restarts_total",
        "counter",
        "Times each unit was started again after its first start.",
        &|u| Some(u.restarts.to_string()),
    );
    per_unit(
        &mut out,
        "jinit_unit_reloads_total",
        "counter",
        "Reload signals sent to each unit (reload-signal, on-change).",
        &|u| Some(u.reloads.to_string()),
    );
    per_unit(
        &mut out,
        "jinit_unit_last_exit_code",
        "gauge",
        "How each unit's last process ended: its exit code, or 128+N when signal N ended it \
         (the shell's convention). Absent until one has ended.",
        &|u| u.last_exit.map(|c| c.to_string()),
    );
    per_unit(
        &mut out,
        "jinit_unit_start_time_seconds",
        "gauge",
        "Unix time at which each unit's running process started.",
        &|u| {
            let started = wall.checked_sub(u.uptime(now)?).unwrap_or(UNIX_EPOCH);
            Some(Seconds(unix(started)).to_string())
        },
    );
    per_unit(
        &mut out,
        "jinit_unit_ready_seconds",
        "gauge",
        "Seconds from the start of each service's current (or last) process to ready.",
        &|u| Some(Seconds(u.ready_after?.as_secs_f64()).to_string()),
    );

    out.family(
        "jinit_renders_total",
        "counter",
        "Renders of the configuration files: the boot's, then one per change of an input, \
         SIGHUP or `jinit reload`.",
    );
    out.sample("jinit_renders_total", &[], renders.total);
    out.family(
        "jinit_render_failures_total",
        "counter",
        "Renders that kept a current file: a template or value error, or a failed validation.",
    );
    out.sample("jinit_render_failures_total", &[], renders.failed);
    if let Some(ok) = renders.last_ok {
        out.family(
            "jinit_render_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last render without a problem.",
        );
        out.sample(
            "jinit_render_last_success_timestamp_seconds",
            &[],
            Seconds(unix(ok)),
        );
    }
    if let Some(status) = acme::read_status() {
        acme_metrics(&mut out, &status);
    }
    out.0
}

fn acme_metrics(out: &mut Out, s: &acme::Status) {
    let domain = [("domain", s.domain.as_str())];
    let times = [
        (
            "jinit_acme_certificate_expiry_timestamp_seconds",
            "Unix time at which the certificate in use expires.",
            s.not_after,
        ),
        (
            "jinit_acme_renewal_timestamp_seconds",
            "Unix time from which jinit acme renews the certificate.",
            s.renew_at,
        ),
        (
            "jinit_acme_next_check_timestamp_seconds",
            "Unix time of jinit acme's next check or retry.",
            s.next_check,
        ),
        (
            "jinit_acme_last_success_timestamp_seconds",
            "Unix time at which jinit acme last had a valid certificate in place.",
            s.last_success,
        ),
    ];
    for (name, help, value) in times {
        if let Some(v) = value {
            out.family(name, "gauge", help);
            out.sample(name, &domain, v);
        }
    }
    out.family(
        "jinit_acme_failed_attempts",
        "gauge",
        "Failed attempts of jinit acme in a row to obtain or renew the certificate (0 after \
         a success).",
    );
    out.sample("jinit_acme_failed_attempts", &domain, s.failures);
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Seconds with millisecond precision.
struct Seconds(f64);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3}", self.0)
    }
}

/// The text being written: `# HELP` and `# TYPE` once per family, then its samples.
#[derive(Default)]
struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // HELP text escapes only backslash and newline; ours has neither.
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                self.0.push_str(key);
                self.0.push_str("=\"");
                escape_label(&mut self.0, value);
                self.0.push('"');
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// A label value as the text format wants it: backslash, double quote and newline escaped,
/// so no value (a unit's name, a domain) can end the sample line or add a label.
fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_cannot_break_the_line() {
        let mut out = Out::default();
        out.sample("m", &[("unit", "a\"b\\c\nd"), ("kind", "x")], 1);
        assert_eq!(out.0, "m{unit=\"a\\\"b\\\\c\\nd\",kind=\"x\"} 1\n");
        assert_eq!(out.0.lines().count(), 1);
    }

    #[test]
    fn seconds_keep_milliseconds() {
        assert_eq!(Seconds(1.23456).to_string(), "1.235");
        assert_eq!(Seconds(0.0).to_string(), "0.000");
    }

    #[test]
    fn acme_status_becomes_metrics_of_its_domain() {
        let mut out = Out::default();
        let status = acme::Status {
            domain: "meet.example.org".into(),
            not_after: Some(1_900_000_000),
            renew_at: Some(1_890_000_000),
            next_check: None,
            last_error: Some("refused".into()),
            failures: 3,
            last_success: None,
        };
        acme_metrics(&mut out, &status);
        let text = out.0;
        let expiry = "jinit_acme_certificate_expiry_timestamp_seconds";
        assert!(text.contains(&format!(
            "{expiry}{{domain=\"meet.example.org\"}} 1900000000\n"
        )));
        assert!(text.contains(
            "jinit_acme_renewal_timestamp_seconds{domain=\"meet.example.org\"} 1890000000\n"
        ));
        assert!(text.contains("jinit_acme_failed_attempts{domain=\"meet.example.org\"} 3\n"));
        assert!(!text.contains("next_check"));
        assert!(!text.contains("last_success"));
    }
}
