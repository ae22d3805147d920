//! The only place that starts processes.
//!
//! Every child gets a clean slate: empty signal mask, default dispositions (single-command
//! mode keeps the ignored ones jinit inherited), its own process group (or session), dropped
//! privileges, and no inherited descriptors beyond 0, 1 and 2.
//! It never waits for a child: `reap` is the only caller of waitpid(-1), and the returned
//! pid must be registered by the caller before it next reaps.

use crate::sys::users::Account;
use nix::unistd::Pid;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// How the child relates to the terminal and to jinit's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Own session (and so own process group), no controlling terminal: supervised services.
    Session,
    /// Own process group, made the terminal's foreground group when there is one:
    /// `jinit -- CMD`, like tini, so `docker run -it` still gets Ctrl-C and job control.
    /// The signals jinit's parent ignored stay ignored, as for any other wrapper.
    Foreground,
}

pub struct Request<'a> {
    pub argv: &'a [String],
    /// Set on top of jinit's own environment...
    pub env: &'a [(String, String)],
    /// ...from which these names are removed first (secrets the unit did not ask for).
    pub env_remove: &'a [String],
    pub cwd: Option<&'a Path>,
    pub account: Option<&'a Account>,
    pub group: Group,
    pub stdin: Stdin<'a>,
    /// Descriptor 1 of the child: this file instead of jinit's own (the render helper's
    /// answer).
    pub stdout: Option<&'a std::fs::File>,
}

impl<'a> Request<'a> {
    /// jinit's own helper that answers on `out`: jinit's whole environment, its own session,
    /// nothing on stdin (`jinit-config plan`, at boot and for every re-render).
    pub fn answering(argv: &'a [String], out: &'a std::fs::File) -> Request<'a> {
        Request {
            argv,
            env: &[],
            env_remove: &[],
            cwd: None,
            account: None,
            group: Group::Session,
            stdin: Stdin::Null,
            stdout: Some(out),
        }
    }
}

/// What the child reads on descriptor 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdin<'a> {
    /// jinit's own stdin (single-command mode).
    Inherit,
    /// /dev/null: services and probes.
    Null,
    /// These bytes, then end of file (a unit's `stdin`: a password kept out of argv).
    Data(&'a [u8]),
}

/// Upper limit of `Stdin::Data`: one page, the smallest capacity a pipe can have, so the
/// whole text is written before the child starts and jinit never blocks on it.
pub const STDIN_MAX: usize = 4096;

/// Starts the process; on failure returns the shell's exit code (127 not found, 126 not
/// executable) and the error.
/// The signals ignored in this process (bit N-1 for signal N). jinit never ignores a signal
/// itself (it blocks them, and it starts without Rust's runtime, which would ignore SIGPIPE),
/// so these are the ones its parent ignored.
static IGNORED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

fn inherited_ignored() -> u64 {
    let mut mask = 0;
    for sig in 1..=libc::SIGRTMAX().min(64) {
        let mut old = std::mem::MaybeUninit::<libc::sigaction>::uninit();
        // SAFETY: sigaction(2) with no new action writes the whole current one into `old`
        // (read only when it succeeded); no zeroing first, this runs for every signal.
        let ignored = unsafe {
            libc::sigaction(sig, std::ptr::null(), old.as_mut_ptr()) == 0
                && old.assume_init_ref().sa_sigaction == libc::SIG_IGN
        };
        if ignored {
            mask |= 1u64 << (sig - 1);
        }
    }
    mask
}

