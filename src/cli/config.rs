//! The commands that read the configuration without running anything: `check`, `check-env`,
//! `render`, `gen-secrets` and `docs`.

use super::{inputs, parse, templates, usage_of, Accepts, Args, Inputs, SPEC_FLAGS, SPEC_ONLY};
use crate::config::{apply, docs, envfile, environ, image, render, schema, secrets};
use crate::problem::{Problem, Problems};
use crate::spec::plan::Plan;
use crate::{bounded, log};
use std::collections::BTreeMap;
use std::path::Path;

/// An image loaded, planned and rendered in memory, ready to be applied.
pub type Prepared = (image::Image, Plan, Vec<render::Rendered>);

/// Phase one: everything that can be wrong with the spec, the environment, the templates or
/// the host, reported at once. Prints the environment's warnings. `host`: also check the units
/// against this machine (commands, users); `jinit render` does not, so an image's config
/// renders on a machine without its programs. `boot`: jinit starting as PID 1 (checks the
/// `writable` volumes, creates missing stored secrets).
pub fn prepare(i: &Inputs, host: bool, boot: bool) -> Result<Prepared, String> {
    let (img, mut problems) = load(i, boot).map_err(|p| p.to_string())?;
    for w in &img.env.warnings {
        log::warn(w);
    }
    let plan = if host {
        img.plan().map_err(|p| problems.extend(p))
    } else {
        Ok(Plan { units: Vec::new() })
    };
    // Rendering with a broken environment would only repeat its problems as template errors.
    let rendered = if problems.is_empty() {
        img.render().map_err(|p| problems.extend(p))
    } else {
        Err(())
    };
    match (plan, rendered) {
        (Ok(plan), Ok(rendered)) if problems.is_empty() => Ok((img, plan, rendered)),
        _ => Err(Problems {
            what: format!("the configuration of {}", i.spec.display()),
            list: problems,
        }
        .to_string()),
    }
}

/// The image of these inputs with every problem found loading it (see `image::Image::load`).
pub fn load(i: &Inputs, boot: bool) -> Result<(image::Image, Vec<Problem>), Problems> {
    image::Image::load(&image::Paths {
        spec: &i.spec,
        templates: &i.templates,
        env_file: i.env_file.as_deref(),
        root: i.root.as_deref(),
        boot,
    })
}

pub fn check(args: &[String]) -> Result<i32, String> {
    let a = parse("check", args, &SPEC_ONLY)?;
    let (img, plan, rendered) = prepare(&inputs(&a), true, false)?;
    let enabled = plan.units.iter().filter(|p| p.enabled).count();
    println!(
        "ok: {} ({} units, {} enabled; {} files rendered in memory)",
        img.spec.path.display(),
        plan.units.len(),
        enabled,
        rendered.iter().filter(|r| r.content.is_some()).count()
    );
    Ok(0)
}

