//! The image spec as plain data: units, render entries and their defaults and ranges.

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Service,
    Oneshot,
}

impl Kind {
    pub fn word(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::Oneshot => "oneshot",
        }
    }
}

/// What happens when a unit's process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Policy {
    Restart,
    Shutdown,
    Ignore,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ready {
    Tcp(String),
    Http(String),
    Exec(Vec<String>),
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitSpec {
    pub name: String,
    pub kind: Kind,
    pub command: Vec<String>,
    pub user: Option<String>,
    pub group: Option<String>,
    /// Secret variables of jinit's environment this unit receives; the others are withheld.
    pub pass_env: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Text written to the command's stdin (`{{ }}` expanded): secrets stay out of argv.
    pub stdin: Option<String>,
    pub after: Vec<String>,
    /// The `if` expression, evaluated against the environment at boot and after each change
    /// of it (env file, `_FILE` secrets).
    pub condition: Option<String>,
    pub ready: Option<Ready>,
    pub ready_timeout: Duration,
    /// `health`: asked again at every `jinit health` once the service is ready (tcp, http or
    /// file; run by the client, not by PID 1): a service whose backend is gone is not healthy.
    pub health: Option<Ready>,
    pub on_success: Policy,
    pub on_failure: Policy,
    #[serde(with = "signal_number")]
    pub stop_signal: Signal,
    pub kill_delay: Duration,
    #[serde(with = "maybe_signal_number")]
    pub reload_signal: Option<Signal>,
    /// `on-change`: a signal for the running service when a file under these paths changes
    /// (a certificate renewed in place, which no rendered file shows).
    pub on_change: Option<OnChange>,
    pub creates: Option<PathBuf>,
    pub every: Option<Duration>,
    /// `drain`: a command run when a ready service is to stop, before its stop signal (a
    /// videobridge's graceful shutdown). The stop signal follows when the command ends, when
    /// `drain_timeout` has passed, or never if the service exits by itself meanwhile.
    pub drain: Option<Vec<String>>,
    pub drain_timeout: Duration,
}

/// A service's `on-change = { paths = [...], signal = "USR2" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnChange {
    /// Files or directories (everything below a directory counts); watched like `[jinit]
    /// watch`.
    pub paths: Vec<PathBuf>,
    #[serde(with = "signal_number")]
    pub signal: Signal,
}

impl OnChange {
    pub fn covers(&self, path: &std::path::Path) -> bool {
        self.paths.iter().any(|p| path.starts_with(p))
    }
}

#[derive(Debug, Clone)]
pub struct RenderSpec {
    pub template: String,
    pub dest: PathBuf,
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub validate: Option<Vec<String>>,
    pub reload: Option<String>,
    pub append: Vec<PathBuf>,
    pub condition: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub path: PathBuf,
    pub kill_delay: Duration,
    pub shutdown_grace: Duration,
    /// The whole stop (units, then leftovers) ends within this; late units get SIGKILL.
    pub stop_timeout: Duration,
    /// Schema files, relative to the templates directory.
    pub schemas: Vec<String>,
    /// Variables this image cannot run without, beyond the schemas' own `required`.
    pub require: Vec<String>,
    /// Inputs whose change triggers a re-render.
    pub watch: Vec<PathBuf>,
    /// The generated-secrets store (`secrets-dir`): a secret the environment does not give is
    /// read from `DIR/NAME`.
    pub secrets_dir: Option<PathBuf>,
    /// `generate-secrets`: this image creates the missing ones there (at boot and on reload).
    pub generate_secrets: bool,
    /// `writable`: directories (volumes) checked at boot to be writable by jinit's user.
    pub writable: Vec<PathBuf>,
    pub renders: Vec<RenderSpec>,
    /// Units in name order.
    pub units: Vec<UnitSpec>,
}

/// Defaults chosen so that a whole stop fits Docker's default stop window (10 s, also what
/// `docker run` and Swarm give): see `DEFAULT_STOP_TIMEOUT`.
pub const DEFAULT_KILL_DELAY: Duration = Duration::from_secs(5);
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Everything, units in reverse order and then leftovers, is down within this: 1 s short
/// of Docker's 10 s so jinit, not Docker's SIGKILL, decides how the container ends.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(9);
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

