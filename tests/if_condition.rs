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

/// With an env file (JINIT_ENV_FILE), each change of it evaluates every `if` and `{{ }}` again:
/// a unit whose `if` turns true starts, one whose `if` turns false stops and counts as
/// skipped, a service whose command now expands differently restarts with the new value and
/// a finished oneshot runs again; units whose strings did not change are left alone.
#[test]
fn a_changed_environment_starts_stops_and_restarts_units() {
    let sb = Sandbox::new();
    let env_file = sb.write("env", "EXTRA=no\nGREETING=hello\n");
    sb.spec(
        r#"
[oneshot.account]
command = ["sh", "-c", "echo account {{ GREETING }} >> {D}/log"]

[service.extra]
command = ["sh", "-c", "echo extra starts >> {D}/log; exec sleep 1000"]
if = "EXTRA == 'yes'"
after = ["account"]

[service.app]
command = ["sh", "-c", "echo app says {{ GREETING }} >> {D}/log; exec sleep 1000"]
after = ["extra", "account"]
"#,
    );
    let mut jinit = Jinit::spec(&sb)
        .env("JINIT_ENV_FILE", env_file.to_str().unwrap())
        .spawn();
    sb.wait_line("log", "app says hello", secs(10));
    assert_eq!(sb.lines("log"), ["account hello", "app says hello"]);
    let skips = |jinit: &Running| {
        transitions(&jinit.stderr(), "extra")
            .iter()
            .filter(|(_, to)| to == "skipped")
            .count()
    };
    assert_eq!(skips(&jinit), 1, "skipped at boot");

    sb.write("env", "EXTRA=yes\nGREETING=hello\n");
    sb.wait_line("log", "extra starts", secs(10));
    jinit.wait_transition("extra", "ready", secs(5));
    assert_stays_false("app or account running again", millis(500), || {
        sb.count("log", "app says hello") > 1 || sb.count("log", "account hello") > 1
    });

    sb.write("env", "EXTRA=yes\nGREETING=bonjour\n");
    sb.wait_line("log", "app says bonjour", secs(10));
    sb.wait_line("log", "account bonjour", secs(10));
    assert_eq!(sb.count("log", "extra starts"), 1, "extra did not change");
    wait_for("`jinit health` to exit 0", secs(10), || {
        client(&sb, ["health"]).code == 0
    });

    sb.write("env", "EXTRA=no\nGREETING=bonjour\n");
    wait_for("extra skipped again", secs(10), || skips(&jinit) == 2);
    let status = client(&sb, ["status"]);
    assert_line_with(&status.stdout, &["extra", "skipped", "if is false"]);
    let restart = client(&sb, ["restart", "extra"]);
    assert_ne!(restart.code, 0, "a disabled unit is not restarted");
    assert!(
        restart.stderr.contains("extra is disabled by its `if`"),
        "{}",
        restart.stderr
    );
    assert_line_with(&status.stdout, &["app", "ready"]);
    wait_for("`jinit health` to exit 0 without extra", secs(10), || {
        client(&sb, ["health"]).code == 0
    });
    assert_eq!(sb.count("log", "app says bonjour"), 1, "app not restarted");
    let sleeps = || {
        descendants(jinit.pid())
            .into_iter()
            .filter(|&p| comm(p).as_deref() == Some("sleep") && state(p) != Some('Z'))
            .count()
    };
    wait_for("only app's sleep left", secs(5), || sleeps() == 1);
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}
