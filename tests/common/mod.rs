//! Shared harness for the integration tests: runs the real `jinit` binary with real processes.
//!
//! Owns: a sandbox directory per test (spec, service output, control socket), spawning jinit
//! either as a plain child (jinit is then a child subreaper) or as PID 1 of a fresh PID
//! namespace (`unshare --pid --fork --mount-proc`), optionally with a clean environment (the
//! config tests: only the variables a test names reach jinit), a watchdog that kills a hung
//! jinit and everything under it, deadline-bounded waits, and readers for `/proc`.
//!
//! Never: sleep a fixed time to wait for an event (every wait polls a condition with a
//! deadline), or leave a process behind (dropping a `Running` kills jinit's whole tree).
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

pub const JINIT: &str = env!("CARGO_BIN_EXE_jinit");
/// Absolute path, so specs do not depend on a pyenv shim in $PATH.
pub const PYTHON: &str = "/usr/bin/python3";

/// Default hard limit for one jinit run; a test that needs longer says so with `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A loopback TCP port that is free now and that no other call in this test process got.
/// The kernel may hand the same ephemeral port to two bind(0) calls once the first socket is
/// closed (seen: pebble and nginx both given 39057), so ports are remembered per process.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind a loopback port")
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

// ---------------------------------------------------------------------------------------------
// Sandbox

/// A temporary directory holding one test's spec, service output files and control socket.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("jinit-test-")
            .tempdir()
            .expect("create tempdir");
        Sandbox { dir }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The path as a string, for building argv and spec text.
    pub fn p(&self, name: &str) -> String {
        self.path(name).to_str().expect("utf-8 path").to_string()
    }

    /// Replaces `{D}` with the sandbox directory, so specs and scripts use absolute paths.
    pub fn expand(&self, text: &str) -> String {
        text.replace("{D}", self.dir.path().to_str().expect("utf-8 path"))
    }

    /// Writes `text` (with `{D}` expanded) to `name` and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent dir");
        }
        fs::write(&path, self.expand(text)).expect("write sandbox file");
        path
    }

    /// Writes the spec to `jinit.toml` (with `{D}` expanded) and returns its path.
    pub fn spec(&self, toml: &str) -> PathBuf {
        self.write("jinit.toml", toml)
    }

    pub fn touch(&self, name: &str) {
        fs::write(self.path(name), b"").expect("touch");
    }

    pub fn exists(&self, name: &str) -> bool {
        self.path(name).exists()
    }

    /// Contents of `name`, or "" when it does not exist yet.
    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    pub fn lines(&self, name: &str) -> Vec<String> {
        self.read(name).lines().map(str::to_string).collect()
    }

    /// Number of lines of `name` equal to `line`.
    pub fn count(&self, name: &str, line: &str) -> usize {
        self.read(name).lines().filter(|l| *l == line).count()
    }

    pub fn socket(&self) -> PathBuf {
        self.path("jinit.sock")
    }

    /// Waits until `name` exists.
    pub fn wait_file(&self, name: &str, within: Duration) {
        let path = self.path(name);
        wait_for(&format!("file {}", path.display()), within, || {
            path.exists()
        });
    }

    /// Waits until `name` has a line equal to `line`.
    pub fn wait_line(&self, name: &str, line: &str, within: Duration) {
        wait_for(&format!("line {line:?} in {name}"), within, || {
            self.count(name, line) > 0
        });
    }

    /// Runs `jinit ARGS` to completion with a clean environment plus `env` (see
    /// [`Jinit::clean_env`]).
    pub fn run_clean<S: AsRef<str>>(
        &self,
        args: impl IntoIterator<Item = S>,
        env: &[(&str, &str)],
    ) -> Outcome {
        Jinit::clean(self, args, env).run(DEFAULT_TIMEOUT)
    }

    /// Starts `jinit ARGS` (spec mode) with a clean environment plus `env`; end it with
    /// [`Running::stop`]. No watchdog: every wait on such a run, and `stop`, has its own
    /// deadline.
    pub fn start_clean<S: AsRef<str>>(
        &self,
        args: impl IntoIterator<Item = S>,
        env: &[(&str, &str)],
    ) -> Running {
        Jinit::clean(self, args, env).timeout(Duration::MAX).spawn()
    }

    /// Reads a pid that a script wrote with `echo $$ > NAME`.
    pub fn read_pid(&self, name: &str, within: Duration) -> i32 {
        let mut pid = 0;
        wait_for(&format!("pid in {name}"), within, || {
            match self.read(name).trim().parse() {
                Ok(p) => {
                    pid = p;
                    true
                }
                Err(_) => false,
            }
        });
        pid
    }
}

