//! The commands that talk to a running jinit over its control socket (`status`, `health`,
//! `restart`, `reload`), and `jinit acme`.

use super::{parse, usage_of, Accepts};
use crate::init::client as call;
use crate::init::control::{Request, Response};
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
    let cert: Option<acme::Status> = std::fs::read(acme::status_path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
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
