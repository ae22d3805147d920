//! `JINIT_LOG_FORMAT`: jinit's own lines as text (the default), logfmt or JSON lines, from a
//! real run of a spec and from a refused one.

use std::process::{Command, Output};

fn jinit(args: &[&str], format: Option<&str>, dir: &std::path::Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jinit"));
    cmd.args(args)
        .env_remove("JINIT_ENV_FILE")
        .env_remove("JINIT_SPEC")
        .env_remove("JINIT_LOG_FORMAT")
        .env("JINIT_SOCKET", dir.join("jinit.sock"))
        .env("JINIT_TEMPLATES", dir);
    if let Some(f) = format {
        cmd.env("JINIT_LOG_FORMAT", f);
    }
    cmd.output().expect("jinit runs")
}

fn spec(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("jinit.toml");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

const ONE_SHOT: &str = r#"
[service.once]
command = ["sh", "-c", "exit 0"]
on-success = "shutdown"
"#;

const BROKEN: &str = r#"
[service.web]
command = ["sh"]
after = ["nope"]
"#;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn json_lines_carry_time_level_and_the_units_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = spec(dir.path(), ONE_SHOT);
    let out = jinit(&["--spec", &path], Some("json"), dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 3, "{lines:?}");
    for v in &lines {
        let ts = v["ts"].as_str().unwrap();
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
            "{ts}"
        );
        assert!(["info", "warn", "error"].contains(&v["level"].as_str().unwrap()));
        assert!(v["msg"].is_string());
    }
    // Without a readiness probe the service is ready once started.
    let started = lines
        .iter()
        .find(|v| v["unit"] == "once" && v["to"] == "ready")
        .expect("a state change of the unit, with its fields");
    assert_eq!(started["from"], "waiting");
    assert!(started["detail"].as_str().unwrap().starts_with("pid "));
    assert!(started["msg"]
        .as_str()
        .unwrap()
        .starts_with("once: waiting -> ready (pid "));
    let exited = lines.iter().find(|v| v["to"] == "exited").unwrap();
    assert_eq!(exited["detail"], "exit code 0");
}

#[test]
fn logfmt_keeps_a_multi_line_problem_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = spec(dir.path(), BROKEN);
    let out = jinit(&["check", "--spec", &path], Some("logfmt"), dir.path());
    assert_eq!(out.status.code(), Some(2));
    let text = stderr(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("ts=20"), "{text}");
    assert!(text.contains(" level=error msg=\""), "{text}");
    assert!(
        text.contains("has 1 problem:\\n  - service.web.after"),
        "{text}"
    );
}

#[test]
fn text_stays_the_default_and_an_unknown_format_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = spec(dir.path(), BROKEN);
    let out = jinit(&["check", "--spec", &path], None, dir.path());
    let text = stderr(&out);
    assert!(text.starts_with("jinit: "), "{text}");
    assert!(text.contains("\n  - service.web.after"), "{text}");
    let out = jinit(&["check", "--spec", &path], Some("xml"), dir.path());
    let text = stderr(&out);
    assert!(
        text.starts_with(
            "jinit: warning: JINIT_LOG_FORMAT=\"xml\" is not text, logfmt or json: logging as text\njinit: "
        ),
        "{text}"
    );
}