// ---------------------------------------------------------------------------------------------
// Waiting

/// Polls `cond` every 10 ms until it holds; panics naming `what` after `within`.
pub fn wait_for(what: &str, within: Duration, cond: impl FnMut() -> bool) {
    if !poll(within, cond) {
        panic!("timed out after {within:?} waiting for {what}");
    }
}

/// Like [`wait_for`], and the panic shows `context()` too (a log that explains the wait).
pub fn wait_for_showing(
    what: &str,
    within: Duration,
    cond: impl FnMut() -> bool,
    context: impl FnOnce() -> String,
) {
    if !poll(within, cond) {
        panic!(
            "timed out after {within:?} waiting for {what}; context:\n{}",
            context()
        );
    }
}

/// Polls `cond` every 10 ms until it holds (true) or `within` has passed (false).
fn poll(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(millis(10));
    }
}

/// Checks that `cond` stays false for the whole window: the only way to observe that something
/// does *not* happen (e.g. a dependent that must not start yet).
pub fn assert_stays_false(what: &str, window: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + window;
    while Instant::now() < deadline {
        assert!(!cond(), "{what} happened, but must not have");
        thread::sleep(millis(10));
    }
}

// ---------------------------------------------------------------------------------------------
// Running jinit

/// How jinit runs: its PID-1 duties differ only in who adopts orphans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A plain child of the test: jinit must make itself a child subreaper.
    Subreaper,
    /// PID 1 of a fresh PID namespace, via `unshare --pid --fork --mount-proc`.
    Pid1,
}

/// Generates `mod NAME { fn subreaper(); fn pid1(); }` calling `NAME(Mode)` in each mode
/// (use with `#[macro_use] mod common;`).
#[allow(unused_macros)]
macro_rules! both_modes {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn subreaper() {
                super::$name($crate::common::Mode::Subreaper)
            }
            #[test]
            fn pid1() {
                super::$name($crate::common::Mode::Pid1)
            }
        }
    )*};
}

/// Builder for one jinit run inside a sandbox.
pub struct Jinit<'a> {
    sandbox: &'a Sandbox,
    mode: Mode,
    args: Vec<String>,
    env: Vec<(String, Option<String>)>,
    clean_env: bool,
    timeout: Duration,
}

