//! The command line: USAGE, and each command's own flags. A command accepts only the flags
//! its usage line names; anything else is refused with that line, never ignored.
//! - `config`: the commands that read the configuration without running it (`check`,
//!   `check-env`, `render`, `gen-secrets`, `docs`).
//! - `run`: `jinit [--spec PATH]`, the supervisor's start-up.
//! - `client`: the commands that talk to a running jinit (`status`, `health`, `metrics`,
//!   `restart`, `reload`) and `jinit acme`.

pub mod client;
pub mod config;
pub mod plan;
pub mod run;

use crate::config::render;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const USAGE: &str = "\
usage:
  jinit [--spec PATH]              run the image spec (default $JINIT_SPEC or /etc/jinit/jinit.toml)
  jinit -- CMD [ARGS...]           run one command as PID 1 (tini-compatible)
  jinit check [--spec PATH]        validate the spec and environment, start nothing
  jinit check-env [FILE] [--templates DIR] [--require NAME,...] [--names-from FILE] [--strict]
                                   check a whole .env (or this environment) against every
                                   schema: values, secrets, renamed names, typos
  jinit status [--json]            show every unit of the running jinit
  jinit health                     exit 0 only when every enabled service is ready (and its
                                   `health` probe answers): the HEALTHCHECK
  jinit metrics                    print the Prometheus metrics of every unit (what the port of
                                   JINIT_METRICS_PORT serves)
  jinit restart UNIT               restart one unit
  jinit reload [UNIT]              re-render, then send the reload signal (all units when none is named)
  jinit render [--spec PATH] [--templates DIR] [--root DIR] [--no-validate]
                                   render the spec's config files without running anything
  jinit gen-secrets [--templates DIR] [--env-file FILE]
                                   print strong secrets, or fill the empty ones of an env file
  jinit docs env-example|reference [--templates DIR]
                                   print env.example or the README variable reference
  jinit acme [--storage DIR] [--webroot DIR] [--once] [--retry-min DUR] [--check-interval DUR]
                                   obtain and renew the Let's Encrypt certificate (HTTP-01)
environment: JINIT_SPEC, JINIT_TEMPLATES (default /etc/jinit/templates), JINIT_ENV_FILE
(overrides the container environment, watched), JINIT_SOCKET (default /run/jinit/jinit.sock),
JINIT_METRICS_PORT (serve /metrics on this TCP port), JINIT_LOG_FORMAT (text, logfmt, json)
The spec-reading commands (run, check, render) also take --templates DIR, --env-file FILE
and --root DIR.
";

/// What one command accepts besides its positional arguments.
pub struct Accepts {
    /// Flags followed by a value (`--spec PATH`).
    pub values: &'static [&'static str],
    /// Flags standing alone (`--json`).
    pub switches: &'static [&'static str],
    /// Whether positional arguments are allowed (the command checks how many).
    pub positional: bool,
}

/// The spec-reading commands' flags.
pub const SPEC_FLAGS: &[&str] = &["spec", "templates", "env-file", "root"];

/// What `run` and `check` accept: the spec-reading flags only.
pub const SPEC_ONLY: Accepts = Accepts {
    values: SPEC_FLAGS,
    switches: &[],
    positional: false,
};

/// A command's parsed arguments.
#[derive(Default)]
pub struct Args {
    values: BTreeMap<&'static str, Vec<String>>,
    switches: Vec<&'static str>,
    pub positional: Vec<String>,
}

impl Args {
    pub fn value(&self, flag: &str) -> Option<&str> {
        self.values.get(flag)?.last().map(String::as_str)
    }

    pub fn path(&self, flag: &str) -> Option<PathBuf> {
        self.value(flag).map(PathBuf::from)
    }

    pub fn all(&self, flag: &str) -> &[String] {
        self.values.get(flag).map(Vec::as_slice).unwrap_or_default()
    }

    pub fn has(&self, switch: &str) -> bool {
        self.switches.contains(&switch)
    }
}

/// Parses `args` for command `cmd`, refusing any flag it does not take.
pub fn parse(cmd: &str, args: &[String], accepts: &Accepts) -> Result<Args, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut out = Args::default();
    let refuse = |what: String| format!("{what}\n{}", usage_of(cmd));
    while let Some(arg) = parser.next().map_err(|e| refuse(e.to_string()))? {
        match arg {
            lexopt::Arg::Long("help") | lexopt::Arg::Short('h') => return Err(USAGE.to_string()),
            lexopt::Arg::Long(name) => {
                if let Some(&flag) = accepts.values.iter().find(|f| **f == name) {
                    let value = parser.value().map_err(|e| refuse(e.to_string()))?;
                    let value = value
                        .into_string()
                        .map_err(|_| refuse(format!("the value of --{flag} is not UTF-8")))?;
                    out.values.entry(flag).or_default().push(value);
                } else if let Some(&flag) = accepts.switches.iter().find(|f| **f == name) {
                    out.switches.push(flag);
                } else {
                    return Err(refuse(format!("{cmd} does not take --{name}")));
                }
            }
            lexopt::Arg::Value(v) if accepts.positional => {
                out.positional.push(v.to_string_lossy().into_owned())
            }
            lexopt::Arg::Value(v) => {
                return Err(refuse(format!(
                    "unexpected argument {:?}",
                    v.to_string_lossy()
                )))
            }
            other => return Err(refuse(other.unexpected().to_string())),
        }
    }
    Ok(out)
}

