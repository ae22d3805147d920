//! Deadline-bounded waits: every wait polls a condition every 10 ms and fails the test, naming
//! what it waited for, when the deadline passes.
//!
//! Never: sleep a fixed time to wait for an event.

use std::thread;
use std::time::{Duration, Instant};

use super::millis;

/// Polls `cond` every 10 ms until it holds; panics naming `what` after `within`.
pub fn wait_for(what: &str, within: Duration, cond: impl FnMut() -> bool) {
    if !poll(within, cond) {
        panic!("timed out after {within:?} waiting for {what}");
    }
}

/// Like [`wait_for`], and the panic shows `context()` too (a log that explains the wait).
pub fn wait_for_showing(
    what: &str,
    within: Duration,
    cond: impl FnMut() -> bool,
    context: impl FnOnce() -> String,
) {
    if !poll(within, cond) {
        panic!(
            "timed out after {within:?} waiting for {what}; context:\n{}",
            context()
        );
    }
}

/// Polls `cond` every 10 ms until it holds (true) or `within` has passed (false).
fn poll(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(millis(10));
    }
}

/// Checks that `cond` stays false for the whole window: the only way to observe that something
/// does *not* happen (e.g. a dependent that must not start yet).
pub fn assert_stays_false(what: &str, window: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + window;
    while Instant::now() < deadline {
        assert!(!cond(), "{what} happened, but must not have");
        thread::sleep(millis(10));
    }
}