pub fn spawn(req: &Request) -> Result<Pid, (i32, io::Error)> {
    let Some((program, args)) = req.argv.split_first() else {
        return Err((
            127,
            io::Error::new(io::ErrorKind::NotFound, "empty command"),
        ));
    };
    if is_plain(req) {
        match spawn_plain(req.argv) {
            // A script without a #! line: posix_spawn does not hand it to /bin/sh as execvp
            // does (and as tini and the shell do), so the general path below runs it.
            Err((_, e)) if e.raw_os_error() == Some(libc::ENOEXEC) => {}
            done => return done,
        }
    }
    let mut cmd = Command::new(program);
    cmd.args(args);
    if let Some(a) = req.account {
        cmd.env("HOME", &a.home)
            .env("USER", &a.name)
            .env("LOGNAME", &a.name);
    }
    for name in req.env_remove {
        cmd.env_remove(name);
    }
    cmd.envs(req.env.iter().map(|(k, v)| (k, v)));
    if let Some(cwd) = req.cwd {
        cmd.current_dir(cwd);
    }
    match req.stdin {
        Stdin::Inherit => {}
        Stdin::Null => {
            cmd.stdin(Stdio::null());
        }
        Stdin::Data(data) => {
            if data.len() > STDIN_MAX {
                return Err((
                    126,
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("stdin is {} bytes, more than {STDIN_MAX}", data.len()),
                    ),
                ));
            }
            // Both ends are close-on-exec; Command dup2()s the reader onto 0. The writer is
            // closed when this function returns, so the child sees end of file after data.
            let (reader, mut writer) = io::pipe().map_err(|e| (126, e))?;
            io::Write::write_all(&mut writer, data).map_err(|e| (126, e))?;
            drop(writer);
            cmd.stdin(Stdio::from(reader));
        }
    }
    if let Some(out) = req.stdout {
        cmd.stdout(Stdio::from(out.try_clone().map_err(|e| (126, e))?));
    }
    let group = req.group;
    // Switching identity needs root; a non-root jinit runs units as itself (check.rs refuses
    // a `user` other than jinit's own then), and setgroups would fail with EPERM.
    let ids = req
        .account
        .filter(|_| nix::unistd::geteuid().is_root())
        .map(|a| {
            (
                a.uid,
                a.gid,
                a.groups
                    .iter()
                    .map(|&g| g as libc::gid_t)
                    .collect::<Vec<_>>(),
            )
        });
    // The signals jinit's parent ignored, read here: in the child, std has already reset
    // SIGPIPE to its default before our closure runs.
    let ignored = *IGNORED.get_or_init(inherited_ignored);
    // SAFETY: the closure runs in the forked child before exec and makes only
    // async-signal-safe calls: setsid, setpgid, isatty, tcsetpgrp, getpid, sigemptyset,
    // sigprocmask, signal, setgroups, setgid, setuid, syscall(close_range). It
    // allocates nothing: the group list was built before fork.
    unsafe {
        cmd.pre_exec(move || {
            match group {
                Group::Session => {
                    if libc::setsid() < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Group::Foreground => {
                    if libc::setpgid(0, 0) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    // SIGTTOU is still blocked here (inherited mask), so a background group
                    // may take the terminal without being stopped. No terminal: nothing to do.
                    if libc::isatty(0) == 1 {
                        libc::tcsetpgrp(0, libc::getpid());
                    }
                }
            }
            // Children inherit the blocked mask and ignored dispositions across exec (a
            // handled signal is reset by exec itself, and jinit handles none); reset both or
            // nginx and the JVMs never see SIGTERM. The wrapped command of single-command mode
            // keeps what jinit's parent ignored (`nohup jinit -- CMD`), SIGPIPE included,
            // which std reset before this closure.
            let disposition = match group {
                Group::Session => libc::SIG_DFL,
                Group::Foreground => libc::SIG_IGN,
            };
            let mut left = ignored;
            while left != 0 {
                let sig = left.trailing_zeros() as libc::c_int + 1;
                left &= left - 1;
                libc::signal(sig, disposition);
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            if let Some((uid, gid, groups)) = &ids {
                if libc::setgroups(groups.len(), groups.as_ptr()) < 0
                    || libc::setgid(*gid) < 0
                    || libc::setuid(*uid) < 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
            // Descriptors jinit inherited without O_CLOEXEC (from Docker or a shell) must not
            // reach services. Mark rather than close: std's exec-error pipe is still in use.
            const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC);
            Ok(())
        });
    }
    match cmd.spawn() {
        // Dropping the Child neither waits nor kills: the pid now belongs to the caller.
        Ok(child) => Ok(Pid::from_raw(child.id() as i32)),
        Err(e) => Err((exec_error_code(&e), e)),
    }
}

/// `jinit -- CMD` without a terminal: nothing to change but the group, the mask and the
/// descriptors, all of which posix_spawn can do. Everything else goes through `Command`.
fn is_plain(req: &Request) -> bool {
    req.group == Group::Foreground
        && req.env.is_empty()
        && req.env_remove.is_empty()
        && req.cwd.is_none()
        && req.account.is_none()
        && req.stdin == Stdin::Inherit
        && req.stdout.is_none()
        // SAFETY: isatty(3) only inspects the descriptor.
        && unsafe { libc::isatty(0) } != 1
}

/// The plain case through glibc's posix_spawnp, which starts the child with
/// clone(CLONE_VM | CLONE_VFORK): no copy of jinit's page tables and no copy-on-write faults
/// in either process before the exec, which is most of what a fork costs a 2.5 MB static
/// binary (`Command` forks when it has a `pre_exec`). Same clean slate as `spawn`: own
/// process group, empty mask, descriptors above 2 closed; the dispositions stay as inherited
/// (jinit handles no signal, so glibc resets none, and ignored ones stay ignored as they
/// must here); exec failures come back as the error, found on PATH as execvp does.
fn spawn_plain(argv: &[String]) -> Result<Pid, (i32, io::Error)> {
    use std::ffi::CString;
    let nul = |_| {
        (
            126,
            io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the command"),
        )
    };
    let args: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()).map_err(nul))
        .collect::<Result<_, _>>()?;
    let mut ptrs: Vec<*mut libc::c_char> = args
        .iter()
        .map(|a| a.as_ptr() as *mut libc::c_char)
        .collect();
    ptrs.push(std::ptr::null_mut());
    let failed = |rc: libc::c_int| {
        let e = io::Error::from_raw_os_error(rc);
        (exec_error_code(&e), e)
    };
    // SAFETY: every pointer handed to posix_spawn* points at initialised data that outlives
    // the call (attr, actions, the argv array of CStrings, environ); attr and actions are
    // initialised before use and destroyed on every path.
    unsafe {
        let mut attr = std::mem::MaybeUninit::<libc::posix_spawnattr_t>::uninit();
        let mut actions = std::mem::MaybeUninit::<libc::posix_spawn_file_actions_t>::uninit();
        let rc = libc::posix_spawnattr_init(attr.as_mut_ptr());
        if rc != 0 {
            return Err(failed(rc));
        }
        let rc = libc::posix_spawn_file_actions_init(actions.as_mut_ptr());
        if rc != 0 {
            libc::posix_spawnattr_destroy(attr.as_mut_ptr());
            return Err(failed(rc));
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        let flags = libc::POSIX_SPAWN_SETPGROUP
            | libc::POSIX_SPAWN_SETSIGMASK
            | libc::POSIX_SPAWN_SETSIGDEF;
        let mut rc = libc::posix_spawnattr_setflags(attr.as_mut_ptr(), flags as libc::c_short);
        if rc == 0 {
            rc = libc::posix_spawnattr_setpgroup(attr.as_mut_ptr(), 0);
        }
        if rc == 0 {
            rc = libc::posix_spawnattr_setsigmask(attr.as_mut_ptr(), &empty);
        }
        if rc == 0 {
            let defaults = glibc_internal_signals();
            rc = libc::posix_spawnattr_setsigdefault(attr.as_mut_ptr(), &defaults);
        }
        if rc == 0 {
            rc = libc::posix_spawn_file_actions_addclosefrom_np(actions.as_mut_ptr(), 3);
        }
        let mut pid: libc::pid_t = 0;
        if rc == 0 {
            rc = libc::posix_spawnp(
                &mut pid,
                args[0].as_ptr(),
                actions.as_ptr(),
                attr.as_ptr(),
                ptrs.as_ptr(),
                environ() as *const *mut libc::c_char,
            );
        }
        libc::posix_spawn_file_actions_destroy(actions.as_mut_ptr());
        libc::posix_spawnattr_destroy(attr.as_mut_ptr());
        if rc != 0 {
            return Err(failed(rc));
        }
        Ok(Pid::from_raw(pid))
    }
}

