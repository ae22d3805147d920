//! The processes left under jinit: found through /proc, and signalled at the end of a run.
//!
//! Used by both modes (spec mode after its units stopped, single-command mode after the
//! command exited) and by the control socket to tell whether a peer is one of ours. It never
//! waits for a process: `reap` does that.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Signals every process left: all of them when PID 1 (kill(-1) spares init itself),
/// otherwise our descendants found through /proc, so a subreaper never signals outside its
/// own tree.
pub fn signal_leftovers(sig: Signal) {
    if std::process::id() == 1 {
        let _ = kill(Pid::from_raw(-1), sig);
        return;
    }
    for pid in descendants(std::process::id() as i32) {
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

/// Every descendant of `root` (not `root` itself), as /proc shows them now.
pub fn descendants(root: i32) -> Vec<i32> {
    let mut parent_of: Vec<(i32, i32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = parent(pid) {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// The parent of `pid` (0 for a process whose parent is outside our PID namespace, as with
/// `docker exec`), or None when it is gone.
pub fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` is jinit's descendant: a process it started, one of theirs, or an orphan
/// re-parented to it (as PID 1 that is every orphan of the container).
pub fn is_ours(pid: i32) -> bool {
    let me = std::process::id() as i32;
    let mut p = pid;
    // Bounded, in case /proc changes under us into a loop of reused pids.
    for _ in 0..4096 {
        if p == me {
            return true;
        }
        match parent(p) {
            Some(pp) if pp > 0 && pp != p => p = pp,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_ours_and_its_parent_is_not() {
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        assert_eq!(parent(pid), Some(std::process::id() as i32));
        assert!(is_ours(pid));
        assert!(descendants(std::process::id() as i32).contains(&pid));
        assert!(!is_ours(parent(std::process::id() as i32).unwrap_or(0)));
        let _ = child.kill();
        let _ = child.wait();
    }
}
