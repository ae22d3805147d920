//! `JINIT_METRICS_PORT`: jinit's Prometheus endpoint over real HTTP, `jinit metrics`, and
//! what a bad port or a hostile client gets.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::TcpStream;

const SPEC: &str = r#"
[oneshot.setup]
command = ["true"]

[service.svc]
command = ["sh", "-c", "echo $$ >> {D}/pids; exec sleep 1000"]
after = ["setup"]
"#;

/// The port jinit logged it serves on (it was asked for port 0: any free one).
fn served_port(jinit: &Running) -> u16 {
    let marker = "metrics: serving http://0.0.0.0:";
    jinit.wait_log(marker, secs(10));
    let log = jinit.log();
    let rest = &log[log.find(marker).unwrap() + marker.len()..];
    rest.split('/').next().unwrap().parse().expect("a port")
}

/// One raw HTTP exchange; the whole answer (jinit closes the connection).
fn exchange(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics port");
    s.set_read_timeout(Some(secs(10))).unwrap();
    s.write_all(request).expect("send the request");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).expect("read the answer");
    String::from_utf8(answer).expect("UTF-8 answer")
}

fn scrape(port: u16) -> String {
    let answer = exchange(port, b"GET /metrics HTTP/1.1\r\nHost: jinit\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{answer}"
    );
    let (_, body) = answer.split_once("\r\n\r\n").unwrap();
    body.to_string()
}

/// The value of the sample whose name and labels are `series`.
fn value(text: &str, series: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(str::to_string)
}

#[test]
fn a_killed_service_counts_one_restart_and_its_signal() {
    let sb = Sandbox::new();
    sb.spec(SPEC);
    let jinit = Jinit::spec(&sb).env("JINIT_METRICS_PORT", "0").spawn();
    let port = served_port(&jinit);
    jinit.wait_transition("svc", "ready", secs(10));
    let before = scrape(port);
    let ready = r#"jinit_unit_state{unit="svc",kind="service",state="ready"}"#;
    assert_eq!(value(&before, ready).as_deref(), Some("1"), "{before}");
    assert_eq!(
        value(
            &before,
            r#"jinit_unit_state{unit="setup",kind="oneshot",state="done"}"#
        )
        .as_deref(),
        Some("1")
    );
    let restarts = r#"jinit_unit_restarts_total{unit="svc"}"#;
    assert_eq!(value(&before, restarts).as_deref(), Some("0"));
    assert_eq!(
        value(&before, r#"jinit_unit_last_exit_code{unit="setup"}"#).as_deref(),
        Some("0")
    );
    assert_eq!(value(&before, "jinit_renders_total").as_deref(), Some("1"));
    assert!(value(&before, r#"jinit_unit_start_time_seconds{unit="svc"}"#).is_some());

    let pid = sb.read_pid("pids", secs(5));
    assert!(send_signal(pid, libc::SIGKILL));
    wait_for_showing(
        "the restart counter to reach 1 and svc to be ready again",
        secs(10),
        || {
            let now = scrape(port);
            value(&now, restarts).as_deref() == Some("1")
                && value(&now, ready).as_deref() == Some("1")
        },
        || scrape(port),
    );
    let after = scrape(port);
    assert_eq!(
        value(&after, r#"jinit_unit_last_exit_code{unit="svc"}"#).as_deref(),
        Some("137"),
        "SIGKILL is the shell's 128+9: {after}"
    );
    wait_for("the new process to write its pid", secs(5), || {
        sb.lines("pids").len() == 2
    });

    // `jinit metrics` prints what the port serves.
    let out = client(&sb, ["metrics"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(value(&out.stdout, restarts).as_deref(), Some("1"));
    assert_eq!(value(&out.stdout, ready).as_deref(), Some("1"));
    assert_eq!(jinit.stop(), 0);
}

#[test]
fn hostile_requests_get_an_error_and_the_port_keeps_serving() {
    let sb = Sandbox::new();
    sb.spec(SPEC);
    let jinit = Jinit::spec(&sb).env("JINIT_METRICS_PORT", "0").spawn();
    let port = served_port(&jinit);
    let status = |req: &[u8]| {
        let a = exchange(port, req);
        a.lines().next().unwrap_or_default().to_string()
    };
    assert_eq!(
        status(b"POST /metrics HTTP/1.1\r\n\r\n"),
        "HTTP/1.1 405 Method Not Allowed"
    );
    assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), "HTTP/1.1 404 Not Found");
    assert_eq!(
        status(b"GET /metrics\" x=\"1 HTTP/1.1\r\n\r\n"),
        "HTTP/1.1 400 Bad Request"
    );
    let mut long = b"GET /metrics HTTP/1.1\r\nX-Long: ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 20_000));
    assert_eq!(
        status(&long),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    // Clients that hang up at once, or mid-request.
    for partial in [&b""[..], b"GET /met"] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(partial).unwrap();
        drop(s);
    }
    let head = exchange(port, b"HEAD /metrics HTTP/1.0\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "HEAD has no body: {head}");
    assert!(scrape(port).contains("jinit_build_info{version="));
    assert_eq!(jinit.stop(), 0);
}

#[test]
fn a_bad_or_taken_port_stops_the_boot_naming_the_variable() {
    let sb = Sandbox::new();
    sb.spec(SPEC);
    let out = Jinit::spec(&sb)
        .env("JINIT_METRICS_PORT", "99999")
        .run(secs(10));
    assert_ne!(out.code, 0);
    assert_line_with(
        &out.stderr,
        &["JINIT_METRICS_PORT=\"99999\"", "not a TCP port"],
    );
    assert!(!sb.exists("pids"), "nothing started");

    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Jinit::spec(&sb)
        .env("JINIT_METRICS_PORT", &port)
        .run(secs(10));
    assert_ne!(out.code, 0);
    assert_line_with(
        &out.stderr,
        &["cannot serve metrics on 0.0.0.0:", "JINIT_METRICS_PORT"],
    );
}