impl<'a> Jinit<'a> {
    pub fn new(sandbox: &'a Sandbox) -> Self {
        Jinit {
            sandbox,
            mode: Mode::Subreaper,
            args: Vec::new(),
            env: Vec::new(),
            clean_env: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// `jinit --spec SANDBOX/jinit.toml`.
    pub fn spec(sandbox: &'a Sandbox) -> Self {
        let spec = sandbox.p("jinit.toml");
        Jinit::new(sandbox).args(["--spec", spec.as_str()])
    }

    /// `jinit ARGS` with a clean environment plus `env` (see [`Jinit::clean_env`]).
    pub fn clean<S: AsRef<str>>(
        sandbox: &'a Sandbox,
        args: impl IntoIterator<Item = S>,
        env: &[(&str, &str)],
    ) -> Self {
        Jinit::new(sandbox).clean_env().args(args).envs(env)
    }

    /// `jinit -- ARGV...` (single-command mode).
    pub fn command<S: AsRef<str>>(sandbox: &'a Sandbox, argv: impl IntoIterator<Item = S>) -> Self {
        Jinit::new(sandbox).args(["--"]).args(argv)
    }

    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), Some(value.to_string())));
        self
    }

    pub fn env_remove(mut self, key: &str) -> Self {
        self.env.push((key.to_string(), None));
        self
    }

    pub fn envs(self, vars: &[(&str, &str)]) -> Self {
        vars.iter().fold(self, |j, (k, v)| j.env(k, v))
    }

    /// Starts jinit with an empty environment but PATH (and JINIT_SOCKET), then the variables
    /// given with `env`: the config tests check what jinit makes of exactly those, so nothing
    /// of the test's own environment (CARGO_*, an operator's ENABLE_* or LETSENCRYPT_*) may
    /// reach it.
    pub fn clean_env(mut self) -> Self {
        self.clean_env = true;
        self
    }

    /// Hard limit after which the watchdog kills jinit and the test fails.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn spawn(self) -> Running {
        let sb = self.sandbox;
        let stdout_path = unique(sb, "jinit", "stdout");
        let stderr_path = stdout_path.with_extension("stderr");
        let mut cmd = match self.mode {
            Mode::Subreaper => Command::new(JINIT),
            Mode::Pid1 => {
                let mut c = Command::new("unshare");
                c.args(["--pid", "--fork", "--mount-proc", JINIT]);
                c
            }
        };
        if self.clean_env {
            cmd.env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default());
        }
        cmd.args(&self.args)
            .current_dir(sb.dir())
            .env_remove("JINIT_SPEC")
            .env("JINIT_SOCKET", sb.socket())
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout_path).expect("stdout file"))
            .stderr(fs::File::create(&stderr_path).expect("stderr file"));
        clean_start(&mut cmd);
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let child = cmd.spawn().expect("spawn jinit");
        let root = child.id() as i32;
        let timed_out = Arc::new(AtomicBool::new(false));
        let (cancel, cancelled) = mpsc::channel::<()>();
        let watchdog = {
            let timed_out = timed_out.clone();
            let timeout = self.timeout;
            thread::spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(timeout) {
                    timed_out.store(true, Ordering::SeqCst);
                    kill_tree(root);
                }
            })
        };
        let mut running = Running {
            child,
            root,
            jinit: root,
            mode: self.mode,
            timeout: self.timeout,
            timed_out,
            cancel: Some(cancel),
            watchdog: Some(watchdog),
            stdout_path,
            stderr_path,
            status: None,
            args: self.args.join(" "),
        };
        if self.mode == Mode::Pid1 {
            running.jinit = running.find_namespaced_jinit();
        }
        running
    }

    /// Runs jinit to completion and returns what it did.
    pub fn run(self, within: Duration) -> Outcome {
        let mut running = self.spawn();
        let code = running.wait_exit(within);
        Outcome {
            code,
            stdout: running.stdout(),
            stderr: running.stderr(),
        }
    }
}

/// A path `SANDBOX/BASE.N.EXT` that does not exist yet.
fn unique(sb: &Sandbox, base: &str, ext: &str) -> PathBuf {
    (0..)
        .map(|n| {
            if n == 0 {
                sb.path(&format!("{base}.{ext}"))
            } else {
                sb.path(&format!("{base}.{n}.{ext}"))
            }
        })
        .find(|p| !p.exists())
        .expect("a free name")
}

/// Exit code and output of a finished run.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// stdout then stderr, for assertions that do not care which one a line went to.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A jinit process under test; dropping it kills jinit and everything it started.
pub struct Running {
    child: Child,
    /// The process we spawned: jinit itself, or `unshare` in PID-1 mode.
    root: i32,
    /// jinit's pid as seen from the test (host PID namespace).
    jinit: i32,
    mode: Mode,
    timeout: Duration,
    timed_out: Arc<AtomicBool>,
    cancel: Option<mpsc::Sender<()>>,
    watchdog: Option<thread::JoinHandle<()>>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    status: Option<i32>,
    /// jinit's arguments, for failure messages.
    args: String,
}

