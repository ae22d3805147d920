//! jinit: PID 1, supervisor and config renderer of the Jitsi Meet images.
//!
//! # Layout (README.md, "Architecture", has the data flow)
//! - `cli`: the command line; each command parses only its own flags.
//! - `init`: PID 1 and supervision (the loop, units, probes, control socket, watcher, `--`).
//! - `config`: configuration from the environment (schemas, types, environment, templates).
//! - `spec`: the image spec as data, its dependency graph and the plan for this host.
//! - `acme`: `jinit acme`, the Let's Encrypt client (its own process, never PID 1).
//! - `sys`: thin wrappers around the operating system (spawn, reap, signals, files, users).
//! - `problem`, `sink`, `log`, `duration`, `bounded`: the vocabulary shared by all of them.
//! - `fuzz` (tests only): property tests of the spec, environment and render paths.

mod acme;
mod bounded;
mod cli;
mod config;
mod duration;
#[cfg(test)]
mod fuzz;
mod init;
mod log;
mod problem;
mod sink;
mod spec;
mod sys;

use cli::{client, config as configure, run, USAGE};
use problem::EXIT_INVALID;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    ExitCode::from(dispatch(&args) as u8)
}

fn dispatch(args: &[String]) -> i32 {
    if args.first().map(String::as_str) == Some("--") {
        if args.len() == 1 {
            eprintln!("jinit: nothing to run after --\n{USAGE}");
            return EXIT_INVALID;
        }
        return init::single::run(&args[1..]);
    }
    let (cmd, rest) = match args.first().map(String::as_str) {
        Some(c) if !c.starts_with('-') => (c, &args[1..]),
        _ => ("run", args),
    };
    let result = match cmd {
        "run" => run::run(rest),
        "check" => configure::check(rest),
        "check-env" => configure::check_env(rest),
        "render" => configure::render(rest),
        "gen-secrets" => configure::gen_secrets(rest),
        "docs" => configure::docs(rest),
        "status" => client::status(rest),
        "health" => client::health(rest),
        "restart" => client::restart(rest),
        "reload" => client::reload(rest),
        "acme" => client::acme(rest),
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
            EXIT_INVALID
        }
    }
}
