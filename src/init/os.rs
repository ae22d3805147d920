//! What the supervisor asks of the operating system, as one trait: start a process, signal a
//! process or its group, reap, signal the leftovers, look for a file, start a readiness probe.
//! `Real` does it with syscalls; the supervisor's tests use a fake that records every call
//! and ends processes when told to, so its decisions (start order, restarts, shutdown order,
//! leftovers, re-planning) are tested without a single process.

use crate::init::probe::{self, Report};
use crate::sink::Sink;
use crate::spec::Ready;
use crate::sys::{leftovers, reap, spawn};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::time::Duration;
use tokio::task::JoinHandle;

pub trait Os {
    /// Starts a process; the shell-style code and the error when that fails.
    fn spawn(&mut self, req: &spawn::Request) -> Result<Pid, (i32, std::io::Error)>;
    /// Signals one process.
    fn signal(&mut self, pid: Pid, sig: Signal);
    /// Signals a process group; false when there is no such group.
    fn signal_group(&mut self, group: Pid, sig: Signal) -> bool;
    /// Collects every ended child (see `sys::reap`).
    fn reap(&mut self) -> reap::Reaped;
    /// Signals every process left under jinit.
    fn signal_leftovers(&mut self, sig: Signal);
    fn exists(&self, path: &Path) -> bool;
    /// Starts the readiness probe of `unit`'s process `pid`; it reports to the supervisor.
    fn probe(
        &mut self,
        unit: usize,
        pid: Pid,
        ready: Ready,
        limit: Duration,
    ) -> Option<JoinHandle<()>>;
    /// Gives back the memory only the boot or a re-render needed (see `sys::memory`).
    fn release_memory(&mut self);
}

/// The operating system itself; probe reports go to `sink`.
pub struct Real<S> {
    sink: S,
}

impl<S: Sink<Report> + Clone> Real<S> {
    pub fn new(sink: S) -> Real<S> {
        Real { sink }
    }
}

impl<S: Sink<Report> + Clone> Os for Real<S> {
    fn spawn(&mut self, req: &spawn::Request) -> Result<Pid, (i32, std::io::Error)> {
        spawn::spawn(req)
    }

    fn signal(&mut self, pid: Pid, sig: Signal) {
        let _ = kill(pid, sig);
    }

    fn signal_group(&mut self, group: Pid, sig: Signal) -> bool {
        killpg(group, sig).is_ok()
    }

    fn reap(&mut self) -> reap::Reaped {
        reap::reap()
    }

    fn signal_leftovers(&mut self, sig: Signal) {
        leftovers::signal_leftovers(sig)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn probe(
        &mut self,
        unit: usize,
        pid: Pid,
        ready: Ready,
        limit: Duration,
    ) -> Option<JoinHandle<()>> {
        let sink = self.sink.clone();
        Some(tokio::spawn(probe::run(unit, pid, ready, limit, sink)))
    }

    fn release_memory(&mut self) {
        crate::sys::memory::release();
    }
}

/// A recording stand-in for the operating system, for the supervisor's unit tests.
#[cfg(test)]
pub mod fake {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Default)]
    pub struct Fake {
        next: i32,
        /// Every process started: pid and argv, in order.
        pub spawned: Vec<(Pid, Vec<String>)>,
        /// Every signal sent to a process or group, in order.
        pub signals: Vec<(Pid, Signal)>,
        /// Signals sent to the leftovers, in order.
        pub leftover_signals: Vec<Signal>,
        /// Processes alive, by pid: whether a TERM ends them (with 128+15).
        pub alive: BTreeMap<Pid, bool>,
        /// Ended and not yet reaped.
        ended: Vec<(Pid, i32)>,
        /// Processes that are not ours but live under jinit (reparented orphans).
        pub orphans: usize,
        /// Commands whose start fails with exit code 127.
        pub missing: Vec<String>,
        /// Probes started: unit and pid.
        pub probes: Vec<(usize, Pid)>,
        pub files: Vec<std::path::PathBuf>,
        /// Times the supervisor gave memory back.
        pub releases: usize,
    }

    impl Fake {
        /// The process ends with `code` (128+N for signal N); the next reap reports it.
        pub fn exit(&mut self, pid: Pid, code: i32) {
            if self.alive.remove(&pid).is_some() {
                self.ended.push((pid, code));
            }
        }

        /// The pid of the last process started with `argv0`.
        pub fn pid_of(&self, argv0: &str) -> Pid {
            self.spawned
                .iter()
                .rev()
                .find(|(_, argv)| argv[0] == argv0)
                .map(|(pid, _)| *pid)
                .unwrap_or_else(|| panic!("{argv0} was never started"))
        }

        pub fn started(&self) -> Vec<&str> {
            self.spawned.iter().map(|(_, a)| a[0].as_str()).collect()
        }

        /// The processes signalled with `sig`, by argv0, in order.
        pub fn signalled(&self, sig: Signal) -> Vec<&str> {
            self.signals
                .iter()
                .filter(|(_, s)| *s == sig)
                .filter_map(|(pid, _)| {
                    self.spawned
                        .iter()
                        .find(|(p, _)| p == pid)
                        .map(|(_, a)| a[0].as_str())
                })
                .collect()
        }

        /// A process that ignores TERM (only KILL ends it).
        pub fn stubborn(&mut self, pid: Pid) {
            self.alive.insert(pid, false);
        }

        fn deliver(&mut self, pid: Pid, sig: Signal) {
            self.signals.push((pid, sig));
            let ends = match (sig, self.alive.get(&pid)) {
                (Signal::SIGKILL, Some(_)) => true,
                (Signal::SIGTERM, Some(&obeys)) => obeys,
                _ => false,
            };
            if ends {
                self.exit(pid, 128 + sig as i32);
            }
        }
    }

    impl Os for Fake {
        fn spawn(&mut self, req: &spawn::Request) -> Result<Pid, (i32, std::io::Error)> {
            if self.missing.contains(&req.argv[0]) {
                return Err((127, std::io::Error::from(std::io::ErrorKind::NotFound)));
            }
            self.next += 1;
            let pid = Pid::from_raw(1000 + self.next);
            self.spawned.push((pid, req.argv.to_vec()));
            self.alive.insert(pid, true);
            Ok(pid)
        }

        fn signal(&mut self, pid: Pid, sig: Signal) {
            self.deliver(pid, sig);
        }

        fn signal_group(&mut self, group: Pid, sig: Signal) -> bool {
            let known = self.alive.contains_key(&group);
            if known {
                self.deliver(group, sig);
            }
            known
        }

        fn reap(&mut self) -> reap::Reaped {
            reap::Reaped {
                ended: std::mem::take(&mut self.ended),
                children_left: !self.alive.is_empty() || self.orphans > 0,
            }
        }

        fn signal_leftovers(&mut self, sig: Signal) {
            self.leftover_signals.push(sig);
            if sig == Signal::SIGKILL {
                self.orphans = 0;
            }
        }

        fn exists(&self, path: &Path) -> bool {
            self.files.iter().any(|f| f == path)
        }

        fn probe(
            &mut self,
            unit: usize,
            pid: Pid,
            _ready: Ready,
            _limit: Duration,
        ) -> Option<JoinHandle<()>> {
            self.probes.push((unit, pid));
            None
        }

        fn release_memory(&mut self) {
            self.releases += 1;
        }
    }
}
