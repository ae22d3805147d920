//! Host checks of a parsed spec: `if` conditions, commands on PATH, users and groups.
//!
//! Turns a `Spec` into a `Plan`: which units run, as whom. Collects every problem; skipped
//! units are not checked (their command may legitimately be absent from this image).

use super::types::{Spec, UnitSpec};
use crate::problem::Problem;
use crate::sys::users::{self, Account};
use minijinja::Value;
use std::collections::HashMap;
use std::path::Path;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Planned {
    pub spec: UnitSpec,
    pub enabled: bool,
    pub account: Option<Account>,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub units: Vec<Planned>,
}

/// Evaluates a unit's or render's `if` expression against the environment context.
/// Undefined names are errors: a typo must not silently disable a unit.
pub fn condition(expr: &str, ctx: &Value) -> Result<bool, String> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let compiled = env
        .compile_expression(expr)
        .map_err(|e| format!("bad expression {expr:?}: {}", e))?;
    compiled
        .eval(ctx)
        .map(|v| v.is_true())
        .map_err(|e| format!("cannot evaluate {expr:?}: {}", e))
}

/// Expands `{{ VAR }}` in one argv or env string with the typed environment (strict).
/// Strings without template syntax are returned as they are.
pub fn expand(text: &str, ctx: &Value) -> Result<String, String> {
    if !text.contains("{{") && !text.contains("{%") {
        return Ok(text.to_string());
    }
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.render_str(text, ctx).map_err(|e| {
        let detail = e
            .detail()
            .map(str::to_string)
            .unwrap_or_else(|| e.kind().to_string());
        format!("cannot expand {text:?}: {detail}")
    })
}

/// Expands every templated string of an enabled unit: command, env values, stdin, exec probe,
/// drain command.
fn expand_unit(u: &mut UnitSpec, at: &str, ctx: &Value, problems: &mut Vec<Problem>) {
    let mut one = |text: &mut String, key: String| match expand(text, ctx) {
        Ok(t) => *text = t,
        Err(e) => problems.push(Problem::new(format!("{at}.{key}"), e)),
    };
    for (i, arg) in u.command.iter_mut().enumerate() {
        one(arg, format!("command[{i}]"));
    }
    for (k, v) in u.env.iter_mut() {
        one(v, format!("env.{k}"));
    }
    if let Some(text) = &mut u.stdin {
        one(text, "stdin".into());
    }
    if let Some(crate::spec::Ready::Exec(argv)) = &mut u.ready {
        for (i, arg) in argv.iter_mut().enumerate() {
            one(arg, format!("ready.exec[{i}]"));
        }
    }
    for (i, arg) in u.drain.iter_mut().flatten().enumerate() {
        one(arg, format!("drain[{i}]"));
    }
    if let Some(text) = &u.stdin {
        if text.len() > crate::sys::spawn::STDIN_MAX {
            problems.push(Problem::new(
                format!("{at}.stdin"),
                format!(
                    "{} bytes after expansion; at most {} fit (give larger input as a file)",
                    text.len(),
                    crate::sys::spawn::STDIN_MAX
                ),
            ));
        }
    }
}

type AccountLookup = Result<Option<Account>, users::LookupError>;

/// Host lookups of one `plan`, each done once per distinct question: units of a spec often
/// share a user and a program, and a lookup reads /etc/passwd or searches PATH.
#[derive(Default)]
struct Lookups {
    /// By (user, group) as the unit gives them.
    accounts: HashMap<(Option<String>, Option<String>), AccountLookup>,
    /// By (argv[0], PATH searched).
    commands: HashMap<(String, String), Result<(), String>>,
}

impl Lookups {
    fn account(&mut self, user: Option<&str>, group: Option<&str>) -> AccountLookup {
        let key = (user.map(str::to_string), group.map(str::to_string));
        self.accounts
            .entry(key)
            .or_insert_with(|| users::resolve(user, group))
            .clone()
    }

    fn command(&mut self, argv0: &str, unit: &UnitSpec) -> Result<(), String> {
        let path = command_path(unit);
        self.commands
            .entry((argv0.to_string(), path))
            .or_insert_with_key(|(argv0, path)| resolve_command(argv0, path))
            .clone()
    }
}

