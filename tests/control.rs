//! The control socket ($JINIT_SOCKET, mode 0600) and the client subcommands `status`,
//! `status --json`, `health`, `restart UNIT` and `reload [UNIT]`.

mod common;
use common::*;

use serde_json::Value;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};

/// `web` becomes ready when the test writes `trigger`; it crashes once on its first run.
/// `worker` records HUP (its reload signal); `plain` has no reload signal; `init` is a oneshot.
const SPEC: &str = r#"
[oneshot.init]
command = ["true"]

[service.web]
command = ["sh", "-c", '''echo $$ > {D}/web.pid
if [ ! -e {D}/crashed-once ]; then touch {D}/crashed-once; exit 1; fi
trap 'echo web reloaded >> {D}/log' HUP
while [ ! -e {D}/trigger ]; do sleep 0.05; done
touch {D}/web-ready
while :; do sleep 1 & wait $!; done''']
ready = { file = "{D}/web-ready" }
ready-timeout = "60s"
after = ["init"]
reload-signal = "HUP"

[service.worker]
command = ["sh", "-c", '''trap 'echo worker reloaded >> {D}/log' USR1
echo $$ > {D}/worker.pid
while :; do sleep 1 & wait $!; done''']
reload-signal = "SIGUSR1"

[service.plain]
command = ["sh", "-c", '''trap 'echo plain got HUP >> {D}/log' HUP
trap 'echo plain got USR1 >> {D}/log' USR1
echo $$ > {D}/plain.pid
while :; do sleep 1 & wait $!; done''']
"#;

fn status_json(sb: &Sandbox) -> Value {
    let out = client(sb, ["status", "--json"]);
    assert_eq!(out.code, 0, "status --json: {}", out.stderr);
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e}):\n{}", out.stdout))
}

fn unit(status: &Value, name: &str) -> Value {
    status["units"]
        .as_array()
        .expect("units array")
        .iter()
        .find(|u| u["name"] == name)
        .unwrap_or_else(|| panic!("unit {name} in {status}"))
        .clone()
}

fn spawn(sb: &Sandbox) -> Running {
    sb.spec(SPEC);
    let jinit = Jinit::spec(sb).spawn();
    sb.wait_file("worker.pid", secs(10));
    sb.wait_file("plain.pid", secs(10));
    wait_for("the control socket", secs(10), || sb.socket().exists());
    jinit
}

#[test]
fn socket_is_private() {
    let sb = Sandbox::new();
    let mut jinit = spawn(&sb);
    let meta = std::fs::metadata(sb.socket()).unwrap();
    assert!(
        meta.file_type().is_socket(),
        "{} is a socket",
        sb.socket().display()
    );
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "socket mode");
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn status_and_health_follow_readiness() {
    let sb = Sandbox::new();
    let mut jinit = spawn(&sb);
    // web crashed once, then waits for the trigger before it is ready.
    wait_for("web's restart to show in status", secs(10), || {
        unit(&status_json(&sb), "web")["restarts"] == 1
    });
    let health = client(&sb, ["health"]);
    assert_eq!(
        health.code, 1,
        "not healthy before web is ready: {health:?}"
    );

    sb.touch("trigger");
    wait_for("`jinit health` to exit 0", secs(10), || {
        client(&sb, ["health"]).code == 0
    });
    let status = status_json(&sb);
    let units = status["units"].as_array().unwrap();
    let mut names: Vec<&str> = units.iter().map(|u| u["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["init", "plain", "web", "worker"], "{status}");
    let web = unit(&status, "web");
    assert_eq!(web["kind"], "service");
    assert_eq!(web["state"], "ready");
    assert_eq!(web["restarts"], 1);
    assert_eq!(web["pid"], sb.read_pid("web.pid", secs(1)), "{web}");
    assert!(
        web["uptime_secs"].as_f64().is_some_and(|s| s >= 0.0),
        "{web}"
    );
    let init = unit(&status, "init");
    assert_eq!(init["kind"], "oneshot");
    assert_eq!(init["state"], "done");
    assert!(init["pid"].is_null(), "finished oneshot has no pid: {init}");
    let worker = unit(&status, "worker");
    assert_eq!(worker["restarts"], 0);
    assert_eq!(
        worker["pid"],
        sb.read_pid("worker.pid", secs(1)),
        "{worker}"
    );

    let table = client(&sb, ["status"]);
    assert_eq!(table.code, 0, "{table:?}");
    for name in ["init", "web", "worker", "plain", "ready", "done"] {
        assert!(
            table.stdout.contains(name),
            "`jinit status` shows {name}:\n{}",
            table.stdout
        );
    }
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn restart_unit_replaces_the_process() {
    let sb = Sandbox::new();
    let mut jinit = spawn(&sb);
    let before = unit(&status_json(&sb), "worker");
    let old_pid = sb.read_pid("worker.pid", secs(1));
    assert_eq!(before["pid"], old_pid);
    std::fs::remove_file(sb.path("worker.pid")).unwrap();

    let out = client(&sb, ["restart", "worker"]);
    assert_eq!(out.code, 0, "{out:?}");
    let new_pid = sb.read_pid("worker.pid", secs(10));
    assert_ne!(new_pid, old_pid);
    wait_for("status to show the new worker", secs(10), || {
        let worker = unit(&status_json(&sb), "worker");
        worker["pid"] == new_pid && worker["state"] == "ready"
    });
    let after = unit(&status_json(&sb), "worker");
    assert_eq!(
        after["restarts"],
        before["restarts"].as_u64().unwrap() + 1,
        "{after}"
    );
    wait_for("the old worker to be gone", secs(10), || !alive(old_pid));
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn reload_sends_the_reload_signal() {
    let sb = Sandbox::new();
    let mut jinit = spawn(&sb);
    sb.touch("trigger");
    wait_for("web to be ready", secs(10), || {
        client(&sb, ["health"]).code == 0
    });

    let out = client(&sb, ["reload", "worker"]);
    assert_eq!(out.code, 0, "{out:?}");
    sb.wait_line("log", "worker reloaded", secs(5));
    assert_eq!(
        sb.count("log", "web reloaded"),
        0,
        "only the named unit reloads"
    );

    // No unit: every unit with a reload-signal, and only those.
    let out = client(&sb, ["reload"]);
    assert_eq!(out.code, 0, "{out:?}");
    sb.wait_line("log", "web reloaded", secs(5));
    wait_for("worker's second reload", secs(5), || {
        sb.count("log", "worker reloaded") == 2
    });
    let log = sb.read("log");
    assert!(
        !log.contains("plain got"),
        "plain has no reload-signal:\n{log}"
    );
    jinit.assert_running();
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn unknown_unit_is_an_error() {
    let sb = Sandbox::new();
    let mut jinit = spawn(&sb);
    for cmd in [["restart", "no-such-unit"], ["reload", "no-such-unit"]] {
        let out = client(&sb, cmd);
        assert_ne!(out.code, 0, "{cmd:?}: {out:?}");
        assert!(
            format!("{}{}", out.stdout, out.stderr).contains("no-such-unit"),
            "{cmd:?} names the unit: {out:?}"
        );
    }
    jinit.assert_running();
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn client_without_server_fails() {
    let sb = Sandbox::new();
    for cmd in [vec!["status"], vec!["health"], vec!["restart", "web"]] {
        let out = client(&sb, &cmd);
        assert_ne!(out.code, 0, "{cmd:?} with no jinit running: {out:?}");
    }
}
