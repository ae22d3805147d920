//! jinit: PID 1, supervisor and config renderer of the Jitsi Meet images.
//!
//! # Layout
//! - `main`: command line and the two start-up phases (fail fast, then the loop).
//! - `single`: `jinit -- CMD`, the tini-compatible mode.
//! - `spec`, `duration`, `order`: the image spec as data and its dependency graph (pure).
//! - `check`: host checks turning a spec into a plan (commands, users, `if`).
//! - `unit`: one unit's lifecycle as a pure state machine.
//! - `supervise`: the main loop, the only place turning unit actions into syscalls.
//! - `spawn` (only spawner), `reap` (only waitpid(-1) caller), `signals` (signalfd intake).
//! - `leftovers`: the processes left under jinit, found through /proc and signalled at the end.
//! - `probe`: readiness checks. `control`: the control socket and its client commands.
//! - `schema`, `environ`: the variable schemas and the environment parsed by type.
//! - `image`: spec + schemas + environment + templates, loaded and checked as one.
//! - `render` (templates to files), `atomic` (the only file replacer), `watch` (inotify).
//! - `docs` (env.example, README reference), `secrets` (`jinit gen-secrets`).
//! - `users`: /etc/passwd and /etc/group lookups. `log`: jinit's own log lines.
//! - `fuzz` (tests only): property tests of the spec, environment and render paths.

mod acme;
mod bounded;
mod config;
mod duration;
#[cfg(test)]
mod fuzz;
mod init;
mod log;
mod spec;
mod sys;

use config::{docs, environ, image, render, schema, secrets};
use init::{control, single, supervise, watch};
use spec::plan as check;
use sys::signals;

use serde::Deserialize;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code for a spec, environment or template that cannot be used.
const EXIT_INVALID: u8 = 2;

const USAGE: &str = "\
usage:
  jinit [--spec PATH]              run the image spec (default $JINIT_SPEC or /etc/jinit/jinit.toml)
  jinit -- CMD [ARGS...]           run one command as PID 1 (tini-compatible)
  jinit check [--spec PATH]        validate the spec and environment, start nothing
  jinit check-env [FILE] [--templates DIR] [--require NAME,...] [--names-from FILE] [--strict]
                                   check a whole .env (or this environment) against every
                                   schema: values, secrets, renamed names, typos
  jinit status [--json]            show every unit of the running jinit
  jinit health                     exit 0 only when every enabled service is ready
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
(overrides the container environment, watched), JINIT_SOCKET (default /run/jinit/jinit.sock)
";

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

