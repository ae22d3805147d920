//! A jinit process under test ([`Running`]): its pid, signals, exit, logs, children and
//! zombies, and the waits on them.
//!
//! Never: leave a process behind: dropping a `Running` kills jinit's whole tree (or, once
//! jinit has exited, whatever is left in its session).

use std::fs;
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use super::jinit::exit_code;
use super::{
    children_of, comm, descendants, has_transition, kill_session, kill_tree, millis, secs,
    send_signal, state, status_field, wait_for, wait_for_showing, Mode,
};

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
    /// Takes over a freshly spawned `child` (jinit, or `unshare` in PID-1 mode) whose output
    /// goes to `paths` (stdout, stderr), and starts the watchdog that kills its whole tree
    /// after `timeout`.
    pub(super) fn start(
        child: Child,
        mode: Mode,
        timeout: Duration,
        [stdout_path, stderr_path]: [PathBuf; 2],
        args: String,
    ) -> Running {
        let root = child.id() as i32;
        let timed_out = Arc::new(AtomicBool::new(false));
        let (cancel, cancelled) = mpsc::channel::<()>();
        let watchdog = {
            let timed_out = timed_out.clone();
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
            mode,
            timeout,
            timed_out,
            cancel: Some(cancel),
            watchdog: Some(watchdog),
            stdout_path,
            stderr_path,
            status: None,
            args,
        };
        if mode == Mode::Pid1 {
            running.jinit = running.find_namespaced_jinit();
        }
        running
    }

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
