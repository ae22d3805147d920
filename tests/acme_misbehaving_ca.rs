//! `jinit acme` against CAs that misbehave: tiny fakes on loopback over plain HTTP
//! (LETSENCRYPT_ACME_SERVER takes any URL). A CA that never answers, answers without end, asks
//! to be left alone for ever, or hands out a challenge token that names a path outside the
//! webroot: each gets a bounded, named failure and the current certificate stays.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

const DOMAIN: &str = "meet.jitsi.test";

/// A fake CA on a free loopback port: `answer` gets every connection, on its own thread.
/// Returns the directory URL. The listener lives until the test process ends.
fn fake_ca(answer: impl Fn(TcpStream) + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/dir", listener.local_addr().unwrap());
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let answer = answer.clone();
            std::thread::spawn(move || answer(conn));
        }
    });
    url
}

/// Reads a request: its head, returned, then as many body bytes as it declares (up to 1 MiB).
fn read_request(conn: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let _ = conn.read_exact(&mut vec![0u8; length.min(1 << 20)]);
    head
}

/// The variables that point `jinit acme` at `url`, in a sandbox of its own.
fn fake_ca_env(s: &Sandbox, url: &str) -> Vec<(String, String)> {
    // Plain HTTP needs no trust, but jinit wants a trust store: one of the test's own.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    s.write("trust.pem", &cert.pem());
    vec![
        ("ENABLE_LETSENCRYPT".into(), "1".into()),
        ("LETSENCRYPT_DOMAIN".into(), DOMAIN.into()),
        ("LETSENCRYPT_EMAIL".into(), "ops@jitsi.test".into()),
        ("LETSENCRYPT_ACME_SERVER".into(), url.into()),
        ("SSL_CERT_FILE".into(), s.p("trust.pem")),
    ]
}

