//! `[[render]]` and the environment: typed variables, strict templates, atomic writes, and
//! every bad input the operator can produce, each with a clear message and the old file intact.

mod common;
use common::*;

const SCHEMA: &str = r#"
[var.HTTP_PORT]
type = "port"
default = 8000
[var.ENABLE_X]
type = "bool"
default = false
[var.WORKERS]
type = "int"
default = 2
[var.PUBLIC_URL]
type = "url"
[var.AUTH_TYPE]
type = "enum"
values = ["internal", "jwt", "ldap"]
default = "internal"
[var.NAMES]
type = "list"
default = "a,b"
[var.DOMAIN]
type = "host"
required = true
[var.PASS]
type = "secret"
required = true
[var.OLD_DOMAIN]
replaced-by = "DOMAIN"
[var.GONE_SECRET]
removed = "Jicofo logs in as a client now; use PASS."
"#;

const TEMPLATE: &str = "port {{ HTTP_PORT }};\n{% if ENABLE_X %}x on;\n{% endif %}workers {{ WORKERS }};\nnames {{ NAMES|join(' ') }};\ndomain {{ DOMAIN }};\npass {{ PASS|lua }};\nauth {{ AUTH_TYPE }};\n";

fn image(s: &Sandbox, validate: Option<&str>) {
    s.write("tpl/web/schema.toml", SCHEMA);
    s.write("tpl/web/site.conf", TEMPLATE);
    let validate = validate
        .map(|v| format!("validate = {v}\n"))
        .unwrap_or_default();
    s.write(
        "spec.toml",
        &format!(
            "[jinit]\nschemas = [\"web/schema.toml\"]\n[[render]]\ntemplate = \"web/site.conf\"\ndest = \"{{D}}/out/site.conf\"\nmode = \"0640\"\nappend = [\"{{D}}/config/custom-site.conf\"]\n{validate}"
        ),
    );
}

fn render(s: &Sandbox, env: &[(&str, &str)]) -> Outcome {
    let spec = s.p("spec.toml");
    let tpl = s.p("tpl");
    s.run_clean(["render", "--spec", &spec, "--templates", &tpl], env)
}

const GOOD: [(&str, &str); 2] = [
    ("DOMAIN", "meet.example.com"),
    ("PASS", "a-long-enough-secret-123"),
];

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut v: Vec<(&str, &str)> = GOOD.to_vec();
    for (k, val) in extra {
        v.retain(|(kk, _)| kk != k);
        v.push((k, val));
    }
    v
}

