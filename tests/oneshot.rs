//! `[oneshot.NAME]`: runs to completion before its dependents; fails the container by
//! default; `creates` skips it; `every` re-runs it.

#[macro_use]
mod common;
use common::*;

both_modes!(
    oneshot_finishes_before_dependent_service,
    failing_oneshot_stops_jinit_with_its_code
);

fn oneshot_finishes_before_dependent_service(mode: Mode) {
    let sb = Sandbox::new();
    sb.spec(
        r#"
[oneshot.init]
command = ["sh", "-c", '''echo init begins >> {D}/log
while [ ! -e {D}/trigger ]; do sleep 0.05; done
echo init ends >> {D}/log''']

[service.app]
command = ["sh", "-c", "echo app starts >> {D}/log; exec sleep 1000"]
after = ["init"]
"#,
    );
    let mut jinit = Jinit::spec(&sb).mode(mode).spawn();
    sb.wait_line("log", "init begins", secs(10));
    jinit.wait_transition("init", "running", secs(5));
    assert_stays_false("app starting before init is done", millis(1000), || {
        sb.read("log").contains("app starts")
    });
    sb.touch("trigger");
    sb.wait_line("log", "app starts", secs(10));
    assert_eq!(sb.lines("log"), ["init begins", "init ends", "app starts"]);
    jinit.wait_transition("init", "done", secs(1));
    jinit.assert_running();
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

fn failing_oneshot_stops_jinit_with_its_code(mode: Mode) {
    let sb = Sandbox::new();
    sb.spec(
        r#"
[service.db]
command = ["sh", "-c", "echo db starts >> {D}/log; touch {D}/db-ready; exec sleep 1000"]
ready = { file = "{D}/db-ready" }

[oneshot.migrate]
command = ["sh", "-c", "echo migrate runs >> {D}/log; exit 7"]
after = ["db"]

[service.app]
command = ["sh", "-c", "echo app starts >> {D}/log; exec sleep 1000"]
after = ["migrate"]
"#,
    );
    let mut jinit = Jinit::spec(&sb).mode(mode).spawn();
    let code = jinit.wait_exit(secs(15));
    let log = jinit.stderr();
    assert_eq!(code, 7, "stderr:\n{log}");
    assert!(has_transition(&log, "migrate", "failed"), "{log}");
    assert_eq!(
        sb.lines("log"),
        ["db starts", "migrate runs"],
        "app never starts"
    );
}

#[test]
fn oneshot_failure_ignored_keeps_running() {
    let sb = Sandbox::new();
    sb.spec(
        r#"
[oneshot.optional]
command = ["sh", "-c", "exit 3"]
on-failure = "ignore"

[service.app]
command = ["sh", "-c", "touch {D}/app; exec sleep 1000"]
"#,
    );
    let mut jinit = Jinit::spec(&sb).spawn();
    sb.wait_file("app", secs(10));
    jinit.wait_transition("optional", "failed", secs(10));
    jinit.assert_running();
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn creates_skips_when_path_exists() {
    let sb = Sandbox::new();
    sb.touch("already-there");
    sb.spec(
        r#"
[oneshot.setup]
command = ["sh", "-c", "echo setup ran >> {D}/log"]
creates = "{D}/already-there"

[oneshot.fresh]
command = ["sh", "-c", "echo fresh ran >> {D}/log; touch {D}/fresh-made"]
creates = "{D}/fresh-made"

[service.app]
command = ["sh", "-c", "echo app starts >> {D}/log; exec sleep 1000"]
after = ["setup", "fresh"]
"#,
    );
    let mut jinit = Jinit::spec(&sb).spawn();
    sb.wait_line("log", "app starts", secs(10));
    assert_eq!(sb.lines("log"), ["fresh ran", "app starts"]);
    let log = jinit.stderr();
    assert!(has_transition(&log, "setup", "skipped"), "{log}");
    assert!(has_transition(&log, "fresh", "done"), "{log}");
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn every_reruns_periodically() {
    let sb = Sandbox::new();
    sb.spec(
        r#"
[oneshot.tick]
command = ["sh", "-c", "echo tick >> {D}/log"]
every = "1s"

[service.app]
command = ["sh", "-c", "touch {D}/app; exec sleep 1000"]
after = ["tick"]
"#,
    );
    let mut jinit = Jinit::spec(&sb).spawn();
    sb.wait_file("app", secs(10));
    wait_for("tick to run three times", secs(10), || {
        sb.count("log", "tick") >= 3
    });
    jinit.assert_running();
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

/// `stdin`: expanded like argv and written to the command's stdin, then end of file, so a
/// password reaches `prosodyctl register` without appearing in /proc/PID/cmdline.
#[test]
fn stdin_feeds_a_secret_without_argv() {
    let sb = Sandbox::new();
    sb.spec(
        r#"
[oneshot.register]
command = ["sh", "-c", '''IFS= read -r first; IFS= read -r second; cat > {D}/rest
printf '%s|%s\n' "$first" "$second" > {D}/got; tr '\0' ' ' < /proc/$$/cmdline > {D}/cmdline''']
stdin = "{{ JINIT_TEST_PASS }}\n{{ JINIT_TEST_PASS }}\n"

[service.app]
command = ["sh", "-c", "touch {D}/app; exec sleep 1000"]
after = ["register"]
"#,
    );
    let secret = "a-secret-that-stays-out-of-argv";
    let mut jinit = Jinit::spec(&sb).env("JINIT_TEST_PASS", secret).spawn();
    sb.wait_file("app", secs(10));
    assert_eq!(sb.read("got"), format!("{secret}|{secret}\n"));
    assert_eq!(sb.read("rest"), "", "end of file after the text");
    assert!(
        !sb.read("cmdline").contains(secret),
        "{}",
        sb.read("cmdline")
    );
    assert!(!jinit.stderr().contains(secret), "{}", jinit.stderr());
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn stdin_larger_than_a_page_is_a_spec_error() {
    let sb = Sandbox::new();
    sb.spec(
        r#"
[oneshot.feed]
command = ["cat"]
stdin = "{{ JINIT_TEST_BIG }}"
"#,
    );
    let out = Jinit::spec(&sb)
        .env("JINIT_TEST_BIG", &"x".repeat(5000))
        .run(secs(10));
    assert_eq!(out.code, 2, "stderr:\n{}", out.stderr);
    assert_line_with(&out.stderr, &["oneshot.feed.stdin", "5000 bytes", "4096"]);
}
