//! jinit: PID 1, supervisor and config renderer of the Jitsi Meet images, as a library for
//! its three binaries: `jinit` (src/main.rs, every image's PID 1: the supervisor),
//! `jinit-config` (src/bin/jinit-config.rs, in every image: spec, schemas, environment and
//! templates, run by PID 1 at boot and for every re-render) and `jinit-acme`
//! (src/bin/jinit-acme.rs, the Let's Encrypt client, only in the web image: the TLS stack and
//! the ACME code are linked into it alone).
//!
//! # Layout (README.md, "Architecture", has the data flow)
//! - `cli`: the command line; each command parses only its own flags.
//! - `init`: PID 1 and supervision (the loop, units, probes, control socket, watcher, `--`).
//! - `config`: configuration from the environment (schemas, types, environment, templates).
//! - `spec`: the image spec as data, its dependency graph and the plan for this host.
//! - `acme`: `jinit acme`, the Let's Encrypt client (its own process, never PID 1).
//! - `sys`: thin wrappers around the operating system (spawn, reap, signals, files, users).
//! - `problem`, `sink`, `log`, `duration`, `bounded`: the vocabulary shared by all of them.
//! - `fuzz` (tests only): property tests of the spec, environment and render paths.

pub mod acme;
pub mod bounded;
pub mod cli;
pub mod config;
pub mod duration;
#[cfg(test)]
mod fuzz;
pub mod init;
pub mod log;
pub mod problem;
pub mod sink;
pub mod spec;
pub mod sys;
