//! The sandbox: a temporary directory per test holding its spec, the output files of its
//! services and jinit's control socket, with the readers and waits the tests use on them.
//!
//! Never: a path outside the sandbox (specs name `{D}`, which [`Sandbox::expand`] replaces).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{wait_for, Jinit, Outcome, Running, DEFAULT_TIMEOUT};

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

/// A path `SANDBOX/BASE.N.EXT` that does not exist yet.
pub(crate) fn unique(sb: &Sandbox, base: &str, ext: &str) -> PathBuf {
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