/// glibc's own signals (32 and 33, below SIGRTMIN): its posix_spawn sets them to SIG_IGN in
/// the child, which the command would inherit across exec, unless they are in the spawn's
/// "reset to default" set. sigaddset refuses them, so their bits are set directly (signal N is
/// bit N-1 of the set's first word).
fn glibc_internal_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain bits; the first 8 bytes hold signals 1-64 on x86_64 glibc.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        let word = &mut set as *mut libc::sigset_t as *mut u64;
        for sig in 32..libc::SIGRTMIN().clamp(32, 64) {
            *word |= 1u64 << (sig - 1);
        }
        set
    }
}

fn environ() -> *const *const libc::c_char {
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: glibc's environ; jinit changes its environment only before spawning anything.
    unsafe { environ }
}

/// The shell's convention: 127 when the command is not there, 126 when it cannot run.
pub fn exec_error_code(e: &io::Error) -> i32 {
    match e.kind() {
        io::ErrorKind::NotFound => 127,
        _ => 126,
    }
}

/// What `run_captured` saw.
pub struct Captured {
    pub code: i32,
    /// Its stdout, then its stderr.
    pub output: String,
    /// It was still running after the limit and its group was killed.
    pub timed_out: bool,
}

/// Runs a short command to completion and returns its exit code and combined output; after
/// `limit` its process group is killed (exit code 137). `env_remove`: names taken out of
/// jinit's environment for it. Used for render validation
/// (`nginx -t`) in `jinit-config` and `jinit render`, never in PID 1: std waits for this one
/// pid itself, which must not race the loop's waitpid(-1).
pub fn run_captured(
    argv: &[String],
    limit: std::time::Duration,
    env_remove: &[String],
) -> io::Result<Captured> {
    let Some((program, args)) = argv.split_first() else {
        return Err(io::Error::new(io::ErrorKind::NotFound, "empty command"));
    };
    let mut cmd = Command::new(program);
    for name in env_remove {
        cmd.env_remove(name);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only setpgid, sigemptyset and sigprocmask, all async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            // Its own group, so the timeout reaches whatever it started too.
            libc::setpgid(0, 0);
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    let group = child.id() as i32;
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let late = finished.recv_timeout(limit).is_err();
        if late {
            // SAFETY: kill(2) of the group this function created; its leader is not reaped
            // yet (wait_with_output has not returned, or `done` would have been sent).
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        late
    });
    let out = child.wait_with_output();
    let _ = done.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    let out = out?;
    let code = out.status.code().unwrap_or_else(|| {
        128 + std::os::unix::process::ExitStatusExt::signal(&out.status).unwrap_or(0)
    });
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok(Captured {
        code,
        output,
        timed_out,
    })
}