/// `jinit check-env`: the whole .env against every component's schema, so that one run names
/// every bad value, weak secret and misspelt variable of the stack (an image sees only its
/// own variables, and Compose passes a container only the names it declares, so a typo in
/// .env would otherwise never be reported).
///
/// Values come from FILE, or without FILE from this process's environment: Compose's `base`
/// service gets every declared variable the way the services get them (inline comments,
/// `${...}` and shell overrides already applied) and names .env with `--names-from` for the
/// misspelt-name warnings only. A `--names-from` file that cannot be read is reported and
/// skipped: Compose may have been given another env file, or the host may deny the read.
pub fn check_env(args: &[String]) -> Result<i32, String> {
    let a = parse(
        "check-env",
        args,
        &Accepts {
            values: &["templates", "require", "names-from"],
            switches: &["strict"],
            positional: true,
        },
    )?;
    let require: Vec<String> = a
        .all("require")
        .iter()
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect();
    let schema = schema::Schema::load_all(&templates(&a)).map_err(|p| p.to_string())?;
    let read = |path: &Path| {
        bounded::read_to_string(path, bounded::CONFIG_MAX, bounded::Links::Follow).map(|text| {
            let entries = envfile::parse_lines(&text);
            // The last line of a name wins, as in Compose.
            let lines: BTreeMap<String, usize> =
                entries.iter().map(|(n, k, _)| (k.clone(), *n)).collect();
            let values: BTreeMap<String, String> =
                entries.into_iter().map(|(_, k, v)| (k, v)).collect();
            (lines, values)
        })
    };
    let (source, raw, mut lines) = match a.positional.as_slice() {
        [] => (
            "the environment".to_string(),
            std::env::vars().collect::<BTreeMap<_, _>>(),
            BTreeMap::new(),
        ),
        [file] => {
            let (lines, values) =
                read(Path::new(file)).map_err(|e| format!("cannot read {file}: {e}"))?;
            (file.clone(), values, lines)
        }
        _ => {
            return Err(format!(
                "check-env takes at most one file\n{}",
                usage_of("check-env")
            ))
        }
    };
    // What the compose overlays in use add (jigasi.yml: the SIP account).
    let mut require = require;
    for (name, list) in &raw {
        if name.starts_with(environ::CHECK_REQUIRE_PREFIX) {
            require.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(String::from),
            );
        }
    }
    let (mut env, mut problems) =
        environ::resolve_all(&schema, &raw, &require, environ::Scope::Stack);
    if let Some(path) = a.path("names-from") {
        match read(&path) {
            Ok((names_lines, names)) => {
                for w in environ::unknown_names(&schema, &names, environ::Scope::Stack) {
                    if !env.warnings.contains(&w) {
                        env.warnings.push(w);
                    }
                }
                lines = names_lines;
            }
            Err(e) => log::warn(&format!(
                "cannot read {} ({e}): misspelt names in it are not checked",
                path.display()
            )),
        }
    }
    // Every warning starts with the variable it is about.
    for w in &env.warnings {
        let name = w.split_whitespace().next().unwrap_or("");
        match lines.get(name) {
            Some(n) => log::warn(&format!("line {n}: {w}")),
            None => log::warn(w),
        }
    }
    for p in &mut problems {
        if let Some(n) = lines.get(&p.at) {
            p.at = format!("{} (line {n})", p.at);
        }
    }
    if !problems.is_empty() {
        return Err(Problems {
            what: source,
            list: problems,
        }
        .to_string());
    }
    if a.has("strict") && !env.warnings.is_empty() {
        return Err(format!(
            "{source}: {} warning(s), which --strict treats as errors",
            env.warnings.len()
        ));
    }
    let set = schema
        .vars
        .iter()
        .filter(|v| raw.get(&v.name).is_some_and(|x| !x.is_empty()))
        .count();
    println!(
        "ok: {source}: {set} of {} declared variables set, all valid",
        schema.vars.len()
    );
    Ok(0)
}

pub fn render(args: &[String]) -> Result<i32, String> {
    let a = parse(
        "render",
        args,
        &Accepts {
            values: SPEC_FLAGS,
            switches: &["no-validate"],
            positional: false,
        },
    )?;
    let (img, _plan, rendered) = prepare(&inputs(&a), false, false)?;
    let applied = apply::apply(
        &img.spec,
        &rendered,
        !a.has("no-validate"),
        &img.secret_names(),
    );
    for r in &rendered {
        let what = match (&r.content, applied.changed.contains(&r.index)) {
            _ if applied.failed.contains(&r.index) => "failed",
            (None, true) => "removed",
            (None, false) => "skipped",
            (Some(_), true) => "wrote",
            (Some(_), false) => "unchanged",
        };
        println!("{what:<9} {}", r.dest.display());
    }
    if applied.problems.is_empty() {
        Ok(0)
    } else {
        Err(Problems {
            what: "rendering".into(),
            list: applied.problems,
        }
        .to_string())
    }
}

/// Prints strong secrets, or with `--env-file FILE` fills the empty ones of FILE. Only the
/// flag names a file to write: `JINIT_ENV_FILE` (the running jinit's input) never does.
pub fn gen_secrets(args: &[String]) -> Result<i32, String> {
    let a = parse(
        "gen-secrets",
        args,
        &Accepts {
            values: &["templates", "env-file"],
            switches: &[],
            positional: false,
        },
    )?;
    let schema = schema::Schema::load_all(&templates(&a)).map_err(|p| p.to_string())?;
    let names = secrets::names(&schema);
    match a.path("env-file") {
        Some(path) => {
            let filled = secrets::fill(&path, &names)?;
            if filled.is_empty() {
                println!("{}: every secret is already set", path.display());
            } else {
                println!("{}: generated {}", path.display(), filled.join(", "));
            }
        }
        None => {
            for n in names {
                println!("{n}={}", secrets::generate()?);
            }
        }
    }
    Ok(0)
}

pub fn docs(args: &[String]) -> Result<i32, String> {
    let a: Args = parse(
        "docs",
        args,
        &Accepts {
            values: &["templates"],
            switches: &[],
            positional: true,
        },
    )?;
    let schema = schema::Schema::load_all(&templates(&a)).map_err(|p| p.to_string())?;
    match a.positional.as_slice() {
        [what] if what == "env-example" => print!("{}", docs::env_example(&schema)),
        [what] if what == "reference" => print!("{}", docs::reference(&schema)),
        _ => {
            return Err(format!(
                "docs takes env-example or reference\n{}",
                usage_of("docs")
            ))
        }
    }
    Ok(0)
}
