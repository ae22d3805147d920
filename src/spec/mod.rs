//! The image spec: plain data parsed from `jinit.toml`, with every problem collected at once.
//!
//! Owns the vocabulary (`[jinit]`, `[service.NAME]`, `[oneshot.NAME]`, `[[render]]`) and the
//! checks that need nothing but the file itself: unknown keys, types, durations, signal names,
//! unknown units in `after` and dependency cycles. Checks that look at the machine (commands on
//! PATH, users, the environment) live in `plan`. Never does I/O beyond reading the file.
//!
//! - `types`: the spec as data. `parse`: the file to `Spec`. `fields`: typed reads of one
//!   table's keys. `order`: the dependency graph (cycles, dependents).
//! - `plan`: host checks turning a spec into a plan (commands, users, `if`, `{{ }}`).
//! - `handoff`: the plan and what a render wrote, as `jinit-config` hands them to PID 1.

pub mod fields;
pub mod handoff;
pub mod order;
pub mod parse;
pub mod plan;
pub mod types;

pub use types::*;
