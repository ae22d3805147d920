//! The units and the processes they own: one slot per unit, the table of child pids, and the
//! only code that turns a unit's actions into calls to the operating system (`Os`), with
//! `helpers` for the short commands jinit runs beside them.
//!
//! Knows nothing of the loop's phase beyond `stopping`: a unit's policy asking to stop the
//! container is recorded (`take_shutdown`) and carried out by the supervisor.

use super::helpers::{self, Job, Owner};
use super::os::Os;
use super::probe::{self, Report};
use super::unit::{Action, Input, State, Then, Unit};
use crate::spec::handoff::{self, Outcome};
use crate::spec::plan::{Plan, Planned};
use crate::spec::{order, Kind};
use crate::sys::spawn::{self, Group};
use crate::sys::users::Account;
use crate::{duration, log};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Everything held about one unit.
pub struct Slot {
    pub unit: Unit,
    /// Its `if` is true.
    pub enabled: bool,
    /// Who it runs as (None: as jinit).
    pub account: Option<Account>,
    /// Indices of the units it comes `after`, and of those that come after it.
    pub deps: Vec<usize>,
    pub dependents: Vec<usize>,
    /// Its running readiness probe.
    probe: Option<JoinHandle<()>>,
    /// Process group of a service's last process, while members of it may still live. A
    /// service's processes end with it (like systemd's KillMode=control-group): nginx workers
    /// orphaned by a killed master would otherwise keep the ports and fool the readiness check.
    leftover_group: Option<Pid>,
}

/// What the units need from the image.
pub struct Settings {
    pub shutdown_grace: Duration,
    pub stop_timeout: Duration,
    /// Extra environment for every unit (from JINIT_ENV_FILE), before each unit's own `env`.
    pub base_env: Vec<(String, String)>,
    /// Variables withheld from units that do not name them in `pass-env` (and from helpers).
    pub secrets: Vec<String>,
}

impl Settings {
    pub fn of(outcome: &Outcome) -> Settings {
        Settings {
            shutdown_grace: outcome.shutdown_grace,
            stop_timeout: outcome.stop_timeout,
            base_env: outcome.base_env.clone(),
            secrets: outcome.secrets.clone(),
        }
    }
}

pub struct Units<O: Os> {
    pub os: O,
    pub slots: Vec<Slot>,
    pids: helpers::Pids,
    pub settings: Settings,
    /// The container is stopping: no unit's policy needs to ask for it again.
    pub stopping: bool,
    /// A unit's policy asked to stop the container with this code.
    shutdown: Option<i32>,
}

impl<O: Os> Units<O> {
    pub fn new(plan: Plan, settings: Settings, os: O) -> Units<O> {
        let specs: Vec<_> = plan.units.iter().map(|p| p.spec.clone()).collect();
        let mut deps = order::dependencies(&specs).into_iter();
        let mut dependents = order::dependents(&specs).into_iter();
        let seed = std::process::id() as u64 ^ Instant::now().elapsed().as_nanos() as u64;
        let mut slots: Vec<Slot> = plan
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
        for s in slots.iter_mut().filter(|s| !s.enabled) {
            s.unit.state = State::Skipped;
            log::transition(s.unit.name(), "waiting", "skipped", "its if is false");
        }
        Units {
            os,
            slots,
            pids: HashMap::new(),
            settings,
            stopping: false,
            shutdown: None,
        }
    }

    /// The exit code a unit's policy asked the container to stop with, once.
    pub fn take_shutdown(&mut self) -> Option<i32> {
        self.shutdown.take()
    }

    /// Whether a unit's policy asked to stop the container and it has not been taken yet.
    pub fn shutdown_asked(&self) -> bool {
        self.shutdown.is_some()
    }

