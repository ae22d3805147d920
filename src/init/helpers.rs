//! jinit's own short-lived commands beside the units: an exec readiness attempt, a re-render
//! (`jinit-config plan`), a service's `drain`. Each is a child in the units' pid table (`Owner::Helper`)
//! with what it is for (`Job`) and when it is killed; `slots` answers whoever waits for it
//! when it ends.

use super::os::Os;
use crate::spec::handoff::Outcome;
use crate::sys::spawn;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::time::Instant;
use tokio::sync::oneshot;

/// Who a child process belongs to.
pub(super) enum Owner {
    Unit(usize),
    /// A short-lived command of jinit's own; SIGKILLed at `kill_at` if still running (None
    /// once that was sent).
    Helper {
        job: Job,
        kill_at: Option<Instant>,
    },
}

/// What a helper command is for.
pub(super) enum Job {
    /// One exec readiness attempt of `unit` (the probe task gives up on it after
    /// `probe::ATTEMPT_LIMIT`); also killed as soon as the unit stops starting.
    Probe {
        unit: usize,
        reply: oneshot::Sender<bool>,
    },
    /// A re-render: `jinit-config plan` writing its answer into `out` (a memory file),
    /// limited to `RENDER_TIMEOUT`.
    Render {
        out: std::fs::File,
        reply: oneshot::Sender<Result<Outcome, String>>,
    },
    /// The `drain` command of `unit`, killed at the drain's deadline or when the drain is
    /// over (`Action::EndDrain`).
    Drain { unit: usize, since: Instant },
}

/// How long a re-render may take (its validation commands included) before it is killed.
pub const RENDER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

pub(super) type Pids = HashMap<Pid, Owner>;

/// Starts a helper for `job`, killed at `kill_at`. The job comes back, with the shell-style
/// code and the reason, when the command cannot start.
pub(super) fn spawn(
    os: &mut impl Os,
    pids: &mut Pids,
    req: &spawn::Request,
    job: Job,
    kill_at: Instant,
) -> Result<(), (Job, i32, String)> {
    match os.spawn(req) {
        Ok(pid) => {
            let kill_at = Some(kill_at);
            pids.insert(pid, Owner::Helper { job, kill_at });
            Ok(())
        }
        Err((code, e)) => Err((job, code, e.to_string())),
    }
}

/// SIGKILLs the helpers `which` selects (by unit of a probe, and deadline); each stays
/// registered until reaped, and is killed at most once.
pub(super) fn kill(
    os: &mut impl Os,
    pids: &mut Pids,
    which: impl Fn(Option<usize>, Instant) -> bool,
) {
    for (pid, owner) in pids.iter_mut() {
        if let Owner::Helper { job, kill_at } = owner {
            let unit = match job {
                Job::Probe { unit, .. } => Some(*unit),
                Job::Render { .. } | Job::Drain { .. } => None,
            };
            if kill_at.is_some_and(|at| which(unit, at)) {
                signal_group(os, *pid, Signal::SIGKILL);
                *kill_at = None;
            }
        }
    }
}

/// Kills unit `i`'s drain command if it still runs.
pub(super) fn end_drain(os: &mut impl Os, pids: &mut Pids, i: usize) {
    for (pid, owner) in pids.iter_mut() {
        if let Owner::Helper {
            job: Job::Drain { unit, .. },
            kill_at,
        } = owner
        {
            if *unit == i && kill_at.take().is_some() {
                signal_group(os, *pid, Signal::SIGKILL);
            }
        }
    }
}

/// Signals a process group; falls back to the leader alone.
pub(super) fn signal_group(os: &mut impl Os, pid: Pid, sig: Signal) {
    if !os.signal_group(pid, sig) {
        os.signal(pid, sig);
    }
}
