//! The commands that talk to a running jinit over its control socket (`status`, `health`,
//! `metrics`, `restart`, `reload`), and `jinit acme` (run by the `jinit-acme` binary).

use super::{parse, usage_of, Accepts};
use crate::init::client as call;
use crate::init::control::{Request, Response};
use crate::spec::handoff;
use crate::{acme, duration};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

const NOTHING: Accepts = Accepts {
    values: &[],
    switches: &[],
    positional: false,
};

const UNITS: Accepts = Accepts {
    values: &[],
    switches: &[],
    positional: true,
};

pub fn status(args: &[String]) -> Result<i32, String> {
    let a = parse(
        "status",
        args,
        &Accepts {
            values: &[],
            switches: &["json"],
            positional: false,
        },
    )?;
    let resp = call::call(&Request::Status)?;
    // `jinit acme` leaves its state beside the socket; secrets never appear in either.
    let cert = acme::read_status();
    if a.has("json") {
        let out = serde_json::json!({ "units": resp.units, "certificate": cert });
        println!("{out}");
        return Ok(0);
    }
    print!("{}", call::table(&resp.units));
    if let Some(c) = cert {
        let t = |s: Option<u64>| {
            s.map(|s| acme::show_time(UNIX_EPOCH + Duration::from_secs(s)))
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
    Ok(0)
}

pub fn health(args: &[String]) -> Result<i32, String> {
    parse("health", args, &NOTHING)?;
    match call::call(&Request::Health) {
        Ok(resp) if resp.ok && !resp.checks.is_empty() => {
            let failed = crate::init::probe::health_checks(&resp.checks);
            if failed.is_empty() {
                println!("{}", resp.message);
                Ok(0)
            } else {
                println!("not healthy: {}", failed.join("; "));
                Ok(1)
            }
        }
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

/// `jinit metrics`: what the metrics port serves, on stdout (no port needed).
pub fn metrics(args: &[String]) -> Result<i32, String> {
    parse("metrics", args, &NOTHING)?;
    let resp = call::call(&Request::Metrics)?;
    if !resp.ok {
        eprintln!("jinit: {}", resp.message);
        return Ok(1);
    }
    use std::io::Write;
    // A reader that stops early (`| head`) is no error of ours.
    let _ = std::io::stdout().lock().write_all(resp.message.as_bytes());
    Ok(0)
}

pub fn restart(args: &[String]) -> Result<i32, String> {
    let a = parse("restart", args, &UNITS)?;
    let [unit] = a.positional.as_slice() else {
        return Err(format!(
            "restart takes one unit name\n{}",
            usage_of("restart")
        ));
    };
    answer(call::call(&Request::Restart { unit: unit.clone() })?)
}

pub fn reload(args: &[String]) -> Result<i32, String> {
    let a = parse("reload", args, &UNITS)?;
    if a.positional.len() > 1 {
        return Err(format!(
            "reload takes at most one unit name\n{}",
            usage_of("reload")
        ));
    }
    let unit = a.positional.first().cloned();
    answer(call::call(&Request::Reload { unit })?)
}

fn answer(resp: Response) -> Result<i32, String> {
    if resp.ok {
        println!("{}", resp.message);
        Ok(0)
    } else {
        eprintln!("jinit: {}", resp.message);
        Ok(1)
    }
}

/// The Let's Encrypt client's binary, shipped beside jinit in the web image only.
pub const ACME_BINARY: &str = "jinit-acme";

/// `jinit acme ARGS`: replaces this process with `jinit-acme ARGS` (found beside this binary,
/// else on PATH), so the unit running it supervises the client itself. PID 1 of the images
/// without Let's Encrypt carries no TLS stack.
pub fn exec_acme(args: &[String]) -> Result<i32, String> {
    let e = exec_beside(ACME_BINARY, args);
    Err(format!(
        "cannot run {ACME_BINARY}: {e} (the Let's Encrypt client ships in the web image only)"
    ))
}

/// `jinit check|check-env|render|gen-secrets|docs ARGS` (the command first in `args`):
/// replaced by `jinit-config` with the same arguments, which carries the configuration code.
pub fn exec_config(args: &[String]) -> Result<i32, String> {
    let e = exec_beside(handoff::CONFIG_BINARY, args);
    Err(format!(
        "cannot run {}: {e} (it ships beside jinit in every image)",
        handoff::CONFIG_BINARY
    ))
}

/// Replaces this process with `name` found beside this binary, else on PATH; returns only
/// when that fails.
fn exec_beside(name: &str, args: &[String]) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    std::process::Command::new(beside(name)).args(args).exec()
}

/// The path of jinit's companion binary `name`: beside this one, else found on PATH.
pub fn beside(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(name)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// `jinit-acme [--storage DIR] [--webroot DIR] [--once] [--retry-min DUR] [--check-interval DUR]`.
pub fn acme(args: &[String]) -> Result<i32, String> {
    let a = parse(
        "acme",
        args,
        &Accepts {
            values: &["storage", "webroot", "retry-min", "check-interval"],
            switches: &["once"],
            positional: false,
        },
    )?;
    let mut opts = acme::Options {
        storage: a
            .path("storage")
            .unwrap_or_else(|| PathBuf::from(acme::DEFAULT_STORAGE)),
        webroot: a
            .path("webroot")
            .unwrap_or_else(|| PathBuf::from(acme::DEFAULT_WEBROOT)),
        once: a.has("once"),
        retry_min: Duration::from_secs(120),
        check_max: Duration::from_secs(12 * 3600),
    };
    if let Some(d) = a.value("retry-min") {
        opts.retry_min = duration::parse(d)?;
    }
    if let Some(d) = a.value("check-interval") {
        opts.check_max = duration::parse(d)?;
    }
    Ok(acme::run(opts))
}
