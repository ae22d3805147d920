//! `after`: units start in dependency order, gated on readiness; independent units start
//! concurrently; jinit logs each unit's state transitions.

#[macro_use]
mod common;
use common::*;

both_modes!(
    dependent_waits_until_ready,
    independent_units_start_concurrently
);

fn dependent_waits_until_ready(mode: Mode) {
    let sb = Sandbox::new();
    sb.spec(
        r#"
[service.a]
command = ["sh", "-c", '''echo start a >> {D}/log
while [ ! -e {D}/trigger ]; do sleep 0.05; done
touch {D}/a-ready
exec sleep 1000''']
ready = { file = "{D}/a-ready" }
ready-timeout = "60s"

[service.b]
command = ["sh", "-c", '''if [ -e {D}/a-ready ]; then echo start b after a ready >> {D}/log; else echo start b early >> {D}/log; fi
exec sleep 1000''']
after = ["a"]
"#,
    );
    let mut jinit = Jinit::spec(&sb).mode(mode).spawn();
    sb.wait_line("log", "start a", secs(10));
    assert_stays_false("b starting before a is ready", millis(1000), || {
        sb.read("log").contains("start b")
    });
    jinit.wait_transition("a", "starting", secs(1));
    assert!(transitions(&jinit.stderr(), "b")
        .iter()
        .all(|(_, to)| to == "waiting"));

    sb.touch("trigger");
    sb.wait_line("log", "start b after a ready", secs(10));
    jinit.wait_transition("b", "ready", secs(5));
    let log = jinit.stderr();
    let a_ready = transition_line(&log, "a", "ready").expect("a: -> ready logged");
    // b, without a probe, may go straight from waiting to ready.
    let b_leaves_waiting = left_waiting_line(&log, "b").expect("b: waiting -> ... logged");
    assert!(
        a_ready < b_leaves_waiting,
        "a ready before b starts; stderr:\n{log}"
    );
    assert_eq!(sb.lines("log"), ["start a", "start b after a ready"]);

    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

/// Each of two independent services becomes ready only once the other has started: a
/// supervisor that starts them one after the other deadlocks here.
fn independent_units_start_concurrently(mode: Mode) {
    let sb = Sandbox::new();
    let service = |me: &str, other: &str| {
        format!(
            r#"
[service.{me}]
command = ["sh", "-c", '''touch {{D}}/{me}-started
while [ ! -e {{D}}/{other}-started ]; do sleep 0.05; done
touch {{D}}/{me}-ready
exec sleep 1000''']
ready = {{ file = "{{D}}/{me}-ready" }}
ready-timeout = "60s"
"#
        )
    };
    sb.spec(&format!(
        "{}{}\n[service.last]\ncommand = [\"sh\", \"-c\", \"touch {{D}}/last; exec sleep 1000\"]\nafter = [\"x\", \"y\"]\n",
        service("x", "y"),
        service("y", "x")
    ));
    let mut jinit = Jinit::spec(&sb).mode(mode).spawn();
    sb.wait_file("last", secs(10));
    jinit.wait_transition("x", "ready", secs(1));
    jinit.wait_transition("y", "ready", secs(1));
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn logs_transitions_with_unit_names() {
    let sb = Sandbox::new();
    sb.spec(
        r#"
[service.web]
command = ["sh", "-c", "touch {D}/web-ready; exec sleep 1000"]
ready = { file = "{D}/web-ready" }
"#,
    );
    let mut jinit = Jinit::spec(&sb).spawn();
    jinit.wait_transition("web", "ready", secs(10));
    let log = jinit.stderr();
    let seen = transitions(&log, "web");
    let states = [
        "waiting", "skipped", "starting", "ready", "running", "done", "failed", "exited",
        "backoff", "stopping", "stopped",
    ];
    for (from, to) in &seen {
        assert!(
            states.contains(&from.as_str()),
            "unknown state {from:?} in:\n{log}"
        );
        assert!(
            states.contains(&to.as_str()),
            "unknown state {to:?} in:\n{log}"
        );
    }
    assert!(
        seen.iter().any(|(f, t)| f == "starting" && t == "ready"),
        "{log}"
    );
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0);
    let log = jinit.stderr();
    assert!(has_transition(&log, "web", "stopping"), "{log}");
    assert!(has_transition(&log, "web", "stopped"), "{log}");
}