/// Orphans of our descendants are re-parented to us (not to the host's init) when we are not
/// PID 1, so we can reap them and signal them at shutdown.
pub fn become_subreaper() {
    if std::process::id() != 1 {
        // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only sets a flag on the calling process.
        unsafe {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    ExitCode::from(dispatch(&args) as u8)
}

fn dispatch(args: &[String]) -> i32 {
    if let Some(pos) = args.iter().position(|a| a == "--") {
        if pos == 0 {
            if args.len() == 1 {
                eprintln!("jinit: nothing to run after --\n{USAGE}");
                return EXIT_INVALID as i32;
            }
            return single::run(&args[1..]);
        }
    }
    let (cmd, rest) = match args.first().map(String::as_str) {
        Some(c) if !c.starts_with('-') => (c, &args[1..]),
        _ => ("run", args),
    };
    let result = match cmd {
        "run" => run(rest),
        "check" => check(rest),
        "check-env" => check_env(rest),
        "status" => status(rest),
        "health" => health(rest),
        "restart" => restart(rest),
        "reload" => reload(rest),
        "render" => render_cmd(rest),
        "gen-secrets" => gen_secrets(rest),
        "docs" => docs_cmd(rest),
        "acme" => acme_cmd(rest),
        "help" => {
            print!("{USAGE}");
            Ok(0)
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprint!("jinit: {message}");
            if !message.ends_with('\n') {
                eprintln!();
            }
            EXIT_INVALID as i32
        }
    }
}

/// Options shared by the spec-reading commands.
struct SpecArgs {
    spec: PathBuf,
    templates: PathBuf,
    env_file: Option<PathBuf>,
    root: Option<PathBuf>,
    json: bool,
    no_validate: bool,
    strict: bool,
    require: Vec<String>,
    names_from: Option<PathBuf>,
    positional: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<SpecArgs, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut spec = None;
    let mut templates = None;
    let mut env_file = None;
    let mut root = None;
    let mut json = false;
    let mut no_validate = false;
    let mut strict = false;
    let mut require = Vec::new();
    let mut names_from = None;
    let mut positional = Vec::new();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            lexopt::Arg::Long("spec") => {
                spec = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?))
            }
            lexopt::Arg::Long("templates") => {
                templates = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?))
            }
            lexopt::Arg::Long("env-file") => {
                env_file = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?))
            }
            lexopt::Arg::Long("root") => {
                root = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?))
            }
            lexopt::Arg::Long("json") => json = true,
            lexopt::Arg::Long("no-validate") => no_validate = true,
            lexopt::Arg::Long("strict") => strict = true,
            lexopt::Arg::Long("names-from") => {
                names_from = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?))
            }
            lexopt::Arg::Long("require") => {
                let list = parser.value().map_err(|e| e.to_string())?;
                require.extend(
                    list.to_string_lossy()
                        .split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(String::from),
                );
            }
            lexopt::Arg::Long("help") | lexopt::Arg::Short('h') => {
                return Err(USAGE.to_string());
            }
            lexopt::Arg::Value(v) => positional.push(v.to_string_lossy().into_owned()),
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }
    let s = settings();
    Ok(SpecArgs {
        spec: spec
            .or(s.spec)
            .unwrap_or_else(|| PathBuf::from("/etc/jinit/jinit.toml")),
        templates: templates
            .or(s.templates)
            .unwrap_or_else(|| PathBuf::from(render::DEFAULT_TEMPLATES)),
        env_file: env_file.or(s.env_file),
        root,
        json,
        no_validate,
        strict,
        require,
        names_from,
        positional,
    })
}

/// Phase one: everything that can be wrong with the spec, the environment, the templates or
/// the host, reported at once. Prints the environment's warnings.
fn prepare(a: &SpecArgs) -> Result<(image::Image, check::Plan, Vec<render::Rendered>), String> {
    prepare_with(a, true)
}

/// `host`: also check the units against this machine (commands, users). `jinit render` does
/// not, so an image's config renders on a machine without its programs.
fn prepare_with(
    a: &SpecArgs,
    host: bool,
) -> Result<(image::Image, check::Plan, Vec<render::Rendered>), String> {
    let (img, mut problems) = image::Image::load(&image::Paths {
        spec: &a.spec,
        templates: &a.templates,
        env_file: a.env_file.as_deref(),
        root: a.root.as_deref(),
    })
    .map_err(|p| p.to_string())?;
    for w in &img.env.warnings {
        log::warn(w);
    }
    let plan = if host {
        img.plan().map_err(|p| problems.extend(p))
    } else {
        Ok(check::Plan { units: Vec::new() })
    };
    // Rendering with a broken environment would only repeat its problems as template errors.
    let rendered = if problems.is_empty() {
        img.render().map_err(|p| problems.extend(p))
    } else {
        Err(())
    };
    match (plan, rendered) {
        (Ok(plan), Ok(rendered)) if problems.is_empty() => Ok((img, plan, rendered)),
        _ => Err(spec::Problems {
            what: format!("the configuration of {}", a.spec.display()),
            list: problems,
        }
        .to_string()),
    }
}

