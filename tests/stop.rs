//! Stopping on SIGTERM/SIGINT: reverse dependency order, `stop-signal` to the unit's process
//! group, SIGKILL after `kill-delay`, then TERM to leftover orphans and KILL after
//! `[jinit] shutdown-grace`. A requested stop exits 0.

#[macro_use]
mod common;
use common::*;

both_modes!(
    stops_in_reverse_dependency_order,
    kill_delay_escalates_to_sigkill,
    orphans_get_term_before_kill,
    orphans_ignoring_term_are_killed_after_grace,
);

fn stops_in_reverse_dependency_order(mode: Mode) {
    let sb = Sandbox::new();
    let log = sb.p("log");
    sb.spec(&format!(
        r#"
[service.a]
command = ["sh", "-c", "{a}"]

[service.b]
command = ["sh", "-c", "{b}"]
after = ["a"]

[service.c]
command = ["sh", "-c", "{c}"]
after = ["b"]
"#,
        a = traps_term("a", &log),
        b = traps_term("b", &log),
        c = traps_term("c", &log),
    ));
    let mut jinit = Jinit::spec(&sb).mode(mode).spawn();
    // Without ready probes the three start concurrently: wait until every trap is set.
    for unit in ["a", "b", "c"] {
        sb.wait_line("log", &format!("started {unit}"), secs(10));
    }
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(15)), 0, "stderr:\n{}", jinit.stderr());
    let lines = sb.lines("log");
    assert_eq!(lines.len(), 9, "3 starts and 6 stop lines: {lines:?}");
    assert_eq!(
        &lines[3..],
        [
            "stopping c",
            "stopped c",
            "stopping b",
            "stopped b",
            "stopping a",
            "stopped a"
        ],
        "each unit stops only after its dependents exited; stderr:\n{}",
        jinit.stderr()
    );
}

#[test]
fn sigint_stops_like_sigterm() {
    let sb = Sandbox::new();
    let log = sb.p("log");
    sb.spec(&format!(
        "[service.a]\ncommand = [\"sh\", \"-c\", \"{}\"]\n",
        traps_term("a", &log)
    ));
    let mut jinit = Jinit::spec(&sb).spawn();
    sb.wait_line("log", "started a", secs(10));
    jinit.signal(libc::SIGINT);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
    assert!(sb.read("log").contains("stopped a"));
}

#[test]
fn stop_signal_is_sent_to_the_process_group() {
    let sb = Sandbox::new();
    // The service and a helper in its process group both record USR2 and exit. (Not QUIT:
    // a non-interactive sh starts background jobs with QUIT ignored, and they cannot trap it.)
    sb.spec(
        r#"
[service.web]
command = ["sh", "-c", '''sh -c 'trap "echo helper got USR2 >> {D}/log; exit 0" USR2; echo helper up >> {D}/log; while :; do sleep 1 & wait $!; done' &
trap 'echo main got USR2 >> {D}/log; wait; exit 0' USR2
echo main up >> {D}/log
while :; do sleep 1 & wait $!; done''']
stop-signal = "SIGUSR2"
kill-delay = "20s"
"#,
    );
    let mut jinit = Jinit::spec(&sb).spawn();
    sb.wait_line("log", "main up", secs(10));
    sb.wait_line("log", "helper up", secs(10));
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
    let log = sb.read("log");
    assert!(log.contains("main got USR2"), "{log}");
    assert!(log.contains("helper got USR2"), "{log}");
}

fn kill_delay_escalates_to_sigkill(mode: Mode) {
    let sb = Sandbox::new();
    // Records TERM but keeps running: only SIGKILL ends it.
    sb.spec(
        r#"
[service.stubborn]
command = ["sh", "-c", '''trap 'echo got TERM >> {D}/log' TERM
echo up >> {D}/log
while :; do sleep 1 & wait $!; done''']
kill-delay = "1s"
"#,
    );
    let mut jinit = Jinit::spec(&sb).mode(mode).spawn();
    sb.wait_line("log", "up", secs(10));
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(6)), 0, "stderr:\n{}", jinit.stderr());
    assert!(sb.read("log").contains("got TERM"), "stop signal first");
}

