//! PID 1 and supervision.
//! - `unit`: one unit's lifecycle as a pure state machine.
//! - `supervise`: the main loop: events and deadlines in, the container's phase and exit code
//!   out. `event`: what the loop receives.
//! - `slots`: one slot per unit and the processes they own; the only place turning unit
//!   actions into calls to the operating system, which `os` puts behind a trait (faked in
//!   `tests`). `commands`: status, health, restart, reload and re-planning of the units.
//! - `helpers`: jinit's own short commands (exec probes, validations, drains).
//! - `reload`: re-rendering while running (debounce, queued re-renders, validations).
//! - `probe`: readiness checks. `metrics`: the Prometheus text; `scrape`: its HTTP port.
//!   `control`: the control socket (the server side, in PID 1); `accept`: their accept backoff;
//!   `client`: its client side (`jinit status` and the other client commands, `jinit acme`).
//! - `watch`: inotify on the config inputs. `single`: `jinit -- CMD`, the tini-compatible mode.

mod accept;
pub mod claim;
pub mod client;
mod commands;
pub mod control;
pub mod event;
mod helpers;
pub mod metrics;
pub mod os;
pub mod probe;
mod reload;
pub mod scrape;
pub mod single;
mod slots;
pub mod supervise;
#[cfg(test)]
mod tests;
pub mod unit;
pub mod watch;