pub fn plan(spec: &Spec, ctx: &Value) -> Result<Plan, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut units = Vec::new();
    let mut lookups = Lookups::default();
    for u in &spec.units {
        let at = format!("{}.{}", u.kind.word(), u.name);
        let mut u = u.clone();
        let enabled = match &u.condition {
            None => true,
            Some(expr) => match condition(expr, ctx) {
                Ok(b) => b,
                Err(e) => {
                    problems.push(Problem::new(format!("{at}.if"), e));
                    // Check the rest of the unit too: the operator fixes everything at once.
                    true
                }
            },
        };
        let mut account = None;
        if enabled {
            expand_unit(&mut u, &at, ctx, &mut problems);
            match lookups.account(u.user.as_deref(), u.group.as_deref()) {
                Ok(Some(a)) if !can_become(&a) => {
                    let key = if u.user.is_some() { "user" } else { "group" };
                    problems.push(Problem::new(
                        format!("{at}.{key}"),
                        format!(
                            "jinit runs as uid {} and cannot switch to {} (uid {}, gid {}): run the container as root or remove `{key}`",
                            nix::unistd::geteuid(),
                            a.name,
                            a.uid,
                            a.gid
                        ),
                    ));
                }
                Ok(a) => account = a,
                Err(e) => {
                    problems.push(Problem::new(format!("{at}.{}", e.key()), e.to_string()));
                }
            }
            if let Some(argv0) = u.command.first() {
                if let Err(e) = lookups.command(argv0, &u) {
                    problems.push(Problem::new(format!("{at}.command"), e));
                }
            }
            let exec_probe = match &u.ready {
                Some(crate::spec::Ready::Exec(argv)) => argv.first(),
                _ => None,
            };
            let drain = u.drain.as_ref().and_then(|d| d.first());
            for (key, argv0) in [("ready.exec", exec_probe), ("drain", drain)] {
                if let Some(Err(e)) = argv0.map(|a| lookups.command(a, &u)) {
                    problems.push(Problem::new(format!("{at}.{key}"), e));
                }
            }
            if let Some(cwd) = &u.cwd {
                if !cwd.is_dir() {
                    problems.push(Problem::new(
                        format!("{at}.cwd"),
                        format!("{} is not a directory", cwd.display()),
                    ));
                }
            }
        }
        units.push(Planned {
            spec: u,
            enabled,
            account,
        });
    }
    if problems.is_empty() {
        Ok(Plan { units })
    } else {
        Err(problems)
    }
}

/// Root may become anyone; anyone else only themselves (then the switch is skipped).
fn can_become(a: &Account) -> bool {
    let (uid, gid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    uid == 0 || (a.uid == uid && a.gid == gid)
}

/// The PATH a unit's command is searched on: its `env` may set one, else jinit's.
fn command_path(unit: &UnitSpec) -> String {
    unit.env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into())
}

/// Finds the program the way exec will: a path is checked as is, a bare name on `path`.
fn resolve_command(argv0: &str, path: &str) -> Result<(), String> {
    if argv0.contains('/') {
        let p = Path::new(argv0);
        return match std::fs::metadata(p) {
            Err(_) => Err(format!("command not found: {argv0}")),
            Ok(m) if m.is_dir() || !is_executable(&m) => Err(format!("{argv0} is not executable")),
            Ok(_) => Ok(()),
        };
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    which::which_in(argv0, Some(path), cwd)
        .map(|_| ())
        .map_err(|_| format!("command not found: {argv0} (searched PATH={path})"))
}

fn is_executable(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o111 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_expands_with_the_typed_environment() {
        let ctx = Value::from_serialize(serde_json::json!({"PORT": 20000, "USER": "focus"}));
        assert_eq!(
            expand("--min-port={{ PORT }}", &ctx).unwrap(),
            "--min-port=20000"
        );
        assert_eq!(
            expand("plain {not a template}", &ctx).unwrap(),
            "plain {not a template}"
        );
        assert!(expand("{{ NOPE }}", &ctx)
            .unwrap_err()
            .contains("undefined"));
    }

    #[test]
    fn conditions_are_strict() {
        let ctx = Value::from_serialize(std::collections::BTreeMap::from([("A", "yes")]));
        assert!(condition("A == 'yes'", &ctx).unwrap());
        assert!(!condition("A == 'no'", &ctx).unwrap());
        assert!(!condition("B is defined", &ctx).unwrap());
        assert!(condition("B == 'x'", &ctx)
            .unwrap_err()
            .contains("undefined"));
        assert!(condition("A ==", &ctx)
            .unwrap_err()
            .contains("bad expression"));
    }
}
