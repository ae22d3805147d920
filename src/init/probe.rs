//! Readiness probes: one small task per starting service that reports once, ok or timed out.
//!
//! Probes retry on a short doubling interval (25 ms up to 100 ms: loopback checks are cheap,
//! and a late answer delays every dependent) until the service answers
//! or `ready-timeout` passes. Exec probes are processes, and only the supervisor may spawn and
//! reap, so the task asks the supervisor to run each attempt and awaits the verdict.

use super::control::HealthCheck;
use crate::sink::Sink;
use crate::spec::{http_target, socket_addr, Ready};
use nix::unistd::Pid;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::{timeout, Instant};

const FIRST_RETRY: Duration = Duration::from_millis(25);
const MAX_RETRY: Duration = Duration::from_millis(100);
/// One attempt's limit; the supervisor kills an exec attempt still running after it.
pub const ATTEMPT_LIMIT: Duration = Duration::from_secs(2);

/// What a probe task tells the supervisor.
pub enum Report {
    /// The probe of `unit`'s process `pid` finished: ready, or timed out.
    Done { unit: usize, pid: Pid, ok: bool },
    /// Please run this exec probe for `unit` and answer true on exit code 0.
    Exec {
        unit: usize,
        argv: Vec<String>,
        reply: oneshot::Sender<bool>,
    },
}

pub async fn run(unit: usize, pid: Pid, ready: Ready, limit: Duration, tx: impl Sink<Report>) {
    let deadline = Instant::now() + limit;
    let mut wait = FIRST_RETRY;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // A timed-out attempt counts as not ready.
        let ok = timeout(left.min(ATTEMPT_LIMIT), attempt(unit, &ready, &tx))
            .await
            .unwrap_or_default();
        if ok || Instant::now() >= deadline {
            tx.deliver(Report::Done { unit, pid, ok });
            return;
        }
        tokio::time::sleep(wait.min(deadline.saturating_duration_since(Instant::now()))).await;
        wait = (wait * 2).min(MAX_RETRY);
    }
}

async fn attempt(unit: usize, ready: &Ready, tx: &impl Sink<Report>) -> bool {
    match ready {
        Ready::File(path) => path.exists(),
        Ready::Tcp(addr) => match socket_addr(addr) {
            Ok(addr) => TcpStream::connect(addr).await.is_ok(),
            Err(_) => false,
        },
        Ready::Http(url) => http_ok(url).await.unwrap_or(false),
        Ready::Exec(argv) => {
            let (reply, answer) = oneshot::channel();
            let report = Report::Exec {
                unit,
                argv: argv.clone(),
                reply,
            };
            if !tx.deliver(report) {
                return false;
            }
            answer.await.unwrap_or(false)
        }
    }
}

/// What `jinit health` asks itself once the supervisor says every service is ready: each
/// service's `health` probe in turn (an image has one or two), each within HEALTH_LIMIT.
/// Returns what failed.
pub fn health_checks(checks: &[HealthCheck]) -> Vec<String> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(r) => r,
        Err(e) => return vec![format!("cannot run the health checks: {e}")],
    };
    runtime.block_on(async {
        let mut failed = Vec::new();
        for c in checks {
            let ok = timeout(HEALTH_LIMIT, health_attempt(c))
                .await
                .unwrap_or(false);
            if !ok {
                failed.push(format!("{}: {} {} failed", c.unit, c.kind, c.target));
            }
        }
        failed
    })
}

/// One health probe must answer within this (Docker's health check gives 5 s in all).
pub const HEALTH_LIMIT: Duration = Duration::from_secs(3);

async fn health_attempt(c: &HealthCheck) -> bool {
    match c.kind.as_str() {
        "tcp" => match socket_addr(&c.target) {
            Ok(addr) => TcpStream::connect(addr).await.is_ok(),
            Err(_) => false,
        },
        "http" => http_ok(&c.target).await.unwrap_or(false),
        "file" => std::path::Path::new(&c.target).exists(),
        _ => false,
    }
}

/// A plain HTTP/1.0 GET; ready on a 2xx or 3xx status.
async fn http_ok(url: &str) -> std::io::Result<bool> {
    let (addr, authority, path) = http_target(url).map_err(std::io::Error::other)?;
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: jinit\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = [0u8; 32];
    let mut n = 0;
    while n < 12 {
        let got = stream.read(&mut head[n..]).await?;
        if got == 0 {
            break;
        }
        n += got;
    }
    let line = String::from_utf8_lossy(&head[..n]);
    let code = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok());
    Ok(matches!(code, Some(200..=399)))
}
