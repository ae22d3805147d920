//! Readers for `/proc` (a process's state, parent, session, name, status lines, descriptors,
//! children and descendants) and the signals the tests send and the cleanup kills.
//!
//! Never: write to `/proc`; a process that is gone reads as `None` or an empty list.

use std::fs;

use super::{millis, secs};

/// `/proc/PID/stat` fields the tests use.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    pub state: char,
    pub ppid: i32,
    pub pgid: i32,
    pub session: i32,
}

pub fn stat(pid: i32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses; the fields after it start past the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
    })
}

pub fn state(pid: i32) -> Option<char> {
    stat(pid).map(|s| s.state)
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    state(pid).is_some_and(|s| s != 'Z')
}

pub fn comm(pid: i32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// The value of a `/proc/PID/status` line, e.g. `status_field(pid, "SigBlk")`.
pub fn status_field(pid: i32, key: &str) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

/// Open file descriptors of `pid`.
/// The open descriptors of a freshly exec'd `pid`. The kernel renames a process (what
/// `child_named` waits for) before it closes its close-on-exec descriptors, so right after
/// the rename the exec-status pipe of the spawner can still be listed; a descriptor that
/// is really leaked stays, so this polls for up to two seconds and returns the last list.
pub fn fds(pid: i32) -> Vec<i32> {
    let deadline = std::time::Instant::now() + secs(2);
    loop {
        let open = open_fds(pid);
        if open.iter().all(|&fd| fd <= 2) || std::time::Instant::now() >= deadline {
            return open;
        }
        std::thread::sleep(millis(10));
    }
}

fn open_fds(pid: i32) -> Vec<i32> {
    let mut fds: Vec<i32> = fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    fds.sort();
    fds
}

fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Children of `ppid`, zombies included.
pub fn children_of(ppid: i32) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|&p| stat(p).is_some_and(|s| s.ppid == ppid))
        .collect()
}

/// All descendants of `root` (not `root` itself).
pub fn descendants(root: i32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = all_pids()
        .into_iter()
        .filter_map(|p| Some((p, stat(p)?.ppid)))
        .collect();
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == parent {
                out.push(pid);
                frontier.push(pid);
            }
        }
    }
    out
}

/// SIGKILLs `root`, all its descendants, and everything left in its session (`root` was
/// started as a session leader, so this also catches orphans re-parented away from jinit when
/// jinit died first).
pub fn kill_tree(root: i32) {
    let mut pids = descendants(root);
    pids.extend(
        all_pids()
            .into_iter()
            .filter(|&p| stat(p).is_some_and(|s| s.session == root)),
    );
    pids.push(root);
    for pid in pids {
        // SAFETY: kill(2); at worst the pid has already gone.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// SIGKILLs every process in the session led by (the now gone) `leader`.
pub fn kill_session(leader: i32) {
    for pid in all_pids() {
        if stat(pid).is_some_and(|s| s.session == leader) {
            // SAFETY: kill(2) only.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// Sends `sig` to `pid`; returns false when the process does not exist.
pub fn send_signal(pid: i32, sig: i32) -> bool {
    // SAFETY: kill(2) only.
    unsafe { libc::kill(pid, sig) == 0 }
}
