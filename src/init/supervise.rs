//! The main loop of spec mode: the only place that turns unit actions into calls to the
//! operating system (through `Os`, so the decisions here are tested without processes).
//!
//! Inputs arrive as `Event`s on one channel (signals, probe reports, control requests) or as
//! deadlines (backoff, kill-delay, `every`, shutdown-grace). Each is fed to the unit state
//! machines in `unit`; their actions are carried out here. Never exits on a runtime error:
//! it logs and carries on. Exits only when shutdown has reaped every process.
//! Re-rendering and re-planning live in `reload`, the control requests in `answer`.

use super::control::{Call, Request, Response};
use super::os::Os;
use super::probe::{self, Report};
use super::reload::{InFlight, Pending, Waiters};
use super::unit::{Action, Input, State, Then, Unit};
use super::watch::Changed;
use crate::config::image::Image;
use crate::config::render;
use crate::spec::plan::{Plan, Planned};
use crate::spec::Kind;
use crate::sys::spawn::{self, Group};
use crate::sys::users::Account;
use crate::{duration, log, spec::order, sys::signals};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub enum Event {
    Signal(Signal),
    Probe(Report),
    Control(Request, oneshot::Sender<Response>),
    /// A watched input of the rendered config changed.
    InputChanged(std::path::PathBuf),
    /// A re-render asks for one validation command to run; the answer is its verdict.
    Validate {
        argv: Vec<String>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Every validation of the re-render in flight has answered.
    Validated(Vec<(render::Validation, Result<(), String>)>),
}

impl From<Signal> for Event {
    fn from(sig: Signal) -> Self {
        Event::Signal(sig)
    }
}

impl From<Report> for Event {
    fn from(report: Report) -> Self {
        Event::Probe(report)
    }
}

impl From<Call> for Event {
    fn from(call: Call) -> Self {
        Event::Control(call.request, call.reply)
    }
}

impl From<Changed> for Event {
    fn from(changed: Changed) -> Self {
        Event::InputChanged(changed.0)
    }
}

/// Who a child process belongs to.
pub(super) enum Owner {
    Unit(usize),
    /// A short-lived command of jinit's own; SIGKILLed at `kill_at` if still running (None
    /// once that was sent).
    Helper {
        job: Job,
        kill_at: Option<Instant>,
    },
}

/// What a helper command is for.
pub(super) enum Job {
    /// One exec readiness attempt of `unit` (the probe task gives up on it after
    /// `probe::ATTEMPT_LIMIT`); also killed as soon as the unit stops starting.
    Probe {
        unit: usize,
        reply: oneshot::Sender<bool>,
    },
    /// A re-render's validation command (`what`), limited to `render::VALIDATE_TIMEOUT`.
    Validate {
        what: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Running,
    /// Units are being stopped in reverse dependency order.
    StoppingUnits,
    /// Every unit is down; leftovers got TERM and get KILL at the deadline.
    Leftovers {
        kill_at: Option<Instant>,
    },
}

/// Everything the supervisor holds about one unit.
pub(super) struct Slot {
    pub unit: Unit,
    /// Its `if` is true.
    pub enabled: bool,
    /// Who it runs as (None: as jinit).
    pub account: Option<Account>,
    /// Indices of the units it comes `after`, and of those that come after it.
    pub deps: Vec<usize>,
    pub dependents: Vec<usize>,
    /// Its running readiness probe.
    pub probe: Option<JoinHandle<()>>,
    /// Process group of a service's last process, while members of it may still live. A
    /// service's processes end with it (like systemd's KillMode=control-group): nginx workers
    /// orphaned by a killed master would otherwise keep the ports and fool the readiness check.
    pub leftover_group: Option<Pid>,
}

/// The settings the loop needs from the image.
pub struct Settings {
    pub shutdown_grace: Duration,
    pub stop_timeout: Duration,
    /// Extra environment for every unit (from JINIT_ENV_FILE), before each unit's own `env`.
    pub base_env: Vec<(String, String)>,
    /// Variables withheld from units that do not name them in `pass-env` (and from helpers).
    pub secrets: Vec<String>,
}

impl Settings {
    pub fn of(image: &Image) -> Settings {
        Settings {
            shutdown_grace: image.spec.shutdown_grace,
            stop_timeout: image.spec.stop_timeout,
            base_env: image.unit_env(),
            secrets: image.secret_names(),
        }
    }
}

pub struct Supervisor<O: Os> {
    pub(super) os: O,
    pub(super) slots: Vec<Slot>,
    pub(super) pids: HashMap<Pid, Owner>,
    pub(super) phase: Phase,
    exit_code: Option<i32>,
    children_left: bool,
    /// Set when the shutdown begins: everything is down by then.
    stop_deadline: Option<Instant>,
    pub(super) settings: Settings,
    /// The image's configuration, for re-rendering; None in tests.
    pub(super) image: Option<Image>,
    pub(super) pending: Option<Pending>,
    /// The re-render whose validations run, and who asked for another meanwhile.
    pub(super) in_flight: Option<InFlight>,
    pub(super) queued: Option<Waiters>,
    pub(super) tx: mpsc::UnboundedSender<Event>,
}

impl<O: Os> Supervisor<O> {
    pub fn new(
        plan: Plan,
        settings: Settings,
        image: Option<Image>,
        tx: mpsc::UnboundedSender<Event>,
        os: O,
    ) -> Supervisor<O> {
        let specs: Vec<_> = plan.units.iter().map(|p| p.spec.clone()).collect();
        let mut deps = order::dependencies(&specs).into_iter();
        let mut dependents = order::dependents(&specs).into_iter();
        let seed = std::process::id() as u64 ^ Instant::now().elapsed().as_nanos() as u64;
        let slots: Vec<Slot> = plan
            .units
            .into_iter()
            .enumerate()
            .map(
                |(
                    i,
                    Planned {
                        spec,
                        enabled,
                        account,
                    },
                )| Slot {
                    unit: Unit::new(spec, seed.wrapping_mul(i as u64 + 0x9e37_79b9_7f4a_7c15)),
                    enabled,
                    account,
                    deps: deps.next().unwrap_or_default(),
                    dependents: dependents.next().unwrap_or_default(),
                    probe: None,
                    leftover_group: None,
                },
            )
            .collect();
        let mut sup = Supervisor {
            os,
            slots,
            pids: HashMap::new(),
            phase: Phase::Running,
            exit_code: None,
            children_left: false,
            stop_deadline: None,
            settings,
            image,
            pending: None,
            in_flight: None,
            queued: None,
            tx,
        };
        for s in sup.slots.iter_mut().filter(|s| !s.enabled) {
            s.unit.state = State::Skipped;
            log::transition(s.unit.name(), "waiting", "skipped", "its if is false");
        }
        sup
    }

    /// Runs until shutdown is complete; returns the container's exit code.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Event>) -> i32 {
        self.pump(Instant::now());
        loop {
            if let Some(code) = self.finished() {
                return code;
            }
            let event = match self.next_deadline() {
                Some(at) => {
                    tokio::select! {
                        ev = rx.recv() => ev,
                        _ = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => None,
                    }
                }
                None => rx.recv().await,
            };
            let now = Instant::now();
            match event {
                Some(event) => self.on_event(event, now),
                None => self.on_deadlines(now),
            }
            self.pump(now);
        }
    }

    pub(super) fn on_event(&mut self, event: Event, now: Instant) {
        match event {
            Event::Signal(sig) => self.on_signal(sig, now),
            Event::Probe(report) => self.on_probe(report, now),
            Event::Control(Request::Reload { unit: None }, reply) => {
                self.rerender(Waiters::asked("reload requested", Some(reply)), now)
            }
            Event::Control(req, reply) => {
                let resp = self.on_control(req, now);
                let _ = reply.send(resp);
            }
            Event::InputChanged(path) => self.on_input_changed(path, now),
            Event::Validate { argv, reply } => self.run_validation(argv, reply, now),
            Event::Validated(results) => self.on_validated(results, now),
        }
    }

    /// The exit code, once the shutdown has reaped every process.
    pub(super) fn finished(&self) -> Option<i32> {
        match self.phase {
            Phase::Leftovers { .. } if !self.children_left => self.exit_code,
            _ => None,
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let units = self.slots.iter().filter_map(|s| s.unit.deadline());
        let leftovers = match self.phase {
            Phase::Leftovers { kill_at } => kill_at,
            _ => None,
        };
        let rerender = self.pending.as_ref().map(|p| p.at);
        let helpers = self.pids.values().filter_map(|o| match o {
            Owner::Helper { kill_at, .. } => *kill_at,
            Owner::Unit(_) => None,
        });
        units.chain(leftovers).chain(rerender).chain(helpers).min()
    }

    pub(super) fn on_signal(&mut self, sig: Signal, now: Instant) {
        if sig == Signal::SIGCHLD {
            let reaped = self.os.reap();
            self.children_left = reaped.children_left;
            for (pid, code) in reaped.ended {
                self.on_exit(pid, code, now);
            }
        } else if signals::is_stop_request(sig) {
            if self.phase == Phase::Running {
                log::info(&format!(
                    "received SIG{}, stopping",
                    crate::spec::signal_name(sig)
                ));
            }
            self.begin_shutdown(0, now);
        } else if sig == Signal::SIGHUP {
            let waiters = Waiters {
                why: vec!["SIGHUP".into()],
                replies: Vec::new(),
                reload_all: true,
            };
            self.rerender(waiters, now);
        }
    }

    fn on_exit(&mut self, pid: Pid, code: i32, now: Instant) {
        match self.pids.remove(&pid) {
            Some(Owner::Unit(i)) => {
                if self.slots[i].unit.spec.kind == Kind::Service {
                    // TERM now; whatever is left gets KILL before the next start.
                    if self.os.signal_group(pid, Signal::SIGTERM) {
                        self.os.signal_group(pid, Signal::SIGCONT);
                        self.slots[i].leftover_group = Some(pid);
                    }
                }
                self.feed(i, Input::Exited(code), now)
            }
            Some(Owner::Helper { job, kill_at }) => match job {
                Job::Probe { reply, .. } => {
                    let _ = reply.send(code == 0);
                }
                Job::Validate { what, reply } => {
                    let verdict = match (code, kill_at) {
                        (0, _) => Ok(()),
                        (_, None) => Err(format!(
                            "validation `{what}` did not finish within {} and was killed",
                            duration::show(render::VALIDATE_TIMEOUT)
                        )),
                        _ => Err(format!(
                            "validation `{what}` failed (exit code {code}, its output is above)"
                        )),
                    };
                    let _ = reply.send(verdict);
                }
            },
            // An orphan re-parented to us: reaping it was the job.
            None => {}
        }
    }

    pub(super) fn on_probe(&mut self, report: Report, now: Instant) {
        match report {
            Report::Done { unit, pid, ok } => {
                if self.slots[unit].unit.state.pid() != Some(pid) {
                    return; // a probe of a process that is already gone
                }
                self.slots[unit].probe = None;
                let input = if ok {
                    Input::ProbeOk
                } else {
                    Input::ProbeTimeout
                };
                self.feed(unit, input, now);
            }
            Report::Exec { unit, argv, reply } => {
                let (env, env_remove) = self.unit_env(unit);
                let slot = &self.slots[unit];
                let req = spawn::Request {
                    argv: &argv,
                    env: &env,
                    env_remove: &env_remove,
                    cwd: slot.unit.spec.cwd.as_deref(),
                    account: slot.account.as_ref(),
                    group: Group::Session,
                    stdin: spawn::Stdin::Null,
                };
                match self.os.spawn(&req) {
                    Ok(pid) => {
                        let job = Job::Probe { unit, reply };
                        let kill_at = Some(now + probe::ATTEMPT_LIMIT);
                        self.pids.insert(pid, Owner::Helper { job, kill_at });
                    }
                    Err(_) => {
                        let _ = reply.send(false);
                    }
                }
            }
        }
    }

    pub(super) fn on_deadlines(&mut self, now: Instant) {
        self.kill_helpers(|_, kill_at| kill_at <= now);
        for i in 0..self.slots.len() {
            if self.slots[i].unit.deadline().is_some_and(|d| d <= now) {
                self.feed(i, Input::Timer, now);
            }
        }
        if self.pending.as_ref().is_some_and(|p| p.at <= now) {
            self.on_quiet_inputs(now);
        }
        if let Phase::Leftovers { kill_at: Some(at) } = self.phase {
            if at <= now {
                log::info("leftover processes did not exit within shutdown-grace: sending SIGKILL");
                self.os.signal_leftovers(Signal::SIGKILL);
                self.phase = Phase::Leftovers { kill_at: None };
            }
        }
    }

    /// Starts the stop of everything. The whole stop ends by `stop-timeout` from now: units
    /// still stopping when only `shutdown-grace` is left get SIGKILL, whatever their own
    /// kill-delay, and the leftovers' grace ends with the timeout too.
    pub(super) fn begin_shutdown(&mut self, code: i32, now: Instant) {
        if self.exit_code.is_none() {
            self.exit_code = Some(code);
        }
        if self.phase == Phase::Running {
            self.phase = Phase::StoppingUnits;
            let end = now.checked_add(self.settings.stop_timeout).unwrap_or(now);
            self.stop_deadline = Some(end);
            let units_by = end
                .checked_sub(self.settings.shutdown_grace)
                .unwrap_or(now)
                .max(now);
            for s in &mut self.slots {
                s.unit.stop_by(units_by);
            }
        }
    }

    /// Moves the units forward: starts what may start, or stops what may stop.
    pub(super) fn pump(&mut self, now: Instant) {
        loop {
            let mut changed = false;
            for i in 0..self.slots.len() {
                let before = self.slots[i].unit.state;
                if let Some(input) = self.next_input(i) {
                    self.feed(i, input, now);
                }
                changed |= self.slots[i].unit.state != before;
            }
            if !changed {
                break;
            }
        }
        let all_down = self.slots.iter().all(|s| s.unit.is_down());
        if self.phase == Phase::StoppingUnits && all_down {
            self.stop_probes();
            if self.children_left_now() {
                log::info("all units stopped; sending SIGTERM to leftover processes");
                self.os.signal_leftovers(Signal::SIGTERM);
                self.os.signal_leftovers(Signal::SIGCONT);
                let grace_end = now.checked_add(self.settings.shutdown_grace).unwrap_or(now);
                self.phase = Phase::Leftovers {
                    kill_at: Some(self.stop_deadline.map_or(grace_end, |d| d.min(grace_end))),
                };
            } else {
                self.phase = Phase::Leftovers { kill_at: None };
                self.children_left = false;
            }
        }
    }

    /// What the loop's phase asks of unit `i` now: a waiting unit starts once everything in
    /// its `after` allows; at shutdown a unit stops once it is idle or everything that comes
    /// after it is down (reverse dependency order).
    fn next_input(&self, i: usize) -> Option<Input> {
        let slot = &self.slots[i];
        let state = slot.unit.state;
        match self.phase {
            Phase::Running => {
                let deps_allow = slot
                    .deps
                    .iter()
                    .all(|&d| self.slots[d].unit.satisfies_dependents());
                (matches!(state, State::Waiting) && deps_allow).then_some(Input::Start)
            }
            Phase::StoppingUnits | Phase::Leftovers { .. } => {
                let idle = slot.unit.is_down();
                let dependents_down = slot
                    .dependents
                    .iter()
                    .all(|&d| self.slots[d].unit.is_down());
                let stopping = matches!(state, State::Stopping { .. });
                let done = matches!(state, State::Stopped | State::Skipped);
                (!done && !stopping && (idle || dependents_down)).then_some(Input::Stop)
            }
        }
    }

    /// Reaps once more so the answer is current (a unit's last exit was just processed).
    fn children_left_now(&mut self) -> bool {
        let reaped = self.os.reap();
        for (pid, _) in &reaped.ended {
            self.pids.remove(pid);
        }
        self.children_left = reaped.children_left;
        self.children_left
    }

    fn stop_probes(&mut self) {
        for s in &mut self.slots {
            if let Some(h) = s.probe.take() {
                h.abort();
            }
        }
        self.kill_helpers(|_, _| true);
    }

    /// SIGKILLs the helper commands `which` selects (by unit of a probe, and deadline); each
    /// stays registered until reaped, and is killed at most once.
    pub(super) fn kill_helpers(&mut self, which: impl Fn(Option<usize>, Instant) -> bool) {
        for (pid, owner) in &mut self.pids {
            if let Owner::Helper { job, kill_at } = owner {
                let unit = match job {
                    Job::Probe { unit, .. } => Some(*unit),
                    Job::Validate { .. } => None,
                };
                if kill_at.is_some_and(|at| which(unit, at)) {
                    signal_group(&mut self.os, *pid, Signal::SIGKILL);
                    *kill_at = None;
                }
            }
        }
    }

    /// Feeds one input to a unit, logs the transition and carries out the actions.
    pub(super) fn feed(&mut self, i: usize, input: Input, now: Instant) {
        let before = self.slots[i].unit.state;
        let actions = self.slots[i].unit.handle(input, now);
        log_transition(&self.slots[i].unit, before, now);
        // A probe only means something while its process is starting.
        if !matches!(self.slots[i].unit.state, State::Starting { .. }) {
            if let Some(probe) = self.slots[i].probe.take() {
                probe.abort();
            }
            self.kill_helpers(|unit, _| unit == Some(i));
        }
        for action in actions {
            self.act(i, action, now);
        }
    }

    fn act(&mut self, i: usize, action: Action, now: Instant) {
        match action {
            Action::Spawn => self.spawn_unit(i, now),
            Action::CheckCreates => {
                let path = self.slots[i].unit.spec.creates.clone().unwrap_or_default();
                if self.os.exists(&path) {
                    let unit = &mut self.slots[i].unit;
                    let before = unit.state;
                    unit.skip();
                    log::transition(
                        unit.name(),
                        before.word(),
                        "skipped",
                        &format!("{} exists", path.display()),
                    );
                } else {
                    self.spawn_unit(i, now);
                }
            }
            Action::Probe => {
                let unit = &self.slots[i].unit;
                let (Some(pid), Some(ready)) = (unit.state.pid(), unit.spec.ready.clone()) else {
                    return;
                };
                let limit = unit.spec.ready_timeout;
                if let Some(old) = self.slots[i].probe.take() {
                    old.abort();
                }
                self.slots[i].probe = self.os.probe(i, pid, ready, limit);
            }
            Action::Signal(sig) => {
                if let Some(pid) = self.slots[i].unit.state.pid() {
                    signal_group(&mut self.os, pid, sig);
                }
            }
            Action::Shutdown(code) => {
                if self.phase == Phase::Running {
                    log::info(&format!(
                        "{}: its policy stops the container (exit code {code})",
                        self.slots[i].unit.name()
                    ));
                }
                self.begin_shutdown(code, now);
            }
        }
    }

    /// A unit's environment: jinit's own with the env file's on top and the spec's `env` last,
    /// less the secrets its `pass-env` does not name. Returns what to set and what to remove.
    fn unit_env(&self, i: usize) -> (Vec<(String, String)>, Vec<String>) {
        let spec = &self.slots[i].unit.spec;
        let remove: Vec<String> = self
            .settings
            .secrets
            .iter()
            .filter(|n| !spec.pass_env.contains(n))
            .cloned()
            .collect();
        let mut env: Vec<(String, String)> = self
            .settings
            .base_env
            .iter()
            .filter(|(k, _)| !remove.contains(k))
            .cloned()
            .collect();
        env.extend(spec.env.iter().cloned());
        (env, remove)
    }

    fn spawn_unit(&mut self, i: usize, now: Instant) {
        if let Some(group) = self.slots[i].leftover_group.take() {
            self.os.signal_group(group, Signal::SIGKILL);
        }
        let (env, env_remove) = self.unit_env(i);
        let slot = &self.slots[i];
        let spec = &slot.unit.spec;
        let req = spawn::Request {
            argv: &spec.command,
            env: &env,
            env_remove: &env_remove,
            cwd: spec.cwd.as_deref(),
            account: slot.account.as_ref(),
            group: Group::Session,
            stdin: match &spec.stdin {
                Some(text) => spawn::Stdin::Data(text.as_bytes()),
                None => spawn::Stdin::Null,
            },
        };
        let result = match self.os.spawn(&req) {
            Ok(pid) => {
                // Registered before the next reap: the loop is single-threaded.
                self.pids.insert(pid, Owner::Unit(i));
                Ok(pid)
            }
            Err((code, e)) => {
                log::info(&format!(
                    "{}: cannot start {:?}: {e}",
                    spec.name, spec.command[0]
                ));
                Err(code)
            }
        };
        self.feed(i, Input::Spawned(result), now);
    }
}

/// Signals a unit's process group; falls back to the leader alone.
pub(super) fn signal_group(os: &mut impl Os, pid: Pid, sig: Signal) {
    if !os.signal_group(pid, sig) {
        os.signal(pid, sig);
    }
}

fn log_transition(u: &Unit, before: State, now: Instant) {
    let after = u.state;
    if before.word() == after.word() {
        return;
    }
    let detail = match (before, after) {
        (_, State::Starting { pid, .. } | State::Running { pid, .. }) => format!("pid {pid}"),
        (State::Starting { since, .. }, State::Ready { .. }) => duration::show(now - since),
        (_, State::Ready { pid, .. }) => format!("pid {pid}"),
        (_, State::Backoff { until }) => format!(
            "exit code {}, restart in {}",
            u.last_code.unwrap_or(0),
            duration::show(until.saturating_duration_since(now))
        ),
        (_, State::Exited { code } | State::Failed { code }) => format!("exit code {code}"),
        (State::Stopping { since, .. }, State::Stopped) => duration::show(now - since),
        (State::Starting { .. }, State::Stopping { then, .. }) => match then {
            Then::Fail => "not ready within ready-timeout".into(),
            Then::Stop => "stopped by the shutdown while starting".into(),
            Then::Start => "restart requested while starting".into(),
            Then::Skip | Then::Wait => "its if is now false".into(),
        },
        _ => String::new(),
    };
    log::transition(u.name(), before.word(), after.word(), &detail);
}
