//! `jinit -- CMD [ARGS...]`: tini-compatible single-command mode, as a subreaper and as PID 1.
//!
//! Exit codes pass through (128+N for signal N, 127 missing, 126 not executable), every
//! catchable signal is forwarded to the child's process group, the child starts clean (but
//! keeps the signals jinit's parent ignored), and processes the child leaves behind get
//! SIGTERM, then SIGKILL after `JINIT_SHUTDOWN_GRACE`, before jinit exits.

#[macro_use]
mod common;
use common::*;

use std::os::unix::fs::PermissionsExt;

both_modes!(
    exit_codes_pass_through,
    death_by_signal_is_128_plus_n,
    missing_command_is_127,
    not_executable_is_126,
    a_script_without_a_shebang_runs_under_sh,
    every_catchable_signal_reaches_the_child,
    signals_reach_the_whole_process_group,
    child_starts_clean,
    leftovers_get_term_before_jinit_exits,
    leftovers_ignoring_term_get_kill_after_the_grace,
    inherited_ignored_signals_stay_ignored,
);

fn exit_codes_pass_through(mode: Mode) {
    let sb = Sandbox::new();
    for code in 0..=255 {
        let out = Jinit::command(&sb, ["sh", "-c", "exit $1", "sh", &code.to_string()])
            .mode(mode)
            .run(secs(5));
        assert_eq!(
            out.code, code,
            "child exited {code}; jinit stderr:\n{}",
            out.stderr
        );
    }
}

fn death_by_signal_is_128_plus_n(mode: Mode) {
    let sb = Sandbox::new();
    // Signals whose default action terminates (some with a core dump, disabled by ulimit).
    for sig in [
        1, 2, 3, 6, 9, 10, 11, 12, 13, 14, 15, 24, 26, 27, 29, 30, 31, 34, 50, 64,
    ] {
        let script = format!("ulimit -c 0; kill -{sig} $$; sleep 10");
        let out = Jinit::command(&sb, ["sh", "-c", &script])
            .mode(mode)
            .run(secs(5));
        assert_eq!(
            out.code,
            128 + sig,
            "child killed by signal {sig}; jinit stderr:\n{}",
            out.stderr
        );
    }
}

fn missing_command_is_127(mode: Mode) {
    let sb = Sandbox::new();
    for argv in [["no-such-command-jinit-test"], ["/nonexistent/bin/tool"]] {
        let out = Jinit::command(&sb, argv).mode(mode).run(secs(5));
        assert_eq!(out.code, 127, "{argv:?}; stderr:\n{}", out.stderr);
        assert!(
            out.stderr.contains(argv[0]),
            "message names the command:\n{}",
            out.stderr
        );
    }
}

