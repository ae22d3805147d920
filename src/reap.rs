//! The only caller of waitpid(-1): collects every child that has ended.
//!
//! Called from the main loop when SIGCHLD arrives (and once more before exit). Statuses of
//! pids the caller does not know are orphans re-parented to us; the caller logs and drops them.

use crate::unit::exit_code;
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

pub struct Reaped {
    /// Ended children with their shell-style exit code.
    pub ended: Vec<(Pid, i32)>,
    /// Whether any child is still alive. `false` means no descendant is left either: a living
    /// grandchild keeps its parent, and so some child of ours, alive.
    pub children_left: bool,
}

pub fn reap() -> Reaped {
    let mut ended = Vec::new();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {
                return Reaped {
                    ended,
                    children_left: true,
                };
            }
            Ok(status) => {
                if let (Some(pid), Some(code)) = (status.pid(), exit_code(status)) {
                    ended.push((pid, code));
                }
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::ECHILD) => {
                return Reaped {
                    ended,
                    children_left: false,
                }
            }
            Err(_) => {
                return Reaped {
                    ended,
                    children_left: true,
                }
            }
        }
    }
}
