//! One unit's lifecycle as a pure state machine: an input and the time in, actions out.
//!
//! Never touches the OS: the supervisor performs the actions (spawn, signal, probe) and feeds
//! their results back as inputs. That keeps every transition testable with a fake clock.
//!
//! ```text
//!            Start                 Spawned(pid)         ProbeOk
//!  Waiting ---------> (Spawn) ---------------> Starting ---------> Ready        (service)
//!     |                                 \---> Running ----------> Done         (oneshot, exit 0)
//!     | `creates` exists                          |  exit, policy restart
//!     v                                           v
//!  Skipped                                    Backoff --Timer--> (Spawn)
//!                                 exit, policy ignore: Exited (success) / Failed
//!  any live state --Stop--> Stopping --Timer: SIGKILL--> ... --Exited--> Stopped
//!  Ready with a `drain` --Stop--> Draining --Drained or Timer--> Stopping  (--Exited--> Stopped)
//!  any state --Disable--> (Stopping -->) Skipped --Enable--> Waiting      (`if` re-evaluated;
//!  Enable while still stopping for a Disable: Waiting once the process is gone)
//! ```
//! The test `transitions_follow_the_table` walks this diagram.
//!
//! Over 500 lines: the state machine is one `match` best read whole, and its tests (every
//! transition) are more than a third of the file.

use crate::spec::{Kind, Policy, UnitSpec};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// Backoff: first restart after about 0.5 s, doubling up to 30 s, reset after 30 s up.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(500);
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
pub const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Waiting,
    Skipped,
    Starting {
        pid: Pid,
        since: Instant,
    },
    Ready {
        pid: Pid,
        since: Instant,
    },
    Running {
        pid: Pid,
        since: Instant,
    },
    Done {
        next_run: Option<Instant>,
    },
    Exited {
        code: i32,
    },
    Failed {
        code: i32,
    },
    Backoff {
        until: Instant,
    },
    /// The `drain` command runs; the stop signal follows when it ends or at `until`.
    Draining {
        pid: Pid,
        since: Instant,
        until: Instant,
        then: Then,
    },
    Stopping {
        pid: Pid,
        since: Instant,
        kill_at: Option<Instant>,
        then: Then,
    },
    Stopped,
}

/// What to do once a stopping unit's process is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Shutdown: stay stopped.
    Stop,
    /// `jinit restart`: start again at once.
    Start,
    /// Readiness timed out: handle like a failed exit.
    Fail,
    /// The unit's `if` turned false: stay down, as skipped.
    Skip,
    /// The unit's `if` turned true again while it was stopping: wait for `after`, then start.
    Wait,
}

impl State {
    /// Every word `word` returns, in lifecycle order: the metrics list each unit in each.
    pub const WORDS: [&'static str; 12] = [
        "waiting", "skipped", "starting", "ready", "running", "done", "exited", "failed",
        "backoff", "draining", "stopping", "stopped",
    ];