fn not_executable_is_126(mode: Mode) {
    let sb = Sandbox::new();
    let script = sb.write("not-executable.sh", "#!/bin/sh\nexit 0\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let script = script.to_str().unwrap().to_string();
    let dir = sb.dir().to_str().unwrap().to_string();
    for argv in [script, dir] {
        let out = Jinit::command(&sb, [&argv]).mode(mode).run(secs(5));
        assert_eq!(out.code, 126, "{argv}; stderr:\n{}", out.stderr);
    }
}

/// A script without a `#!` line runs under /bin/sh, as execvp, tini and the shell run it.
fn a_script_without_a_shebang_runs_under_sh(mode: Mode) {
    let sb = Sandbox::new();
    let script = sb.write("no-shebang", "echo from-sh\nexit 7\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Jinit::command(&sb, [script.to_str().unwrap()])
        .mode(mode)
        .run(secs(5));
    assert_eq!(out.code, 7, "stderr:\n{}", out.stderr);
}

/// Sends each signal to jinit in turn and waits until every `roles` process recorded it;
/// reports all signals that were not forwarded at once.
fn forward_each_signal(mode: Mode, fork: bool) {
    let sb = Sandbox::new();
    let recorder = sb.write("recorder.py", SIGNAL_RECORDER);
    let rec = sb.p("signals");
    let mut argv = vec![
        PYTHON.to_string(),
        recorder.to_str().unwrap().into(),
        rec.clone(),
    ];
    let mut roles = vec!["parent"];
    if fork {
        argv.push("fork".into());
        roles.push("child");
    }
    // Generous: a signal that never arrives costs its full 2 s wait.
    let mut jinit = Jinit::command(&sb, &argv)
        .mode(mode)
        .timeout(secs(200))
        .spawn();
    for role in &roles {
        sb.wait_line("signals", &format!("{role} ready"), secs(10));
    }
    let mut missing = Vec::new();
    for sig in forwardable_signals() {
        // Standard signals coalesce while pending: send the next only once this one arrived.
        jinit.signal(sig);
        let deadline = std::time::Instant::now() + secs(2);
        let arrived = |role: &&str| sb.count("signals", &format!("{role} {sig}")) > 0;
        while !roles.iter().all(arrived) && std::time::Instant::now() < deadline {
            std::thread::sleep(millis(10));
        }
        for role in roles.iter().filter(|r| !arrived(r)) {
            missing.push(format!("{sig} ({role})"));
        }
        if jinit.has_exited() {
            panic!(
                "jinit exited with {} on signal {sig}; not forwarded before: {missing:?}",
                jinit.wait_exit(secs(1))
            );
        }
    }
    assert!(missing.is_empty(), "signals not forwarded: {missing:?}");
    sb.touch("signals.done");
    jinit.signal(libc::SIGUSR1);
    assert_eq!(jinit.wait_exit(secs(5)), 0, "stderr:\n{}", jinit.stderr());
}

fn every_catchable_signal_reaches_the_child(mode: Mode) {
    forward_each_signal(mode, false);
}

fn signals_reach_the_whole_process_group(mode: Mode) {
    forward_each_signal(mode, true);
}

fn child_starts_clean(mode: Mode) {
    let sb = Sandbox::new();
    let mut jinit = Jinit::command(&sb, ["sleep", "1000"]).mode(mode).spawn();
    let child = jinit.child_named("sleep", secs(5));
    let st = stat(child).unwrap();
    assert_eq!(st.pgid, child, "child leads its own process group");
    assert_eq!(
        status_field(child, "SigBlk").unwrap(),
        "0000000000000000",
        "signal mask"
    );
    assert_eq!(
        status_field(child, "SigIgn").unwrap(),
        "0000000000000000",
        "ignored signals"
    );
    assert_eq!(fds(child), vec![0, 1, 2], "no leaked file descriptors");
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(5)), 128 + libc::SIGTERM);
}

/// A process the command leaves behind: records TERM in `orphan.log` and exits on it unless
/// `$1` is `stay`; writes `orphan.pid` once its trap is set.
const ORPHAN: &str = r#"
if [ "$1" = stay ]; then
  trap 'echo term >> {D}/orphan.log' TERM
else
  trap 'echo term >> {D}/orphan.log; exit 0' TERM
fi
echo $$ > {D}/orphan.pid
while :; do sleep 1 & wait $!; done
"#;

/// Runs a command that starts the orphan in the background, waits until its trap is set and
/// exits 3.
fn run_leaving_an_orphan(sb: &Sandbox, mode: Mode, how: &str, grace: &str) -> Running {
    sb.write("orphan.sh", ORPHAN);
    let script = sb.expand(&format!(
        "sh {{D}}/orphan.sh {how} & \
         while [ ! -s {{D}}/orphan.pid ]; do sleep 0.05; done; exit 3"
    ));
    Jinit::command(sb, ["sh", "-c", &script])
        .mode(mode)
        .env("JINIT_SHUTDOWN_GRACE", grace)
        .spawn()
}

