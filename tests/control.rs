//! The control socket ($JINIT_SOCKET, mode 0600) and the client subcommands `status`,
//! `status --json`, `health`, `restart UNIT` and `reload [UNIT]`: one jinit per socket, the
//! socket's limits (line length, idle clients, connection cap, accept errors) and what a unit
//! may ask through it.

mod common;
use common::*;

use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};

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

/// Connects to the sandbox's socket with a generous read timeout: a test that waits for an
/// answer fails instead of hanging when none comes.
fn raw_connect(sb: &Sandbox) -> UnixStream {
    let stream = UnixStream::connect(sb.socket()).expect("connect to the control socket");
    stream.set_read_timeout(Some(secs(30))).unwrap();
    stream
}

/// Everything the server sends until it closes the connection.
fn read_answer(stream: &mut UnixStream) -> String {
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("an answer, then the end of the connection: {e}"));
    text
}

fn inode(path: &std::path::Path) -> u64 {
    std::fs::symlink_metadata(path).expect("stat").ino()
}

#[test]
fn a_second_jinit_refuses_to_take_the_socket() {
    let sb = Sandbox::new();
    let mut first = spawn(&sb);
    let socket = inode(&sb.socket());
    let second = Jinit::spec(&sb).run(secs(20));
    assert_eq!(second.code, 2, "{second:?}");
    for needle in [
        "already running",
        &format!("pid {}", first.pid()),
        "jinit status",
        "JINIT_SOCKET",
    ] {
        assert!(
            second.stderr.contains(needle),
            "names {needle:?}: {second:?}"
        );
    }
    assert_eq!(inode(&sb.socket()), socket, "the socket is untouched");
    let status = client(&sb, ["status"]);
    assert_eq!(status.code, 0, "the first jinit still answers: {status:?}");
    first.signal(libc::SIGTERM);
    assert_eq!(first.wait_exit(secs(10)), 0, "stderr:\n{}", first.stderr());
    assert!(!sb.socket().exists(), "jinit removes its own socket");
}

