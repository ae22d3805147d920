//! Regeneration on change: a running jinit re-renders when a watched input changes, reloads
//! (reload-signal) or restarts (no reload-signal) only the units whose files changed, and
//! keeps the last good config when the new inputs are bad.

mod common;
use common::*;

const SCHEMA: &str = r#"
[var.GREETING]
type = "string"
default = "hello"
[var.ENABLE_X]
type = "bool"
default = false
[var.PASS]
type = "secret"
required = true
"#;

/// `web` records every SIGHUP; `java` has no reload-signal and records each start.
fn image(s: &Sandbox) {
    s.write("tpl/c/schema.toml", SCHEMA);
    s.write(
        "tpl/c/web.conf",
        "greeting {{ GREETING }};\nx {{ ENABLE_X }};\n",
    );
    s.write("tpl/c/java.conf", "pass {{ PASS|hocon }}\n");
    std::fs::create_dir_all(s.path("config")).unwrap();
    s.write(
        "spec.toml",
        r#"
[jinit]
schemas = ["c/schema.toml"]
watch = ["{D}/config"]
kill-delay = "2s"

[[render]]
template = "c/web.conf"
dest = "{D}/out/web.conf"
append = ["{D}/config/custom-web.conf"]
reload = "web"

[[render]]
template = "c/java.conf"
dest = "{D}/out/java.conf"
reload = "java"

[service.web]
command = ["sh", "-c", "trap 'echo hup >> {D}/hups' HUP; touch {D}/web-up; while :; do sleep 0.05; done"]
ready = { file = "{D}/web-up" }
reload-signal = "HUP"

[service.java]
command = ["sh", "-c", "echo start >> {D}/java-starts; exec sleep 100000"]
"#,
    );
}

fn lines(s: &Sandbox, rel: &str) -> usize {
    s.read(rel).lines().count()
}

#[test]
fn custom_file_change_reloads_only_the_unit_whose_file_changed() {
    let s = Sandbox::new();
    image(&s);
    let spec = s.p("spec.toml");
    let tpl = s.p("tpl");
    s.write("pass", "first-secret-long-enough\n");
    let run = s.start_clean(
        ["--spec", &spec, "--templates", &tpl],
        &[("PASS_FILE", &s.p("pass"))],
    );
    run.wait_log("web: waiting -> starting", secs(10));
    wait_for_showing(
        "web ready",
        secs(10),
        || s.path("web-up").exists(),
        || run.log(),
    );
    assert_eq!(s.read("out/web.conf"), "greeting hello;\nx false;\n");

    s.write("config/custom-web.conf", "custom 1;\n");
    run.wait_log("rewrote", secs(10));
    wait_for_showing(
        "a SIGHUP to web",
        secs(10),
        || lines(&s, "hups") == 1,
        || run.log(),
    );
    assert!(s.read("out/web.conf").ends_with("custom 1;\n"));
    assert_eq!(
        lines(&s, "java-starts"),
        1,
        "java untouched: its file did not change"
    );

    // The same bytes again: nothing to do.
    s.write("config/custom-web.conf", "custom 1;\n");
    run.wait_log("config unchanged", secs(10));
    assert_eq!(lines(&s, "hups"), 1, "no reload when nothing changed");

    // A changed secret file restarts the unit without a reload-signal.
    s.write("pass", "second-secret-long-enough\n");
    wait_for_showing(
        "java restarted",
        secs(10),
        || lines(&s, "java-starts") == 2,
        || run.log(),
    );
    assert_eq!(
        s.read("out/java.conf"),
        "pass \"second-secret-long-enough\"\n"
    );
    assert_eq!(lines(&s, "hups"), 1, "web untouched");
    assert_eq!(run.stop(), 0);
}

