//! Host checks of a parsed spec: `if` conditions, commands on PATH, users and groups.
//!
//! Turns a `Spec` into a `Plan`: which units run, as whom. Collects every problem; skipped
//! units are not checked (their command may legitimately be absent from this image).

use crate::spec::{Problem, Spec, UnitSpec};
use crate::users::{self, Account};
use minijinja::Value;
use std::path::Path;

pub struct Planned {
    pub spec: UnitSpec,
    pub enabled: bool,
    pub account: Option<Account>,
}

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

pub fn plan(spec: &Spec, ctx: &Value) -> Result<Plan, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut units = Vec::new();
    for u in &spec.units {
        let at = format!("{}.{}", u.kind.word(), u.name);
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
            match users::resolve(u.user.as_deref(), u.group.as_deref()) {
                Ok(a) => account = a,
                Err(e) => {
                    let key = if e.contains("group") { "group" } else { "user" };
                    problems.push(Problem::new(format!("{at}.{key}"), e));
                }
            }
            if let Some(argv0) = u.command.first() {
                if let Err(e) = resolve_command(argv0, u) {
                    problems.push(Problem::new(format!("{at}.command"), e));
                }
            }
            if let Some(crate::spec::Ready::Exec(argv)) = &u.ready {
                if let Some(argv0) = argv.first() {
                    if let Err(e) = resolve_command(argv0, u) {
                        problems.push(Problem::new(format!("{at}.ready.exec"), e));
                    }
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
            spec: u.clone(),
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

/// Finds the program the way exec will: a path is checked as is, a bare name on the unit's
/// PATH (its `env` may set one) or jinit's.
fn resolve_command(argv0: &str, unit: &UnitSpec) -> Result<(), String> {
    if argv0.contains('/') {
        let p = Path::new(argv0);
        return match std::fs::metadata(p) {
            Err(_) => Err(format!("command not found: {argv0}")),
            Ok(m) if m.is_dir() || !is_executable(&m) => Err(format!("{argv0} is not executable")),
            Ok(_) => Ok(()),
        };
    }
    let path = unit
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    which::which_in(argv0, Some(&path), cwd)
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
