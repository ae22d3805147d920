//! Regeneration on change: a running jinit re-renders when a watched input changes, reloads
//! (reload-signal) or restarts (no reload-signal) only the units whose files changed, and
//! keeps the last good config when the new inputs are bad.

mod support;
use support::*;

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
fn image(s: &Scratch) {
    s.write("tpl/c/schema.toml", SCHEMA);
    s.write(
        "tpl/c/web.conf",
        "greeting {{ GREETING }};\nx {{ ENABLE_X }};\n",
    );
    s.write("tpl/c/java.conf", "pass {{ PASS|hocon }}\n");
    std::fs::create_dir_all(s.path("config")).unwrap();
    s.write(
        "spec.toml",
        &s.fill(
            r#"
[jinit]
schemas = ["c/schema.toml"]
watch = ["{dir}/config"]
kill-delay = "2s"

[[render]]
template = "c/web.conf"
dest = "{dir}/out/web.conf"
append = ["{dir}/config/custom-web.conf"]
reload = "web"

[[render]]
template = "c/java.conf"
dest = "{dir}/out/java.conf"
reload = "java"

[service.web]
command = ["sh", "-c", "trap 'echo hup >> {dir}/hups' HUP; touch {dir}/web-up; while :; do sleep 0.05; done"]
ready = { file = "{dir}/web-up" }
reload-signal = "HUP"

[service.java]
command = ["sh", "-c", "echo start >> {dir}/java-starts; exec sleep 100000"]
"#,
        ),
    );
}

fn lines(s: &Scratch, rel: &str) -> usize {
    s.read(rel).lines().count()
}

#[test]
fn custom_file_change_reloads_only_the_unit_whose_file_changed() {
    let s = Scratch::new();
    image(&s);
    let spec = path_str(&s.path("spec.toml"));
    let tpl = path_str(&s.path("tpl"));
    let run = s.start(
        &["--spec", &spec, "--templates", &tpl],
        &[(
            "PASS_FILE",
            &path_str(&s.write("pass", "first-secret-long-enough\n")),
        )],
    );
    run.wait_log("web: waiting -> starting", 10);
    wait_until(10, "web ready", || s.path("web-up").exists(), || run.log());
    assert_eq!(s.read("out/web.conf"), "greeting hello;\nx false;\n");

    s.write("config/custom-web.conf", "custom 1;\n");
    run.wait_log("rewrote", 10);
    wait_until(
        10,
        "a SIGHUP to web",
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
    run.wait_log("config unchanged", 10);
    assert_eq!(lines(&s, "hups"), 1, "no reload when nothing changed");

    // A changed secret file restarts the unit without a reload-signal.
    s.write("pass", "second-secret-long-enough\n");
    wait_until(
        10,
        "java restarted",
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
    let s = Scratch::new();
    image(&s);
    let env_file = s.write("jitsi.env", "GREETING=bonjour\n");
    let spec = path_str(&s.path("spec.toml"));
    let tpl = path_str(&s.path("tpl"));
    let run = s.start(
        &["--spec", &spec, "--templates", &tpl],
        &[
            ("JINIT_ENV_FILE", &path_str(&env_file)),
            ("GREETING", "hello"),
            ("PASS", "a-long-enough-secret-123"),
        ],
    );
    wait_until(10, "web ready", || s.path("web-up").exists(), || run.log());
    assert!(
        s.read("out/web.conf").starts_with("greeting bonjour;"),
        "env file wins over the container environment"
    );

    std::fs::write(&env_file, "GREETING=hallo\nENABLE_X=on\n").unwrap();
    wait_until(
        10,
        "re-render",
        || s.read("out/web.conf") == "greeting hallo;\nx true;\n",
        || run.log(),
    );
    wait_until(10, "reload", || lines(&s, "hups") == 1, || run.log());

    std::fs::write(&env_file, "GREETING=hallo\nENABLE_X=sometimes\n").unwrap();
    run.wait_log("keeping the current config", 10);
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
    let s = Scratch::new();
    image(&s);
    let spec = path_str(&s.path("spec.toml"));
    let tpl = path_str(&s.path("tpl"));
    let run = s.start(
        &["--spec", &spec, "--templates", &tpl],
        &[("PASS", "a-long-enough-secret-123")],
    );
    wait_until(10, "web ready", || s.path("web-up").exists(), || run.log());
    // Someone edits a rendered file by hand; `jinit reload` puts the rendered one back.
    std::fs::write(s.path("out/web.conf"), "tampered\n").unwrap();
    let out = s.jinit(&["reload"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(s.read("out/web.conf"), "greeting hello;\nx false;\n");
    wait_until(10, "reload signal", || lines(&s, "hups") >= 1, || run.log());
    assert_eq!(run.stop(), 0);
}

#[test]
fn boot_refuses_bad_config_before_starting_anything() {
    let s = Scratch::new();
    image(&s);
    let spec = path_str(&s.path("spec.toml"));
    let tpl = path_str(&s.path("tpl"));
    let out = s.jinit(
        &["--spec", &spec, "--templates", &tpl],
        &[("PASS", "changeme"), ("ENABLE_X", "2")],
    );
    assert_eq!(out.status.code(), Some(2));
    let t = text(&out);
    assert!(t.contains("PASS: is a published example value"), "{t}");
    assert!(t.contains("ENABLE_X: \"2\" is not a boolean"), "{t}");
    assert!(
        !s.path("web-up").exists() && !s.path("java-starts").exists(),
        "nothing started"
    );
}
