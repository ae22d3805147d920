//! Running jinit: the [`Jinit`] builder that starts the real binary, either as a plain child
//! (jinit is then a child subreaper) or as PID 1 of a fresh PID namespace (`unshare --pid
//! --fork --mount-proc`), optionally with a clean environment, and the one-shot runs of jinit's
//! client subcommands and of other commands ([`client`], [`run_command`]).
//!
//! Owns: the pre-exec reset that makes the test's own signal dispositions and descriptors
//! invisible to jinit, and the output files of every run (`SANDBOX/BASE[.N].stdout|stderr`).
//! Never: wait without a deadline (a watchdog thread kills a run that outlives its timeout).

use std::fs;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::sandbox::unique;
use super::{millis, secs, Running, Sandbox, DEFAULT_TIMEOUT, JINIT};

/// How jinit runs: its PID-1 duties differ only in who adopts orphans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A plain child of the test: jinit must make itself a child subreaper.
    Subreaper,
    /// PID 1 of a fresh PID namespace, via `unshare --pid --fork --mount-proc`.
    Pid1,
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
        Running::start(
            child,
            self.mode,
            self.timeout,
            [stdout_path, stderr_path],
            self.args.join(" "),
        )
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

pub(super) fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        _ => unreachable!("exit status without code or signal"),
    }
}
