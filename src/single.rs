//! `jinit -- CMD [ARGS...]`: tini-compatible single-command mode.
//!
//! Runs one command in its own process group, forwards every catchable signal to that group,
//! reaps every zombie, and exits with the command's code (128+N when killed by signal N).
//! No async runtime here: one blocking signalfd read per event keeps start-up as cheap as tini.

use crate::reap::reap;
use crate::signals;
use crate::spawn::{self, Group, Request};
use nix::errno::Errno;
use nix::unistd::Pid;

pub fn run(argv: &[String]) -> i32 {
    crate::become_subreaper();
    let set = match signals::block_all() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("jinit: cannot block signals: {e}");
            return 1;
        }
    };
    let sfd = match signals::signalfd(&set, false) {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("jinit: cannot create a signalfd: {e}");
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
    }) {
        Ok(pid) => pid,
        Err((code, e)) => {
            eprintln!("jinit: cannot run {:?}: {e}", argv[0]);
            return code;
        }
    };
    loop {
        let info = match sfd.read_signal() {
            Ok(Some(info)) => info,
            Ok(None) | Err(Errno::EINTR) => continue,
            Err(e) => {
                // Keep serving: the child is still ours to reap and report.
                eprintln!("jinit: reading signals failed: {e}");
                continue;
            }
        };
        let signo = info.ssi_signo as i32;
        if signo == libc::SIGCHLD {
            let reaped = reap();
            if let Some((_, code)) = reaped.ended.iter().find(|(pid, _)| *pid == child) {
                return *code;
            }
            continue;
        }
        forward(child, signo);
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
