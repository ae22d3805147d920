//! PID 1 and supervision.
//! - `unit`: one unit's lifecycle as a pure state machine.
//! - `supervise`: the main loop, the only place turning unit actions into syscalls.
//! - `probe`: readiness checks. `control`: the control socket and its client commands.
//! - `watch`: inotify on the config inputs. `single`: `jinit -- CMD`, the tini-compatible mode.

pub mod control;
pub mod probe;
pub mod single;
pub mod supervise;
pub mod unit;
pub mod watch;