fn check(args: &[String]) -> Result<i32, String> {
    let a = parse_args(args)?;
    let (img, plan, rendered) = prepare(&a)?;
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
fn check_env(args: &[String]) -> Result<i32, String> {
    use std::collections::BTreeMap;
    let a = parse_args(args)?;
    let schema = schema::Schema::load_all(&a.templates).map_err(|p| p.to_string())?;
    let read = |path: &std::path::Path| {
        bounded::read_to_string(path, bounded::CONFIG_MAX, bounded::Links::Follow).map(|text| {
            let entries = environ::parse_env_file_lines(&text);
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
                read(std::path::Path::new(file)).map_err(|e| format!("cannot read {file}: {e}"))?;
            (file.clone(), values, lines)
        }
        _ => return Err(format!("check-env takes at most one file\n{USAGE}")),
    };
    let (mut env, mut problems) =
        environ::resolve_all(&schema, &raw, &a.require, environ::Scope::Stack);
    if let Some(path) = &a.names_from {
        match read(path) {
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
        return Err(spec::Problems {
            what: source,
            list: problems,
        }
        .to_string());
    }
    if a.strict && !env.warnings.is_empty() {
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

fn render_cmd(args: &[String]) -> Result<i32, String> {
    let a = parse_args(args)?;
    let (img, _plan, rendered) = prepare_with(&a, false)?;
    let applied = render::apply(&img.spec, &rendered, !a.no_validate);
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
        Err(spec::Problems {
            what: "rendering".into(),
            list: applied.problems,
        }
        .to_string())
    }
}

fn gen_secrets(args: &[String]) -> Result<i32, String> {
    let a = parse_args(args)?;
    let schema = schema::Schema::load_all(&a.templates).map_err(|p| p.to_string())?;
    let names = secrets::names(&schema);
    match &a.env_file {
        Some(path) => {
            let filled = secrets::fill(path, &names)?;
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

fn docs_cmd(args: &[String]) -> Result<i32, String> {
    let a = parse_args(args)?;
    let schema = schema::Schema::load_all(&a.templates).map_err(|p| p.to_string())?;
    match a.positional.first().map(String::as_str) {
        Some("env-example") => print!("{}", docs::env_example(&schema)),
        Some("reference") => print!("{}", docs::reference(&schema)),
        _ => return Err(format!("docs takes env-example or reference\n{USAGE}")),
    }
    Ok(0)
}

fn run(args: &[String]) -> Result<i32, String> {
    let a = parse_args(args)?;
    if !a.positional.is_empty() {
        return Err(format!(
            "unexpected argument {:?}\n{USAGE}",
            a.positional[0]
        ));
    }
    // Before rendering anything: a second `jinit` (`docker exec CONTAINER jinit`) must not
    // touch the running one's files, units or socket.
    let socket = control::socket_path();
    control::check_free(&socket).map_err(|e| e.to_string())?;
    become_subreaper();
    // Before any thread exists, so every thread inherits the mask (see `signals`).
    let set = signals::block_all().map_err(|e| format!("cannot block signals: {e}"))?;
    let (img, plan, rendered) = prepare(&a)?;
    let applied = render::apply(&img.spec, &rendered, true);
    if !applied.problems.is_empty() {
        return Err(spec::Problems {
            what: "rendering".into(),
            list: applied.problems,
        }
        .to_string());
    }
    let written = applied.changed.len();
    if !rendered.is_empty() {
        log::info(&format!(
            "rendered {} files ({written} changed)",
            rendered.len()
        ));
    }
    let inputs = img.inputs();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the event loop: {e}"))?;
    runtime.block_on(async move {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let sfd =
            signals::signalfd(&set, true).map_err(|e| format!("cannot create a signalfd: {e}"))?;
        // SAFETY: the AsyncFd owns the SignalFd, whose descriptor stays open and unchanged
        // until both are dropped together.
        let sfd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(sfd, tokio::io::Interest::READABLE)
        }
        .map_err(|e| format!("cannot watch the signalfd: {e}"))?;
        let listener = control::bind(&socket).map_err(|e| match e {
            control::BindError::Served { .. } => e.to_string(),
            control::BindError::Io(e) => format!(
                "cannot create the control socket {}: {e} (set JINIT_SOCKET to a writable path)",
                socket.display()
            ),
        })?;
        let restore_socket = std::sync::Arc::new(tokio::sync::Notify::new());
        let server = tokio::spawn(control::serve(listener, tx.clone(), restore_socket.clone()));
        tokio::spawn(read_signals(sfd, tx.clone(), restore_socket));
        if !inputs.is_empty() {
            match watch::Watcher::new(inputs) {
                Ok(w) => {
                    tokio::spawn(w.run(tx.clone()));
                }
                // Without inotify the config is still rendered at every boot and on `jinit reload`.
                Err(e) => log::warn(&format!("cannot watch config inputs: {e}")),
            }
        }
        let sup = supervise::Supervisor::new(plan, img, tx);
        let code = sup.run(rx).await;
        // Dropping the server removes the socket, if it is still the one we bound.
        server.abort();
        let _ = server.await;
        log::info(&format!("exiting with code {code}"));
        Ok(code)
    })
}

/// Hands every signal to the supervisor; SIGHUP also brings a deleted control socket back.
async fn read_signals(
    fd: tokio::io::unix::AsyncFd<nix::sys::signalfd::SignalFd>,
    tx: tokio::sync::mpsc::UnboundedSender<supervise::Event>,
    restore_socket: std::sync::Arc<tokio::sync::Notify>,
) {
    loop {
        let Ok(mut guard) = fd.readable().await else {
            continue;
        };
        loop {
            match fd.get_ref().read_signal() {
                Ok(Some(info)) => {
                    if let Ok(sig) = nix::sys::signal::Signal::try_from(info.ssi_signo as i32) {
                        if sig == nix::sys::signal::Signal::SIGHUP {
                            restore_socket.notify_one();
                        }
                        let _ = tx.send(supervise::Event::Signal(sig));
                    }
                }
                Ok(None) => {
                    guard.clear_ready();
                    break;
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    log::warn(&format!("reading signals failed: {e}"));
                    guard.clear_ready();
                    break;
                }
            }
        }
    }
}

fn status(args: &[String]) -> Result<i32, String> {
    let a = parse_args(args)?;
    let resp = control::call(&control::Request::Status)?;
    // `jinit acme` leaves its state beside the socket; secrets never appear in either.
    let cert: Option<acme::Status> = std::fs::read(acme::status_path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if a.json {
        let out = serde_json::json!({ "units": resp.units, "certificate": cert });
        println!("{out}");
    } else {
        print!("{}", control::table(&resp.units));
        if let Some(c) = cert {
            let t = |s: Option<u64>| {
                s.map(|s| {
                    acme::show_time(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s))
                })
                .unwrap_or_else(|| "-".into())
            };
            println!(
                "\ncertificate {}: expires {}, renewal from {}, next check {}",
                c.domain,
                t(c.not_after),
                t(c.renew_at),
                t(c.next_check)
            );
            if let Some(e) = c.last_error {
                println!("last error: {e}");
            }
        }
    }
    Ok(0)
}

fn acme_cmd(args: &[String]) -> Result<i32, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut opts = acme::Options {
        storage: PathBuf::from(acme::DEFAULT_STORAGE),
        webroot: PathBuf::from(acme::DEFAULT_WEBROOT),
        once: false,
        retry_min: std::time::Duration::from_secs(120),
        check_max: std::time::Duration::from_secs(12 * 3600),
    };
    let text = |p: &mut lexopt::Parser| -> Result<String, String> {
        p.value()
            .map_err(|e| e.to_string())?
            .into_string()
            .map_err(|_| "not UTF-8".to_string())
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            lexopt::Arg::Long("storage") => opts.storage = PathBuf::from(text(&mut parser)?),
            lexopt::Arg::Long("webroot") => opts.webroot = PathBuf::from(text(&mut parser)?),
            lexopt::Arg::Long("once") => opts.once = true,
            lexopt::Arg::Long("retry-min") => {
                opts.retry_min = duration::parse(&text(&mut parser)?)?
            }
            lexopt::Arg::Long("check-interval") => {
                opts.check_max = duration::parse(&text(&mut parser)?)?
            }
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }
    Ok(acme::run(opts))
}

fn health(_args: &[String]) -> Result<i32, String> {
    match control::call(&control::Request::Health) {
        Ok(resp) => {
            println!("{}", resp.message);
            Ok(if resp.ok { 0 } else { 1 })
        }
        Err(e) => {
            eprintln!("jinit: {e}");
            Ok(1)
        }
    }
}

fn restart(args: &[String]) -> Result<i32, String> {
    let a = parse_args(args)?;
    let [unit] = a.positional.as_slice() else {
        return Err(format!("restart takes one unit name\n{USAGE}"));
    };
    answer(control::call(&control::Request::Restart {
        unit: unit.clone(),
    })?)
}

fn reload(args: &[String]) -> Result<i32, String> {
    let a = parse_args(args)?;
    if a.positional.len() > 1 {
        return Err(format!("reload takes at most one unit name\n{USAGE}"));
    }
    let unit = a.positional.first().cloned();
    answer(control::call(&control::Request::Reload { unit })?)
}

fn answer(resp: control::Response) -> Result<i32, String> {
    if resp.ok {
        println!("{}", resp.message);
        Ok(0)
    } else {
        eprintln!("jinit: {}", resp.message);
        Ok(1)
    }
}
