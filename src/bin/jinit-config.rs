//! `jinit-config`: the configuration half of jinit, in every image beside it. `jinit check`,
//! `check-env`, `render`, `gen-secrets` and `docs` run it, and PID 1 runs `jinit-config plan`
//! at boot and for every re-render (see `jinit::spec::handoff`). A binary of its own so that
//! the spec parser, the schemas and the template engine stay out of PID 1.

use jinit::cli::{config, plan};
use jinit::problem::EXIT_INVALID;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => ("", &args[..]),
    };
    let result = match cmd {
        "plan" => plan::plan(rest),
        "check" => config::check(rest),
        "check-env" => config::check_env(rest),
        "render" => config::render(rest),
        "gen-secrets" => config::gen_secrets(rest),
        "docs" => config::docs(rest),
        other => Err(format!(
            "jinit-config: unknown command {other:?} (it serves plan, check, check-env, render, gen-secrets and docs; see `jinit help`)"
        )),
    };
    let code = match result {
        Ok(code) => code,
        Err(message) => {
            jinit::log::error(&message);
            EXIT_INVALID
        }
    };
    ExitCode::from(code as u8)
}
