//! What a service process gets: its own process group, a clean signal mask and dispositions,
//! only fds 0-2, the configured `user`, `group`, `env` and `cwd`; its output passes through.

#[macro_use]
mod common;
use common::*;

use std::os::unix::fs::PermissionsExt;

both_modes!(service_starts_clean);

fn service_starts_clean(mode: Mode) {
    let sb = Sandbox::new();
    sb.spec(
        r#"
[service.idle]
command = ["sleep", "1000"]

[oneshot.check]
command = ["sleep", "1000"]
"#,
    );
    let mut jinit = Jinit::spec(&sb).mode(mode).spawn();
    wait_for("both units to be spawned", secs(10), || {
        jinit
            .live_children()
            .into_iter()
            .filter(|&p| comm(p).as_deref() == Some("sleep"))
            .count()
            == 2
    });
    for child in jinit.live_children() {
        let st = stat(child).unwrap();
        assert_eq!(st.pgid, child, "pid {child} leads its own process group");
        assert_eq!(
            status_field(child, "SigBlk").unwrap(),
            "0000000000000000",
            "mask"
        );
        assert_eq!(
            status_field(child, "SigIgn").unwrap(),
            "0000000000000000",
            "ignored"
        );
        assert_eq!(fds(child), vec![0, 1, 2], "no leaked file descriptors");
    }
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn user_group_env_and_cwd_apply() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path("work")).unwrap();
    // Let `nobody` reach the cwd, whether jinit changes directory before or after setuid.
    std::fs::set_permissions(sb.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    sb.spec(
        r#"
[service.app]
command = ["sleep", "1000"]
user = "nobody"
group = "nogroup"
env = { GREETING = "hello world", EMPTY = "" }
cwd = "{D}/work"
"#,
    );
    let mut jinit = Jinit::spec(&sb).spawn();
    let app = jinit.child_named("sleep", secs(10));
    let uid = status_field(app, "Uid").unwrap();
    let gid = status_field(app, "Gid").unwrap();
    assert_eq!(
        uid.split_whitespace().collect::<Vec<_>>(),
        ["65534"; 4],
        "Uid: {uid}"
    );
    assert_eq!(
        gid.split_whitespace().collect::<Vec<_>>(),
        ["65534"; 4],
        "Gid: {gid}"
    );
    let groups = status_field(app, "Groups").unwrap();
    assert!(
        !groups.split_whitespace().any(|g| g == "0"),
        "root's supplementary groups dropped: Groups: {groups}"
    );
    let environ = std::fs::read(format!("/proc/{app}/environ")).unwrap();
    let vars: Vec<&[u8]> = environ.split(|&b| b == 0).collect();
    assert!(vars.contains(&&b"GREETING=hello world"[..]), "env GREETING");
    assert!(vars.contains(&&b"EMPTY="[..]), "env EMPTY");
    assert_eq!(
        std::fs::read_link(format!("/proc/{app}/cwd")).unwrap(),
        sb.path("work"),
        "cwd"
    );
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn service_output_passes_through_unchanged() {
    let sb = Sandbox::new();
    sb.spec(
        r#"
[service.talker]
command = ["sh", "-c", "echo 'to stdout: 100% [ok]'; echo 'to stderr: x -> y' >&2; touch {D}/said; exec sleep 1000"]
"#,
    );
    let mut jinit = Jinit::spec(&sb).spawn();
    sb.wait_file("said", secs(10));
    wait_for("the service's lines in jinit's output", secs(5), || {
        jinit.stdout().lines().any(|l| l == "to stdout: 100% [ok]")
            && jinit.stderr().lines().any(|l| l == "to stderr: x -> y")
    });
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}

#[test]
fn secrets_reach_only_the_units_that_name_them() {
    let s = Sandbox::new();
    // Each dump is renamed into place: the test must not read a half-written file.
    s.write(
        "tpl/c/schema.toml",
        "[var.PASS]\ntype = \"secret\"\nrequired = true\n[var.GREETING]\ntype = \"string\"\ndefault = \"hi\"\n",
    );
    s.write(
        "spec.toml",
        r#"
[jinit]
schemas = ["c/schema.toml"]

[service.plain]
command = ["sh", "-c", "env > {D}/plain.tmp && mv {D}/plain.tmp {D}/plain.env; exec sleep 1000"]
ready = { exec = ["sh", "-c", "env > {D}/probe.tmp && mv {D}/probe.tmp {D}/probe.env"] }

[service.asks]
command = ["sh", "-c", "env > {D}/asks.tmp && mv {D}/asks.tmp {D}/asks.env; exec sleep 1000"]
pass-env = ["PASS"]
"#,
    );
    let spec = s.p("spec.toml");
    let tpl = s.p("tpl");
    let run = s.start_clean(
        ["--spec", &spec, "--templates", &tpl],
        &[
            ("PASS", "a-long-enough-secret-123"),
            ("SMTP_PASSWORD", "not-in-any-schema"),
            ("GREETING", "hello"),
        ],
    );
    for f in ["plain.env", "probe.env", "asks.env"] {
        wait_for_showing(f, secs(10), || s.exists(f), || run.log());
    }
    for f in ["plain.env", "probe.env"] {
        let env = s.read(f);
        assert!(env.contains("GREETING=hello"), "{f}: {env}");
        assert!(!env.contains("PASS="), "{f} must not see PASS: {env}");
        assert!(!env.contains("SMTP_PASSWORD"), "{f}: {env}");
    }
    let asks = s.read("asks.env");
    assert!(asks.contains("PASS=a-long-enough-secret-123"), "{asks}");
    assert!(!asks.contains("SMTP_PASSWORD"), "{asks}");
    assert_eq!(run.stop(), 0);
}
