//! `jinit check-env`: a whole .env checked against every component's schema (the repository's
//! own templates/ and env.example), as the compose `base` service does before anything starts.

mod common;
use common::*;

const TEMPLATES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
const ENV_EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/env.example");
const REQUIRE: &str = "JICOFO_AUTH_PASSWORD,JVB_AUTH_PASSWORD";

/// env.example copied to `.env` with its secrets filled by `jinit gen-secrets`, plus `extra`.
fn dot_env(s: &Sandbox, extra: &str) -> String {
    s.write(".env", &std::fs::read_to_string(ENV_EXAMPLE).unwrap());
    let path = s.p(".env");
    let out = s.run_clean(
        ["gen-secrets", "--templates", TEMPLATES, "--env-file", &path],
        &[],
    );
    assert_eq!(out.code, 0, "gen-secrets: {}", out.text());
    let mut body = s.read(".env");
    body.push_str(extra);
    s.write(".env", &body);
    path
}

fn check_env(s: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut all = vec!["check-env", "--templates", TEMPLATES];
    all.extend_from_slice(args);
    let out = s.run_clean(all, env);
    (out.code, out.stdout, out.stderr)
}

#[test]
fn env_example_with_generated_secrets_passes() {
    let s = Sandbox::new();
    let env = dot_env(&s, "");
    let (code, out, err) = check_env(&s, &["--require", REQUIRE, "--strict", &env], &[]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.starts_with(&format!("ok: {env}: ")), "{out}");
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn fresh_env_example_lacks_the_service_passwords() {
    let s = Sandbox::new();
    s.write(".env", &std::fs::read_to_string(ENV_EXAMPLE).unwrap());
    let env = s.p(".env");
    let (code, _, err) = check_env(&s, &["--require", REQUIRE, &env], &[]);
    assert_eq!(code, 2, "{err}");
    for name in ["JICOFO_AUTH_PASSWORD", "JVB_AUTH_PASSWORD"] {
        assert!(
            err.contains(&format!("  - {name} (line ")),
            "{name} named:\n{err}"
        );
    }
    assert!(err.contains("gen-secrets"), "says how to fix it:\n{err}");
}

/// Values of different components, a weak secret and a typo, all in one run; the secret's
/// value is never shown.
#[test]
fn every_problem_of_every_component_at_once() {
    let s = Sandbox::new();
    let env = dot_env(
        &s,
        "HTTP_PORT=80x\nJVB_PORT=0\nENABLE_LETSENCRYPT=1\nJVB_AUTH_PASSWORD=changeme\n\
         ENABLE_LETSENCRYPTS=1\n",
    );
    let (code, out, err) = check_env(&s, &["--require", REQUIRE, &env], &[]);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains(&format!("{env} has 5 problems")), "{err}");
    // Each problem and warning names the line that set the variable (the last one wins).
    let line = |name: &str| {
        let text = s.read(".env");
        let lines: Vec<&str> = text.lines().collect();
        1 + lines
            .iter()
            .rposition(|l| l.starts_with(&format!("{name}=")))
            .unwrap()
    };
    for needle in [
        format!(
            "  - HTTP_PORT (line {}): \"80x\" is not a port",
            line("HTTP_PORT")
        ),
        format!("  - JVB_PORT (line {}): ", line("JVB_PORT")),
        "  - LETSENCRYPT_DOMAIN: ".to_string(),
        "  - LETSENCRYPT_EMAIL: ".to_string(),
        format!(
            "  - JVB_AUTH_PASSWORD (line {}): ",
            line("JVB_AUTH_PASSWORD")
        ),
        format!(
            "line {}: ENABLE_LETSENCRYPTS is set but no Jitsi image has such a variable \
             (did you mean ENABLE_LETSENCRYPT?)",
            line("ENABLE_LETSENCRYPTS")
        ),
    ] {
        assert!(err.contains(&needle), "{needle:?} in:\n{err}");
    }
    assert!(!err.contains("changeme"), "a secret is never shown:\n{err}");
    assert!(out.is_empty(), "{out}");
}

