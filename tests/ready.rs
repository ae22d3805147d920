//! `ready`: each probe kind ({ file }, { exec }, { tcp }, { http }) holds back dependents until
//! the service is really ready, and `jinit health` follows it.

mod common;
use common::*;

/// Service `a` does nothing useful until the test writes `trigger`, then runs `then` (which
/// makes it ready for `ready`). Service `b` (after a) must start only after that.
fn gated_start(then: &str, ready: &str) {
    let sb = Sandbox::new();
    sb.spec(&format!(
        r#"
[service.a]
command = ["sh", "-c", '''while [ ! -e {{D}}/trigger ]; do sleep 0.05; done
{then}''']
ready = {ready}
ready-timeout = "60s"

[service.b]
command = ["sh", "-c", "touch {{D}}/b-started; exec sleep 1000"]
after = ["a"]
"#
    ));
    let mut jinit = Jinit::spec(&sb).spawn();
    jinit.wait_transition("a", "starting", secs(10));
    assert_stays_false("b starting before a is ready", millis(1000), || {
        sb.exists("b-started")
    });
    assert_eq!(
        client(&sb, ["health"]).code,
        1,
        "health while a is starting"
    );

    sb.touch("trigger");
    sb.wait_file("b-started", secs(15));
    jinit.wait_transition("a", "ready", secs(1));
    wait_for("`jinit health` to exit 0", secs(10), || {
        client(&sb, ["health"]).code == 0
    });
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn file_probe() {
    gated_start(
        "touch {D}/ready; exec sleep 1000",
        r#"{ file = "{D}/ready" }"#,
    );
}

#[test]
fn exec_probe() {
    gated_start(
        "touch {D}/ready; exec sleep 1000",
        r#"{ exec = ["test", "-e", "{D}/ready"] }"#,
    );
}

#[test]
fn tcp_probe() {
    let port = free_port();
    gated_start(
        &format!(
            "exec {PYTHON} -c 'import socket, time\n\
             s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind((\"127.0.0.1\", {port})); s.listen(16)\n\
             while True: s.accept()[0].close()'"
        ),
        &format!(r#"{{ tcp = "127.0.0.1:{port}" }}"#),
    );
}

#[test]
fn http_probe() {
    let port = free_port();
    gated_start(
        &format!("exec {PYTHON} -m http.server {port} --bind 127.0.0.1 --directory {{D}}"),
        &format!(r#"{{ http = "http://127.0.0.1:{port}/" }}"#),
    );
}

#[test]
fn service_without_probe_is_ready_when_spawned() {
    let sb = Sandbox::new();
    sb.spec(
        r#"
[service.a]
command = ["sleep", "1000"]

[service.b]
command = ["sh", "-c", "touch {D}/b-started; exec sleep 1000"]
after = ["a"]
"#,
    );
    let mut jinit = Jinit::spec(&sb).spawn();
    sb.wait_file("b-started", secs(10));
    jinit.wait_transition("a", "ready", secs(1));
    wait_for("`jinit health` to exit 0", secs(10), || {
        client(&sb, ["health"]).code == 0
    });
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn timed_out_exec_attempts_are_killed() {
    let sb = Sandbox::new();
    // Each attempt hangs: the probe gives up on it after 2 s and starts another. Before the
    // fix every abandoned attempt kept running until shutdown.
    sb.spec(
        r#"
[service.app]
command = ["sleep", "1000"]
ready = { exec = ["sh", "-c", "echo $$ >> {D}/attempts; exec sleep 999"] }
ready-timeout = "60s"
"#,
    );
    let jinit = Jinit::spec(&sb).spawn();
    wait_for("four probe attempts", secs(30), || {
        sb.exists("attempts") && sb.lines("attempts").len() >= 4
    });
    let attempts: Vec<i32> = sb
        .lines("attempts")
        .iter()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    // The latest attempt may still run; the earlier ones are gone (give the kill a moment
    // under load: KILL at 2 s, reaped on the next loop turn).
    let earlier = &attempts[..attempts.len() - 1];
    wait_for(
        "abandoned attempts to be killed and reaped",
        secs(10),
        || {
            earlier
                .iter()
                .all(|&p| stat(p).is_none_or(|s| s.state == 'Z'))
        },
    );
    assert_eq!(jinit.stop(), 0);
}