/// A service that leaves behind an orphan in its own session, which the unit's process-group
/// signal does not reach; `orphan` is the orphan's script.
fn spec_with_orphan(sb: &Sandbox, orphan: &str) {
    sb.write("orphan.sh", orphan);
    sb.spec(
        r#"
[jinit]
shutdown-grace = "1s"

[service.parent]
command = ["sh", "-c", "setsid sh {D}/orphan.sh & exec sleep 1000"]
kill-delay = "5s"
"#,
    );
}

fn orphans_get_term_before_kill(mode: Mode) {
    let sb = Sandbox::new();
    spec_with_orphan(
        &sb,
        "trap 'echo orphan got TERM >> {D}/log; exit 0' TERM\n\
         echo $$ > {D}/orphan.pid\n\
         while :; do sleep 1 & wait $!; done\n",
    );
    let mut jinit = Jinit::spec(&sb).mode(mode).spawn();
    sb.wait_file("orphan.pid", secs(10));
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(6)), 0, "stderr:\n{}", jinit.stderr());
    assert!(
        sb.read("log").contains("orphan got TERM"),
        "stderr:\n{}",
        jinit.stderr()
    );
}

fn orphans_ignoring_term_are_killed_after_grace(mode: Mode) {
    let sb = Sandbox::new();
    spec_with_orphan(
        &sb,
        "trap '' TERM\n\
         echo $$ > {D}/orphan.pid\n\
         exec sleep 1000\n",
    );
    let mut jinit = Jinit::spec(&sb).mode(mode).spawn();
    let orphan = jinit.host_pid(sb.read_pid("orphan.pid", secs(10)), secs(5));
    wait_for("orphan to exec sleep", secs(5), || {
        comm(orphan).as_deref() == Some("sleep")
    });
    jinit.signal(libc::SIGTERM);
    let code = jinit.wait_exit(secs(8));
    let survived = alive(orphan);
    if survived {
        send_signal(orphan, libc::SIGKILL);
    }
    assert_eq!(code, 0, "stderr:\n{}", jinit.stderr());
    assert!(
        !survived,
        "orphan ignoring TERM still alive after jinit exited"
    );
}

#[test]
fn a_stopped_service_gets_sigcont_and_ends_on_its_stop_signal() {
    let sb = Sandbox::new();
    // Without SIGCONT after TERM the stopped process could act on nothing until SIGKILL,
    // 30 s later.
    sb.spec(
        r#"
[service.paused]
command = ["sh", "-c", '''trap 'echo got TERM >> {D}/log; exit 0' TERM
echo $$ > {D}/pid
while :; do sleep 1 & wait $!; done''']
kill-delay = "30s"
"#,
    );
    let mut jinit = Jinit::spec(&sb).spawn();
    let pid = sb.read_pid("pid", secs(10));
    assert!(send_signal(pid, libc::SIGSTOP));
    wait_for("the service to be stopped", secs(5), || {
        stat(pid).is_some_and(|s| s.state == 'T')
    });
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
    assert!(sb.read("log").contains("got TERM"), "{}", jinit.stderr());
}

#[test]
fn stop_timeout_bounds_the_whole_stop() {
    let sb = Sandbox::new();
    // Two chained services that ignore TERM, each with a kill-delay of an hour: without the
    // stop-timeout the stop would take two hours.
    sb.spec(
        r#"
[jinit]
stop-timeout = "2s"
shutdown-grace = "1s"

[service.first]
command = ["sh", "-c", "trap '' TERM; echo up >> {D}/first; while :; do sleep 1; done"]
kill-delay = "1h"

[service.second]
command = ["sh", "-c", "trap '' TERM; echo up >> {D}/second; while :; do sleep 1; done"]
kill-delay = "1h"
after = ["first"]
"#,
    );
    let mut jinit = Jinit::spec(&sb).spawn();
    sb.wait_line("first", "up", secs(10));
    sb.wait_line("second", "up", secs(10));
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn a_unit_stopped_while_starting_says_so() {
    let sb = Sandbox::new();
    sb.spec(
        r#"
[service.slow]
command = ["sh", "-c", "echo up >> {D}/log; exec sleep 1000"]
ready = { file = "{D}/never" }
"#,
    );
    let mut jinit = Jinit::spec(&sb).spawn();
    sb.wait_line("log", "up", secs(10));
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
    let log = jinit.stderr();
    assert!(
        log.contains("stopped by the shutdown while starting"),
        "{log}"
    );
    assert!(!log.contains("not ready within ready-timeout"), "{log}");
}