#[test]
fn typos_and_renamed_variables_warn_and_fail_only_with_strict() {
    let s = Sandbox::new();
    let env = dot_env(&s, "ENABLE_GUEST=1\nDOCKER_HOST_ADDRESS=192.0.2.10\n");
    let (code, out, err) = check_env(&s, &[&env], &[]);
    assert_eq!(code, 0, "stderr:\n{err}");
    assert!(out.starts_with("ok: "), "{out}");
    assert!(err.contains("did you mean ENABLE_GUESTS?"), "{err}");
    assert!(
        err.contains("DOCKER_HOST_ADDRESS is deprecated: its value is used for JVB_ADVERTISE_IPS"),
        "{err}"
    );
    let (code, out, err) = check_env(&s, &["--strict", &env], &[]);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("2 warning(s), which --strict treats as errors"),
        "{err}"
    );
}

/// Without FILE the process environment is checked (`docker run -e ...` or Compose's
/// env_file); unrelated variables such as PATH are not warned about.
#[test]
fn without_a_file_the_environment_is_checked() {
    let s = Sandbox::new();
    let (code, _, err) = check_env(&s, &[], &[("ENABLE_AUTH", "maybe"), ("JVB_PORTS", "1")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the environment has 1 problem"), "{err}");
    assert!(err.contains("  - ENABLE_AUTH: "), "{err}");
    assert!(err.contains("did you mean JVB_PORT?"), "{err}");
    assert!(!err.contains("PATH"), "{err}");
    assert!(
        !err.contains("JINIT_SOCKET"),
        "jinit's own settings are not typos: {err}"
    );
    let (code, out, err) = check_env(&s, &[], &[("ENABLE_AUTH", "1")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ok: the environment: "), "{out}");
}

/// As Compose's `base` service runs it: values from the environment (Compose has applied
/// inline comments, `${...}` and shell overrides), names from .env for the typo warnings, each
/// with its line; a problem of a value names the .env line that sets it.
#[test]
fn names_from_env_file_values_from_the_environment() {
    let s = Sandbox::new();
    let names = s.write(
        ".env",
        "# comment\nENABLE_AUTH=1 # on\nENABLE_GUEST=1\nHTTP_PORT=${PORT}\n",
    );
    let names = names.to_str().unwrap();
    let good = [
        ("JICOFO_AUTH_PASSWORD", "a-strong-focus-password-123"),
        ("JVB_AUTH_PASSWORD", "a-strong-jvb-password-4567"),
        ("ENABLE_AUTH", "1"),
        ("HTTP_PORT", "8080"),
    ];
    let args = ["--require", REQUIRE, "--names-from", names];
    let (code, out, err) = check_env(&s, &args, &good);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.starts_with("ok: the environment: "), "{out}");
    assert!(
        err.contains("line 3: ENABLE_GUEST is set but no Jitsi image has such a variable"),
        "{err}"
    );
    let mut bad = good.to_vec();
    bad[2] = ("ENABLE_AUTH", "maybe");
    let (code, _, err) = check_env(&s, &args, &bad);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("  - ENABLE_AUTH (line 2): \"maybe\""), "{err}");
}

/// A secret given as NAME_FILE is mounted into the service that reads it, not into the
/// check's container: it counts as set and is checked by that service.
#[test]
fn a_secret_file_of_another_container_is_not_an_error() {
    let s = Sandbox::new();
    let env = [
        ("JICOFO_AUTH_PASSWORD", "a-strong-focus-password-123"),
        ("JVB_AUTH_PASSWORD_FILE", "/run/secrets/jvb-not-here"),
    ];
    let (code, out, err) = check_env(&s, &["--require", REQUIRE], &env);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
}

/// FILE is what the operator asked to check: unreadable, it is an error. A `--names-from`
/// file is only for the typo warnings: Compose may have been given another env file, or the
/// host may deny the read; the values are still checked.
#[test]
fn an_unreadable_file_is_an_error_and_an_unreadable_names_file_a_warning() {
    let s = Sandbox::new();
    let missing = s.p("no-such.env");
    let (code, out, err) = check_env(&s, &[&missing], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("cannot read {missing}")), "{err}");
    assert!(out.is_empty(), "{out}");
    let (code, _, err) = check_env(
        &s,
        &["--require", REQUIRE, "--names-from", &missing],
        &[("ENABLE_AUTH", "maybe")],
    );
    assert_eq!(code, 2, "values are still checked: {err}");
    assert!(err.contains(&format!("cannot read {missing}")), "{err}");
    assert!(
        err.contains("misspelt names in it are not checked"),
        "{err}"
    );
    assert!(err.contains("  - ENABLE_AUTH: "), "{err}");
    assert!(err.contains("  - JVB_AUTH_PASSWORD: "), "{err}");
}

#[test]
fn an_overflowing_duration_is_refused_not_a_crash() {
    // This value once aborted check-env (exit 134, "overflow when adding durations").
    let s = Sandbox::new();
    let env = dot_env(
        &s,
        "JICOFO_AUTH_LIFETIME=9000000000000000000s9000000000000000000s9000000000000000000s\n",
    );
    let (code, out, err) = check_env(&s, &[&env], &[]);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("JICOFO_AUTH_LIFETIME"), "{err}");
    assert!(err.contains("too long"), "{err}");
}

