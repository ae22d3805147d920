//! Signal intake: blocks every catchable signal and reads them from a signalfd.
//!
//! Blocking happens first thing in main, before any thread exists, so every thread inherits
//! the mask and no signal is ever delivered to a handler: they queue on the signalfd and the
//! main loop reads them like any other event. Children get their mask reset in `spawn`.
//! jinit never sets a disposition (no handler, no SIG_IGN): `spawn` relies on that to tell
//! which ignored signals jinit inherited.

use crate::sink::Sink;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::sync::Arc;
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

/// Every signal (KILL and STOP cannot be blocked; the kernel ignores them here). The fault
/// signals are included so that a `kill -SEGV` from outside is forwarded like tini's peers
/// forward it: a real fault in jinit is still fatal, because the kernel unblocks a
/// synchronous fault signal to deliver it.
pub fn catchable() -> SigSet {
    SigSet::all()
}

/// Blocks every catchable signal in the calling thread (call before spawning threads).
pub fn block_all() -> nix::Result<SigSet> {
    let set = catchable();
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    Ok(set)
}

pub fn signalfd(set: &SigSet, nonblocking: bool) -> nix::Result<SignalFd> {
    let mut flags = SfdFlags::SFD_CLOEXEC;
    if nonblocking {
        flags |= SfdFlags::SFD_NONBLOCK;
    }
    SignalFd::with_flags(set, flags)
}

/// Signals that ask the whole container to stop.
pub fn is_stop_request(sig: Signal) -> bool {
    matches!(sig, Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT)
}

/// Watches the signalfd (made with `nonblocking`) from the event loop, forever.
pub fn watch(fd: SignalFd) -> Result<AsyncFd<SignalFd>, String> {
    // SAFETY: the AsyncFd owns the SignalFd, whose descriptor stays open and unchanged until
    // both are dropped together.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| e.to_string())
}

/// Hands every signal to `sink`; a SIGHUP also wakes `on_hup` (which brings a deleted control
/// socket back).
pub async fn forward(fd: AsyncFd<SignalFd>, sink: impl Sink<Signal>, on_hup: Arc<Notify>) {
    loop {
        let Ok(mut guard) = fd.readable().await else {
            continue;
        };
        loop {
            match fd.get_ref().read_signal() {
                Ok(Some(info)) => {
                    if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                        if sig == Signal::SIGHUP {
                            on_hup.notify_one();
                        }
                        sink.deliver(sig);
                    }
                }
                Ok(None) => {
                    guard.clear_ready();
                    break;
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    crate::log::warn(&format!("reading signals failed: {e}"));
                    guard.clear_ready();
                    break;
                }
            }
        }
    }
}
