//! PID 1 and supervision.
//! - `unit`: one unit's lifecycle as a pure state machine.
//! - `supervise`: the main loop, one slot per unit, the only place turning unit actions into
//!   calls to the operating system, which `os` puts behind a trait (faked in `tests`).
//! - `reload`: re-rendering, validations, re-planning. `requests`: answers to control requests.
//! - `probe`: readiness checks. `control`: the control socket and its client commands.
//! - `watch`: inotify on the config inputs. `single`: `jinit -- CMD`, the tini-compatible mode.

pub mod control;
pub mod os;
pub mod probe;
mod reload;
mod requests;
pub mod single;
pub mod supervise;
#[cfg(test)]
mod tests;
pub mod unit;
pub mod watch;
