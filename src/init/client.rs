//! The client side of the control socket: one request to the running jinit, bounded in time
//! and answer size, and the table `jinit status` prints.

use crate::init::control::{connect, socket_path, Request, Response, UnitStatus};
use crate::init::control::{CALL_TIMEOUT, MAX_ANSWER};
use std::io::{self, Read, Write};

/// Sends one request to the running jinit, bounded in time and answer size.
pub fn call(request: &Request) -> Result<Response, String> {
    let path = socket_path();
    let mut stream = connect(&path, CALL_TIMEOUT).map_err(|e| {
        format!(
            "cannot reach jinit at {}: {e} (is jinit running in spec mode? JINIT_SOCKET sets the path)",
            path.display()
        )
    })?;
    let failed = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!(
            "jinit at {} did not answer within {}",
            path.display(),
            crate::duration::show(CALL_TIMEOUT)
        ),
        _ => format!("talking to jinit at {}: {e}", path.display()),
    };
    let mut line = serde_json::to_string(request).map_err(|e| e.to_string())?;
    line.push('\n');
    stream
        .set_read_timeout(Some(CALL_TIMEOUT))
        .map_err(failed)?;
    stream.write_all(line.as_bytes()).map_err(failed)?;
    let mut text = Vec::new();
    (&mut stream)
        .take(MAX_ANSWER + 1)
        .read_to_end(&mut text)
        .map_err(failed)?;
    if text.len() as u64 > MAX_ANSWER {
        return Err(format!(
            "the answer of jinit at {} is longer than {MAX_ANSWER} bytes",
            path.display()
        ));
    }
    serde_json::from_slice(&text).map_err(|e| format!("bad answer from jinit: {e}"))
}

/// The human table of `jinit status`.
pub fn table(units: &[UnitStatus]) -> String {
    let mut out = format!(
        "{:<20} {:<8} {:<9} {:>7} {:>9} {:>8}  {}\n",
        "UNIT", "KIND", "STATE", "PID", "UPTIME", "RESTARTS", "DETAIL"
    );
    for u in units {
        let pid = u.pid.map_or("-".to_string(), |p| p.to_string());
        let up = u.uptime_secs.map_or("-".to_string(), |s| {
            crate::duration::show(std::time::Duration::from_secs_f64(s))
        });
        out.push_str(&format!(
            "{:<20} {:<8} {:<9} {:>7} {:>9} {:>8}  {}\n",
            u.name,
            u.kind,
            u.state,
            pid,
            up,
            u.restarts,
            u.detail.as_deref().unwrap_or("")
        ));
    }
    out
}