impl Running {
    /// In PID-1 mode jinit is the only child of `unshare`, once it has exec'd (until then its
    /// comm is still `unshare`). Returns 0 when
    /// the whole run finished before we could see it.
    fn find_namespaced_jinit(&mut self) -> i32 {
        let root = self.root;
        let mut found = 0;
        wait_for("jinit to start inside the PID namespace", secs(10), || {
            for pid in children_of(root) {
                if comm(pid).is_some_and(|c| c != "unshare") {
                    found = pid;
                    return true;
                }
            }
            self.has_exited()
        });
        found
    }

    /// jinit's pid in the test's PID namespace.
    pub fn pid(&self) -> i32 {
        assert!(self.jinit > 0, "jinit exited before its pid was seen");
        self.jinit
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Sends `sig` to jinit.
    pub fn signal(&self, sig: i32) {
        let pid = self.pid();
        // SAFETY: kill(2) on a pid we spawned and have not reaped yet.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// Whether jinit has exited (and records its code).
    pub fn has_exited(&mut self) -> bool {
        if self.status.is_some() {
            return true;
        }
        match self.child.try_wait().expect("try_wait") {
            Some(status) => {
                self.status = Some(exit_code(status));
                true
            }
            None => false,
        }
    }

    /// Waits for jinit to exit and returns its exit code (128+N when killed by signal N).
    /// Fails the test, printing jinit's stderr, if it is still running after `within`.
    pub fn wait_exit(&mut self, within: Duration) -> i32 {
        let deadline = Instant::now() + within;
        while !self.has_exited() {
            if Instant::now() >= deadline {
                kill_tree(self.root);
                let _ = self.child.wait();
                panic!(
                    "`jinit {}` did not exit within {within:?}; stderr:\n{}",
                    self.args,
                    self.stderr()
                );
            }
            thread::sleep(millis(10));
        }
        if self.timed_out.load(Ordering::SeqCst) {
            panic!(
                "watchdog killed `jinit {}` after {:?}; stderr:\n{}",
                self.args,
                self.timeout,
                self.stderr()
            );
        }
        self.status.expect("exit status")
    }

    /// Asserts jinit is still running (it has not exited on its own).
    pub fn assert_running(&mut self) {
        if self.has_exited() {
            panic!(
                "jinit exited early with code {:?}; stderr:\n{}",
                self.status,
                self.stderr()
            );
        }
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// What jinit and its services wrote: stdout then stderr.
    pub fn log(&self) -> String {
        self.stdout() + &self.stderr()
    }

    /// Waits until the log contains `needle`; the panic shows the log.
    pub fn wait_log(&self, needle: &str, within: Duration) {
        wait_for_showing(
            &format!("log line {needle:?}"),
            within,
            || self.log().contains(needle),
            || self.log(),
        );
    }

    /// Sends jinit TERM and returns its exit code once it has stopped its units and exited
    /// (within 15 s).
    pub fn stop(mut self) -> i32 {
        if !self.has_exited() {
            send_signal(self.jinit, libc::SIGTERM);
        }
        self.wait_exit(secs(15))
    }

    /// Waits until jinit's log has a transition of `unit` into state `to`.
    pub fn wait_transition(&self, unit: &str, to: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if has_transition(&self.stderr(), unit, to) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no `jinit: {unit}: ... -> {to}` line within {within:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            thread::sleep(millis(10));
        }
    }

    /// jinit's live (non-zombie) children.
    pub fn live_children(&self) -> Vec<i32> {
        children_of(self.pid())
            .into_iter()
            .filter(|&p| state(p).is_some_and(|s| s != 'Z'))
            .collect()
    }

    /// jinit's children in state Z.
    pub fn zombies(&self) -> Vec<i32> {
        children_of(self.pid())
            .into_iter()
            .filter(|&p| state(p) == Some('Z'))
            .collect()
    }

    /// Maps a pid that a process under jinit saw as its own (`echo $$`, which in PID-1 mode is
    /// a pid of jinit's namespace) to its pid here, via the last field of `NSpid`.
    pub fn host_pid(&self, own_pid: i32, within: Duration) -> i32 {
        let mut found = 0;
        let root = self.pid();
        wait_for(
            &format!("a descendant of jinit with own pid {own_pid}"),
            within,
            || {
                let mut candidates = descendants(root);
                candidates.push(root);
                match candidates.into_iter().find(|&p| {
                    status_field(p, "NSpid")
                        .and_then(|v| v.split_whitespace().last()?.parse::<i32>().ok())
                        == Some(own_pid)
                }) {
                    Some(p) => {
                        found = p;
                        true
                    }
                    None => false,
                }
            },
        );
        found
    }

    /// The single live child of jinit whose comm is `name`, once there is one.
    pub fn child_named(&self, name: &str, within: Duration) -> i32 {
        let mut found = 0;
        wait_for(
            &format!("a child of jinit named {name}"),
            within,
            || match self
                .live_children()
                .into_iter()
                .find(|&p| comm(p).as_deref() == Some(name))
            {
                Some(p) => {
                    found = p;
                    true
                }
                None => false,
            },
        );
        found
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            let _ = cancel.send(());
        }
        if let Some(w) = self.watchdog.take() {
            let _ = w.join();
        }
        if self.status.is_none() {
            kill_tree(self.root);
            let _ = self.child.wait();
        } else {
            // jinit has exited (and its pid may be reused): sweep only what is left in its
            // session, a leak the test may already have reported.
            kill_session(self.root);
        }
    }
}

/// Starts jinit with every signal at its default disposition, so a child's `SigIgn` shows
/// what jinit did, not what it inherited. The test process can inherit ignored signals (glibc's
/// posix_spawn in cargo leaves its internal signals 32 and 33 ignored, SigIgn
/// 0000000180000000), and glibc's sigaction refuses to touch those two, so reset all of them
/// with the raw syscall between fork and exec. Likewise close inherited descriptors above 2
/// (whatever runs `cargo test` may leak some), as Docker starts PID 1 with 0, 1 and 2 only.
/// And start a new session, as runc does for a container's init: cleanup kills by session.
fn clean_start(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // The kernel's struct sigaction, all zero: SIG_DFL, no flags, no restorer, empty mask.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: usize,
        restorer: usize,
        mask: u64,
    }
    // SAFETY: the closure runs between fork and exec and only calls rt_sigaction(2), fcntl(2),
    // close(2) and setsid(2), which are async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            let dfl = KernelSigaction {
                handler: 0,
                flags: 0,
                restorer: 0,
                mask: 0,
            };
            for sig in 1..=64 {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::syscall(
                        libc::SYS_rt_sigaction,
                        sig,
                        &dfl as *const KernelSigaction,
                        std::ptr::null_mut::<KernelSigaction>(),
                        8usize,
                    );
                }
            }
            // Keep close-on-exec descriptors: std uses one to report a failed exec.
            for fd in 3..1024 {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                    libc::close(fd);
                }
            }
            libc::setsid();
            Ok(())
        });
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        _ => unreachable!("exit status without code or signal"),
    }
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

