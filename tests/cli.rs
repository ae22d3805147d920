//! The command line's contract: each command takes only its own flags, and `gen-secrets`
//! writes a file only when `--env-file` names it.

use std::process::{Command, Output};

fn jinit(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jinit"));
    cmd.args(args)
        .env_remove("JINIT_ENV_FILE")
        .env_remove("JINIT_SPEC");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("jinit runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const TEMPLATES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");

#[test]
fn a_command_refuses_the_flags_of_another() {
    for (args, flag, usage) in [
        (
            vec!["status", "--strict"],
            "--strict",
            "jinit status [--json]",
        ),
        (
            vec!["status", "--root", "/x"],
            "--root",
            "jinit status [--json]",
        ),
        (vec!["health", "--json"], "--json", "jinit health"),
        (
            vec!["check-env", "--spec", "x"],
            "--spec",
            "jinit check-env [FILE]",
        ),
        (
            vec!["render", "--strict"],
            "--strict",
            "jinit render [--spec PATH]",
        ),
        (vec!["gen-secrets", "--json"], "--json", "jinit gen-secrets"),
        (
            vec!["docs", "reference", "--root", "/"],
            "--root",
            "jinit docs",
        ),
        (vec!["acme", "--spec", "x"], "--spec", "jinit acme"),
        (vec!["--json"], "--json", "jinit [--spec PATH]"),
    ] {
        let out = jinit(&args, &[]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {t}");
        let cmd = if args[0].starts_with('-') {
            "run"
        } else {
            args[0]
        };
        assert!(
            t.contains(&format!("{cmd} does not take {flag}")),
            "{args:?} names the flag: {t}"
        );
        assert!(t.contains(usage), "{args:?} shows its usage: {t}");
    }
    let out = jinit(&["status", "extra"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("unexpected argument \"extra\""),
        "{}",
        text(&out)
    );
}

#[test]
fn gen_secrets_prints_unless_asked_to_write_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("jinit.env");
    std::fs::write(&env_file, "JICOFO_AUTH_PASSWORD=\n").unwrap();
    let path = env_file.to_str().unwrap();
    // The running jinit's env file (JINIT_ENV_FILE) is an input, never written by gen-secrets.
    let out = jinit(
        &["gen-secrets", "--templates", TEMPLATES],
        &[("JINIT_ENV_FILE", path)],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("JICOFO_AUTH_PASSWORD="), "printed: {t}");
    assert!(!t.contains(path), "{t}");
    assert_eq!(
        std::fs::read_to_string(&env_file).unwrap(),
        "JICOFO_AUTH_PASSWORD=\n",
        "JINIT_ENV_FILE left alone"
    );
    // --env-file fills the named file.
    let out = jinit(
        &["gen-secrets", "--templates", TEMPLATES, "--env-file", path],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let filled = std::fs::read_to_string(&env_file).unwrap();
    let value = filled
        .lines()
        .find_map(|l| l.strip_prefix("JICOFO_AUTH_PASSWORD="))
        .unwrap_or_default();
    assert!(value.len() >= 16, "filled: {filled}");
}

/// The disposition of SIGPIPE that `jinit -- CMD`'s command gets (SigIgn of /proc/PID/status),
/// with jinit started with SIGPIPE ignored or not.
fn child_ignores_sigpipe(parent_ignores: bool) -> bool {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jinit"));
    cmd.args(["--", "grep", "^SigIgn:", "/proc/self/status"]);
    let disposition = if parent_ignores {
        libc::SIG_IGN
    } else {
        libc::SIG_DFL
    };
    // SAFETY: signal(2) only, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGPIPE, disposition);
            Ok(())
        });
    }
    let out = cmd.output().expect("jinit runs");
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let mask = line
        .split_whitespace()
        .nth(1)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or_else(|| panic!("no SigIgn in {line:?}"));
    mask & (1 << (libc::SIGPIPE - 1)) != 0
}

#[test]
fn single_mode_passes_on_sigpipe_as_jinit_got_it() {
    // `nohup`-style wrappers ignore signals for what they run; jinit keeps that, SIGPIPE
    // included (it no longer starts through Rust's runtime, which ignored SIGPIPE itself).
    assert!(
        child_ignores_sigpipe(true),
        "an ignored SIGPIPE is passed on"
    );
    assert!(
        !child_ignores_sigpipe(false),
        "a default SIGPIPE stays default"
    );
}

/// A copy of `jinit` alone in a directory, with `jinit-config` there as `config` says: the
/// real one, a script, or none (PATH then has no `jinit-config` either).
fn lone_jinit(config: Option<&str>) -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("jinit");
    std::fs::copy(env!("CARGO_BIN_EXE_jinit"), &bin).unwrap();
    match config {
        Some("real") => {
            std::fs::copy(
                env!("CARGO_BIN_EXE_jinit-config"),
                dir.path().join("jinit-config"),
            )
            .unwrap();
        }
        Some(script) => {
            let path = dir.path().join("jinit-config");
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        None => {}
    }
    (dir, bin)
}