#[test]
fn renders_typed_values_defaults_and_custom_appends() {
    let s = Sandbox::new();
    image(&s, None);
    s.write("config/custom-site.conf", "custom on;\n");
    let out = render(&s, &with(&[("ENABLE_X", "Yes"), ("NAMES", "x, y ,z")]));
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(
        s.read("out/site.conf"),
        "port 8000;\nx on;\nworkers 2;\nnames x y z;\ndomain meet.example.com;\npass \"a-long-enough-secret-123\";\nauth internal;\ncustom on;\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.path("out/site.conf"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    // Rendering again with the same inputs leaves the file alone.
    let out = render(&s, &with(&[("ENABLE_X", "Yes"), ("NAMES", "x, y ,z")]));
    assert!(out.text().contains("unchanged"), "{}", out.text());
}

#[test]
fn root_prefixes_destinations_and_inputs() {
    let s = Sandbox::new();
    image(&s, None);
    let root = s.path("root");
    let spec = s.p("spec.toml");
    let tpl = s.p("tpl");
    let dest = format!("{}/out/site.conf", s.dir().display());
    std::fs::create_dir_all(
        root.join(format!("{}/config", s.dir().display()).trim_start_matches('/')),
    )
    .unwrap();
    std::fs::write(
        root.join(format!("{}/config/custom-site.conf", s.dir().display()).trim_start_matches('/')),
        "from root;\n",
    )
    .unwrap();
    let out = s.run_clean(
        [
            "render",
            "--spec",
            &spec,
            "--templates",
            &tpl,
            "--root",
            &s.p("root"),
        ],
        &GOOD,
    );
    assert_eq!(out.code, 0, "{}", out.text());
    let rendered = std::fs::read_to_string(root.join(dest.trim_start_matches('/'))).unwrap();
    assert!(rendered.ends_with("from root;\n"), "{rendered}");
    assert!(
        !s.path("out/site.conf").exists(),
        "nothing written outside the root"
    );
}

/// Renders a good file first, then a bad input: the message must name the problem and the
/// good file must be untouched.
fn refused(extra: &[(&'static str, &'static str)], expect: &[&str]) {
    let s = Sandbox::new();
    image(&s, None);
    assert_eq!(render(&s, &GOOD).code, 0);
    let before = s.read("out/site.conf");
    let out = render(&s, &with(extra));
    let t = out.text();
    assert_eq!(out.code, 2, "{t}");
    for e in expect {
        assert!(t.contains(e), "expected {e:?} in:\n{t}");
    }
    assert_eq!(s.read("out/site.conf"), before, "previous config intact");
}

#[test]
fn malformed_values_name_the_variable_and_accepted_forms() {
    refused(
        &[("ENABLE_X", "maybe")],
        &["ENABLE_X: \"maybe\" is not a boolean (use 1/0, true/false, yes/no or on/off)"],
    );
    refused(
        &[("WORKERS", "two")],
        &["WORKERS: \"two\" is not a whole number"],
    );
    refused(
        &[("HTTP_PORT", "0")],
        &["HTTP_PORT: \"0\" is not a port number (1-65535)"],
    );
    refused(
        &[("PUBLIC_URL", "meet.example.com")],
        &["PUBLIC_URL: \"meet.example.com\" is not a URL"],
    );
    refused(
        &[("AUTH_TYPE", "kerberos")],
        &["AUTH_TYPE: \"kerberos\" is not one of: internal, jwt, ldap"],
    );
    refused(
        &[("DOMAIN", "https://meet.example.com/")],
        &["DOMAIN: \"https://meet.example.com/\" is not a host name"],
    );
}

#[test]
fn all_problems_are_reported_together() {
    refused(
        &[("ENABLE_X", "2"), ("HTTP_PORT", "http"), ("DOMAIN", "")],
        &[
            "has 3 problems",
            "ENABLE_X:",
            "HTTP_PORT:",
            "DOMAIN: required but not set",
        ],
    );
}

/// A refused start still prints the warnings: a misspelt name is often why it was refused.
#[test]
fn a_refused_start_still_shows_the_typo_behind_it() {
    let s = Sandbox::new();
    image(&s, None);
    let out = render(
        &s,
        &[("PASS", "a-long-enough-secret-123"), ("HTTP_PROT", "8080")],
    );
    let t = out.text();
    assert_eq!(out.code, 2, "{t}");
    assert!(t.contains("DOMAIN: required but not set"), "{t}");
    assert!(
        t.contains(
            "HTTP_PROT is set but this image has no such variable (did you mean HTTP_PORT?)"
        ),
        "{t}"
    );
}

#[test]
fn secrets_weak_example_empty_and_file_conflicts() {
    refused(
        &[("PASS", "passw0rd")],
        &["PASS: is a published example value", "gen-secrets"],
    );
    refused(
        &[("PASS", "s3cr37")],
        &["PASS: is a published example value"],
    );
    refused(
        &[("PASS", "tooshort")],
        &["PASS: is shorter than 16 characters"],
    );
    refused(&[("PASS", "")], &["PASS: required secret is empty"]);
    let s = Sandbox::new();
    image(&s, None);
    s.write("secret", "a-long-enough-secret-from-file\n");
    let fs = s.p("secret");
    let both = [
        ("DOMAIN", "d"),
        ("PASS", "a-long-enough-secret-123"),
        ("PASS_FILE", fs.as_str()),
    ];
    let t = render(&s, &both).text();
    assert!(
        t.contains("both PASS and PASS_FILE are set: keep one"),
        "{t}"
    );
    let out = render(&s, &[("DOMAIN", "d"), ("PASS_FILE", fs.as_str())]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(s
        .read("out/site.conf")
        .contains("pass \"a-long-enough-secret-from-file\";"));
    let t = render(&s, &[("DOMAIN", "d"), ("PASS_FILE", "/nonexistent/pass")]).text();
    assert!(
        t.contains("PASS_FILE: cannot read /nonexistent/pass"),
        "{t}"
    );
}

#[test]
fn secrets_never_appear_in_output() {
    let s = Sandbox::new();
    image(&s, None);
    let out = render(
        &s,
        &with(&[("PASS", "passw0rd-but-this-is-long"), ("ENABLE_X", "nope")]),
    );
    let t = out.text();
    assert!(!t.contains("passw0rd-but-this-is-long"), "{t}");
}

#[test]
fn renamed_and_removed_variables_warn_and_still_work() {
    let s = Sandbox::new();
    image(&s, None);
    let out = render(
        &s,
        &[
            ("OLD_DOMAIN", "old.example.com"),
            ("PASS", "a-long-enough-secret-123"),
            ("GONE_SECRET", "x"),
        ],
    );
    let t = out.text();
    assert_eq!(out.code, 0, "{t}");
    assert!(
        t.contains("OLD_DOMAIN is deprecated: its value is used for DOMAIN"),
        "{t}"
    );
    assert!(
        t.contains(
            "GONE_SECRET no longer does anything and is ignored: Jicofo logs in as a client now"
        ),
        "{t}"
    );
    assert!(s.read("out/site.conf").contains("domain old.example.com;"));
}

#[test]
fn template_errors_name_template_and_line() {
    let s = Sandbox::new();
    image(&s, None);
    assert_eq!(render(&s, &GOOD).code, 0);
    let before = s.read("out/site.conf");
    s.write("tpl/web/site.conf", "ok\n{{ UNDECLARED_THING }}\n");
    let t = render(&s, &GOOD).text();
    assert!(
        t.contains("web/site.conf:2: undefined variable UNDECLARED_THING"),
        "{t}"
    );
    // A typo behind a config-literal filter is not rendered as nil.
    s.write("tpl/web/site.conf", "ok\nok\npass = {{ PAS|lua }}\n");
    let t = render(&s, &GOOD).text();
    assert!(t.contains("web/site.conf:3: undefined variable PAS"), "{t}");
    s.write("tpl/web/site.conf", "ok\nok\n{% if HTTP_PORT %}\n");
    let t = render(&s, &GOOD).text();
    assert!(t.contains("web/site.conf:"), "{t}");
    assert!(
        t.contains("unexpected end of input") || t.contains("endif"),
        "{t}"
    );
    assert_eq!(s.read("out/site.conf"), before);
}

#[test]
fn failed_validation_keeps_the_previous_file() {
    let s = Sandbox::new();
    // The validator accepts only files mentioning port 8000.
    image(&s, Some(r#"["grep", "-q", "port 8000", "{}"]"#));
    assert_eq!(render(&s, &GOOD).code, 0);
    let before = s.read("out/site.conf");
    let out = render(&s, &with(&[("HTTP_PORT", "9000")]));
    let t = out.text();
    assert_ne!(out.code, 0, "{t}");
    assert!(t.contains("validation `grep -q port 8000"), "{t}");
    assert!(t.contains("the previous file is kept"), "{t}");
    assert_eq!(s.read("out/site.conf"), before);
    let stray: Vec<_> = std::fs::read_dir(s.path("out"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(stray.len(), 1, "no temporary file left: {stray:?}");
    // --no-validate skips it.
    let spec = s.p("spec.toml");
    let tpl = s.p("tpl");
    let out = s.run_clean(
        [
            "render",
            "--spec",
            &spec,
            "--templates",
            &tpl,
            "--no-validate",
        ],
        &with(&[("HTTP_PORT", "9000")]),
    );
    assert_eq!(out.code, 0, "{}", out.text());
}

#[test]
fn validation_commands_get_no_secrets() {
    // PASS is a secret of the schema, OTHER_TOKEN one by its name: neither reaches the
    // validator (at boot, at every re-render and in `jinit render` alike); DOMAIN does.
    let s = Sandbox::new();
    image(
        &s,
        Some(r#"["sh", "-c", "test -z \"${PASS-}${OTHER_TOKEN-}\" && test -n \"$DOMAIN\"", "{}"]"#),
    );
    let out = render(&s, &with(&[("OTHER_TOKEN", "t0ken")]));
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(s.read("out/site.conf").contains("a-long-enough-secret-123"));
}

/// Runs a shell script in a private mount namespace (root only), so tmpfs mounts vanish after.
fn in_mount_ns(s: &Sandbox, script: &str) -> Outcome {
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-ec", script]);
    run_command(s, "unshare", cmd, "unshare --mount", secs(30))
}

#[test]
fn unwritable_destination_and_full_disk_keep_the_old_file() {
    let s = Sandbox::new();
    image(&s, None);
    assert_eq!(render(&s, &GOOD).code, 0);
    let spec = s.p("spec.toml");
    let tpl = s.p("tpl");
    let out_dir = s.p("out");
    // Read-only file system.
    let script = format!(
        "mount -o remount,ro --bind {out_dir} {out_dir} 2>/dev/null || {{ mount --bind {out_dir} {out_dir}; mount -o remount,ro,bind {out_dir}; }}\n\
         DOMAIN=d PASS=a-long-enough-secret-123 HTTP_PORT=9000 {} render --spec {spec} --templates {tpl} || echo \"exit=$?\"\n\
         cat {out_dir}/site.conf",
        JINIT
    );
    let t = in_mount_ns(&s, &script).text();
    assert!(t.contains("Read-only file system"), "{t}");
    assert!(t.contains("the previous file is kept"), "{t}");
    assert!(t.contains("exit=2"), "{t}");
    assert!(t.contains("port 8000;"), "old content still there: {t}");
    // Disk full: a tiny tmpfs holding the old file, then a render too large for it.
    s.write(
        "tpl/web/big.conf",
        "{% for i in range(20000) %}line {{ i }} of a large file\n{% endfor %}",
    );
    s.write(
        "spec-big.toml",
        "[[render]]\ntemplate = \"web/big.conf\"\ndest = \"{D}/full/big.conf\"\n",
    );
    let full = s.p("full");
    std::fs::create_dir_all(&full).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=64k tmpfs {full}\n\
         echo 'old content' > {full}/big.conf\n\
         {} render --spec {} --templates {tpl} || echo \"exit=$?\"\n\
         cat {full}/big.conf; echo LISTING; ls -a {full}",
        JINIT,
        s.p("spec-big.toml")
    );
    let t = in_mount_ns(&s, &script).text();
    assert!(t.contains("No space left on device"), "{t}");
    assert!(t.contains("the previous file is kept"), "{t}");
    assert!(t.contains("old content"), "{t}");
    let listing = t
        .split("LISTING")
        .nth(1)
        .unwrap_or_default()
        .split("jinit:")
        .next()
        .unwrap_or_default();
    assert!(
        !listing.contains(".jinit-tmp-"),
        "temporary file removed: {t}"
    );
}

#[test]
fn check_validates_environment_and_templates_without_writing() {
    let s = Sandbox::new();
    image(&s, None);
    let spec = s.p("spec.toml");
    let tpl = s.p("tpl");
    let out = s.run_clean(["check", "--spec", &spec, "--templates", &tpl], &GOOD);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(
        out.text().contains("1 files rendered in memory"),
        "{}",
        out.text()
    );
    assert!(!s.path("out/site.conf").exists());
    let out = s.run_clean(
        ["check", "--spec", &spec, "--templates", &tpl],
        &with(&[("ENABLE_X", "perhaps")]),
    );
    assert_eq!(out.code, 2);
    assert!(out.text().contains("ENABLE_X"), "{}", out.text());
}

#[test]
fn render_condition_false_removes_a_stale_file() {
    let s = Sandbox::new();
    image(&s, None);
    let spec = s.read("spec.toml") + "if = \"ENABLE_X\"\n";
    s.write("spec.toml", &spec);
    assert_eq!(render(&s, &with(&[("ENABLE_X", "1")])).code, 0);
    assert!(s.path("out/site.conf").exists());
    let out = render(&s, &with(&[("ENABLE_X", "0")]));
    assert!(out.text().contains("removed"), "{}", out.text());
    assert!(!s.path("out/site.conf").exists());
}

#[test]
fn secret_files_that_are_no_regular_files_are_refused_at_once() {
    // /dev/zero was read until memory ran out; a FIFO without a writer hung jinit.
    let s = Sandbox::new();
    image(&s, None);
    let fifo = s.path("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let big = s.write("big", &"x".repeat(65 * 1024));
    let fifo = fifo.display().to_string();
    let big = big.display().to_string();
    for (file, says) in [
        ("/dev/zero", "a device is not a regular file"),
        (fifo.as_str(), "a FIFO is not a regular file"),
        (big.as_str(), "larger than the limit of 65536 bytes"),
    ] {
        let out = s.run_clean(
            [
                "render",
                "--spec",
                &s.p("spec.toml"),
                "--templates",
                &s.p("tpl"),
            ],
            &[("DOMAIN", "meet.example.com"), ("PASS_FILE", file)],
        );
        assert_eq!(out.code, 2, "{file}: {}", out.text());
        assert!(out.stderr.contains("PASS_FILE"), "{}", out.stderr);
        assert!(out.stderr.contains(says), "{}", out.stderr);
    }
}

#[test]
fn a_symlink_at_the_destination_is_replaced_not_read() {
    let s = Sandbox::new();
    image(&s, None);
    std::fs::create_dir_all(s.path("out")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", s.path("out/site.conf")).unwrap();
    let out = render(&s, &GOOD);
    assert_eq!(out.code, 0, "{}", out.text());
    let meta = std::fs::symlink_metadata(s.path("out/site.conf")).unwrap();
    assert!(meta.is_file(), "the link was replaced by a file");
    assert!(s.read("out/site.conf").contains("domain meet.example.com;"));
}

/// Issue 9: the repository's own images refuse values that would add a directive, key or
/// line to their config files; nothing is written.
#[test]
fn image_configs_refuse_values_that_carry_syntax() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let templates = format!("{repo}/templates");
    let secrets = [
        ("JICOFO_AUTH_PASSWORD", "a-strong-focus-password-123"),
        ("JVB_AUTH_PASSWORD", "a-strong-jvb-password-4567"),
        ("JIGASI_XMPP_PASSWORD", "a-strong-jigasi-password-89"),
        ("JIGASI_SIP_URI", "test@sip2sip.info"),
        ("JIGASI_SIP_PASSWORD", "sip"),
        ("JIGASI_SIP_SERVER", "sip2sip.info"),
    ];
    let ldap = [
        ("ENABLE_AUTH", "1"),
        ("AUTH_TYPE", "ldap"),
        ("LDAP_URL", "ldaps://ldap.example.com/"),
        ("LDAP_USE_TLS", "1"),
    ];
    let never = "\nTLS_REQCERT never";
    let sip_off = "\norg.jitsi.jigasi.ENABLE_SIP=false";
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("web", vec![("NGINX_WORKER_PROCESSES", "1; env X=1".into())]),
        (
            "web",
            vec![(
                "NGINX_RESOLVER",
                "127.0.0.11; add_header X-Injected yes; #".into(),
            )],
        ),
        (
            "web",
            vec![("XMPP_BOSH_URL_BASE", "http://xmpp:5280\";x".into())],
        ),
        (
            "prosody",
            vec![("LDAP_TLS_CIPHERS", format!("SECURE256{never}"))],
        ),
        (
            "prosody",
            vec![("LDAP_TLS_CACERT_FILE", format!("/etc/ca.pem{never}"))],
        ),
        (
            "prosody",
            vec![("LDAP_TLS_CACERT_DIR", format!("/etc/ssl/certs{never}"))],
        ),
        (
            "jigasi",
            vec![("JIGASI_XMPP_USER", format!("jigasi{sip_off}"))],
        ),
        (
            "jigasi",
            vec![("JIGASI_BREWERY_MUC", format!("jigasibrewery{sip_off}"))],
        ),
    ];
    for (image, values) in cases {
        let s = Sandbox::new();
        let spec = format!("{repo}/images/{image}/jinit.toml");
        let root = s.p("root");
        let mut env: Vec<(&str, &str)> = secrets.to_vec();
        if image == "prosody" {
            env.extend_from_slice(&ldap);
        }
        env.extend(values.iter().map(|(k, v)| (*k, v.as_str())));
        let out = s.run_clean(
            [
                "render",
                "--spec",
                &spec,
                "--templates",
                &templates,
                "--root",
                &root,
                "--no-validate",
            ],
            &env,
        );
        let name = values[0].0;
        assert_ne!(out.code, 0, "{image}: {name} accepted:\n{}", out.text());
        assert!(
            out.stderr.contains(&format!("  - {name}: ")),
            "{image}: {name} not named:\n{}",
            out.text()
        );
        assert!(
            !std::path::Path::new(&root).join("run").exists(),
            "{image}: files written although {name} was refused"
        );
    }
}
