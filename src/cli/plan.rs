//! `jinit-config plan [--boot] [--spec PATH] ...`: the configuration half of PID 1, run by it
//! as a child at boot and for every re-render (see `spec::handoff`). Loads the spec, schemas
//! and environment afresh, plans the units for this host, renders and writes the files (each
//! after its validation command), and prints the `Outcome` as JSON on stdout.
//!
//! `--boot`: any problem stops the start (PID 1 exits with it), as before anything runs. Without
//! it (a re-render of a running container): a broken environment or template writes nothing;
//! a plan the environment breaks leaves the units as they are while the files are still written.

use super::config::{load, prepare};
use super::{inputs, parse, Accepts, SPEC_FLAGS};
use crate::config::{apply, image};
use crate::log;
use crate::problem::{Problem, Problems};
use crate::spec::handoff::Outcome;
use std::io::Write;

pub fn plan(args: &[String]) -> Result<i32, String> {
    let a = parse(
        "plan",
        args,
        &Accepts {
            values: SPEC_FLAGS,
            switches: &["boot"],
            positional: false,
        },
    )?;
    let i = inputs(&a);
    let outcome = if a.has("boot") { boot(&i) } else { again(&i) };
    let json = serde_json::to_vec(&outcome).map_err(|e| format!("cannot encode the plan: {e}"))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&json)
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write the plan: {e}"))?;
    Ok(0)
}

/// PID 1 is starting: everything checked, rendered and written, or nothing starts.
fn boot(i: &super::Inputs) -> Outcome {
    let (img, plan, rendered) = match prepare(i, true, true) {
        Ok(p) => p,
        Err(text) => return failed(text),
    };
    let secrets = img.secret_names();
    let applied = apply::apply(&img.spec, &rendered, true, &secrets);
    if !applied.problems.is_empty() {
        return failed(
            Problems {
                what: "rendering".into(),
                list: applied.problems,
            }
            .to_string(),
        );
    }
    if !rendered.is_empty() {
        log::info(&format!(
            "rendered {} files ({} changed)",
            rendered.len(),
            applied.changed.len()
        ));
    }
    let mut outcome = settled(&img, &applied, secrets);
    outcome.plan = Some(plan);
    outcome
}

/// A re-render of a running container: its environment, env file or secrets changed.
fn again(i: &super::Inputs) -> Outcome {
    // As at boot: the writable volumes checked, missing stored secrets created.
    let (img, problems) = match load(i, true) {
        Ok(l) => l,
        Err(p) => return failed(inline(&p.list)),
    };
    if !problems.is_empty() {
        return failed(inline(&problems));
    }
    let rendered = match img.render() {
        Ok(r) => r,
        Err(problems) => return failed(inline(&problems)),
    };
    let secrets = img.secret_names();
    let applied = apply::apply(&img.spec, &rendered, true, &secrets);
    let mut outcome = settled(&img, &applied, secrets);
    match img.plan() {
        Ok(plan) => outcome.plan = Some(plan),
        Err(problems) => outcome.plan_error = Some(inline(&problems)),
    }
    outcome
}

/// What every answer carries once the files are written.
fn settled(img: &image::Image, applied: &apply::Applied, secrets: Vec<String>) -> Outcome {
    let mut outcome = Outcome {
        shutdown_grace: img.spec.shutdown_grace,
        stop_timeout: img.spec.stop_timeout,
        base_env: img.unit_env(),
        secrets,
        inputs: img.inputs(),
        problems: applied.problems.iter().map(Problem::to_string).collect(),
        ..Outcome::default()
    };
    for &n in &applied.changed {
        let entry = &img.spec.renders[n];
        outcome.changed.push(entry.dest.display().to_string());
        if let Some(u) = &entry.reload {
            if !outcome.reload.contains(u) {
                outcome.reload.push(u.clone());
            }
        }
    }
    outcome
}

fn failed(text: String) -> Outcome {
    Outcome {
        error: Some(text),
        ..Outcome::default()
    }
}

/// Problems on one line, for the log line and the `jinit reload` answer of a re-render.
fn inline(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
