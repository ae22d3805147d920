//! The main loop of spec mode: the only place that turns unit actions into syscalls.
//!
//! Inputs arrive as `Event`s on one channel (signals, probe reports, control requests) or as
//! deadlines (backoff, kill-delay, `every`, shutdown-grace). Each is fed to the unit state
//! machines in `unit`; their actions are carried out here. Never exits on a runtime error:
//! it logs and carries on. Exits only when shutdown has reaped every process.

use crate::config::image::Image;
use crate::init::control::{Call, Request, Response, UnitStatus};
use crate::init::watch::Changed;
use crate::spec::plan::Plan;
// Moved to `leftovers`, shared with single-command mode.
use crate::config::render;
use crate::init::probe::{self, Report};
use crate::init::unit::{Action, Input, State, Then, Unit};
use crate::spec::Kind;
use crate::sys::leftovers::signal_leftovers;
use crate::sys::reap::reap;
use crate::sys::spawn::{self, Group};
use crate::sys::users::Account;
use crate::{duration, log, spec::order, sys::signals};
use nix::sys::signal::{kill, killpg, Signal};
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

/// Re-render once the inputs have been quiet this long (editors write in bursts)...
const DEBOUNCE: Duration = Duration::from_millis(200);
/// ...but never wait longer than this after the first change of a burst.
const DEBOUNCE_MAX: Duration = Duration::from_secs(2);

/// A pending re-render: the first change of the burst, when to render, what changed.
struct Pending {
    first: Instant,
    at: Instant,
    paths: Vec<std::path::PathBuf>,
}

/// Who a child process belongs to.
enum Owner {
    Unit(usize),
    /// A short-lived command of jinit's own; SIGKILLed at `kill_at` if still running (None
    /// once that was sent).
    Helper {
        job: Job,
        kill_at: Option<Instant>,
    },
}

/// What a helper command is for.
enum Job {
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

/// Who waits for a re-render, and what they asked for besides it.
#[derive(Default)]
struct Waiters {
    why: Vec<String>,
    /// `jinit reload` requests to answer.
    replies: Vec<oneshot::Sender<Response>>,
    /// SIGHUP or `jinit reload`: every unit with a reload-signal gets it afterwards.
    reload_all: bool,
}

impl Waiters {
    fn asked(why: &str, reply: Option<oneshot::Sender<Response>>) -> Waiters {
        Waiters {
            why: vec![why.to_string()],
            reload_all: reply.is_some(),
            replies: reply.into_iter().collect(),
        }
    }

