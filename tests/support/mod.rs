//! Helpers for the config tests: a scratch image (spec, schema, templates) and a jinit run
//! under a hard timeout. Synchronises on files, never on fixed sleeps.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const JINIT: &str = env!("CARGO_BIN_EXE_jinit");

pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Replaces `{dir}` in a text with the scratch directory.
    pub fn fill(&self, text: &str) -> String {
        text.replace("{dir}", &self.dir.path().display().to_string())
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// Runs `jinit ARGS` to completion with a clean environment plus `env`.
    pub fn jinit(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(JINIT);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        cmd.env("JINIT_SOCKET", self.path("jinit.sock"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_with_timeout(cmd, Duration::from_secs(30))
    }

    /// Starts `jinit --spec ...` in spec mode (killed on drop).
    pub fn start(&self, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut cmd = Command::new(JINIT);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        cmd.env("JINIT_SOCKET", self.path("jinit.sock"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let log = std::fs::File::create(self.path("jinit.log")).unwrap();
        cmd.stdout(log.try_clone().unwrap()).stderr(log);
        Running {
            child: cmd.spawn().expect("spawn jinit"),
            log: self.path("jinit.log"),
        }
    }
}

pub struct Running {
    pub child: Child,
    pub log: PathBuf,
}

impl Running {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle`; fails the test after `secs`.
    pub fn wait_log(&self, needle: &str, secs: u64) {
        let log = self.log.clone();
        wait_until(
            secs,
            &format!("log line {needle:?}"),
            || {
                std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .contains(needle)
            },
            || self.log(),
        );
    }

    pub fn stop(mut self) -> i32 {
        let pid = self.child.id() as i32;
        // SAFETY: sending SIGTERM to our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "jinit did not stop; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    /// A test that ends without `stop()` still stops jinit properly, so that the services it
    /// started (in their own sessions) do not outlive the test; SIGKILL only as a last resort.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: sending SIGTERM to our own child.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_until(
    secs: u64,
    what: &str,
    mut cond: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; context:\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn run_with_timeout(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            // SAFETY: killing our own hung child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("command timed out after {limit:?}");
        }
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}
