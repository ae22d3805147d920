//! What the parts of `jinit acme` share: limits, options, the status shown by `jinit status`,
//! a failed round, and time helpers.

use crate::init::control;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub const DEFAULT_STORAGE: &str = "/storage";
pub const DEFAULT_WEBROOT: &str = "/run/web/acme-challenge";
pub const LETSENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
pub const LETSENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
/// A TCP (and so TLS) connection to the CA must be up within this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// One request, from sending it to the last byte of the answer's body.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer body read; a directory, an order or a chain is a few KiB.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// How long one order may be polled for readiness, then for its certificate.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(120);
/// A whole order, from asking for it to the certificate: its requests and polls are bounded
/// one by one, this bounds how many a CA can make us do.
pub const ORDER_TIMEOUT: Duration = Duration::from_secs(600);
/// The longest HTTP-01 token accepted (RFC 8555 asks for 128 bits: 22 base64url characters).
pub const TOKEN_MAX: usize = 256;
/// Retry-After as handed on to instant-acme, which adds it to the clock unchecked (and so
/// panics on a huge one); it only compares it with its polling deadline.
pub const RETRY_AFTER_HANDED_ON: Duration = Duration::from_secs(86400);

pub struct Options {
    pub storage: PathBuf,
    pub webroot: PathBuf,
    /// One check (and issuance when due), then exit: 0 on success, 1 on failure.
    pub once: bool,
    /// First retry delay after a failure; doubles up to `check_max`.
    pub retry_min: Duration,
    /// Longest time between two checks (jittered between half and all of it).
    pub check_max: Duration,
}

/// What the CA or the network said, in words, and when the CA wants us back.
pub struct Failure {
    pub message: String,
    /// The CA's Retry-After, as a wait from when it answered.
    pub retry_after: Option<Duration>,
    /// The current certificate's latest safe retry ([`CertInfo::renew_by`]), when there is one.
    pub renew_by: Option<SystemTime>,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure {
            message,
            retry_after: None,
            renew_by: None,
        }
    }
}

/// Shown by `jinit status` and `jinit metrics` (times in Unix seconds).
#[derive(Serialize, Deserialize, Default, Debug)]
pub struct Status {
    pub domain: String,
    pub not_after: Option<u64>,
    pub renew_at: Option<u64>,
    pub next_check: Option<u64>,
    pub last_error: Option<String>,
    /// Failed rounds in a row (0 after a success).
    #[serde(default)]
    pub failures: u32,
    /// When a round last ended well (a valid certificate in place), in this process.
    #[serde(default)]
    pub last_success: Option<u64>,
}

pub fn status_path() -> PathBuf {
    control::socket_path().with_file_name("acme.json")
}

/// The status `jinit acme` last left, if it runs here: read bounded and never through a
/// symlink (it is a few hundred bytes), for `jinit status` and the metrics.
pub fn read_status() -> Option<Status> {
    use crate::bounded::{read, Links};
    let bytes = read(&status_path(), 64 * 1024, Links::Refuse).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn show_time(t: SystemTime) -> String {
    let secs = unix(t) as i64;
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// A number in [0, 1) from the kernel's random source, for jitter.
pub fn fraction() -> f64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most 8 bytes into the array we own.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}
