//! Watches the inputs of the rendered config (inotify) and reports changed paths.
//!
//! Directories are watched rather than files: editors and Kubernetes replace files by rename,
//! which a watch on the old inode would miss. Reports raw events; the supervisor debounces.

use crate::sink::Sink;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokio::io::unix::AsyncFd;

/// nix's Inotify offers AsFd only; tokio's AsyncFd wants AsRawFd.
struct Ino(Inotify);

/// A watched input changed (its path).
pub struct Changed(pub PathBuf);

impl std::os::fd::AsRawFd for Ino {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

pub struct Watcher {
    fd: AsyncFd<Ino>,
    dirs: HashMap<WatchDescriptor, PathBuf>,
    /// Watched inputs: a directory (everything below it counts) or a file.
    inputs: Vec<PathBuf>,
}

fn flags() -> AddWatchFlags {
    AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_ATTRIB
}

impl Watcher {
    pub fn new(inputs: Vec<PathBuf>) -> std::io::Result<Watcher> {
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        // SAFETY: the AsyncFd owns the Inotify; its descriptor stays open and unchanged until
        // both are dropped together.
        let fd =
            unsafe { AsyncFd::register_with_interest(Ino(ino), tokio::io::Interest::READABLE) }
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut w = Watcher {
            fd,
            dirs: HashMap::new(),
            inputs,
        };
        for input in w.inputs.clone() {
            if input.is_dir() {
                w.add_tree(&input);
            } else if let Some(parent) = input.parent() {
                // A file that does not exist yet may appear later in its directory.
                w.add_dir(parent);
            }
        }
        Ok(w)
    }

    fn add_dir(&mut self, dir: &Path) {
        if self.dirs.values().any(|d| d == dir) {
            return;
        }
        if let Ok(wd) = self.fd.get_ref().0.add_watch(dir, flags()) {
            self.dirs.insert(wd, dir.to_path_buf());
        }
    }

    fn add_tree(&mut self, dir: &Path) {
        self.add_dir(dir);
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    self.add_tree(&e.path());
                }
            }
        }
    }

    fn relevant(&self, path: &Path) -> bool {
        self.inputs.iter().any(|i| {
            path == i
                || (i.is_dir() && path.starts_with(i))
                // Kubernetes swaps a `..data` symlink beside mounted secrets.
                || (path.parent() == i.parent()
                    && path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("..")))
        })
    }

    pub async fn run(mut self, tx: impl Sink<Changed>) {
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return;
            };
            let events = match self.fd.get_ref().0.read_events() {
                Ok(ev) => ev,
                Err(nix::errno::Errno::EAGAIN) => {
                    guard.clear_ready();
                    continue;
                }
                Err(_) => {
                    guard.clear_ready();
                    continue;
                }
            };
            drop(guard);
            for ev in events {
                let Some(dir) = self.dirs.get(&ev.wd).cloned() else {
                    continue;
                };
                let path = match &ev.name {
                    Some(n) => dir.join(n),
                    None => dir.clone(),
                };
                if ev.mask.contains(AddWatchFlags::IN_ISDIR)
                    && ev.mask.contains(AddWatchFlags::IN_CREATE)
                    && self.relevant(&path)
                {
                    self.add_tree(&path);
                }
                if self.relevant(&path) {
                    tx.deliver(Changed(path));
                }
            }
        }
    }
}
