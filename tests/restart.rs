//! `on-success` / `on-failure`: restart with exponential backoff (about 0.5 s, doubling),
//! shut the container down with the unit's code, or ignore the exit.

#[macro_use]
mod common;
use common::*;

use std::time::Instant;

both_modes!(
    on_failure_shutdown_exits_with_the_service_code,
    on_success_shutdown_exits_0
);

#[test]
fn crash_loop_restarts_a_bounded_number_of_times() {
    let sb = Sandbox::new();
    sb.spec(
        r#"
[service.crashy]
command = ["sh", "-c", "echo start >> {D}/starts; exit 1"]
"#,
    );
    let mut jinit = Jinit::spec(&sb).timeout(secs(40)).spawn();
    sb.wait_line("starts", "start", secs(10));
    let first = Instant::now();
    // Backoff 0.5 s, 1 s, 2 s (±10%): the 3rd start comes about 1.5 s after the first.
    wait_for(
        "the crash-looping service to be restarted twice",
        secs(5),
        || sb.count("starts", "start") >= 3,
    );
    jinit.wait_transition("crashy", "backoff", secs(1));
    // Within 5 s of the first start it can start at most ~5 times (0, 0.5, 1.5, 3.5 s).
    let window_end = first + secs(5);
    while Instant::now() < window_end {
        let starts = sb.count("starts", "start");
        assert!(starts <= 6, "{starts} starts within 5 s; backoff too short");
        std::thread::sleep(millis(50));
    }
    jinit.assert_running();
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn service_exiting_0_is_restarted_by_default() {
    let sb = Sandbox::new();
    sb.spec(
        r#"
[service.job]
command = ["sh", "-c", "echo start >> {D}/starts; exit 0"]
"#,
    );
    let mut jinit = Jinit::spec(&sb).spawn();
    wait_for("the service to be restarted", secs(10), || {
        sb.count("starts", "start") >= 2
    });
    jinit.assert_running();
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

fn on_success_shutdown_exits_0(mode: Mode) {
    let sb = Sandbox::new();
    sb.spec(
        r#"
[service.other]
command = ["sleep", "1000"]

[service.bridge]
command = ["sh", "-c", "while [ ! -e {D}/trigger ]; do sleep 0.05; done; exit 0"]
on-success = "shutdown"
on-failure = "restart"
"#,
    );
    let mut jinit = Jinit::spec(&sb).mode(mode).spawn();
    jinit.wait_transition("bridge", "ready", secs(10));
    sb.touch("trigger");
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

fn on_failure_shutdown_exits_with_the_service_code(mode: Mode) {
    for (exit, code) in [("exit 3", 3), ("kill -USR1 $$", 128 + libc::SIGUSR1)] {
        let sb = Sandbox::new();
        sb.spec(&format!(
            r#"
[service.other]
command = ["sleep", "1000"]

[service.critical]
command = ["sh", "-c", "while [ ! -e {{D}}/trigger ]; do sleep 0.05; done; {exit}"]
on-failure = "shutdown"
"#
        ));
        let mut jinit = Jinit::spec(&sb).mode(mode).spawn();
        jinit.wait_transition("critical", "ready", secs(10));
        sb.touch("trigger");
        assert_eq!(
            jinit.wait_exit(secs(10)),
            code,
            "{exit}; stderr:\n{}",
            jinit.stderr()
        );
    }
}

#[test]
fn on_failure_ignore_leaves_the_service_exited() {
    let sb = Sandbox::new();
    sb.spec(
        r#"
[service.flaky]
command = ["sh", "-c", "echo start >> {D}/starts; exit 4"]
on-failure = "ignore"

[service.app]
command = ["sleep", "1000"]
"#,
    );
    let mut jinit = Jinit::spec(&sb).spawn();
    wait_for("flaky to be logged as exited or failed", secs(10), || {
        let log = jinit.stderr();
        has_transition(&log, "flaky", "exited") || has_transition(&log, "flaky", "failed")
    });
    assert_stays_false("a restart of the ignored service", millis(1500), || {
        sb.count("starts", "start") > 1
    });
    jinit.assert_running();
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn a_restarted_service_leaves_no_process_behind() {
    // The service forks a helper that ignores TERM (like an nginx worker whose master was
    // killed), then dies. The helper must be gone before the service runs again.
    let sb = Sandbox::new();
    sb.spec(
        r#"
[service.forky]
command = ["sh", "-c", "(trap '' TERM; exec sleep 1000) & echo $! >> {D}/helpers; exit 1"]
"#,
    );
    let mut jinit = Jinit::spec(&sb).spawn();
    wait_for("two runs of the service", secs(10), || {
        sb.read("helpers").lines().count() >= 2
    });
    let first: i32 = std::fs::read_to_string(sb.path("helpers"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for("the first run's helper to be gone", secs(5), || {
        match std::fs::read_to_string(format!("/proc/{first}/stat")) {
            Err(_) => true,
            // A zombie not yet reaped counts as gone: it no longer runs.
            Ok(stat) => stat
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z')),
        }
    });
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}
