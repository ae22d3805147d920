//! `jinit -- CMD [ARGS...]`: tini-compatible single-command mode.
//!
//! Runs one command in its own process group, forwards every catchable signal to that group,
//! reaps every zombie, and exits with the command's code (128+N when killed by signal N).
//! Processes the command leaves behind get SIGTERM and a short grace before SIGKILL, as at the
//! end of spec mode: as PID 1, the kernel would otherwise SIGKILL them without warning when
//! jinit exits. No async runtime here: one blocking signalfd read per event keeps start-up as
//! cheap as tini.

use crate::sys::leftovers::signal_leftovers;
use crate::sys::reap::reap;
use crate::sys::spawn::{self, Group, Request};
use crate::{duration, log, sys::signals};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// How long leftovers have between SIGTERM and SIGKILL, unless `JINIT_SHUTDOWN_GRACE` says.
/// Short: the command itself has already ended, and Docker's stop window is 10 s in all.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);
const GRACE_VAR: &str = "JINIT_SHUTDOWN_GRACE";

pub fn run(argv: &[String]) -> i32 {
    let grace = match grace() {
        Ok(g) => g,
        Err(e) => {
            log::error(&format!("{GRACE_VAR}: {e}"));
            return crate::problem::EXIT_INVALID;
        }
    };
    crate::sys::reap::become_subreaper();
    let set = match signals::block_all() {
        Ok(s) => s,
        Err(e) => {
            log::error(&format!("cannot block signals: {e}"));
            return 1;
        }
    };
    let sfd = match signals::signalfd(&set, false) {
        Ok(fd) => fd,
        Err(e) => {
            log::error(&format!("cannot create a signalfd: {e}"));
            return 1;
        }
    };
    let child = match spawn::spawn(&Request {
        argv,
        env: &[],
        env_remove: &[],
        cwd: None,
        account: None,
        group: Group::Foreground,
        stdin: spawn::Stdin::Inherit,
        stdout: None,
    }) {
        Ok(pid) => pid,
        Err((code, e)) => {
            log::error(&format!("cannot run {:?}: {e}", argv[0]));
            return code;
        }
    };
    loop {
        let Some(signo) = next_signal(&sfd, None) else {
            continue;
        };
        if signo == libc::SIGCHLD {
            let reaped = reap();
            if let Some((_, code)) = reaped.ended.iter().find(|(pid, _)| *pid == child) {
                if reaped.children_left {
                    end_leftovers(&sfd, grace);
                }
                return *code;
            }
            continue;
        }
        forward(child, signo);
    }
}

/// `JINIT_SHUTDOWN_GRACE`, from 0 to one hour; unset or empty means the default.
fn grace() -> Result<Duration, String> {
    match std::env::var(GRACE_VAR) {
        Ok(text) if !text.trim().is_empty() => duration::parse(&text)
            .and_then(|d| duration::within(d, Duration::ZERO, Duration::from_secs(3600))),
        _ => Ok(DEFAULT_GRACE),
    }
}

/// The command has exited and left processes: SIGTERM (and SIGCONT, so a stopped one can act
/// on it) to all of them, then SIGKILL to whatever is left after `grace`, reaping as they go.
/// A stop request (TERM, INT, QUIT) during the grace cuts it short.
fn end_leftovers(sfd: &SignalFd, grace: Duration) {
    signal_leftovers(Signal::SIGTERM);
    signal_leftovers(Signal::SIGCONT);
    let mut kill_at = Instant::now().checked_add(grace);
    loop {
        if kill_at.is_some_and(|at| at <= Instant::now()) {
            log::warn(&format!(
                "processes left by the command did not exit within {}: sending SIGKILL",
                duration::show(grace)
            ));
            signal_leftovers(Signal::SIGKILL);
            kill_at = None;
        }
        match next_signal(sfd, kill_at) {
            Some(libc::SIGCHLD) if !reap().children_left => return,
            Some(signo) if kill_at.is_some() && is_stop(signo) => kill_at = Some(Instant::now()),
            _ => {}
        }
    }
}

fn is_stop(signo: i32) -> bool {
    Signal::try_from(signo).is_ok_and(signals::is_stop_request)
}

/// Waits for the next signal, until `deadline` when there is one (then None).
fn next_signal(sfd: &SignalFd, deadline: Option<Instant>) -> Option<i32> {
    if let Some(at) = deadline {
        let left = at.saturating_duration_since(Instant::now());
        // Rounded up, so the wait never ends just before the deadline and spins.
        let ms = left.as_millis().saturating_add(1).min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    match sfd.read_signal() {
        Ok(Some(info)) => Some(info.ssi_signo as i32),
        Ok(None) | Err(Errno::EINTR) => None,
        Err(e) => {
            // Keep serving: the child is still ours to reap and report.
            log::error(&format!("reading signals failed: {e}"));
            None
        }
    }
}

/// Sends the signal to the child's process group; falls back to the child alone if the
/// group is gone (the child may have moved itself to another group). Raw numbers, because
/// real-time signals have no name in nix.
fn forward(child: Pid, signo: i32) {
    // SAFETY: kill(2) with a pid we own and a signal number the kernel gave us.
    unsafe {
        if libc::kill(-child.as_raw(), signo) != 0 {
            libc::kill(child.as_raw(), signo);
        }
    }
}
