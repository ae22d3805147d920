//! Shared harness for the integration tests: runs the real `jinit` binary with real processes.
//!
//! Never: sleep a fixed time to wait for an event (every wait polls a condition with a
//! deadline), or leave a process behind (dropping a `Running` kills jinit's whole tree).
//!
//! # Layout
//!
//! - `sandbox`: a temporary directory per test (spec, service output, control socket) and
//!   the reads and waits on its files;
//! - `jinit`: starting jinit as a plain child (a child subreaper) or as PID 1 of a fresh PID
//!   namespace, optionally with a clean environment; client subcommands and other commands;
//! - `running`: a jinit under test, its watchdog, signals, exit, logs and children;
//! - `wait`: deadline-bounded waits;
//! - `procfs`: readers for `/proc`, and the kills that clean up;
//! - `logs`: jinit's state-transition and validation lines;
//! - `scripts`: programs the tests run under jinit (TERM logger, signal recorder).
//!
//! Everything is re-exported here: a test file says `mod common; use common::*;` (and
//! `#[macro_use] mod common;` for [`both_modes!`]). Each test binary uses only part of the
//! harness, hence `allow(dead_code)` for the whole module tree.
#![allow(dead_code)]

mod jinit;
mod logs;
mod procfs;
mod running;
mod sandbox;
mod scripts;
mod wait;

// A test binary that uses nothing of a submodule would otherwise be told its re-export is unused.
#[allow(unused_imports)]
pub use self::{jinit::*, logs::*, procfs::*, running::*, sandbox::*, scripts::*, wait::*};

use std::time::Duration;

pub const JINIT: &str = env!("CARGO_BIN_EXE_jinit");
/// Absolute path, so specs do not depend on a pyenv shim in $PATH.
pub const PYTHON: &str = "/usr/bin/python3";

/// Default hard limit for one jinit run; a test that needs longer says so with `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A loopback TCP port that is free now and that no other call in this test process got.
/// The kernel may hand the same ephemeral port to two bind(0) calls once the first socket is
/// closed (seen: pebble and nginx both given 39057), so ports are remembered per process.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind a loopback port")
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Generates `mod NAME { fn subreaper(); fn pid1(); }` calling `NAME(Mode)` in each mode
/// (use with `#[macro_use] mod common;`).
#[allow(unused_macros)]
macro_rules! both_modes {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn subreaper() {
                super::$name($crate::common::Mode::Subreaper)
            }
            #[test]
            fn pid1() {
                super::$name($crate::common::Mode::Pid1)
            }
        }
    )*};
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Puts a self-signed certificate for `domain` in `s`'s storage: `lifetime` days, `left` of them
/// still to go.
pub fn plant_certificate(s: &Sandbox, domain: &str, lifetime: i64, left: i64) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![domain.into()]).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(lifetime - left);
    params.not_after = now + time::Duration::days(left);
    let cert = params.self_signed(&key).unwrap();
    s.write(
        &format!("storage/acme-certs/{domain}/fullchain.pem"),
        &cert.pem(),
    );
    s.write(
        &format!("storage/acme-certs/{domain}/key.pem"),
        &key.serialize_pem(),
    );
}
