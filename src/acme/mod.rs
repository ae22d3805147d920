//! `jinit acme`: obtains and renews the web image's certificate from an ACME CA (HTTP-01).
//!
//! Runs as its own supervised process (not in PID 1, so the TLS stack never sits in init's
//! memory). Challenge files go to a webroot that the running nginx serves; the key and chain
//! are swapped atomically in the storage volume and jinit is asked to reload nginx. A valid
//! certificate is never re-issued; failures keep the old certificate and back off, honouring
//! the CA's Retry-After. A lock in the storage directory serialises containers sharing it.
//!
//! Never waits on the CA without a bound, since the lock is held meanwhile and every container
//! sharing the volume would wait too: a connection must be up within 10 s, a whole answer
//! (headers and body) must arrive within 30 s (`JINIT_ACME_TIMEOUT`, a duration, replaces the
//! 30 s, and the 10 s when shorter, for tests), an answer body above 1 MiB is refused (ACME
//! answers are a few KiB), and polling an order stops after 2 minutes. A Retry-After is obeyed only up to the longest time
//! between two checks (`--check-interval`, 12 h by default) and never past the point a sixth of
//! the current certificate's lifetime before it expires; what the CA asked for is then logged.
//!
//! - `renew`: the loop (one round, then sleep until due or retry with backoff).
//! - `order`: one round against the CA. `http`: the bounded HTTP client for the CA.
//! - `config`: the variables, read through the web image's schema. `store`: key and chain,
//!   status file. `cert`: what a certificate says (expiry, renewal window). `types`: shared.

pub mod cert;
mod config;
mod http;
mod order;
mod renew;
mod store;
mod types;

pub use renew::run;
pub use types::{
    read_status, show_time, status_path, Options, Status, DEFAULT_STORAGE, DEFAULT_WEBROOT,
};