    fn add(&mut self, other: Waiters) {
        self.why.extend(other.why);
        self.replies.extend(other.replies);
        self.reload_all |= other.reload_all;
    }
}

/// A re-render whose validation commands are running.
struct InFlight {
    waiters: Waiters,
    applied: render::Applied,
    env_changed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Units are being stopped in reverse dependency order.
    StoppingUnits,
    /// Every unit is down; leftovers got TERM and get KILL at the deadline.
    Leftovers {
        kill_at: Option<Instant>,
    },
}

pub struct Supervisor {
    units: Vec<Unit>,
    enabled: Vec<bool>,
    accounts: Vec<Option<Account>>,
    deps: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
    pids: HashMap<Pid, Owner>,
    probes: Vec<Option<JoinHandle<()>>>,
    /// Process group of a service's last process, while members of it may still live. A
    /// service's processes end with it (like systemd's KillMode=control-group): nginx workers
    /// orphaned by a killed master would otherwise keep the ports and fool the readiness check.
    leftover_groups: Vec<Option<Pid>>,
    phase: Phase,
    exit_code: Option<i32>,
    children_left: bool,
    shutdown_grace: Duration,
    stop_timeout: Duration,
    /// Set when the shutdown begins: everything is down by then.
    stop_deadline: Option<Instant>,
    /// Extra environment for every unit (from JINIT_ENV_FILE), before each unit's own `env`.
    base_env: Vec<(String, String)>,
    /// Variables withheld from units that do not name them in `pass-env` (and from helpers).
    secrets: Vec<String>,
    /// The image's configuration, for re-rendering; None when the spec renders nothing.
    image: Option<Image>,
    pending: Option<Pending>,
    /// The re-render whose validations run, and who asked for another meanwhile.
    in_flight: Option<InFlight>,
    queued: Option<Waiters>,
    tx: mpsc::UnboundedSender<Event>,
}

impl Supervisor {
    pub fn new(plan: Plan, image: Image, tx: mpsc::UnboundedSender<Event>) -> Supervisor {
        let shutdown_grace = image.spec.shutdown_grace;
        let stop_timeout = image.spec.stop_timeout;
        let base_env = image.unit_env();
        let secrets = image.secret_names();
        let specs: Vec<_> = plan.units.iter().map(|p| p.spec.clone()).collect();
        let seed = std::process::id() as u64 ^ Instant::now().elapsed().as_nanos() as u64;
        let n = specs.len();
        let mut sup = Supervisor {
            deps: order::dependencies(&specs),
            dependents: order::dependents(&specs),
            enabled: plan.units.iter().map(|p| p.enabled).collect(),
            accounts: plan.units.iter().map(|p| p.account.clone()).collect(),
            units: plan
                .units
                .into_iter()
                .enumerate()
                .map(|(i, p)| {
                    Unit::new(p.spec, seed.wrapping_mul(i as u64 + 0x9e37_79b9_7f4a_7c15))
                })
                .collect(),
            pids: HashMap::new(),
            probes: (0..n).map(|_| None).collect(),
            leftover_groups: vec![None; n],
            phase: Phase::Running,
            exit_code: None,
            children_left: false,
            shutdown_grace,
            stop_timeout,
            stop_deadline: None,
            base_env,
            secrets,
            image: Some(image),
            pending: None,
            in_flight: None,
            queued: None,
            tx,
        };
        for i in 0..n {
            if !sup.enabled[i] {
                sup.units[i].state = State::Skipped;
                log::transition(sup.units[i].name(), "waiting", "skipped", "its if is false");
            }
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
                Some(Event::Signal(sig)) => self.on_signal(sig, now),
                Some(Event::Probe(report)) => self.on_probe(report, now),
                Some(Event::Control(Request::Reload { unit: None }, reply)) => {
                    self.rerender(Waiters::asked("reload requested", Some(reply)), now)
                }
                Some(Event::Control(req, reply)) => {
                    let resp = self.on_control(req, now);
                    let _ = reply.send(resp);
                }
                Some(Event::InputChanged(path)) => self.on_input_changed(path, now),
                Some(Event::Validate { argv, reply }) => self.run_validation(argv, reply, now),
                Some(Event::Validated(results)) => self.on_validated(results, now),
                None => self.on_deadlines(now),
            }
            self.pump(now);
        }
    }

