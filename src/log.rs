//! jinit's own log lines on stderr, one format everywhere: `jinit: <unit>: <from> -> <to> (<detail>)`.
//!
//! Services write to the container's stdout/stderr directly; jinit never touches their output.

use std::io::Write;

pub fn transition(unit: &str, from: &str, to: &str, detail: &str) {
    if detail.is_empty() {
        line(&format!("{unit}: {from} -> {to}"));
    } else {
        line(&format!("{unit}: {from} -> {to} ({detail})"));
    }
}

pub fn info(message: &str) {
    line(message);
}

pub fn warn(message: &str) {
    line(&format!("warning: {message}"));
}

fn line(message: &str) {
    // One write per line so lines of concurrent writers do not interleave mid-line.
    let text = format!("jinit: {message}\n");
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