/// The lines of USAGE about `cmd` (its usage line and the description under it).
pub fn usage_of(cmd: &str) -> String {
    let head = if cmd == "run" {
        "  jinit [".to_string()
    } else {
        format!("  jinit {cmd} ")
    };
    let mut lines = Vec::new();
    let mut taking = false;
    for line in USAGE.lines() {
        if line.starts_with("  jinit") {
            taking = line.starts_with(&head) || line == head.trim_end();
        } else if !line.starts_with("    ") {
            taking = false;
        }
        if taking {
            lines.push(line);
        }
    }
    format!("usage:\n{}", lines.join("\n"))
}

/// jinit's own settings, from `JINIT_*` variables.
#[derive(Deserialize, Default)]
struct Settings {
    spec: Option<PathBuf>,
    templates: Option<PathBuf>,
    env_file: Option<PathBuf>,
}

fn settings() -> Settings {
    envy::prefixed("JINIT_").from_env().unwrap_or_default()
}

/// The spec, templates, env file and render root a spec-reading command works on: its flags,
/// then `JINIT_*`, then the defaults.
pub struct Inputs {
    pub spec: PathBuf,
    pub templates: PathBuf,
    pub env_file: Option<PathBuf>,
    pub root: Option<PathBuf>,
}

pub fn inputs(a: &Args) -> Inputs {
    let s = settings();
    Inputs {
        spec: a
            .path("spec")
            .or(s.spec)
            .unwrap_or_else(|| PathBuf::from("/etc/jinit/jinit.toml")),
        templates: templates_or(a, s.templates),
        env_file: a.path("env-file").or(s.env_file),
        root: a.path("root"),
    }
}

/// The templates directory: `--templates`, then `JINIT_TEMPLATES`, then the default.
pub fn templates(a: &Args) -> PathBuf {
    templates_or(a, settings().templates)
}

/// `--templates`, then `from_env` (JINIT_TEMPLATES, already read), then the default.
fn templates_or(a: &Args, from_env: Option<PathBuf>) -> PathBuf {
    a.path("templates")
        .or(from_env)
        .unwrap_or_else(|| PathBuf::from(render::DEFAULT_TEMPLATES))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const STATUS: Accepts = Accepts {
        values: &[],
        switches: &["json"],
        positional: false,
    };

    #[test]
    fn a_command_refuses_flags_it_does_not_take() {
        let e = parse("status", &args(&["--strict"]), &STATUS)
            .err()
            .unwrap();
        assert!(e.starts_with("status does not take --strict"), "{e}");
        assert!(e.contains("jinit status [--json]"), "{e}");
        assert!(
            !e.contains("check-env"),
            "only the command's own usage: {e}"
        );
        let e = parse("status", &args(&["--root", "/x"]), &STATUS)
            .err()
            .unwrap();
        assert!(e.starts_with("status does not take --root"), "{e}");
        let e = parse("status", &args(&["extra"]), &STATUS).err().unwrap();
        assert!(e.starts_with("unexpected argument \"extra\""), "{e}");
        assert!(parse("status", &args(&["--json"]), &STATUS)
            .unwrap()
            .has("json"));
    }

    #[test]
    fn values_positionals_and_repeated_flags() {
        let accepts = Accepts {
            values: &["require", "templates"],
            switches: &["strict"],
            positional: true,
        };
        let a = parse(
            "check-env",
            &args(&[
                "f.env",
                "--require",
                "A,B",
                "--require=C",
                "--templates",
                "t",
            ]),
            &accepts,
        )
        .unwrap();
        assert_eq!(a.positional, ["f.env"]);
        assert_eq!(a.all("require"), ["A,B", "C"]);
        assert_eq!(a.value("templates"), Some("t"));
        assert!(!a.has("strict"));
        let e = parse("check-env", &args(&["--templates"]), &accepts)
            .err()
            .unwrap();
        assert!(e.contains("missing argument"), "{e}");
    }

    #[test]
    fn every_command_has_its_usage_lines() {
        for cmd in [
            "run",
            "check",
            "check-env",
            "status",
            "health",
            "restart",
            "reload",
            "render",
            "gen-secrets",
            "docs",
            "acme",
        ] {
            let u = usage_of(cmd);
            assert!(u.lines().count() >= 2, "{cmd}: {u}");
        }
        assert!(usage_of("check").contains("jinit check [--spec PATH]"));
        assert!(!usage_of("check").contains("check-env"));
        assert!(usage_of("check-env").contains("schema: values"));
        assert!(usage_of("run").contains("jinit [--spec PATH]"));
        assert!(!usage_of("run").contains("-- CMD"));
    }
}