    fn finished(&self) -> Option<i32> {
        match self.phase {
            Phase::Leftovers { .. } if !self.children_left => self.exit_code,
            _ => None,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let units = self.units.iter().filter_map(Unit::deadline);
        let leftovers = match self.phase {
            Phase::Leftovers { kill_at } => kill_at,
            _ => None,
        };
        let rerender = self.pending.as_ref().map(|p| p.at);
        let probes = self.pids.values().filter_map(|o| match o {
            Owner::Helper { kill_at, .. } => *kill_at,
            Owner::Unit(_) => None,
        });
        units.chain(leftovers).chain(rerender).chain(probes).min()
    }

    fn on_input_changed(&mut self, path: std::path::PathBuf, now: Instant) {
        let p = self.pending.get_or_insert(Pending {
            first: now,
            at: now,
            paths: Vec::new(),
        });
        p.at = (now + DEBOUNCE).min(p.first + DEBOUNCE_MAX);
        if !p.paths.contains(&path) {
            p.paths.push(path);
        }
    }

    /// Renders again; reloads (or restarts) the units whose files changed. On any problem the
    /// files in place are kept and nothing is reloaded. Validation commands run as helpers
    /// while the loop goes on (`on_validated` finishes the job); a request arriving meanwhile
    /// is served by one more re-render after this one.
    fn rerender(&mut self, waiters: Waiters, now: Instant) {
        if self.in_flight.is_some() {
            self.queued
                .get_or_insert_with(Waiters::default)
                .add(waiters);
            return;
        }
        let why = waiters.why.join(", ");
        let Some(image) = self.image.as_mut() else {
            return self.answer(waiters, Ok(()));
        };
        let before = (image.env.values.clone(), image.env.raw.clone());
        let result = image.reload_env().and_then(|()| image.render());
        let rendered = match result {
            Ok(r) => r,
            Err(problems) => {
                let text = problems
                    .iter()
                    .map(|p| format!("{}: {}", p.at, p.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                log::warn(&format!(
                    "{why}: cannot render ({text}); keeping the current config"
                ));
                return self.answer(waiters, Err(text));
            }
        };
        let (applied, validations) = render::apply_unvalidated(&image.spec, &rendered, true);
        let env_changed = image.env.values != before.0 || image.env.raw != before.1;
        let flight = InFlight {
            waiters,
            applied,
            env_changed,
        };
        if validations.is_empty() {
            return self.finish_rerender(flight, now);
        }
        self.in_flight = Some(flight);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let mut results = Vec::new();
            for v in validations {
                let (reply, answer) = oneshot::channel();
                let argv = v.argv.clone();
                if tx.send(Event::Validate { argv, reply }).is_err() {
                    return;
                }
                let verdict = answer
                    .await
                    .unwrap_or_else(|_| Err("validation abandoned: jinit is stopping".into()));
                results.push((v, verdict));
            }
            let _ = tx.send(Event::Validated(results));
        });
    }

    fn on_validated(
        &mut self,
        results: Vec<(render::Validation, Result<(), String>)>,
        now: Instant,
    ) {
        let Some(mut flight) = self.in_flight.take() else {
            return;
        };
        if let Some(image) = &self.image {
            render::finish_validated(&image.spec, results, &mut flight.applied);
        }
        self.finish_rerender(flight, now);
    }

    /// Reports what a re-render wrote, reloads the units of changed files, re-plans after a
    /// changed environment, answers its waiters, and starts the queued re-render if any.
    fn finish_rerender(&mut self, flight: InFlight, now: Instant) {
        let InFlight {
            waiters,
            applied,
            env_changed,
        } = flight;
        let why = waiters.why.join(", ");
        let Some(image) = self.image.as_ref() else {
            return;
        };
        for p in &applied.problems {
            log::warn(&format!("{why}: {}: {}", p.at, p.message));
        }
        let mut units: Vec<String> = Vec::new();
        let mut files = Vec::new();
        for &i in &applied.changed {
            let entry = &image.spec.renders[i];
            files.push(entry.dest.display().to_string());
            if let Some(u) = &entry.reload {
                if !units.contains(u) {
                    units.push(u.clone());
                }
            }
        }
        if files.is_empty() {
            log::info(&format!("{why}: config unchanged"));
        } else {
            log::info(&format!("{why}: rewrote {}", files.join(", ")));
        }
        self.base_env = image.unit_env();
        self.secrets = image.secret_names();
        if self.phase == Phase::Running {
            for name in &units {
                if let Ok(i) = self.find(name) {
                    if self.units[i].state.pid().is_some() {
                        let _ = self.reload(i, now);
                    }
                }
            }
            // Units depend on the environment only: a changed custom-* file needs no new plan.
            if env_changed {
                self.replan(&why, now);
            }
        }
        self.answer(waiters, Ok(()));
        if let Some(next) = self.queued.take() {
            self.rerender(next, now);
        }
    }

    /// Tells the waiters of a re-render how it went (and reloads for SIGHUP / `jinit reload`).
    fn answer(&mut self, waiters: Waiters, result: Result<(), String>) {
        let response = match result {
            Ok(()) if waiters.reload_all && self.phase == Phase::Running => ok(self.reload_all()),
            Ok(()) => ok("rendered".into()),
            Err(e) => fail(format!("cannot render, config kept: {e}")),
        };
        for reply in waiters.replies {
            let _ = reply.send(Response {
                ok: response.ok,
                message: response.message.clone(),
                units: Vec::new(),
            });
        }
    }

    /// Starts one validation command for the re-render in flight, as jinit's own helper.
    fn run_validation(
        &mut self,
        argv: Vec<String>,
        reply: oneshot::Sender<Result<(), String>>,
        now: Instant,
    ) {
        let what = argv.join(" ");
        let req = spawn::Request {
            argv: &argv,
            env: &[],
            env_remove: &self.secrets,
            cwd: None,
            account: None,
            group: Group::Session,
            stdin: spawn::Stdin::Null,
        };
        match spawn::spawn(&req) {
            Ok(pid) => {
                let job = Job::Validate { what, reply };
                let kill_at = Some(now + render::VALIDATE_TIMEOUT);
                self.pids.insert(pid, Owner::Helper { job, kill_at });
            }
            Err((_, e)) => {
                let _ = reply.send(Err(format!("cannot run validation `{what}`: {e}")));
            }
        }
    }

    /// Evaluates every unit's `if` and `{{ }}` strings again after the environment changed:
    /// a unit whose `if` turned true starts (once its `after` units allow), one whose `if`
    /// turned false stops and stays skipped, and one whose command, env or exec probe now
    /// expands differently restarts with it (a finished oneshot runs again: a service account
    /// gets its new password). On a problem (a newly enabled command missing, say) the units
    /// stay as they are.
    fn replan(&mut self, why: &str, now: Instant) {
        if self.phase != Phase::Running {
            return;
        }
        let Some(image) = self.image.as_ref() else {
            return;
        };
        let plan = match image.plan() {
            Ok(plan) => plan,
            Err(problems) => {
                let text: Vec<String> = problems
                    .iter()
                    .map(|p| format!("{}: {}", p.at, p.message))
                    .collect();
                log::warn(&format!(
                    "{why}: the units cannot follow the new environment ({}); they stay as they are",
                    text.join("; ")
                ));
                return;
            }
        };
        for (i, planned) in plan.units.into_iter().enumerate() {
            // A unit acted on below may stop the container (a oneshot failing to start).
            if self.phase != Phase::Running {
                return;
            }
            let name = self.units[i].name().to_string();
            match (self.enabled[i], planned.enabled) {
                (false, true) => {
                    self.enabled[i] = true;
                    self.units[i].spec = planned.spec;
                    self.accounts[i] = planned.account;
                    log::info(&format!("{name}: its if is now true"));
                    self.feed(i, Input::Enable, now);
                }
                (true, false) => {
                    self.enabled[i] = false;
                    log::info(&format!("{name}: its if is now false"));
                    self.feed(i, Input::Disable, now);
                }
                (true, true) if planned.spec != self.units[i].spec => {
                    self.units[i].spec = planned.spec;
                    self.accounts[i] = planned.account;
                    // A oneshot with `creates` did its one-time job: it does not run again.
                    let once = self.units[i].spec.creates.is_some();
                    if !once && !matches!(self.units[i].state, State::Waiting | State::Skipped) {
                        log::info(&format!(
                            "{name}: its command or environment changed, restarting"
                        ));
                        self.feed(i, Input::Restart, now);
                    }
                }
                _ => {}
            }
        }
    }

    fn on_signal(&mut self, sig: Signal, now: Instant) {
        if sig == Signal::SIGCHLD {
            let reaped = reap();
            self.children_left = reaped.children_left;
            for (pid, code) in reaped.ended {
                match self.pids.remove(&pid) {
                    Some(Owner::Unit(i)) => {
                        if self.units[i].spec.kind == Kind::Service {
                            // TERM now; whatever is left gets KILL before the next start.
                            if killpg(pid, Signal::SIGTERM).is_ok() {
                                let _ = killpg(pid, Signal::SIGCONT);
                                self.leftover_groups[i] = Some(pid);
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

    fn on_probe(&mut self, report: Report, now: Instant) {
        match report {
            Report::Done { unit, pid, ok } => {
                if self.units[unit].state.pid() != Some(pid) {
                    return; // a probe of a process that is already gone
                }
                self.probes[unit] = None;
                self.feed(
                    unit,
                    if ok {
                        Input::ProbeOk
                    } else {
                        Input::ProbeTimeout
                    },
                    now,
                );
            }
            Report::Exec { unit, argv, reply } => {
                let u = &self.units[unit];
                let (env, env_remove) = self.unit_env(unit);
                let req = spawn::Request {
                    argv: &argv,
                    env: &env,
                    env_remove: &env_remove,
                    cwd: u.spec.cwd.as_deref(),
                    account: self.accounts[unit].as_ref(),
                    group: Group::Session,
                    stdin: spawn::Stdin::Null,
                };
                match spawn::spawn(&req) {
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

    fn on_deadlines(&mut self, now: Instant) {
        self.kill_helpers(|_, kill_at| kill_at <= now);
        for i in 0..self.units.len() {
            if self.units[i].deadline().is_some_and(|d| d <= now) {
                self.feed(i, Input::Timer, now);
            }
        }
        if self.pending.as_ref().is_some_and(|p| p.at <= now) {
            if let Some(p) = self.pending.take() {
                if self.phase == Phase::Running {
                    let shown: Vec<String> =
                        p.paths.iter().map(|p| p.display().to_string()).collect();
                    let why = format!("changed: {}", shown.join(", "));
                    self.rerender(Waiters::asked(&why, None), now);
                }
            }
        }
        if let Phase::Leftovers { kill_at: Some(at) } = self.phase {
            if at <= now {
                log::info("leftover processes did not exit within shutdown-grace: sending SIGKILL");
                signal_leftovers(Signal::SIGKILL);
                self.phase = Phase::Leftovers { kill_at: None };
            }
        }
    }

    fn on_control(&mut self, req: Request, now: Instant) -> Response {
        match req {
            Request::Status => Response {
                ok: true,
                message: String::new(),
                units: self.status(now),
            },
            Request::Health => {
                let waiting: Vec<&str> = self
                    .units
                    .iter()
                    .zip(&self.enabled)
                    .filter(|(u, on)| **on && u.spec.kind == Kind::Service)
                    .filter(|(u, _)| !matches!(u.state, State::Ready { .. }))
                    .map(|(u, _)| u.name())
                    .collect();
                let ok = waiting.is_empty() && self.phase == Phase::Running;
                let message = if self.phase != Phase::Running {
                    "stopping".to_string()
                } else if ok {
                    "healthy".to_string()
                } else {
                    format!("not ready: {}", waiting.join(", "))
                };
                Response {
                    ok,
                    message,
                    units: Vec::new(),
                }
            }
            Request::Restart { unit } => match self.find(&unit) {
                Err(e) => fail(e),
                Ok(i) if matches!(self.units[i].state, State::Waiting) => fail(format!(
                    "{unit} has not started yet: it waits for its `after` units"
                )),
                Ok(i) if !self.enabled[i] => fail(format!("{unit} is disabled by its `if`")),
                Ok(_) if self.phase != Phase::Running => fail("jinit is stopping".into()),
                Ok(i) => {
                    self.feed(i, Input::Restart, now);
                    ok(format!("{unit}: restarting"))
                }
            },
            Request::Reload { unit: Some(unit) } => match self.find(&unit) {
                Err(e) => fail(e),
                Ok(i) => match self.reload(i, now) {
                    Ok(m) => ok(m),
                    Err(e) => fail(e),
                },
            },
            // Answered when the re-render is done (see `run`).
            Request::Reload { unit: None } => fail("internal: reload answered elsewhere".into()),
        }
    }

    fn find(&self, name: &str) -> Result<usize, String> {
        match self.units.iter().position(|u| u.name() == name) {
            None => Err(format!(
                "unknown unit {name:?} (units: {})",
                self.units
                    .iter()
                    .map(Unit::name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some(i) if !self.enabled[i] => Err(format!("{name} is disabled by its `if`")),
            Some(i) => Ok(i),
        }
    }

    /// Sends the unit's reload-signal; a unit without one is restarted instead.
    fn reload(&mut self, i: usize, now: Instant) -> Result<String, String> {
        let name = self.units[i].name().to_string();
        let Some(pid) = self.units[i].state.pid() else {
            return Err(format!("{name} is not running"));
        };
        match self.units[i].spec.reload_signal {
            Some(sig) => {
                // Like systemd's ExecReload=kill -HUP $MAINPID: the main process decides what
                // a reload means for its helpers (nginx's workers must not see HUP).
                let _ = kill(pid, sig);
                log::info(&format!(
                    "{name}: sent SIG{} to reload",
                    crate::spec::signal_name(sig)
                ));
                Ok(format!("{name}: sent {}", crate::spec::signal_name(sig)))
            }
            None => {
                self.feed(i, Input::Restart, now);
                Ok(format!("{name}: restarting (it has no reload-signal)"))
            }
        }
    }

    fn reload_all(&mut self) -> String {
        let mut done = Vec::new();
        for u in &self.units {
            if let (Some(sig), Some(pid)) = (u.spec.reload_signal, u.state.pid()) {
                let _ = kill(pid, sig);
                done.push(u.name().to_string());
            }
        }
        let msg = if done.is_empty() {
            "no running unit has a reload-signal".to_string()
        } else {
            format!("reloaded {}", done.join(", "))
        };
        log::info(&msg);
        msg
    }

    fn status(&self, now: Instant) -> Vec<UnitStatus> {
        self.units
            .iter()
            .map(|u| UnitStatus {
                name: u.name().to_string(),
                kind: u.spec.kind.word().to_string(),
                state: u.state.word().to_string(),
                pid: u.state.pid().map(Pid::as_raw),
                uptime_secs: u.uptime(now).map(|d| d.as_secs_f64()),
                restarts: u.restarts,
                detail: match u.state {
                    State::Exited { code } | State::Failed { code } => {
                        Some(format!("exit code {code}"))
                    }
                    State::Backoff { until } => Some(format!(
                        "restart in {}",
                        duration::show(until.saturating_duration_since(now))
                    )),
                    State::Skipped
                        if !self.enabled[self
                            .units
                            .iter()
                            .position(|x| x.name() == u.name())
                            .unwrap_or(0)] =>
                    {
                        Some("if is false".into())
                    }
                    _ => None,
                },
            })
            .collect()
    }

    /// Starts the stop of everything. The whole stop ends by `stop-timeout` from now: units
    /// still stopping when only `shutdown-grace` is left get SIGKILL, whatever their own
    /// kill-delay, and the leftovers' grace ends with the timeout too.
    fn begin_shutdown(&mut self, code: i32, now: Instant) {
        if self.exit_code.is_none() {
            self.exit_code = Some(code);
        }
        if self.phase == Phase::Running {
            self.phase = Phase::StoppingUnits;
            let end = now.checked_add(self.stop_timeout).unwrap_or(now);
            self.stop_deadline = Some(end);
            let units_by = end.checked_sub(self.shutdown_grace).unwrap_or(now).max(now);
            for u in &mut self.units {
                u.stop_by(units_by);
            }
        }
    }

    /// Moves the units forward: starts what may start, or stops what may stop.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut changed = false;
            for i in 0..self.units.len() {
                let before = self.units[i].state;
                match self.phase {
                    Phase::Running => {
                        if matches!(before, State::Waiting)
                            && self.deps[i]
                                .iter()
                                .all(|&d| self.units[d].satisfies_dependents())
                        {
                            self.feed(i, Input::Start, now);
                        }
                    }
                    Phase::StoppingUnits | Phase::Leftovers { .. } => {
                        let idle = self.units[i].is_down();
                        let dependents_down =
                            self.dependents[i].iter().all(|&d| self.units[d].is_down());
                        let stopping = matches!(before, State::Stopping { .. });
                        let done = matches!(before, State::Stopped | State::Skipped);
                        if !done && !stopping && (idle || dependents_down) {
                            self.feed(i, Input::Stop, now);
                        }
                    }
                }
                changed |= self.units[i].state != before;
            }
            if !changed {
                break;
            }
        }
        if self.phase == Phase::StoppingUnits && self.units.iter().all(Unit::is_down) {
            self.stop_probes();
            if self.children_left_now() {
                log::info("all units stopped; sending SIGTERM to leftover processes");
                signal_leftovers(Signal::SIGTERM);
                signal_leftovers(Signal::SIGCONT);
                let grace_end = now.checked_add(self.shutdown_grace).unwrap_or(now);
                self.phase = Phase::Leftovers {
                    kill_at: Some(self.stop_deadline.map_or(grace_end, |d| d.min(grace_end))),
                };
            } else {
                self.phase = Phase::Leftovers { kill_at: None };
                self.children_left = false;
            }
        }
    }

    /// Reaps once more so the answer is current (a unit's last exit was just processed).
    fn children_left_now(&mut self) -> bool {
        let reaped = reap();
        for (pid, _) in &reaped.ended {
            self.pids.remove(pid);
        }
        self.children_left = reaped.children_left;
        self.children_left
    }

    fn stop_probes(&mut self) {
        for p in self.probes.iter_mut() {
            if let Some(h) = p.take() {
                h.abort();
            }
        }
        self.kill_helpers(|_, _| true);
    }

    /// SIGKILLs the helper commands `which` selects (by unit of a probe, and deadline); each
    /// stays registered until reaped, and is killed at most once.
    fn kill_helpers(&mut self, which: impl Fn(Option<usize>, Instant) -> bool) {
        for (pid, owner) in &mut self.pids {
            if let Owner::Helper { job, kill_at } = owner {
                let unit = match job {
                    Job::Probe { unit, .. } => Some(*unit),
                    Job::Validate { .. } => None,
                };
                if kill_at.is_some_and(|at| which(unit, at)) {
                    signal_group(*pid, Signal::SIGKILL);
                    *kill_at = None;
                }
            }
        }
    }

    /// Feeds one input to a unit, logs the transition and carries out the actions.
    fn feed(&mut self, i: usize, input: Input, now: Instant) {
        let before = self.units[i].state;
        let actions = self.units[i].handle(input, now);
        self.log_transition(i, before, now);
        // A probe only means something while its process is starting.
        if !matches!(self.units[i].state, State::Starting { .. }) {
            if let Some(probe) = self.probes[i].take() {
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
                let path = self.units[i].spec.creates.clone().unwrap_or_default();
                if path.exists() {
                    let before = self.units[i].state;
                    self.units[i].skip();
                    log::transition(
                        self.units[i].name(),
                        before.word(),
                        "skipped",
                        &format!("{} exists", path.display()),
                    );
                } else {
                    self.spawn_unit(i, now);
                }
            }
            Action::Probe => {
                let Some(pid) = self.units[i].state.pid() else {
                    return;
                };
                let Some(ready) = self.units[i].spec.ready.clone() else {
                    return;
                };
                let limit = self.units[i].spec.ready_timeout;
                let handle = tokio::spawn(probe::run(i, pid, ready, limit, self.tx.clone()));
                if let Some(old) = self.probes[i].replace(handle) {
                    old.abort();
                }
            }
            Action::Signal(sig) => {
                if let Some(pid) = self.units[i].state.pid() {
                    signal_group(pid, sig);
                }
            }
            Action::Shutdown(code) => {
                if self.phase == Phase::Running {
                    log::info(&format!(
                        "{}: its policy stops the container (exit code {code})",
                        self.units[i].name()
                    ));
                }
                self.begin_shutdown(code, now);
            }
        }
    }

    /// A unit's environment: jinit's own with the env file's on top and the spec's `env` last,
    /// less the secrets its `pass-env` does not name. Returns what to set and what to remove.
    fn unit_env(&self, i: usize) -> (Vec<(String, String)>, Vec<String>) {
        let pass = &self.units[i].spec.pass_env;
        let remove: Vec<String> = self
            .secrets
            .iter()
            .filter(|n| !pass.contains(n))
            .cloned()
            .collect();
        let mut env: Vec<(String, String)> = self
            .base_env
            .iter()
            .filter(|(k, _)| !remove.contains(k))
            .cloned()
            .collect();
        env.extend(self.units[i].spec.env.iter().cloned());
        (env, remove)
    }

    fn spawn_unit(&mut self, i: usize, now: Instant) {
        if let Some(group) = self.leftover_groups[i].take() {
            let _ = killpg(group, Signal::SIGKILL);
        }
        let (env, env_remove) = self.unit_env(i);
        let u = &self.units[i];
        let req = spawn::Request {
            argv: &u.spec.command,
            env: &env,
            env_remove: &env_remove,
            cwd: u.spec.cwd.as_deref(),
            account: self.accounts[i].as_ref(),
            group: Group::Session,
            stdin: match &u.spec.stdin {
                Some(text) => spawn::Stdin::Data(text.as_bytes()),
                None => spawn::Stdin::Null,
            },
        };
        let result = match spawn::spawn(&req) {
            Ok(pid) => {
                // Registered before the next reap: the loop is single-threaded.
                self.pids.insert(pid, Owner::Unit(i));
                Ok(pid)
            }
            Err((code, e)) => {
                log::info(&format!(
                    "{}: cannot start {:?}: {e}",
                    u.name(),
                    u.spec.command[0]
                ));
                Err(code)
            }
        };
        self.feed(i, Input::Spawned(result), now);
    }

    fn log_transition(&self, i: usize, before: State, now: Instant) {
        let u = &self.units[i];
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
}

fn ok(message: String) -> Response {
    Response {
        ok: true,
        message,
        units: Vec::new(),
    }
}

fn fail(message: String) -> Response {
    Response {
        ok: false,
        message,
        units: Vec::new(),
    }
}

/// Signals a unit's process group; falls back to the leader alone.
fn signal_group(pid: Pid, sig: Signal) {
    if killpg(pid, sig).is_err() {
        let _ = kill(pid, sig);
    }
}