    pub fn word(&self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Skipped => "skipped",
            State::Starting { .. } => "starting",
            State::Ready { .. } => "ready",
            State::Running { .. } => "running",
            State::Done { .. } => "done",
            State::Exited { .. } => "exited",
            State::Failed { .. } => "failed",
            State::Backoff { .. } => "backoff",
            State::Draining { .. } => "draining",
            State::Stopping { .. } => "stopping",
            State::Stopped => "stopped",
        }
    }

    pub fn pid(&self) -> Option<Pid> {
        match *self {
            State::Starting { pid, .. }
            | State::Ready { pid, .. }
            | State::Running { pid, .. }
            | State::Draining { pid, .. }
            | State::Stopping { pid, .. } => Some(pid),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Everything in `after` is satisfied.
    Start,
    /// The supervisor ran the Spawn action: the pid, or the shell-style code when exec failed.
    Spawned(Result<Pid, i32>),
    /// The process ended: exit code, or 128+N for signal N.
    Exited(i32),
    ProbeOk,
    ProbeTimeout,
    /// The deadline returned by `deadline()` has passed.
    Timer,
    /// The `drain` command ended (its exit code), or could not start.
    Drained(i32),
    Stop,
    Restart,
    /// The unit's `if` turned false after a change of the environment.
    Disable,
    /// The unit's `if` turned true: wait for `after`, then start.
    Enable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start the command and feed back `Spawned`.
    Spawn,
    /// Start readiness probing (the unit has a `ready` check).
    Probe,
    /// Send a signal to the unit's process group.
    Signal(Signal),
    /// The container must stop with this exit code.
    Shutdown(i32),
    /// A `creates` oneshot needs no run: ask the supervisor to check its path.
    CheckCreates,
    /// Start the `drain` command and feed back `Drained`.
    Drain,
    /// Kill the `drain` command if it still runs.
    EndDrain,
}

#[derive(Debug)]
pub struct Unit {
    pub spec: UnitSpec,
    pub state: State,
    /// Times the unit was started again after its first start.
    pub restarts: u32,
    /// Reload signals sent to it (`reload-signal`, `on-change`).
    pub reloads: u32,
    /// Consecutive quick failures, for the backoff.
    streak: u32,
    /// Whether the last exit (or spawn failure) was the cause of a failed state.
    pub last_code: Option<i32>,
    /// The last process's end, whatever caused it (a stop, a restart, a failure): the exit
    /// code, 128+N for signal N, or the shell-style code of a failed exec. For metrics.
    pub last_exit: Option<i32>,
    /// How long the current (or last) process took from its start to ready.
    pub ready_after: Option<Duration>,
    /// Set at shutdown: the stop of this unit must end (SIGKILL) by then, whatever its
    /// kill-delay says, so the whole stop fits the orchestrator's window.
    kill_by: Option<Instant>,
    jitter: u64,
}

impl Unit {
    pub fn new(spec: UnitSpec, seed: u64) -> Unit {
        Unit {
            spec,
            state: State::Waiting,
            restarts: 0,
            reloads: 0,
            streak: 0,
            last_code: None,
            last_exit: None,
            ready_after: None,
            kill_by: None,
            jitter: seed | 1,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The unit no longer has a process and will not start one on its own before shutdown.
    pub fn is_down(&self) -> bool {
        self.state.pid().is_none()
    }

    /// Units that `after` this one may start.
    pub fn satisfies_dependents(&self) -> bool {
        match self.state {
            State::Ready { .. } | State::Skipped | State::Done { .. } => true,
            // A failure the spec says to ignore must not block the rest forever.
            State::Exited { .. } => self.spec.on_success == Policy::Ignore,
            State::Failed { .. } => self.spec.on_failure == Policy::Ignore,
            _ => false,
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Backoff { until } => Some(until),
            State::Draining { until, .. } => Some(until),
            State::Stopping { kill_at, .. } => kill_at,
            State::Done { next_run } => next_run,
            _ => None,
        }
    }

    /// Feeds one input; returns the actions for the supervisor, in order.
    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Action> {
        use State::*;
        let kind = self.spec.kind;
        if let Input::Exited(code) | Input::Spawned(Err(code)) = input {
            self.last_exit = Some(code);
        }
        match (self.state, input) {
            (Waiting, Input::Start) => {
                if self.spec.creates.is_some() {
                    vec![Action::CheckCreates]
                } else {
                    vec![Action::Spawn]
                }
            }
            (_, Input::Spawned(Ok(pid))) => {
                if kind == Kind::Oneshot {
                    self.state = Running { pid, since: now };
                    vec![]
                } else {
                    self.state = Starting { pid, since: now };
                    if self.spec.ready.is_some() {
                        vec![Action::Probe]
                    } else {
                        self.state = Ready { pid, since: now };
                        self.ready_after = Some(Duration::ZERO);
                        vec![]
                    }
                }
            }
            (_, Input::Spawned(Err(code))) => self.ended(code, now, now),
            (Starting { pid, since }, Input::ProbeOk) => {
                self.state = Ready { pid, since };
                self.ready_after = Some(now.saturating_duration_since(since));
                vec![]
            }
            (Starting { pid, .. }, Input::ProbeTimeout) => self.stop_process(pid, now, Then::Fail),
            (
                Starting { since, .. } | Ready { since, .. } | Running { since, .. },
                Input::Exited(code),
            ) => self.ended(code, since, now),
            (Stopping { then, since, .. }, Input::Exited(code)) => {
                self.stopped(then, code, since, now)
            }
            // The service ended by itself while draining (a bridge whose conferences are
            // over): the stop is done.
            (Draining { then, since, .. }, Input::Exited(code)) => {
                let mut actions = vec![Action::EndDrain];
                actions.extend(self.stopped(then, code, since, now));
                actions
            }
            (Draining { pid, then, .. }, Input::Drained(_)) => self.signal_stop(pid, now, then),
            (
                Draining {
                    pid, until, then, ..
                },
                Input::Timer,
            ) if now >= until => {
                let mut actions = vec![Action::EndDrain];
                actions.extend(self.signal_stop(pid, now, then));
                actions
            }
            (
                Stopping {
                    pid,
                    since,
                    kill_at: Some(_),
                    then,
                },
                Input::Timer,
            ) => {
                self.state = Stopping {
                    pid,
                    since,
                    kill_at: None,
                    then,
                };
                vec![Action::Signal(Signal::SIGKILL)]
            }
            (Backoff { until }, Input::Timer) if now >= until => {
                self.restarts += 1;
                vec![Action::Spawn]
            }
            (Done { next_run: Some(at) }, Input::Timer) if now >= at => {
                vec![Action::Spawn]
            }
            (Starting { pid, .. } | Ready { pid, .. } | Running { pid, .. }, Input::Stop) => {
                self.stop_process(pid, now, Then::Stop)
            }
            // A restart, failed probe or disable in progress becomes a plain stop.
            (Stopping { .. } | Draining { .. }, Input::Stop) => self.then_after_stop(Then::Stop),
            (Skipped, Input::Stop) => vec![],
            (_, Input::Stop) => {
                self.state = Stopped;
                vec![]
            }
            (Starting { pid, .. } | Ready { pid, .. } | Running { pid, .. }, Input::Restart) => {
                self.stop_process(pid, now, Then::Start)
            }
            (Backoff { .. } | Done { .. } | Exited { .. } | Failed { .. }, Input::Restart) => {
                self.restarts += 1;
                self.streak = 0;
                vec![Action::Spawn]
            }
            (Starting { pid, .. } | Ready { pid, .. } | Running { pid, .. }, Input::Disable) => {
                self.stop_process(pid, now, Then::Skip)
            }
            (Stopping { .. } | Draining { .. }, Input::Disable) => self.then_after_stop(Then::Skip),
            (_, Input::Disable) => {
                self.state = Skipped;
                vec![]
            }
            (Skipped, Input::Enable) => {
                self.state = Waiting;
                self.streak = 0;
                vec![]
            }
            (
                Stopping {
                    then: Then::Skip, ..
                }
                | Draining {
                    then: Then::Skip, ..
                },
                Input::Enable,
            ) => self.then_after_stop(Then::Wait),
            // Anything else (a late probe result, a stale timer) changes nothing.
            _ => vec![],
        }
    }

    /// Changes what a stopping unit does once its process is gone.
    fn then_after_stop(&mut self, next: Then) -> Vec<Action> {
        if let State::Stopping { then, .. } | State::Draining { then, .. } = &mut self.state {
            *then = next;
        }
        vec![]
    }

    /// What follows once a stopping (or draining) unit's process is gone.
    fn stopped(&mut self, then: Then, code: i32, since: Instant, now: Instant) -> Vec<Action> {
        match then {
            Then::Stop => {
                self.state = State::Stopped;
                vec![]
            }
            Then::Start => {
                self.restarts += 1;
                self.streak = 0;
                vec![Action::Spawn]
            }
            Then::Fail => self.ended(if code == 0 { 1 } else { code }, since, now),
            Then::Skip => {
                self.state = State::Skipped;
                vec![]
            }
            Then::Wait => {
                self.state = State::Waiting;
                self.streak = 0;
                vec![]
            }
        }
    }

    /// From now on every stop ends by `deadline`; a stop already under way is shortened.
    pub fn stop_by(&mut self, deadline: Instant) {
        self.kill_by = Some(deadline);
        let drain_by = self.drain_by(deadline);
        match &mut self.state {
            State::Stopping {
                kill_at: Some(at), ..
            } => *at = (*at).min(deadline),
            State::Draining { until, .. } => *until = (*until).min(drain_by),
            _ => {}
        }
    }

    /// A drain must end the kill-delay before `deadline`: the stop signal needs that long.
    fn drain_by(&self, deadline: Instant) -> Instant {
        deadline
            .checked_sub(self.spec.kill_delay)
            .unwrap_or(deadline)
    }

    /// The `creates` path of a oneshot exists: nothing to run.
    pub fn skip(&mut self) {
        self.state = State::Skipped;
    }

    /// Stops the process: through its `drain` first when it is a ready service that has one
    /// (not when it failed its readiness: there is nothing to drain).
    fn stop_process(&mut self, pid: Pid, now: Instant, then: Then) -> Vec<Action> {
        if self.spec.drain.is_some()
            && then != Then::Fail
            && matches!(self.state, State::Ready { .. })
        {
            let own = now.checked_add(self.spec.drain_timeout).unwrap_or(now);
            let until = match self.kill_by {
                Some(by) => own.min(self.drain_by(by)).max(now),
                None => own,
            };
            self.state = State::Draining {
                pid,
                since: now,
                until,
                then,
            };
            return vec![Action::Drain];
        }
        self.signal_stop(pid, now, then)
    }

    /// Sends the stop signal; SIGKILL follows after the kill-delay.
    fn signal_stop(&mut self, pid: Pid, now: Instant, then: Then) -> Vec<Action> {
        let own = now.checked_add(self.spec.kill_delay);
        let kill_at = match (own, self.kill_by) {
            (Some(own), Some(by)) => Some(own.min(by)),
            (own, by) => own.or(by),
        };
        self.state = State::Stopping {
            pid,
            since: now,
            kill_at,
            then,
        };
        // A stopped (SIGSTOP, or a debugger's) process cannot act on the stop signal until it
        // runs again: SIGCONT after it, as systemd and s6 do, or it costs the whole kill-delay.
        let mut actions = vec![Action::Signal(self.spec.stop_signal)];
        if self.spec.stop_signal != Signal::SIGCONT {
            actions.push(Action::Signal(Signal::SIGCONT));
        }
        actions
    }

    /// The process is gone on its own: apply the unit's policy.
    fn ended(&mut self, code: i32, since: Instant, now: Instant) -> Vec<Action> {
        self.last_code = Some(code);
        let success = code == 0;
        let policy = if success {
            self.spec.on_success
        } else {
            self.spec.on_failure
        };
        if now.duration_since(since) >= BACKOFF_RESET_AFTER {
            self.streak = 0;
        }
        let settled = match (self.spec.kind, success) {
            (Kind::Oneshot, true) => State::Done {
                next_run: self.spec.every.and_then(|every| now.checked_add(every)),
            },
            (Kind::Service, true) => State::Exited { code },
            (_, false) => State::Failed { code },
        };
        match policy {
            Policy::Restart => {
                let delay = self.backoff();
                self.streak += 1;
                self.state = State::Backoff {
                    until: now.checked_add(delay).unwrap_or(now),
                };
                vec![]
            }
            Policy::Shutdown => {
                self.state = settled;
                vec![Action::Shutdown(code)]
            }
            _ => {
                self.state = settled;
                vec![]
            }
        }
    }

    /// 0.5 s, 1 s, 2 s, ... capped at 30 s, with up to 10% jitter either way.
    fn backoff(&mut self) -> Duration {
        let base = BACKOFF_FIRST
            .saturating_mul(1u32 << self.streak.min(16))
            .min(BACKOFF_MAX);
        // xorshift64: cheap, deterministic per seed, good enough to spread restarts.
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        let permille = (self.jitter % 201) as i64 - 100; // -100..=100
        let ms = base.as_millis() as i64;
        Duration::from_millis((ms + ms * permille / 1000).max(1) as u64)
    }

    /// Seconds since the current process started, for status.
    pub fn uptime(&self, now: Instant) -> Option<Duration> {
        match self.state {
            State::Starting { since, .. }
            | State::Ready { since, .. }
            | State::Running { since, .. } => Some(now.duration_since(since)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;
    use std::path::Path;

    /// What every stop sends: the stop signal, then SIGCONT in case the process is stopped.
    const STOP: [Action; 2] = [
        Action::Signal(Signal::SIGTERM),
        Action::Signal(Signal::SIGCONT),
    ];

    #[test]
    fn a_shutdown_deadline_shortens_every_stop() {
        let t0 = Instant::now();
        let mut u = unit("", "service");
        u.spec.kill_delay = Duration::from_secs(3600);
        u.handle(Input::Start, t0);
        u.handle(Input::Spawned(Ok(pid(5))), t0);
        // A restart under way when the shutdown begins: its 1 h kill-delay is cut short.
        u.handle(Input::Restart, t0);
        assert_eq!(u.deadline(), Some(t0 + Duration::from_secs(3600)));
        u.stop_by(t0 + Duration::from_secs(3));
        assert_eq!(u.deadline(), Some(t0 + Duration::from_secs(3)));
        // A stop after that starts with the deadline already.
        let mut v = unit("", "service");
        v.spec.kill_delay = Duration::from_secs(3600);
        v.handle(Input::Start, t0);
        v.handle(Input::Spawned(Ok(pid(6))), t0);
        v.stop_by(t0 + Duration::from_secs(4));
        assert_eq!(v.handle(Input::Stop, t0), STOP.to_vec());
        assert_eq!(v.deadline(), Some(t0 + Duration::from_secs(4)));
        // A kill-delay shorter than the deadline stays.
        let mut w = unit("", "service");
        w.handle(Input::Start, t0);
        w.handle(Input::Spawned(Ok(pid(7))), t0);
        w.stop_by(t0 + Duration::from_secs(60));
        w.handle(Input::Stop, t0);
        assert_eq!(w.deadline(), Some(t0 + Duration::from_secs(2)));
    }

    #[test]
    fn sigcont_follows_the_stop_signal_unless_it_is_sigcont() {
        let t0 = Instant::now();
        let mut u = unit("stop-signal = \"QUIT\"", "service");
        u.handle(Input::Start, t0);
        u.handle(Input::Spawned(Ok(pid(5))), t0);
        assert_eq!(
            u.handle(Input::Stop, t0),
            vec![
                Action::Signal(Signal::SIGQUIT),
                Action::Signal(Signal::SIGCONT)
            ]
        );
        let mut v = unit("stop-signal = \"CONT\"", "service");
        v.handle(Input::Start, t0);
        v.handle(Input::Spawned(Ok(pid(6))), t0);
        assert_eq!(
            v.handle(Input::Stop, t0),
            vec![Action::Signal(Signal::SIGCONT)]
        );
    }

    fn unit(extra: &str, kind: &str) -> Unit {
        let text = format!("[{kind}.u]\ncommand = [\"x\"]\nkill-delay = \"2s\"\n{extra}");
        let spec = Spec::parse(&text, Path::new("t")).expect("valid");
        Unit::new(spec.units[0].clone(), 42)
    }

    fn pid(n: i32) -> Pid {
        Pid::from_raw(n)
    }

    #[test]
    fn every_state_word_is_listed_once() {
        let t = Instant::now();
        let p = pid(1);
        let states = [
            State::Waiting,
            State::Skipped,
            State::Starting { pid: p, since: t },
            State::Ready { pid: p, since: t },
            State::Running { pid: p, since: t },
            State::Done { next_run: None },
            State::Exited { code: 0 },
            State::Failed { code: 1 },
            State::Backoff { until: t },
            State::Draining {
                pid: p,
                since: t,
                until: t,
                then: Then::Stop,
            },
            State::Stopping {
                pid: p,
                since: t,
                kill_at: None,
                then: Then::Stop,
            },
            State::Stopped,
        ];
        let words: Vec<&str> = states.iter().map(State::word).collect();
        assert_eq!(words, State::WORDS);
    }

    #[test]
    fn readiness_time_and_every_exit_are_kept() {
        let t0 = Instant::now();
        let mut u = unit("ready = { tcp = \"127.0.0.1:1\" }", "service");
        u.handle(Input::Start, t0);
        u.handle(Input::Spawned(Ok(pid(10))), t0);
        assert_eq!((u.ready_after, u.last_exit), (None, None));
        u.handle(Input::ProbeOk, t0 + Duration::from_millis(1500));
        assert_eq!(u.ready_after, Some(Duration::from_millis(1500)));
        // Killed by SIGKILL: the shell's 128+9.
        u.handle(Input::Exited(137), t0 + Duration::from_secs(2));
        assert_eq!(u.last_exit, Some(137));
        // A stop's exit is kept too, though it is no failure.
        let mut v = unit("", "service");
        v.handle(Input::Start, t0);
        v.handle(Input::Spawned(Ok(pid(11))), t0);
        assert_eq!(
            v.ready_after,
            Some(Duration::ZERO),
            "no ready check: ready at once"
        );
        v.handle(Input::Stop, t0);
        v.handle(Input::Exited(143), t0);
        assert_eq!((v.state, v.last_exit), (State::Stopped, Some(143)));
        // A failed exec: its shell-style code.
        let mut w = unit("", "oneshot");
        w.handle(Input::Start, t0);
        w.handle(Input::Spawned(Err(127)), t0);
        assert_eq!(w.last_exit, Some(127));
    }

    #[test]
    fn a_ready_service_with_a_drain_drains_before_its_stop_signal() {
        let t0 = Instant::now();
        let ready = |extra: &str| {
            let mut u = unit(
                &format!(
                    "drain = [\"d\"]\ndrain-timeout = \"60s\"\n{extra}\n\
                     [jinit]\nstop-timeout = \"2m\""
                ),
                "service",
            );
            u.handle(Input::Start, t0);
            u.handle(Input::Spawned(Ok(pid(7))), t0);
            u
        };
        // The drain ends: the stop signal follows.
        let mut u = ready("");
        assert_eq!(u.handle(Input::Stop, t0), vec![Action::Drain]);
        assert_eq!(u.state.word(), "draining");
        assert_eq!(u.deadline(), Some(t0 + Duration::from_secs(60)));
        assert_eq!(u.state.pid(), Some(pid(7)), "the service still runs");
        let t1 = t0 + Duration::from_secs(3);
        assert_eq!(u.handle(Input::Drained(0), t1), STOP.to_vec());
        assert_eq!(
            u.deadline(),
            Some(t1 + Duration::from_secs(2)),
            "its kill-delay"
        );
        u.handle(Input::Exited(143), t1);
        assert_eq!(u.state, State::Stopped);

        // The service exits by itself while draining: done, the drain command is ended.
        let mut u = ready("");
        u.handle(Input::Stop, t0);
        assert_eq!(u.handle(Input::Exited(0), t1), vec![Action::EndDrain]);
        assert_eq!((u.state, u.last_exit), (State::Stopped, Some(0)));

        // The drain outlives its timeout: it is ended and the stop signal sent.
        let mut u = ready("");
        u.handle(Input::Stop, t0);
        let until = t0 + Duration::from_secs(60);
        let mut want = vec![Action::EndDrain];
        want.extend(STOP);
        assert_eq!(u.handle(Input::Timer, until), want);
        assert_eq!(u.state.word(), "stopping");

        // A restart drains too, then starts again; a shutdown meanwhile makes it a stop.
        let mut u = ready("");
        assert_eq!(u.handle(Input::Restart, t0), vec![Action::Drain]);
        u.handle(Input::Stop, t0);
        u.handle(Input::Drained(0), t1);
        u.handle(Input::Exited(143), t1);
        assert_eq!((u.state, u.restarts), (State::Stopped, 0));

        // The shutdown's deadline shortens the drain: the kill-delay must still fit before it.
        let mut u = ready("");
        u.stop_by(t0 + Duration::from_secs(10));
        u.handle(Input::Stop, t0);
        assert_eq!(u.deadline(), Some(t0 + Duration::from_secs(8)));
        let mut u = ready("");
        u.handle(Input::Stop, t0);
        u.stop_by(t0 + Duration::from_secs(5));
        assert_eq!(
            u.deadline(),
            Some(t0 + Duration::from_secs(3)),
            "a drain under way"
        );

        // Nothing to drain: a service still starting, or one that failed its readiness.
        let mut u = unit(
            "drain = [\"d\"]\nready = { tcp = \"127.0.0.1:1\" }\n[jinit]\nstop-timeout = \"1m\"",
            "service",
        );
        u.handle(Input::Start, t0);
        u.handle(Input::Spawned(Ok(pid(8))), t0);
        assert_eq!(u.handle(Input::ProbeTimeout, t0), STOP.to_vec());
    }

    #[test]
    fn transitions_follow_the_table() {
        let t0 = Instant::now();
        let mut u = unit("ready = { tcp = \"127.0.0.1:1\" }", "service");
        assert_eq!(u.handle(Input::Start, t0), vec![Action::Spawn]);
        assert_eq!(
            u.handle(Input::Spawned(Ok(pid(10))), t0),
            vec![Action::Probe]
        );
        assert_eq!(u.state.word(), "starting");
        assert!(!u.satisfies_dependents());
        u.handle(Input::ProbeOk, t0);
        assert_eq!(u.state.word(), "ready");
        assert!(u.satisfies_dependents());
        // Crash: backoff, then the timer spawns again.
        assert_eq!(u.handle(Input::Exited(1), t0), vec![]);
        let State::Backoff { until } = u.state else {
            panic!("{:?}", u.state)
        };
        assert_eq!(u.deadline(), Some(until));
        assert_eq!(u.handle(Input::Timer, until), vec![Action::Spawn]);
        assert_eq!(u.restarts, 1);
        u.handle(Input::Spawned(Ok(pid(11))), until);
        // Stop: stop signal, then SIGKILL at the deadline, then stopped.
        assert_eq!(u.handle(Input::Stop, until), STOP.to_vec());
        let kill_at = u.deadline().unwrap();
        assert_eq!(kill_at - until, Duration::from_secs(2));
        assert_eq!(
            u.handle(Input::Timer, kill_at),
            vec![Action::Signal(Signal::SIGKILL)]
        );
        assert_eq!(u.deadline(), None);
        u.handle(Input::Exited(137), kill_at);
        assert_eq!(u.state, State::Stopped);
        assert!(u.is_down());
    }

    #[test]
    fn disable_stops_into_skipped_and_enable_waits_again() {
        let t0 = Instant::now();
        let mut u = unit("", "service");
        u.handle(Input::Start, t0);
        u.handle(Input::Spawned(Ok(pid(7))), t0);
        assert_eq!(u.state.word(), "ready");
        assert_eq!(u.handle(Input::Disable, t0), STOP.to_vec());
        assert_eq!(u.state.word(), "stopping");
        assert_eq!(u.handle(Input::Exited(143), t0), vec![]);
        assert_eq!(u.state, State::Skipped);
        assert!(
            u.satisfies_dependents(),
            "a disabled unit does not block others"
        );
        assert_eq!(u.handle(Input::Enable, t0), vec![]);
        assert_eq!(u.state, State::Waiting);
        assert_eq!(u.handle(Input::Start, t0), vec![Action::Spawn]);
        // Down states go straight to skipped; Enable does nothing to a live unit.
        for state in [
            State::Waiting,
            State::Backoff { until: t0 },
            State::Exited { code: 0 },
            State::Failed { code: 1 },
            State::Stopped,
        ] {
            u.state = state;
            assert_eq!(u.handle(Input::Disable, t0), vec![], "{state:?}");
            assert_eq!(u.state, State::Skipped, "{state:?}");
        }
        u.state = State::Ready {
            pid: pid(8),
            since: t0,
        };
        assert_eq!(u.handle(Input::Enable, t0), vec![]);
        assert_eq!(u.state.word(), "ready");
        // Enabled again while still stopping for the Disable: waits once the process is gone.
        u.handle(Input::Disable, t0);
        assert_eq!(u.state.word(), "stopping");
        assert_eq!(u.handle(Input::Enable, t0), vec![]);
        assert_eq!(u.handle(Input::Exited(143), t0), vec![]);
        assert_eq!(u.state, State::Waiting);
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let mut u = unit("", "service");
        let mut now = Instant::now();
        let mut delays = Vec::new();
        u.handle(Input::Start, now);
        for i in 0..10 {
            u.handle(Input::Spawned(Ok(pid(100 + i))), now);
            u.handle(Input::Exited(1), now);
            let until = u.deadline().unwrap();
            delays.push((until - now).as_millis() as u64);
            now = until;
            u.handle(Input::Timer, now);
        }
        for (d, want) in delays
            .iter()
            .zip([500u64, 1000, 2000, 4000, 8000, 16000, 30000, 30000])
        {
            assert!(*d >= want * 9 / 10 && *d <= want * 11 / 10, "{delays:?}");
        }
        // A long healthy run resets the streak.
        u.handle(Input::Spawned(Ok(pid(1))), now);
        let later = now + BACKOFF_RESET_AFTER;
        u.handle(Input::Exited(1), later);
        let d = u.deadline().unwrap() - later;
        assert!(d <= Duration::from_millis(550), "{d:?}");
    }

    #[test]
    fn oneshot_failure_shuts_down_with_its_code_by_default() {
        let now = Instant::now();
        let mut u = unit("", "oneshot");
        u.handle(Input::Start, now);
        u.handle(Input::Spawned(Ok(pid(5))), now);
        assert_eq!(u.state.word(), "running");
        assert_eq!(u.handle(Input::Exited(3), now), vec![Action::Shutdown(3)]);
        assert_eq!(u.state, State::Failed { code: 3 });
    }

    #[test]
    fn oneshot_success_is_done_and_reruns_every() {
        let now = Instant::now();
        let mut u = unit("every = \"1h\"", "oneshot");
        u.handle(Input::Start, now);
        u.handle(Input::Spawned(Ok(pid(5))), now);
        assert_eq!(u.handle(Input::Exited(0), now), vec![]);
        assert!(u.satisfies_dependents());
        let at = u.deadline().unwrap();
        assert_eq!(at - now, Duration::from_secs(3600));
        assert_eq!(u.handle(Input::Timer, at), vec![Action::Spawn]);
    }

    #[test]
    fn on_success_shutdown_stops_the_container_with_zero() {
        let now = Instant::now();
        let mut u = unit("on-success = \"shutdown\"", "service");
        u.handle(Input::Start, now);
        u.handle(Input::Spawned(Ok(pid(5))), now);
        assert_eq!(u.handle(Input::Exited(0), now), vec![Action::Shutdown(0)]);
    }

    #[test]
    fn spawn_failure_counts_as_exit_127() {
        let now = Instant::now();
        let mut u = unit("on-failure = \"shutdown\"", "service");
        u.handle(Input::Start, now);
        assert_eq!(
            u.handle(Input::Spawned(Err(127)), now),
            vec![Action::Shutdown(127)]
        );
    }

    #[test]
    fn readiness_timeout_stops_then_counts_as_failure() {
        let now = Instant::now();
        let mut u = unit(
            "ready = { file = \"/x\" }\non-failure = \"shutdown\"",
            "service",
        );
        u.handle(Input::Start, now);
        u.handle(Input::Spawned(Ok(pid(5))), now);
        assert_eq!(u.handle(Input::ProbeTimeout, now), STOP.to_vec());
        assert_eq!(
            u.handle(Input::Exited(143), now),
            vec![Action::Shutdown(143)]
        );
    }

    #[test]
    fn restart_request_stops_then_spawns() {
        let now = Instant::now();
        let mut u = unit("", "service");
        u.handle(Input::Start, now);
        u.handle(Input::Spawned(Ok(pid(5))), now);
        assert_eq!(u.handle(Input::Restart, now), STOP.to_vec());
        assert_eq!(u.handle(Input::Exited(143), now), vec![Action::Spawn]);
        assert_eq!(u.restarts, 1);
    }

    #[test]
    fn stop_of_an_idle_unit_is_immediate() {
        let now = Instant::now();
        let mut u = unit("", "service");
        assert_eq!(u.handle(Input::Stop, now), vec![]);
        assert_eq!(u.state, State::Stopped);
    }
}