const SECOND: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);
/// The range each duration key accepts (both ends allowed).
pub const KILL_DELAY_RANGE: (Duration, Duration) = (Duration::ZERO, HOUR);
pub const SHUTDOWN_GRACE_RANGE: (Duration, Duration) = (Duration::ZERO, HOUR);
pub const STOP_TIMEOUT_RANGE: (Duration, Duration) = (SECOND, HOUR);
pub const READY_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(86400));
pub const EVERY_RANGE: (Duration, Duration) = (SECOND, crate::duration::MAX);
pub const DRAIN_TIMEOUT_RANGE: (Duration, Duration) = (SECOND, Duration::from_secs(86400));

/// Accepts "TERM", "SIGTERM", "term" and signal numbers.
pub fn parse_signal(text: &str) -> Result<Signal, String> {
    let upper = text.trim().to_ascii_uppercase();
    if let Ok(n) = upper.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| format!("unknown signal number {n}"));
    }
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).map_err(|_| {
        format!("unknown signal {text:?} (use a name like \"TERM\", \"QUIT\", \"HUP\", \"USR1\")")
    })
}

/// Names a signal without its SIG prefix, the way the spec writes it.
pub fn signal_name(sig: Signal) -> &'static str {
    let s = sig.as_str();
    s.strip_prefix("SIG").unwrap_or(s)
}

/// The address of a `tcp` readiness check: an IP address and port (`localhost` means
/// 127.0.0.1). Names are not resolved: a readiness check is local to the container, and PID 1
/// neither waits on DNS nor carries the resolver (static glibc would bring its dynamic loader).
pub fn socket_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    let text = text.trim();
    let localhost = text
        .strip_prefix("localhost:")
        .map(|port| format!("127.0.0.1:{port}"));
    localhost.as_deref().unwrap_or(text).parse().map_err(|_| {
        format!(
            "{text:?} is not an IP address and port like \"127.0.0.1:80\" or \"[::1]:80\" \
             (jinit does not resolve names; readiness checks are local)"
        )
    })
}

/// An `http` readiness check's target: where to connect, the Host header and the path.
pub fn http_target(url: &str) -> Result<(std::net::SocketAddr, &str, &str), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("{url:?} must start with http:// (plain HTTP on the service's own port)")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.contains(']'));
    let addr = if has_port {
        socket_addr(authority)?
    } else {
        socket_addr(&format!("{authority}:80"))?
    };
    Ok((addr, authority, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_addresses_are_ip_literals() {
        assert_eq!(socket_addr("127.0.0.1:80").unwrap().port(), 80);
        assert_eq!(
            socket_addr("localhost:5222").unwrap().to_string(),
            "127.0.0.1:5222"
        );
        assert_eq!(socket_addr("[::1]:8080").unwrap().port(), 8080);
        for bad in ["prosody:5222", "127.0.0.1", "127.0.0.1:http", ":80", ""] {
            let e = socket_addr(bad).unwrap_err();
            assert!(e.contains("does not resolve names"), "{bad}: {e}");
        }
        let (addr, host, path) = http_target("http://127.0.0.1:5280/http-bind").unwrap();
        assert_eq!(
            (addr.port(), host, path),
            (5280, "127.0.0.1:5280", "/http-bind")
        );
        let (addr, _, path) = http_target("http://[::1]").unwrap();
        assert_eq!((addr.port(), path), (80, "/"));
        assert!(http_target("https://127.0.0.1/").is_err());
        assert!(http_target("http://meet.example/").is_err());
    }
}

/// Signals travel to PID 1 as their numbers (see `handoff`).
mod signal_number {
    use nix::sys::signal::Signal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(sig: &Signal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(*sig as i32)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Signal, D::Error> {
        let n = i32::deserialize(d)?;
        Signal::try_from(n).map_err(|_| serde::de::Error::custom(format!("no signal {n}")))
    }
}

mod maybe_signal_number {
    use nix::sys::signal::Signal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(sig: &Option<Signal>, s: S) -> Result<S::Ok, S::Error> {
        match sig {
            Some(sig) => s.serialize_some(&(*sig as i32)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Signal>, D::Error> {
        match Option::<i32>::deserialize(d)? {
            None => Ok(None),
            Some(n) => Signal::try_from(n)
                .map(Some)
                .map_err(|_| serde::de::Error::custom(format!("no signal {n}"))),
        }
    }
}