/// Issue 9: values that would add a directive, key or line to a config file are refused,
/// each naming its variable and what it may hold.
#[test]
fn values_that_carry_config_syntax_are_refused() {
    let s = Sandbox::new();
    let hostile = [
        ("NGINX_WORKER_PROCESSES", "1; env X=1"),
        ("NGINX_RESOLVER", "127.0.0.11; add_header X-Injected yes; #"),
        ("LDAP_TLS_CIPHERS", "SECURE256\nTLS_REQCERT never"),
        ("LDAP_TLS_CACERT_FILE", "/etc/ssl/ca.pem\nTLS_REQCERT never"),
        ("LDAP_TLS_CACERT_DIR", "/etc/ssl/certs\nTLS_REQCERT never"),
        (
            "JIGASI_XMPP_USER",
            "jigasi\norg.jitsi.jigasi.ENABLE_SIP=false",
        ),
        (
            "JIGASI_BREWERY_MUC",
            "jigasibrewery\norg.jitsi.jigasi.ENABLE_SIP=false",
        ),
        ("PUBLIC_URL", "https://meet.example.com/\";x"),
        ("ETHERPAD_URL_BASE", "http://etherpad:9001/;x"),
    ];
    let mut env = vec![
        ("JICOFO_AUTH_PASSWORD", "a-strong-focus-password-123"),
        ("JVB_AUTH_PASSWORD", "a-strong-jvb-password-4567"),
    ];
    env.extend_from_slice(&hostile);
    let (code, out, err) = check_env(&s, &["--require", REQUIRE], &env);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("has 9 problems"), "{err}");
    for (name, _) in hostile {
        assert!(err.contains(&format!("  - {name}: ")), "{name} in:\n{err}");
    }
    for needle in [
        "NGINX_WORKER_PROCESSES: \"1; env X=1\" is not a whole number or auto",
        "NGINX_RESOLVER: \"127.0.0.11; add_header X-Injected yes; #\" contains ';': only the characters",
        "LDAP_TLS_CIPHERS: \"SECURE256\\nTLS_REQCERT never\" contains the control character U+000A (line feed)",
        "PUBLIC_URL: \"https://meet.example.com/\\\";x\" contains '\"'",
        "ETHERPAD_URL_BASE: \"http://etherpad:9001/;x\" contains ';'",
    ] {
        assert!(err.contains(needle), "{needle:?} in:\n{err}");
    }
    // The same values in a .env file: the ones a .env line can hold.
    let env = dot_env(
        &s,
        "NGINX_WORKER_PROCESSES=1; env X=1\n\
         NGINX_RESOLVER=\"127.0.0.11; add_header X-Injected yes; #\"\n",
    );
    let (code, _, err) = check_env(&s, &["--require", REQUIRE, &env], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("  - NGINX_WORKER_PROCESSES (line "), "{err}");
    assert!(err.contains("  - NGINX_RESOLVER (line "), "{err}");
}