#[test]
fn env_file_overrides_and_bad_values_keep_the_last_good_config() {
    let s = Sandbox::new();
    image(&s);
    let env_file = s.write("jitsi.env", "GREETING=bonjour\n");
    let spec = s.p("spec.toml");
    let tpl = s.p("tpl");
    let run = s.start_clean(
        ["--spec", &spec, "--templates", &tpl],
        &[
            ("JINIT_ENV_FILE", &s.p("jitsi.env")),
            ("GREETING", "hello"),
            ("PASS", "a-long-enough-secret-123"),
        ],
    );
    wait_for_showing(
        "web ready",
        secs(10),
        || s.path("web-up").exists(),
        || run.log(),
    );
    assert!(
        s.read("out/web.conf").starts_with("greeting bonjour;"),
        "env file wins over the container environment"
    );

    std::fs::write(&env_file, "GREETING=hallo\nENABLE_X=on\n").unwrap();
    wait_for_showing(
        "re-render",
        secs(10),
        || s.read("out/web.conf") == "greeting hallo;\nx true;\n",
        || run.log(),
    );
    wait_for_showing("reload", secs(10), || lines(&s, "hups") == 1, || run.log());

    std::fs::write(&env_file, "GREETING=hallo\nENABLE_X=sometimes\n").unwrap();
    run.wait_log("keeping the current config", secs(10));
    assert!(
        run.log()
            .contains("ENABLE_X: \"sometimes\" is not a boolean"),
        "{}",
        run.log()
    );
    assert_eq!(s.read("out/web.conf"), "greeting hallo;\nx true;\n");
    assert_eq!(lines(&s, "hups"), 1, "no reload after a failed render");
    assert_eq!(run.stop(), 0);
}

#[test]
fn reload_command_forces_a_render_and_a_reload() {
    let s = Sandbox::new();
    image(&s);
    let spec = s.p("spec.toml");
    let tpl = s.p("tpl");
    let run = s.start_clean(
        ["--spec", &spec, "--templates", &tpl],
        &[("PASS", "a-long-enough-secret-123")],
    );
    wait_for_showing(
        "web ready",
        secs(10),
        || s.path("web-up").exists(),
        || run.log(),
    );
    // Someone edits a rendered file by hand; `jinit reload` puts the rendered one back.
    std::fs::write(s.path("out/web.conf"), "tampered\n").unwrap();
    let out = s.run_clean(["reload"], &[]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(s.read("out/web.conf"), "greeting hello;\nx false;\n");
    wait_for_showing(
        "reload signal",
        secs(10),
        || lines(&s, "hups") >= 1,
        || run.log(),
    );
    assert_eq!(run.stop(), 0);
}

#[test]
fn boot_refuses_bad_config_before_starting_anything() {
    let s = Sandbox::new();
    image(&s);
    let spec = s.p("spec.toml");
    let tpl = s.p("tpl");
    let out = s.run_clean(
        ["--spec", &spec, "--templates", &tpl],
        &[("PASS", "changeme"), ("ENABLE_X", "2")],
    );
    assert_eq!(out.code, 2);
    let t = out.text();
    assert!(t.contains("PASS: is a published example value"), "{t}");
    assert!(t.contains("ENABLE_X: \"2\" is not a boolean"), "{t}");
    assert!(
        !s.path("web-up").exists() && !s.path("java-starts").exists(),
        "nothing started"
    );
}

#[test]
fn a_slow_validation_neither_blocks_the_supervisor_nor_runs_forever() {
    let s = Sandbox::new();
    s.write("tpl/c/schema.toml", SCHEMA);
    s.write("tpl/c/web.conf", "greeting {{ GREETING }};\n");
    s.write(
        "spec.toml",
        r#"
[jinit]
schemas = ["c/schema.toml"]

[[render]]
template = "c/web.conf"
dest = "{D}/out/web.conf"
validate = ["sh", "-c", "if [ -e {D}/slow ]; then echo $$ > {D}/validating; exec sleep 1000; fi", "{}"]
reload = "web"

[service.web]
command = ["sh", "-c", "touch {D}/web-up; exec sleep 100000"]
ready = { file = "{D}/web-up" }
"#,
    );
    let spec = s.p("spec.toml");
    let tpl = s.p("tpl");
    let run = s.start_clean(
        ["--spec", &spec, "--templates", &tpl],
        &[("PASS", "a-long-enough-secret-123")],
    );
    wait_for_showing(
        "web ready",
        secs(10),
        || s.path("web-up").exists(),
        || run.log(),
    );
    // The next render validates for ever; a change of GREETING makes it write a new file.
    s.touch("slow");
    std::fs::write(s.path("out/web.conf"), "tampered\n").unwrap();
    run.signal(libc::SIGHUP);
    let validator = s.read_pid("validating", secs(10));
    // The supervisor answers while the validation runs (before the fix, `jinit status` waited
    // for the validator).
    let out = client(&s, ["status"]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(
        stat(validator).is_some_and(|st| st.state != 'Z'),
        "still validating"
    );
    // After the timeout the validator is killed and the file in place is kept.
    run.wait_log("did not finish within 30.0s and was killed", secs(60));
    assert_eq!(s.read("out/web.conf"), "tampered\n");
    wait_for("the validator to be reaped", secs(10), || {
        stat(validator).is_none()
    });
    assert_eq!(run.stop(), 0);
}
