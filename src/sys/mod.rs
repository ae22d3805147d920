//! The operating system seen by PID 1: processes, signals, files and accounts. Everything
//! here is a thin, checked wrapper around syscalls; nothing decides policy.
//! - `spawn`: the only place that forks and execs. `reap`: the only waitpid(-1) caller, and
//!   the subreaper flag. `signals`: blocking, signalfd intake and the async reader.
//! - `leftovers`: the processes left under jinit, found through /proc.
//! - `atomic`: the only file replacer (write, fsync, rename). `users`: /etc/passwd and /etc/group.
//! - `writable`: the boot check of the volumes an image writes to.

pub mod atomic;
pub mod leftovers;
pub mod memory;
pub mod reap;
pub mod signals;
pub mod spawn;
pub mod users;
pub mod writable;