// ---------------------------------------------------------------------------------------------
// Logs

/// Whether `log` has a line `jinit: UNIT: FROM -> TO[ (detail)]` with the given unit and TO.
pub fn has_transition(log: &str, unit: &str, to: &str) -> bool {
    transitions(log, unit).iter().any(|(_, t)| t == to)
}

/// Every `(from, to)` transition of `unit` in `log`, in order.
pub fn transitions(log: &str, unit: &str) -> Vec<(String, String)> {
    let prefix = format!("jinit: {unit}: ");
    log.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (from, to) = rest.split_once(" -> ")?;
            let to = to.split(' ').next()?;
            Some((from.to_string(), to.to_string()))
        })
        .collect()
}

/// Index of the first log line showing `unit` entering `to`.
pub fn transition_line(log: &str, unit: &str, to: &str) -> Option<usize> {
    let prefix = format!("jinit: {unit}: ");
    log.lines().position(|l| {
        l.strip_prefix(&prefix)
            .and_then(|rest| rest.split_once(" -> "))
            .and_then(|(_, t)| t.split(' ').next())
            == Some(to)
    })
}

/// Index of the first log line showing `unit` leaving state `waiting`.
pub fn left_waiting_line(log: &str, unit: &str) -> Option<usize> {
    let prefix = format!("jinit: {unit}: waiting -> ");
    log.lines().position(|l| l.starts_with(&prefix))
}