fn acme_args(s: &Sandbox, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "acme".to_string(),
        "--storage".into(),
        s.p("storage"),
        "--webroot".into(),
        s.p("webroot"),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

fn as_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A CA that accepts connections and never says a word: each request gives up after the
/// timeout (JINIT_ACME_TIMEOUT here, 30 s by default) naming the CA, and the storage lock is
/// free again while `jinit acme` waits for its next try, so other containers are not stalled.
#[test]
fn a_ca_that_never_answers_times_out_and_frees_the_storage_lock() {
    let url = fake_ca(|conn| {
        // Hold the connection open, silent, until the client gives up.
        let mut conn = conn;
        let _ = conn.read(&mut [0u8; 1 << 16]);
        let _ = conn.read(&mut [0u8; 1]);
    });
    let s = Sandbox::new();
    let mut env = fake_ca_env(&s, &url);
    env.push(("JINIT_ACME_TIMEOUT".into(), "2s".into()));
    let started = Instant::now();
    // The long-running service: after the failure it sleeps an hour (--retry-min).
    let run = s.start_clean(acme_args(&s, &["--retry-min", "1h"]), &as_refs(&env));
    run.wait_log("next try in", secs(15));
    let log = run.log();
    assert_line_with(
        &log,
        &[
            "cannot talk to the ACME server",
            &url,
            "did not answer completely within 2.0s",
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(10), "{log}");
    // The lock is free while that process lives on.
    let lock = std::fs::File::open(s.path("storage/acme-certs/.lock")).unwrap();
    let held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .expect("the storage lock is free after a failed round");
    drop(held);
    // A second container takes it without waiting, and fails the same way on its own.
    let out = s.run_clean(acme_args(&s, &["--once"]), &as_refs(&env));
    let t = out.text();
    assert_eq!(out.code, 1, "{t}");
    assert!(!t.contains("another container holds"), "{t}");
    assert!(t.contains("did not answer completely within 2.0s"), "{t}");
    drop(run);
    // Over HTTPS the silence comes during the TLS handshake: the same bound holds.
    let https = url.replace("http://", "https://");
    env.retain(|(k, _)| k != "LETSENCRYPT_ACME_SERVER");
    env.push(("LETSENCRYPT_ACME_SERVER".into(), https.clone()));
    let out = s.run_clean(acme_args(&s, &["--once"]), &as_refs(&env));
    let t = out.text();
    assert_eq!(out.code, 1, "{t}");
    assert_line_with(&t, &[&https, "did not answer completely within 2.0s"]);
}

/// A CA whose directory answer never ends: reading stops at 1 MiB with a message naming the
/// CA, and the fake sees the connection dropped long before it has sent all it offered.
#[test]
fn a_ca_answer_larger_than_the_limit_is_refused_without_reading_it_all() {
    const OFFERED: u64 = 64 << 20;
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (sent2, done2) = (sent.clone(), done.clone());
    let url = fake_ca(move |mut conn| {
        read_request(&mut conn);
        // No Content-Length: the body runs until the connection closes.
        let _ = conn.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
        );
        let chunk = [b' '; 64 * 1024];
        let mut total = 0u64;
        while total < OFFERED && conn.write_all(&chunk).is_ok() {
            total += chunk.len() as u64;
        }
        sent2.store(total, std::sync::atomic::Ordering::SeqCst);
        done2.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let s = Sandbox::new();
    let env = fake_ca_env(&s, &url);
    let out = s.run_clean(acme_args(&s, &["--once"]), &as_refs(&env));
    let t = out.text();
    assert_eq!(out.code, 1, "{t}");
    assert_line_with(&t, &[&url, "sent an answer larger than 1024 KiB, refused"]);
    wait_for("the fake CA to see the connection close", secs(10), || {
        done.load(std::sync::atomic::Ordering::SeqCst)
    });
    let sent = sent.load(std::sync::atomic::Ordering::SeqCst);
    // 1 MiB read plus what the kernel's socket buffers hold (a few MiB on loopback).
    assert!(sent < OFFERED / 2, "jinit read on: {sent} bytes sent");

    // A declared Content-Length above the limit is refused before the body is read.
    let url = fake_ca(|mut conn| {
        read_request(&mut conn);
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n");
        let _ = conn.read(&mut [0u8; 1]);
    });
    let env = fake_ca_env(&s, &url);
    let out = s.run_clean(acme_args(&s, &["--once"]), &as_refs(&env));
    let t = out.text();
    assert_eq!(out.code, 1, "{t}");
    assert_line_with(&t, &[&url, "larger than 1024 KiB"]);
}

/// A rate-limited answer whose Retry-After is `retry_after`.
fn fake_rate_limited_ca(retry_after: &'static str) -> String {
    fake_ca(move |mut conn| {
        read_request(&mut conn);
        let body = r#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"slow down"}"#;
        let _ = write!(
            conn,
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {retry_after}\r\n\
             Content-Type: application/problem+json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
    })
}

/// When `jinit acme` plans its next check, from the status file `jinit status` shows.
fn next_check(s: &Sandbox) -> u64 {
    let status: serde_json::Value = serde_json::from_str(&s.read("acme.json")).unwrap();
    status["next_check"].as_u64().expect("next_check")
}

/// Retry-After: the largest number of seconds there is does not crash jinit; it is capped to
/// the longest time between two checks, and the log says what the CA asked for.
#[test]
fn a_huge_retry_after_is_capped_to_the_check_interval_and_logged() {
    let url = fake_rate_limited_ca("18446744073709551615");
    let s = Sandbox::new();
    let env = fake_ca_env(&s, &url);
    let out = s.run_clean(acme_args(&s, &["--once"]), &as_refs(&env));
    let t = out.text();
    assert_eq!(out.code, 1, "a failed round, not a crash: {t}");
    assert!(!t.contains("panicked"), "{t}");
    assert_line_with(
        &t,
        &[
            "the CA asked to wait 213503982334601d7h",
            "jinit tries again in 12h0m instead (the longest time between two checks, --check-interval)",
        ],
    );
    assert!(t.contains("next try in 12h0m"), "{t}");
    let wait = next_check(&s) - unix_now();
    assert!((11 * 3600..=12 * 3600).contains(&wait), "{wait}");
}

/// A valid but far Retry-After (an HTTP date in year 9999) with a long --check-interval: the
/// next try still comes while the current certificate has a sixth of its lifetime left.
#[test]
fn a_far_retry_after_never_lets_the_current_certificate_expire() {
    let url = fake_rate_limited_ca("Fri, 31 Dec 9999 23:59:59 GMT");
    let s = Sandbox::new();
    // Due (20 of 90 days left): a sixth of 90 days before expiry is 5 days from now.
    plant_certificate(&s, DOMAIN, 90, 20);
    let env = fake_ca_env(&s, &url);
    let out = s.run_clean(
        acme_args(&s, &["--once", "--check-interval", "1000h"]),
        &as_refs(&env),
    );
    let t = out.text();
    assert_eq!(out.code, 1, "{t}");
    assert!(t.contains("is due for renewal"), "{t}");
    assert_line_with(
        &t,
        &[
            "the CA asked to wait",
            "instead (so that the current certificate is renewed well before it expires)",
        ],
    );
    let wait = next_check(&s) - unix_now();
    let day = 86400;
    assert!((5 * day - 3600..=5 * day).contains(&wait), "{wait}");
}

/// Just enough of an ACME server for an order to reach its challenge: any JWS is taken as it
/// comes (nothing is verified), every answer carries a fresh nonce and closes the connection.
/// The order lists `authorizations` authorizations, each with one http-01 challenge of `token`.
fn fake_acme_ca(authorizations: usize, token: &'static str) -> String {
    let base = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let b = base.clone();
    let url = fake_ca(move |mut conn| {
        let head = read_request(&mut conn);
        let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
        let base = b.get().cloned().unwrap_or_default();
        let authz: Vec<String> = (1..=authorizations)
            .map(|n| format!("\"{base}/authz/{n}\""))
            .collect();
        let (status, extra, body) = match path.as_str() {
            "/dir" => (
                "200 OK",
                String::new(),
                format!(
                    r#"{{"newNonce":"{base}/nonce","newAccount":"{base}/acct","newOrder":"{base}/order","revokeCert":"{base}/revoke","keyChange":"{base}/key"}}"#
                ),
            ),
            "/nonce" => ("200 OK", String::new(), String::new()),
            "/acct" => (
                "201 Created",
                format!("Location: {base}/acct/1\r\n"),
                r#"{"status":"valid"}"#.to_string(),
            ),
            "/order" => (
                "201 Created",
                format!("Location: {base}/order/1\r\n"),
                format!(
                    r#"{{"status":"pending","identifiers":[{{"type":"dns","value":"{DOMAIN}"}}],"authorizations":[{}],"finalize":"{base}/finalize/1"}}"#,
                    authz.join(",")
                ),
            ),
            p if p.starts_with("/authz/") => (
                "200 OK",
                String::new(),
                format!(
                    r#"{{"status":"pending","identifier":{{"type":"dns","value":"{DOMAIN}"}},"challenges":[{{"type":"http-01","url":"{base}/chall{p}","token":"{token}","status":"pending"}}]}}"#
                ),
            ),
            p if p.starts_with("/chall/") => (
                "200 OK",
                String::new(),
                format!(
                    r#"{{"type":"http-01","url":"{base}{p}","token":"{token}","status":"processing"}}"#
                ),
            ),
            _ => ("404 Not Found", String::new(), String::new()),
        };
        let _ = write!(
            conn,
            "HTTP/1.1 {status}\r\nReplay-Nonce: n{}\r\nContent-Type: application/json\r\n{extra}\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            unix_now_nanos(),
            body.len()
        );
    });
    let _ = base.set(url.trim_end_matches("/dir").to_string());
    url
}

fn unix_now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// One `jinit acme --once` round against `fake_acme_ca(authorizations, token)`: it must fail,
/// and its output is returned.
fn failed_round(s: &Sandbox, authorizations: usize, token: &'static str) -> String {
    let env = fake_ca_env(s, &fake_acme_ca(authorizations, token));
    let out = s.run_clean(acme_args(s, &["--once"]), &as_refs(&env));
    let t = out.text();
    assert_eq!(out.code, 1, "{t}");
    t
}

/// A CA that names a challenge file outside the webroot (`../`) gets nothing written there,
/// nor anywhere: the token is refused with a message saying why; and an order listing more
/// authorizations than the one name asked for is not followed.
#[test]
fn a_hostile_ca_cannot_write_outside_the_webroot_nor_list_endless_authorizations() {
    let s = Sandbox::new();
    std::fs::create_dir_all(s.path("webroot/.well-known/acme-challenge")).unwrap();
    // The absolute one inside the sandbox, so that a failure leaves nothing behind.
    let absolute: &'static str = Box::leak(s.p("absolute-escaped").into_boxed_str());
    for token in ["../../../escaped", absolute] {
        let t = failed_round(&s, 1, token);
        assert_line_with(
            &t,
            &[
                "http-01 token that is not base64url",
                "refused, nothing written",
            ],
        );
        assert!(!s.path("escaped").exists(), "{t}");
        assert!(!Path::new(absolute).exists(), "{t}");
        let left: Vec<_> = std::fs::read_dir(s.path("webroot/.well-known/acme-challenge"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
    let t = failed_round(&s, 5, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ");
    assert_line_with(
        &t,
        &["the CA's order lists more authorizations than the 1 name(s) asked for"],
    );
}
