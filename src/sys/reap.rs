//! The only caller of waitpid(-1): collects every child that has ended.
//!
//! Called from the main loop when SIGCHLD arrives (and once more before exit). Statuses of
//! pids the caller does not know are orphans re-parented to us; the caller drops them.
//! Uses libc directly: a status must never be lost after the kernel handed it over, and
//! nix's WaitStatus refuses real-time signal numbers (a child killed by signal 34 would vanish).

use nix::unistd::Pid;

pub struct Reaped {
    /// Ended children with their shell-style exit code.
    pub ended: Vec<(Pid, i32)>,
    /// Whether any child is still alive. `false` means no descendant is left either: a living
    /// grandchild keeps its parent, and so some child of ours, alive.
    pub children_left: bool,
}

/// Orphans of our descendants are re-parented to us (not to the host's init) when we are not
/// PID 1, so we can reap them and signal them at shutdown.
pub fn become_subreaper() {
    if std::process::id() != 1 {
        // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only sets a flag on the calling process.
        unsafe {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
    }
}

pub fn reap() -> Reaped {
    let mut ended = Vec::new();
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid writes one int into `status`, which we own.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            if let Some(code) = exit_code(status) {
                ended.push((Pid::from_raw(pid), code));
            }
            continue;
        }
        if pid == 0 {
            return Reaped {
                ended,
                children_left: true,
            };
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ECHILD) => {
                return Reaped {
                    ended,
                    children_left: false,
                }
            }
            _ => {
                return Reaped {
                    ended,
                    children_left: true,
                }
            }
        }
    }
}

/// The shell's convention: the exit code, or 128+N when killed by signal N.
pub fn exit_code(status: libc::c_int) -> Option<i32> {
    if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Some(128 + libc::WTERMSIG(status))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_shell() {
        // Raw wait statuses as the kernel encodes them.
        assert_eq!(exit_code(3 << 8), Some(3));
        assert_eq!(exit_code(15), Some(143));
        assert_eq!(exit_code(34), Some(162), "real-time signals too");
        assert_eq!(exit_code(0x7f | (19 << 8)), None, "stopped is not an exit");
    }
}