/// Two jinits started at the same instant could both find no socket; the one that holds the
/// claim (`SOCKET.lock`) binds, the other refuses without touching the path, even before the
/// first has bound anything.
#[test]
fn a_held_claim_keeps_a_second_jinit_off_the_socket() {
    let sb = Sandbox::new();
    let mut lock_path = sb.socket().into_os_string();
    lock_path.push(".lock");
    let file = std::fs::File::create(&lock_path).unwrap();
    let held = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .expect("the test takes the claim");
    let second = Jinit::spec(&sb).run(secs(20));
    assert_eq!(second.code, 2, "{second:?}");
    assert!(second.stderr.contains("already running"), "{second:?}");
    assert!(!sb.socket().exists(), "nothing bound: {second:?}");
    // Released (as when the first jinit exits): the next one starts and binds.
    drop(held);
    let mut jinit = spawn(&sb);
    wait_for("an answer on the socket", secs(10), || {
        client(&sb, ["status"]).code == 0
    });
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn a_stale_socket_is_replaced() {
    let sb = Sandbox::new();
    // Bound and closed: the file stays, nobody answers (connection refused).
    drop(UnixListener::bind(sb.socket()).unwrap());
    let mut jinit = spawn(&sb);
    wait_for("an answer on the replaced socket", secs(10), || {
        client(&sb, ["status"]).code == 0
    });
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn a_deleted_socket_comes_back_on_sighup() {
    let sb = Sandbox::new();
    let mut jinit = spawn(&sb);
    std::fs::remove_file(sb.socket()).unwrap();
    jinit.signal(libc::SIGHUP);
    wait_for("the socket to answer again", secs(10), || {
        sb.socket().exists() && client(&sb, ["status"]).code == 0
    });
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
    assert!(
        !sb.socket().exists(),
        "jinit removes the socket it bound again"
    );
}

#[test]
fn a_socket_jinit_does_not_own_is_left_alone() {
    let sb = Sandbox::new();
    let mut jinit = spawn(&sb);
    // Someone else deleted jinit's socket and now serves on the path.
    std::fs::remove_file(sb.socket()).unwrap();
    let _other = UnixListener::bind(sb.socket()).unwrap();
    let theirs = inode(&sb.socket());
    jinit.signal(libc::SIGHUP);
    jinit.wait_log("cannot create the control socket", secs(10));
    assert_eq!(
        inode(&sb.socket()),
        theirs,
        "a live socket is not taken over"
    );
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
    assert_eq!(
        std::fs::symlink_metadata(sb.socket()).map(|m| m.ino()).ok(),
        Some(theirs),
        "jinit does not delete a socket it did not bind"
    );
}

#[test]
fn an_overlong_request_line_is_refused() {
    let sb = Sandbox::new();
    let mut jinit = spawn(&sb);
    let mut stream = raw_connect(&sb);
    // No newline, and the connection stays open: only the length limit can end the read.
    stream.write_all(&[b'x'; 8192]).unwrap();
    let answer = read_answer(&mut stream);
    assert!(
        answer.contains("\"ok\":false") && answer.contains("longer than 4096 bytes"),
        "{answer}"
    );
    assert_eq!(client(&sb, ["status"]).code, 0, "jinit still answers");
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn an_idle_client_is_closed() {
    let sb = Sandbox::new();
    let mut jinit = spawn(&sb);
    let mut stream = raw_connect(&sb);
    let answer = read_answer(&mut stream);
    assert!(answer.contains("no request line within"), "{answer}");
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn connections_beyond_the_cap_are_refused_at_once() {
    let sb = Sandbox::new();
    let mut jinit = spawn(&sb);
    let held: Vec<UnixStream> = (0..16).map(|_| raw_connect(&sb)).collect();
    let mut extra = raw_connect(&sb);
    let answer = read_answer(&mut extra);
    assert!(answer.contains("busy"), "{answer}");
    drop(held);
    wait_for(
        "an answer once the held connections closed",
        secs(10),
        || client(&sb, ["status"]).code == 0,
    );
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

/// Sets jinit's soft limit of open files to `soft` (the hard limit stays); returns the
/// soft limit it had.
fn set_file_limit(pid: i32, soft: u64) -> u64 {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit(2) reads nothing and writes one rlimit we own.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) };
    assert_eq!(rc, 0, "read jinit's RLIMIT_NOFILE");
    let new = libc::rlimit {
        rlim_cur: soft,
        rlim_max: old.rlim_max,
    };
    // SAFETY: prlimit(2) reads one rlimit we own and writes nothing.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "set jinit's RLIMIT_NOFILE");
    old.rlim_cur
}

#[test]
fn accept_errors_back_off_and_recover() {
    let sb = Sandbox::new();
    // One quiet service: nothing else opens descriptors while the limit is low.
    sb.spec(
        r#"
[service.quiet]
command = ["sh", "-c", "touch {D}/quiet.started; while :; do sleep 1 & wait $!; done"]
"#,
    );
    let mut jinit = Jinit::spec(&sb).spawn();
    sb.wait_file("quiet.started", secs(10));
    wait_for("an answer on the socket", secs(10), || {
        client(&sb, ["status"]).code == 0
    });
    // The lowest free descriptor number as the limit: the next accept fails with EMFILE.
    let open: Vec<u64> = std::fs::read_dir(format!("/proc/{}/fd", jinit.pid()))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let lowest_free = (0..).find(|fd| !open.contains(fd)).unwrap();
    let before = set_file_limit(jinit.pid(), lowest_free);
    let mut stream = raw_connect(&sb);
    jinit.wait_log("cannot accept a connection", secs(10));
    set_file_limit(jinit.pid(), before);
    jinit.wait_log("accepting again", secs(10));
    stream.write_all(b"{\"cmd\":\"status\"}\n").unwrap();
    let answer = read_answer(&mut stream);
    assert!(answer.contains("\"ok\":true"), "{answer}");
    let log = jinit.stderr();
    assert_eq!(
        log.matches("cannot accept a connection").count(),
        1,
        "one line per streak of failures:\n{log}"
    );
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

/// `helper` runs each client command from inside jinit's tree and records code and output.
const FROM_A_UNIT: &str = r#"
[service.plain]
command = ["sh", "-c", "echo $$ > {D}/plain.pid; while :; do sleep 1 & wait $!; done"]

[service.helper]
command = ["sh", "-c", '''
for cmd in "status" "reload" "restart plain" "reload plain"; do
  {JINIT} $cmd > "{D}/$cmd.out" 2>&1
  echo $? > "{D}/$cmd.code"
done
touch {D}/done
while :; do sleep 1 & wait $!; done''']
"#;

#[test]
fn a_unit_may_read_and_reload_but_not_restart_others() {
    let sb = Sandbox::new();
    sb.spec(&FROM_A_UNIT.replace("{JINIT}", JINIT));
    let mut jinit = Jinit::spec(&sb).spawn();
    let plain = sb.read_pid("plain.pid", secs(10));
    sb.wait_file("done", secs(20));
    let out = |cmd: &str| sb.read(&format!("{cmd}.out"));
    let code = |cmd: &str| sb.read(&format!("{cmd}.code")).trim().to_string();
    assert_eq!(code("status"), "0", "{}", out("status"));
    assert_eq!(code("reload"), "0", "{}", out("reload"));
    for cmd in ["restart plain", "reload plain"] {
        assert_eq!(code(cmd), "1", "{cmd}: {}", out(cmd));
        assert!(
            out(cmd).contains("permission denied"),
            "{cmd}: {}",
            out(cmd)
        );
    }
    assert_eq!(
        sb.read_pid("plain.pid", secs(1)),
        plain,
        "plain kept running"
    );
    // The same request from outside jinit's tree is served.
    let restart = client(&sb, ["restart", "plain"]);
    assert_eq!(restart.code, 0, "{restart:?}");
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}