fn leftovers_get_term_before_jinit_exits(mode: Mode) {
    let sb = Sandbox::new();
    // A grace far beyond the test's time limit: jinit must not wait it out once the
    // leftovers are gone.
    let mut jinit = run_leaving_an_orphan(&sb, mode, "exit", "1h");
    assert_eq!(
        jinit.wait_exit(secs(25)),
        3,
        "the command's code; stderr:\n{}",
        jinit.stderr()
    );
    assert_eq!(sb.count("orphan.log", "term"), 1, "the orphan got SIGTERM");
}

fn leftovers_ignoring_term_get_kill_after_the_grace(mode: Mode) {
    let sb = Sandbox::new();
    let mut jinit = run_leaving_an_orphan(&sb, mode, "stay", "1s");
    let orphan = match mode {
        Mode::Subreaper => Some(sb.read_pid("orphan.pid", secs(10))),
        Mode::Pid1 => None,
    };
    assert_eq!(
        jinit.wait_exit(secs(25)),
        3,
        "the command's code; stderr:\n{}",
        jinit.stderr()
    );
    assert_eq!(sb.count("orphan.log", "term"), 1, "the orphan got SIGTERM");
    assert!(
        jinit.stderr().contains("sending SIGKILL"),
        "jinit says it killed the leftovers:\n{}",
        jinit.stderr()
    );
    if let Some(pid) = orphan {
        assert!(
            !alive(pid),
            "the orphan {pid} is gone once jinit has exited"
        );
    }
}

/// `trap "" HUP; exec jinit -- grep SigIgn /proc/self/status`, as `nohup jinit -- CMD` would.
fn inherited_ignored_signals_stay_ignored(mode: Mode) {
    let sb = Sandbox::new();
    let jinit = match mode {
        Mode::Subreaper => JINIT.to_string(),
        Mode::Pid1 => format!("unshare --pid --fork --mount-proc {JINIT}"),
    };
    let mut cmd = std::process::Command::new("sh");
    cmd.args([
        "-c",
        &format!("trap '' HUP; exec {jinit} -- grep SigIgn /proc/self/status"),
    ])
    .env("JINIT_SOCKET", sb.socket());
    let out = run_command(&sb, "nohup", cmd, "jinit under trap '' HUP", secs(10));
    assert_eq!(out.code, 0, "{out:?}");
    let mask = out
        .stdout
        .trim()
        .strip_prefix("SigIgn:")
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .unwrap_or_else(|| panic!("a SigIgn line: {out:?}"));
    let bit = |sig: i32| mask & (1 << (sig - 1)) != 0;
    assert!(bit(libc::SIGHUP), "SIGHUP stays ignored: {mask:016x}");
    assert!(
        !bit(libc::SIGPIPE),
        "SIGPIPE is jinit's own (Rust ignores it), not inherited: {mask:016x}"
    );
}

/// On a terminal (`docker run -it`) the command's group becomes the terminal's foreground
/// group, so Ctrl-C reaches it; without one (the other tests) jinit starts it by posix_spawn.
/// `script` gives jinit a pseudo-terminal as its controlling terminal, as Docker does.
#[test]
fn on_a_terminal_the_child_is_the_foreground_group() {
    let report = r#"read -r pid comm state ppid pgrp sid tty tpgid rest < /proc/$$/stat; echo "pid=$pid pgrp=$pgrp tpgid=$tpgid""#;
    let inner = format!("{JINIT} -- sh -c '{report}'");
    let out = std::process::Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script(1) from util-linux runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("pid="))
        .unwrap_or_else(|| panic!("no report in {text:?}"));
    let field = |k: &str| -> i32 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{k} in {line:?}"))
    };
    let pid = field("pid=");
    assert_eq!(field("pgrp="), pid, "own process group: {line}");
    assert_eq!(
        field("tpgid="),
        pid,
        "the terminal's foreground group: {line}"
    );
}
