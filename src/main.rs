//! `jinit`: every image's PID 1. Dispatches to a command of the `jinit` library (its
//! layout is in src/lib.rs and README.md, "Architecture"); `jinit acme` runs `jinit-acme`.
//!
//! C's `main` is jinit's entry, not Rust's runtime start: that one finds the main thread's
//! stack by parsing /proc/self/maps (glibc's pthread_getattr_np, about 40 % of the
//! instructions `jinit -- true` runs) to install a stack-overflow handler that only prints a
//! message, and ignores SIGPIPE, which jinit would then have to undo for every child. Without
//! it a stack overflow is a plain SIGSEGV, SIGPIPE keeps the disposition jinit inherited, and
//! stdout is flushed here before returning.

// Under `cargo test --all-targets` this binary is an empty test crate (its tests are the lib's):
// a C `main` would replace the test harness's.
#![cfg(not(test))]
#![no_main]

use jinit::cli::{client, run, USAGE};
use jinit::problem::EXIT_INVALID;
use std::io::Write;

#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    // std reads the arguments itself on glibc (from its .init_array hook).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = dispatch(&args);
    let _ = std::io::stdout().flush();
    code & 0xff
}

fn dispatch(args: &[String]) -> i32 {
    if args.first().map(String::as_str) == Some("--") {
        if args.len() == 1 {
            eprintln!("jinit: nothing to run after --\n{USAGE}");
            return EXIT_INVALID;
        }
        return jinit::init::single::run(&args[1..]);
    }
    let (cmd, rest) = match args.first().map(String::as_str) {
        Some(c) if !c.starts_with('-') => (c, &args[1..]),
        _ => ("run", args),
    };
    let result = match cmd {
        "run" => run::run(rest),
        "check" | "check-env" | "render" | "gen-secrets" | "docs" => client::exec_config(args),
        "status" => client::status(rest),
        "health" => client::health(rest),
        "metrics" => client::metrics(rest),
        "restart" => client::restart(rest),
        "reload" => client::reload(rest),
        "acme" => client::exec_acme(rest),
        "help" => {
            print!("{USAGE}");
            Ok(0)
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            jinit::log::error(&message);
            EXIT_INVALID
        }
    }
}