fn run_lone(dir: &tempfile::TempDir, bin: &std::path::Path, args: &[&str]) -> Output {
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        "[oneshot.hello]\ncommand = [\"true\"]\non-success = \"shutdown\"\n",
    )
    .unwrap();
    Command::new(bin)
        .args(args)
        .arg("--spec")
        .arg(&spec)
        .env("PATH", "/usr/bin:/bin")
        .env("JINIT_SOCKET", dir.path().join("jinit.sock"))
        .env_remove("JINIT_ENV_FILE")
        .output()
        .expect("jinit runs")
}

#[test]
fn pid1_and_the_config_commands_name_a_missing_jinit_config() {
    let (dir, bin) = lone_jinit(None);
    for args in [&[][..], &["check"][..]] {
        let out = run_lone(&dir, &bin, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("cannot run jinit-config")
                && text(&out).contains("ships beside jinit"),
            "{args:?}: {}",
            text(&out)
        );
    }
    // With its config half beside it, the same spec runs (and its oneshot ends the container).
    let (dir, bin) = lone_jinit(Some("real"));
    let out = run_lone(&dir, &bin, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn pid1_refuses_a_broken_or_endless_plan_with_a_clear_error() {
    for (script, says) in [
        (
            "#!/bin/sh\necho '{\"units\": [{\"spec\": 7}]}'\n",
            "answer is unreadable",
        ),
        ("#!/bin/sh\n", "gave no answer"),
        (
            "#!/bin/sh\nhead -c 9000000 /dev/zero\n",
            "larger than 8388608 bytes",
        ),
        ("#!/bin/sh\necho crashed >&2\nexit 3\n", "failed"),
    ] {
        let (dir, bin) = lone_jinit(Some(script));
        let out = run_lone(&dir, &bin, &[]);
        assert_eq!(out.status.code(), Some(2), "{script}: {}", text(&out));
        assert!(text(&out).contains(says), "{script}: {}", text(&out));
    }
}

#[test]
fn a_rerender_whose_answer_is_broken_keeps_the_units_and_says_why() {
    // The real jinit-config plans the boot; the one beside jinit then answers every re-render
    // with junk, then crashes. The service keeps running, `jinit reload` fails with the reason
    // and the metrics count the failures.
    let (dir, bin) = lone_jinit(None);
    let d = dir.path().display().to_string();
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        format!(
            "[service.web]\ncommand = [\"sh\", \"-c\", \"echo $$ > {d}/pid; exec sleep 100000\"]\nready = {{ file = \"{d}/pid\" }}\n"
        ),
    )
    .unwrap();
    let plan = Command::new(env!("CARGO_BIN_EXE_jinit-config"))
        .args(["plan", "--boot", "--spec"])
        .arg(&spec)
        .env_remove("JINIT_ENV_FILE")
        .output()
        .unwrap();
    assert!(plan.status.success(), "{}", text(&plan));
    std::fs::write(dir.path().join("plan.json"), &plan.stdout).unwrap();
    let script = format!(
        "#!/bin/sh\ncase \" $* \" in *\" --boot \"*) exec cat {d}/plan.json;; esac\n\
         if [ -e {d}/crash ]; then exit 3; fi\ntouch {d}/crash\necho '{{\"units\": 1}}'\n"
    );
    std::fs::write(dir.path().join("jinit-config"), script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.path().join("jinit-config"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let socket = dir.path().join("jinit.sock");
    let client = |args: &[&str]| {
        Command::new(&bin)
            .args(args)
            .env("JINIT_SOCKET", &socket)
            .output()
            .unwrap()
    };
    let pid1 = Command::new(&bin)
        .arg("--spec")
        .arg(&spec)
        .env("JINIT_SOCKET", &socket)
        .env_remove("JINIT_ENV_FILE")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while client(&["health"]).status.code() != Some(0) {
        assert!(started.elapsed().as_secs() < 10, "web never got ready");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let service = std::fs::read_to_string(dir.path().join("pid")).unwrap();
    for says in [
        "answer is unreadable",
        "jinit-config ended with exit code 3",
    ] {
        let out = client(&["reload"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            text(&out).contains("cannot render, config kept") && text(&out).contains(says),
            "{}",
            text(&out)
        );
    }
    let metrics = String::from_utf8_lossy(&client(&["metrics"]).stdout).into_owned();
    assert!(
        metrics.contains("jinit_renders_total 3")
            && metrics.contains("jinit_render_failures_total 2"),
        "{metrics}"
    );
    assert_eq!(client(&["health"]).status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("pid")).unwrap(),
        service
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid1.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = pid1.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("cannot render") && text(&out).contains("keeping the current config"),
        "{}",
        text(&out)
    );
}