// ---------------------------------------------------------------------------------------------
// Client subcommands

/// Runs `jinit ARGS` (a client subcommand) against the sandbox's control socket.
pub fn client<S: AsRef<str>>(sb: &Sandbox, args: impl IntoIterator<Item = S>) -> Outcome {
    let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_string()).collect();
    let mut cmd = Command::new(JINIT);
    cmd.args(&args)
        .current_dir(sb.dir())
        .env_remove("JINIT_SPEC")
        .env("JINIT_SOCKET", sb.socket());
    let what = format!("`jinit {}`", args.join(" "));
    run_command(sb, "client", cmd, &what, secs(10))
}

/// Runs `cmd` to completion with its output in `SANDBOX/BASE[.N].stdout|stderr`; kills it and
/// fails the test, naming it `what`, when it is still running after `within`.
pub fn run_command(
    sb: &Sandbox,
    base: &str,
    mut cmd: Command,
    what: &str,
    within: Duration,
) -> Outcome {
    let out = unique(sb, base, "stdout");
    let err = out.with_extension("stderr");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out).expect("stdout file"))
        .stderr(fs::File::create(&err).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {within:?}");
        }
        thread::sleep(millis(10));
    };
    Outcome {
        code: exit_code(status),
        stdout: fs::read_to_string(&out).unwrap_or_default(),
        stderr: fs::read_to_string(&err).unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------------
// /proc

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

// ---------------------------------------------------------------------------------------------
// Scripts

/// A `sh` loop that records `started NAME` and, on TERM, `stopping NAME` then (after a short
/// pause that would let a too-early signal to another unit show up first) `stopped NAME`.
pub fn traps_term(name: &str, log: &str) -> String {
    format!(
        "trap 'echo stopping {name} >> {log}; sleep 0.2; echo stopped {name} >> {log}; exit 0' TERM; \
         echo started {name} >> {log}; \
         while :; do sleep 1000 & wait $!; done"
    )
}

/// A python3 program that records every catchable signal it receives as `ROLE N` lines in
/// the file given as argv[1], writes `ROLE ready` once its handlers are set, and exits 0 on the
/// first signal after `argv[1].done` exists. With argv[2] == "fork" it forks first, so a
/// grandchild in the same process group records as `child`.
pub const SIGNAL_RECORDER: &str = r#"
import os, signal, sys, time
rec = sys.argv[1]
role = "parent"

def record(line):
    fd = os.open(rec, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (line + "\n").encode())
    os.close(fd)

def handler(n, frame):
    record(f"{role} {n}")
    if os.path.exists(rec + ".done"):
        os._exit(0)

# 32 and 33 are reserved by glibc's threading and cannot be caught reliably.
skip = {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, 32, 33}
for n in range(1, signal.SIGRTMAX + 1):
    if n not in skip:
        signal.signal(n, handler)
if len(sys.argv) > 2 and sys.argv[2] == "fork":
    if os.fork() == 0:
        role = "child"
record(f"{role} ready")
# Not signal.pause(): a signal landing between the last handler check and the pause(2)
# call would leave its Python handler pending until the next signal. A short sleep bounds
# that delay to 20 ms.
while True:
    time.sleep(0.02)
"#;

/// Every signal a child can catch except the ones jinit must not forward (KILL, STOP, CHLD)
/// and glibc's internal 32 and 33.
pub fn forwardable_signals() -> Vec<i32> {
    (1..=64)
        .filter(|&n| ![libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD, 32, 33].contains(&n))
        .collect()
}

/// Asserts some line of `text` contains every needle (a validation problem is one line).
pub fn assert_line_with(text: &str, needles: &[&str]) {
    assert!(
        text.lines().any(|l| needles.iter().all(|n| l.contains(n))),
        "no line contains all of {needles:?}; output:\n{text}"
    );
}
