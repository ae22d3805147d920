//! `if`: a minijinja expression over the environment; false skips the unit, which then counts
//! as satisfied for its dependents; an undefined variable is a spec error.

mod common;
use common::*;

const SPEC: &str = r#"
[service.extra]
command = ["sh", "-c", "echo extra starts >> {D}/log; exec sleep 1000"]
if = "JINIT_TEST_EXTRA is defined and JINIT_TEST_EXTRA == 'yes'"

[oneshot.setup]
command = ["sh", "-c", "echo setup runs >> {D}/log"]
if = "JINIT_TEST_MODE == 'full'"

[service.app]
command = ["sh", "-c", "echo app starts >> {D}/log; exec sleep 1000"]
after = ["extra", "setup"]
"#;

#[test]
fn false_condition_skips_unit_and_dependents_start() {
    let sb = Sandbox::new();
    sb.spec(SPEC);
    let mut jinit = Jinit::spec(&sb)
        .env_remove("JINIT_TEST_EXTRA")
        .env("JINIT_TEST_MODE", "minimal")
        .spawn();
    sb.wait_line("log", "app starts", secs(10));
    assert_eq!(sb.lines("log"), ["app starts"]);
    let log = jinit.stderr();
    assert!(has_transition(&log, "extra", "skipped"), "{log}");
    assert!(has_transition(&log, "setup", "skipped"), "{log}");
    // A skipped service does not make the container unhealthy.
    wait_for("`jinit health` to exit 0", secs(10), || {
        client(&sb, ["health"]).code == 0
    });
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn true_condition_runs_unit() {
    let sb = Sandbox::new();
    sb.spec(SPEC);
    let mut jinit = Jinit::spec(&sb)
        .env("JINIT_TEST_MODE", "full")
        .env("JINIT_TEST_EXTRA", "yes")
        .spawn();
    sb.wait_line("log", "app starts", secs(10));
    let mut lines = sb.lines("log");
    lines.sort();
    assert_eq!(lines, ["app starts", "extra starts", "setup runs"]);
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn undefined_variable_is_an_error() {
    let sb = Sandbox::new();
    sb.spec(SPEC);
    let out = Jinit::spec(&sb).env_remove("JINIT_TEST_MODE").run(secs(10));
    assert_eq!(out.code, 2, "stderr:\n{}", out.stderr);
    assert_line_with(&out.stderr, &["oneshot.setup.if", "JINIT_TEST_MODE"]);
    assert!(!sb.exists("log"), "nothing starts on a spec error");
}
