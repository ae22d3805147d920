//! The metrics port (`JINIT_METRICS_PORT`): a minimal HTTP/1.x responder. One bounded
//! request head in, one answer out, then the connection closes; only `GET` and `HEAD` of
//! `/metrics`. It holds no state: every scrape asks the supervisor for the text
//! (`metrics::text`), as `jinit status` does.
//!
//! # Limits
//! The control socket's: at most `MAX_CLIENTS` connections at once (more are closed at once),
//! a request head of at most `MAX_HEAD` bytes within `IDLE_TIMEOUT`, the answer written within
//! `IDLE_TIMEOUT`, a failing accept retried with backoff.

use super::accept::AcceptFailures;
use super::control::{Call, Request, IDLE_TIMEOUT, MAX_CLIENTS};
use super::metrics::PORT_VAR;
use crate::sink::Sink;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};

/// The longest request head read; Prometheus sends about 300 bytes.
pub const MAX_HEAD: usize = 8192;
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Binds the metrics port (inside the runtime).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).await.map_err(|e| {
        format!(
            "cannot serve metrics on {addr}: {e} (set {PORT_VAR} to a free port of 1024 or \
             more, or unset it)"
        )
    })
}

/// Answers scrapes until dropped, asking the supervisor for the text of each.
pub async fn serve<S: Sink<Call> + Clone>(listener: TcpListener, tx: S) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    let mut failures = AcceptFailures::new("metrics");
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                failures.failed(&e).await;
                continue;
            }
        };
        failures.accepted();
        // Beyond the limit a scraper gets no answer at all: it retries at its next interval.
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            handle(stream, tx).await;
            drop(slot);
        });
    }
}

async fn handle<S: Sink<Call>>(mut stream: TcpStream, tx: S) {
    let answer = match tokio::time::timeout(IDLE_TIMEOUT, read_head(&mut stream)).await {
        Err(_) => Answer::plain(408, "Request Timeout", "no request within the time limit\n"),
        Ok(Err(answer)) => answer,
        Ok(Ok(head)) => match route(&head) {
            Route::Metrics { head_only } => {
                let (reply, text) = oneshot::channel();
                if !tx.deliver(Call {
                    request: Request::Metrics,
                    reply,
                }) {
                    return;
                }
                match text.await {
                    Ok(resp) if resp.ok => Answer {
                        code: 200,
                        reason: "OK",
                        content_type: CONTENT_TYPE,
                        body: resp.message,
                        head_only,
                        allow: false,
                    },
                    _ => Answer::plain(503, "Service Unavailable", "jinit is stopping\n"),
                }
            }
            Route::Answer(answer) => answer,
        },
    };
    let bytes = answer.bytes();
    let sent = async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(IDLE_TIMEOUT, sent).await;
}

/// Reads until the end of the request head (an empty line), at most `MAX_HEAD` bytes.
async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, Answer> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|_| Answer::plain(400, "Bad Request", "cannot read the request\n"))?;
        if n == 0 {
            return Err(Answer::plain(400, "Bad Request", "incomplete request\n"));
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(Answer::plain(
                431,
                "Request Header Fields Too Large",
                "request head too long\n",
            ));
        }
    }
}

enum Route {
    Metrics { head_only: bool },
    Answer(Answer),
}

/// What a request head asks for.
fn route(head: &[u8]) -> Route {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::Answer(Answer::plain(400, "Bad Request", "bad request line\n"));
    };
    if !version.starts_with("HTTP/1.") {
        return Route::Answer(Answer::plain(
            505,
            "HTTP Version Not Supported",
            "HTTP/1.x only\n",
        ));
    }
    let path = target.split('?').next().unwrap_or_default();
    if path != "/metrics" {
        return Route::Answer(Answer::plain(
            404,
            "Not Found",
            "jinit serves its metrics at /metrics\n",
        ));
    }
    match method {
        "GET" => Route::Metrics { head_only: false },
        "HEAD" => Route::Metrics { head_only: true },
        _ => {
            let mut answer = Answer::plain(405, "Method Not Allowed", "GET or HEAD only\n");
            answer.allow = true;
            Route::Answer(answer)
        }
    }
}

struct Answer {
    code: u16,
    reason: &'static str,
    content_type: &'static str,
    body: String,
    head_only: bool,
    /// Whether to name the allowed methods (405).
    allow: bool,
}

impl Answer {
    fn plain(code: u16, reason: &'static str, body: &str) -> Answer {
        Answer {
            code,
            reason,
            content_type: "text/plain; charset=utf-8",
            body: body.to_string(),
            head_only: false,
            allow: false,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.code,
            self.reason,
            self.content_type,
            self.body.len()
        );
        if self.allow {
            out.push_str("Allow: GET, HEAD\r\n");
        }
        out.push_str("\r\n");
        if !self.head_only {
            out.push_str(&self.body);
        }
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(head: &str) -> u16 {
        match route(head.as_bytes()) {
            Route::Metrics { .. } => 200,
            Route::Answer(a) => a.code,
        }
    }

    #[test]
    fn only_get_and_head_of_metrics_are_served() {
        assert_eq!(code("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
        assert_eq!(code("GET /metrics?x=1 HTTP/1.0\r\n\r\n"), 200);
        assert!(matches!(
            route(b"HEAD /metrics HTTP/1.1\r\n\r\n"),
            Route::Metrics { head_only: true }
        ));
        assert_eq!(code("GET / HTTP/1.1\r\n\r\n"), 404);
        assert_eq!(code("GET /metricsx HTTP/1.1\r\n\r\n"), 404);
        assert_eq!(code("POST /metrics HTTP/1.1\r\n\r\n"), 405);
        assert_eq!(code("GET /metrics HTTP/2\r\n\r\n"), 505);
        assert_eq!(code("GET /metrics\r\n\r\n"), 400);
        assert_eq!(code("GET  /metrics HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(code("\u{0}\u{ff}\r\n\r\n"), 400);
    }

    #[test]
    fn answers_carry_their_length_and_close() {
        let a = Answer::plain(404, "Not Found", "nope\n");
        let text = String::from_utf8(a.bytes()).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text.contains("Content-Length: 5\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\nnope\n"));
        let mut head = Answer::plain(200, "OK", "body");
        head.head_only = true;
        let text = String::from_utf8(head.bytes()).unwrap();
        assert!(text.contains("Content-Length: 4\r\n") && text.ends_with("\r\n\r\n"));
    }
}