    /// The earliest deadline of a unit or of a helper command.
    pub fn deadline(&self) -> Option<Instant> {
        let units = self.slots.iter().filter_map(|s| s.unit.deadline());
        let helpers = self.pids.values().filter_map(|o| match o {
            Owner::Helper { kill_at, .. } => *kill_at,
            Owner::Unit(_) => None,
        });
        units.chain(helpers).min()
    }

    /// Feeds the units whose deadline has come, and kills the helpers whose time is up.
    pub fn on_deadlines(&mut self, now: Instant) {
        helpers::kill(&mut self.os, &mut self.pids, |_, kill_at| kill_at <= now);
        for i in 0..self.slots.len() {
            if self.slots[i].unit.deadline().is_some_and(|d| d <= now) {
                self.feed(i, Input::Timer, now);
            }
        }
    }

    /// A reaped child: a unit's process, a helper, or an orphan (nothing to do).
    pub fn on_exit(&mut self, pid: Pid, code: i32, now: Instant) {
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
            Some(Owner::Helper { job, kill_at }) => self.helper_ended(job, kill_at, code, now),
            None => {}
        }
    }

    /// Forgets children reaped outside `on_exit` (the last reap of the shutdown).
    pub fn forget(&mut self, pid: Pid) {
        self.pids.remove(&pid);
    }

    pub fn on_probe(&mut self, report: Report, now: Instant) {
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
            Report::Exec { unit, argv, reply } => self.run_exec_probe(unit, argv, reply, now),
        }
    }

    pub fn stop_probes(&mut self) {
        for s in &mut self.slots {
            if let Some(h) = s.probe.take() {
                h.abort();
            }
        }
        helpers::kill(&mut self.os, &mut self.pids, |_, _| true);
    }

    /// Feeds one input to a unit, logs the transition and carries out the actions.
    pub fn feed(&mut self, i: usize, input: Input, now: Instant) {
        let before = self.slots[i].unit.state;
        let actions = self.slots[i].unit.handle(input, now);
        log_transition(&self.slots[i].unit, before, now);
        // A probe only means something while its process is starting.
        if !matches!(self.slots[i].unit.state, State::Starting { .. }) {
            if let Some(probe) = self.slots[i].probe.take() {
                probe.abort();
            }
            helpers::kill(&mut self.os, &mut self.pids, |unit, _| unit == Some(i));
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
                    helpers::signal_group(&mut self.os, pid, sig);
                }
            }
            Action::Drain => self.start_drain(i, now),
            Action::EndDrain => helpers::end_drain(&mut self.os, &mut self.pids, i),
            Action::Shutdown(code) => {
                if !self.stopping && self.shutdown.is_none() {
                    log::info(&format!(
                        "{}: its policy stops the container (exit code {code})",
                        self.slots[i].unit.name()
                    ));
                    self.shutdown = Some(code);
                }
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

    fn run_helper(
        &mut self,
        argv: &[String],
        of: Option<usize>,
        job: Job,
        kill_at: Instant,
    ) -> Result<(), (Job, i32, String)> {
        // Unit `of`'s environment, directory and user; for jinit's own, none of its secrets.
        let (env, env_remove) = match of {
            Some(i) => self.unit_env(i),
            None => (Vec::new(), self.settings.secrets.clone()),
        };
        let slot = of.map(|i| &self.slots[i]);
        let req = spawn::Request {
            argv,
            env: &env,
            env_remove: &env_remove,
            cwd: slot.and_then(|s| s.unit.spec.cwd.as_deref()),
            account: slot.and_then(|s| s.account.as_ref()),
            group: Group::Session,
            stdin: spawn::Stdin::Null,
            stdout: None,
        };
        helpers::spawn(&mut self.os, &mut self.pids, &req, job, kill_at)
    }

    /// One attempt of a unit's exec readiness check.
    fn run_exec_probe(
        &mut self,
        unit: usize,
        argv: Vec<String>,
        reply: oneshot::Sender<bool>,
        now: Instant,
    ) {
        let job = Job::Probe { unit, reply };
        if let Err((Job::Probe { reply, .. }, _, _)) =
            self.run_helper(&argv, Some(unit), job, now + probe::ATTEMPT_LIMIT)
        {
            let _ = reply.send(false);
        }
    }

    /// Starts a re-render (`argv`: `jinit-config plan ...`) as jinit's own helper, with
    /// jinit's whole environment (it needs the secrets to render); the answer comes on `reply`.
    pub fn run_render(
        &mut self,
        argv: &[String],
        reply: oneshot::Sender<Result<Outcome, String>>,
        now: Instant,
    ) {
        let (out, theirs) = match handoff::answer_files() {
            Ok(files) => files,
            Err(e) => {
                let _ = reply.send(Err(format!("cannot create the render's answer file: {e}")));
                return;
            }
        };
        let req = spawn::Request::answering(argv, &theirs);
        let job = Job::Render { out, reply };
        let kill_at = now + helpers::RENDER_TIMEOUT;
        if let Err((Job::Render { reply, .. }, _, e)) =
            helpers::spawn(&mut self.os, &mut self.pids, &req, job, kill_at)
        {
            let _ = reply.send(Err(format!(
                "cannot run {}: {e}",
                argv.first().map_or("", String::as_str)
            )));
        }
    }

    /// Runs unit `i`'s `drain` command; one that cannot start ends the drain at once.
    fn start_drain(&mut self, i: usize, now: Instant) {
        let argv = self.slots[i].unit.spec.drain.clone().unwrap_or_default();
        let until = self.slots[i].unit.deadline().unwrap_or(now);
        let job = Job::Drain {
            unit: i,
            since: now,
        };
        if let Err((_, code, e)) = self.run_helper(&argv, Some(i), job, until) {
            log::info(&format!(
                "{}: cannot start the drain command {:?}: {e}; stopping it at once",
                self.slots[i].unit.name(),
                argv.first().map_or("", String::as_str)
            ));
            self.feed(i, Input::Drained(code), now);
        }
    }

    /// A reaped helper: its verdict goes to whoever waits for it (`kill_at` is None when
    /// jinit killed it).
    fn helper_ended(&mut self, job: Job, kill_at: Option<Instant>, code: i32, now: Instant) {
        match job {
            Job::Probe { reply, .. } => {
                let _ = reply.send(code == 0);
            }
            Job::Render { mut out, reply } => {
                let answer = match (code, kill_at) {
                    (0, _) => handoff::read(&mut out),
                    (_, None) => Err(format!(
                        "{} did not finish within {} and was killed",
                        handoff::CONFIG_BINARY,
                        duration::show(helpers::RENDER_TIMEOUT)
                    )),
                    _ => Err(format!(
                        "{} ended with exit code {code} (its output is above)",
                        handoff::CONFIG_BINARY
                    )),
                };
                let _ = reply.send(answer);
            }
            Job::Drain { unit, since } => {
                let u = &self.slots[unit].unit;
                // Not when it was killed because the drain was over anyway.
                if matches!(u.state, State::Draining { .. }) {
                    let took = duration::show(now.saturating_duration_since(since));
                    log::info(&match code {
                        0 => format!("{}: drain done in {took}", u.name()),
                        _ => format!(
                            "{}: drain command ended with code {code} after {took}",
                            u.name()
                        ),
                    });
                }
                self.feed(unit, Input::Drained(code), now);
            }
        }
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
            stdout: None,
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
        (State::Draining { since, .. }, State::Stopped) => {
            format!(
                "exited while draining, after {}",
                duration::show(now - since)
            )
        }
        (_, State::Draining { until, .. }) => format!(
            "drain: {}, up to {}",
            u.spec.drain.as_ref().map_or("", |d| d[0].as_str()),
            duration::show(until.saturating_duration_since(now))
        ),
        (State::Draining { since, until, .. }, State::Stopping { .. }) if now >= until => {
            format!("drain unfinished after {}", duration::show(now - since))
        }
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
