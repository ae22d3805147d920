//! `drain`: a ready service's drain command runs before its stop signal, and the stop waits
//! for it, for the service to exit by itself, or for `drain-timeout`; all within the whole
//! stop's `stop-timeout`, ending with exit code 0.

#[macro_use]
mod common;
use common::*;

use std::time::Instant;

both_modes!(
    the_stop_signal_waits_for_the_drain,
    a_service_that_exits_while_draining_is_not_signalled,
    an_unfinished_drain_is_cut_at_its_timeout,
);

/// A bridge that records TERM and leaves on its own once `{D}/quit` exists, with `drain`.
fn spec(sb: &Sandbox, drain: &str, timeout: &str) {
    let log = sb.p("log");
    sb.spec(&format!(
        r#"
[jinit]
stop-timeout = "20s"

[service.bridge]
command = ["sh", "-c", "trap 'echo TERM >> {log}; exit 0' TERM; echo started >> {log}; while [ ! -e {quit} ]; do sleep 0.05; done; echo left >> {log}"]
drain = ["sh", "-c", "{drain}"]
drain-timeout = "{timeout}"
"#,
        quit = sb.p("quit"),
    ));
}

fn the_stop_signal_waits_for_the_drain(mode: Mode) {
    let sb = Sandbox::new();
    let log = sb.p("log");
    spec(
        &sb,
        &format!("echo drain >> {log}; sleep 0.5; echo drained >> {log}"),
        "10s",
    );
    let mut jinit = Jinit::spec(&sb).mode(mode).spawn();
    sb.wait_line("log", "started", secs(10));
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(15)), 0, "{}", jinit.log());
    assert_eq!(sb.lines("log"), ["started", "drain", "drained", "TERM"]);
    let log = jinit.stderr();
    assert_line_with(
        &log,
        &["bridge: ready -> draining", "drain: sh, up to 10.0s"],
    );
    assert_line_with(&log, &["bridge: drain done in"]);
    assert_line_with(&log, &["bridge: draining -> stopping"]);
}

fn a_service_that_exits_while_draining_is_not_signalled(mode: Mode) {
    let sb = Sandbox::new();
    let log = sb.p("log");
    // The drain asks the service to leave (like a bridge's graceful shutdown) and waits.
    spec(
        &sb,
        &format!(
            "echo drain >> {log}; echo $$ > {}; touch {}; exec sleep 100",
            sb.p("drain.pid"),
            sb.p("quit")
        ),
        "10s",
    );
    let mut jinit = Jinit::spec(&sb).mode(mode).spawn();
    sb.wait_line("log", "started", secs(10));
    let t0 = Instant::now();
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(15)), 0, "{}", jinit.log());
    assert!(
        t0.elapsed() < secs(5),
        "not the drain's 10 s: {:?}",
        t0.elapsed()
    );
    assert_eq!(sb.lines("log"), ["started", "drain", "left"]);
    assert_line_with(
        &jinit.stderr(),
        &["bridge: draining -> stopped (exited while draining"],
    );
    if mode == Mode::Subreaper {
        // (As PID 1, the namespace ends with jinit and takes everything along.)
        let drain = sb.read_pid("drain.pid", secs(1));
        assert!(!alive(drain), "the drain command {drain} was ended");
    }
}

fn an_unfinished_drain_is_cut_at_its_timeout(mode: Mode) {
    let sb = Sandbox::new();
    let log = sb.p("log");
    spec(&sb, &format!("echo drain >> {log}; sleep 100"), "1s");
    let mut jinit = Jinit::spec(&sb).mode(mode).spawn();
    sb.wait_line("log", "started", secs(10));
    let t0 = Instant::now();
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(15)), 0, "{}", jinit.log());
    let took = t0.elapsed();
    assert!(took >= millis(900) && took < secs(5), "{took:?}");
    assert_eq!(sb.lines("log"), ["started", "drain", "TERM"]);
    assert_line_with(
        &jinit.stderr(),
        &["bridge: draining -> stopping (drain unfinished after 1.0s)"],
    );
}

#[test]
fn a_restart_drains_and_a_missing_drain_command_stops_at_once() {
    let sb = Sandbox::new();
    let log = sb.p("log");
    spec(&sb, &format!("echo drain >> {log}"), "5s");
    let jinit = Jinit::spec(&sb).spawn();
    sb.wait_line("log", "started", secs(10));
    let out = client(&sb, ["restart", "bridge"]);
    assert_eq!(out.code, 0, "{}", out.text());
    wait_for("the bridge to start again", secs(10), || {
        sb.count("log", "started") == 2
    });
    assert_eq!(sb.lines("log"), ["started", "drain", "TERM", "started"]);
    assert_eq!(jinit.stop(), 0);

    // A drain command that is not there: `jinit check` names it, before anything runs.
    let sb = Sandbox::new();
    spec(&sb, "true", "5s");
    let text = std::fs::read_to_string(sb.path("jinit.toml"))
        .unwrap()
        .replace("drain = [\"sh\"", "drain = [\"no-such-drain\"");
    sb.write("jinit.toml", &text);
    let out = Jinit::new(&sb)
        .args(["check", "--spec", &sb.p("jinit.toml")])
        .run(secs(10));
    assert_ne!(out.code, 0);
    assert_line_with(&out.text(), &["service.bridge.drain", "no-such-drain"]);
}
