//! Writes rendered files atomically (through `atomic`), each after its validation command
//! passed; a failed validation keeps the previous file. Never starts or signals units: it
//! returns which entries changed and the supervisor decides.

use super::render::Rendered;
use crate::problem::Problem;
use crate::spec::Spec;
use crate::sys::atomic::{self, Change};

/// What `apply` did.
#[derive(Default)]
pub struct Applied {
    /// Indices of entries whose file changed on disk.
    pub changed: Vec<usize>,
    /// Indices of entries that could not be written (their old file is kept).
    pub failed: Vec<usize>,
    pub problems: Vec<Problem>,
}

/// A changed file waiting for its validation command before it replaces the old one.
#[derive(Debug)]
struct Validation {
    index: usize,
    staged: atomic::Staged,
    /// The entry's `validate` command with `{}` replaced by the staged file.
    argv: Vec<String>,
}

/// Writes rendered files; `validate` runs each entry's validation command first (here, and
/// waiting for it: in `jinit-config`, PID 1's helper, or in `jinit render`), without the
/// variables named in `withheld` (the secrets: a validator has no use for them).
pub fn apply(spec: &Spec, rendered: &[Rendered], validate: bool, withheld: &[String]) -> Applied {
    let (mut applied, pending) = apply_unvalidated(spec, rendered, validate);
    let results = pending
        .into_iter()
        .map(|v| {
            let result = run_validate(&v.argv, withheld);
            (v, result)
        })
        .collect();
    finish_validated(spec, results, &mut applied);
    applied
}

/// The first half of `apply`: writes every file without a validation command at once, and
/// stages each changed file with one, returned with the command to run.
fn apply_unvalidated(
    spec: &Spec,
    rendered: &[Rendered],
    validate: bool,
) -> (Applied, Vec<Validation>) {
    let mut applied = Applied::default();
    let mut pending = Vec::new();
    for r in rendered {
        let entry = &spec.renders[r.index];
        let at = || format!("render[{}] {}", r.index, entry.dest.display());
        let result = match &r.content {
            None => atomic::remove(&r.dest),
            Some(content) => {
                let owner = match entry.owner.as_deref().map(parse_owner).transpose() {
                    Ok(o) => o,
                    Err(e) => {
                        applied.failed.push(r.index);
                        applied.problems.push(Problem::new(at(), e));
                        continue;
                    }
                };
                let mode = entry.mode.unwrap_or(0o644);
                match (&entry.validate, validate) {
                    (Some(argv), true) => match atomic::stage(&r.dest, content, mode, owner) {
                        Ok(Some(staged)) => {
                            let tmp = staged.tmp.display().to_string();
                            pending.push(Validation {
                                index: r.index,
                                argv: argv.iter().map(|a| a.replace("{}", &tmp)).collect(),
                                staged,
                            });
                            continue;
                        }
                        Ok(None) => Ok(Change::Unchanged),
                        Err(e) => Err(e),
                    },
                    _ => atomic::replace(
                        &r.dest,
                        content,
                        &atomic::Options {
                            mode,
                            owner,
                            validate: None,
                        },
                    ),
                }
            }
        };
        record(&mut applied, r.index, at(), result);
    }
    (applied, pending)
}

/// The second half of `apply`: each staged file whose validation passed replaces the old one;
/// the others are dropped and the old file is kept.
fn finish_validated(
    spec: &Spec,
    results: Vec<(Validation, Result<(), String>)>,
    applied: &mut Applied,
) {
    for (v, result) in results {
        let at = format!(
            "render[{}] {}",
            v.index,
            spec.renders[v.index].dest.display()
        );
        let result = match result {
            Ok(()) => atomic::commit(v.staged),
            Err(e) => {
                atomic::discard(v.staged);
                Err(e)
            }
        };
        record(applied, v.index, at, result);
    }
    applied.changed.sort_unstable();
    applied.failed.sort_unstable();
}

fn record(applied: &mut Applied, index: usize, at: String, result: Result<Change, String>) {
    match result {
        Ok(Change::Written) => applied.changed.push(index),
        Ok(Change::Unchanged) => {}
        Err(e) => {
            applied.failed.push(index);
            applied
                .problems
                .push(Problem::new(at, format!("{e}; the previous file is kept")));
        }
    }
}

/// How long a validation command may take before it is killed and counts as failed.
pub const VALIDATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn parse_owner(text: &str) -> Result<(u32, u32), String> {
    let (user, group) = match text.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (text, None),
    };
    let account = crate::sys::users::resolve(Some(user), group)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("bad owner {text:?}"))?;
    Ok((account.uid, account.gid))
}

fn run_validate(argv: &[String], withheld: &[String]) -> Result<(), String> {
    match crate::sys::spawn::run_captured(argv, VALIDATE_TIMEOUT, withheld) {
        Ok(c) if c.timed_out => Err(format!(
            "validation `{}` did not finish within {} and was killed",
            argv.join(" "),
            crate::duration::show(VALIDATE_TIMEOUT)
        )),
        Ok(c) if c.code == 0 => Ok(()),
        Ok(c) => Err(format!(
            "validation `{}` failed (exit code {}): {}",
            argv.join(" "),
            c.code,
            c.output.trim()
        )),
        Err(e) => Err(format!("cannot run validation `{}`: {e}", argv.join(" "))),
    }
}
