//! The main loop of spec mode: events and deadlines in, the phase of the container (running,
//! stopping the units in reverse order, waiting for leftovers) and the exit code out.
//!
//! Inputs arrive as `Event`s on one channel (signals, probe reports, control requests, input
//! changes) or as deadlines (backoff, kill-delay, `every`, shutdown-grace, debounce). The
//! units and their processes are `slots::Units`; re-rendering is `reload::Reloader`. Never
//! exits on a runtime error: it logs and carries on. Exits only when shutdown has reaped
//! every process.

use super::commands::answer;
use super::control::{Request, Response};
use super::event::Event;
use super::metrics::{self, Renders};
use super::os::Os;
use super::reload::{self, Begun, Reloader, Waiters};
pub use super::slots::Settings;
use super::slots::Units;
use super::unit::{Input, State};
use crate::spec::handoff::Outcome;
use crate::spec::plan::Plan;
use crate::{log, sys::signals};
use nix::sys::signal::Signal;
use std::time::Instant;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    /// Units are being stopped in reverse dependency order.
    StoppingUnits,
    /// Every unit is down; leftovers got TERM and get KILL at the deadline.
    Leftovers {
        kill_at: Option<Instant>,
    },
}

pub struct Supervisor<O: Os> {
    pub units: Units<O>,
    pub phase: Phase,
    exit_code: Option<i32>,
    children_left: bool,
    /// Set when the shutdown begins: everything is down by then.
    stop_deadline: Option<Instant>,
    /// The command that re-renders (`jinit-config plan ...`); None in tests.
    render: Option<Vec<String>>,
    reloader: Reloader,
    /// What the metrics say of the renders.
    renders: Renders,
    /// When to give back the memory only the boot or a re-render needed: a moment later, once
    /// the children just forked have exec'd (a page still mapped by one of them stays).
    release_at: Option<Instant>,
    tx: mpsc::UnboundedSender<Event>,
}

/// How long after the boot or a re-render memory is given back (see `release_at`).
const RELEASE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl<O: Os> Supervisor<O> {
    pub fn new(
        plan: Plan,
        settings: Settings,
        render: Option<Vec<String>>,
        tx: mpsc::UnboundedSender<Event>,
        os: O,
    ) -> Supervisor<O> {
        Supervisor {
            units: Units::new(plan, settings, os),
            phase: Phase::Running,
            exit_code: None,
            children_left: false,
            stop_deadline: None,
            // Running means the boot's render went through (it stops the container otherwise).
            renders: Renders {
                total: u64::from(render.is_some()),
                failed: 0,
                last_ok: render.as_ref().map(|_| std::time::SystemTime::now()),
            },
            render,
            reloader: Reloader::default(),
            release_at: None,
            tx,
        }
    }

    /// Runs until shutdown is complete; returns the container's exit code.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Event>) -> i32 {
        self.boot(Instant::now());
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

    /// Starts what may start. jinit-config has planned and rendered; the pages the start-up
    /// touched need not stay resident.
    pub fn boot(&mut self, now: Instant) {
        self.pump(now);
        self.release_at = Some(now + RELEASE_AFTER);
    }

    pub fn on_event(&mut self, event: Event, now: Instant) {
        match event {
            Event::Signal(sig) => self.on_signal(sig, now),
            Event::Probe(report) => self.units.on_probe(report, now),
            Event::Control(Request::Reload { unit: None }, reply) => {
                self.rerender(Waiters::asked("reload requested", Some(reply), true), now)
            }
            Event::Control(req, reply) => {
                let resp = self.on_control(req, now);
                let _ = reply.send(resp);
            }
            Event::InputChanged(path) => self.reloader.input_changed(path, now),
            Event::Rendered(outcome) => self.finish_rerender(*outcome, now),
        }
        self.take_shutdown(now);
    }

    /// The exit code, once the shutdown has reaped every process.
    pub fn finished(&self) -> Option<i32> {
        match self.phase {
            Phase::Leftovers { .. } if !self.children_left => self.exit_code,
            _ => None,
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let leftovers = match self.phase {
            Phase::Leftovers { kill_at } => kill_at,
            _ => None,
        };
        let rerender = self.reloader.deadline();
        [self.units.deadline(), leftovers, rerender, self.release_at]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn on_signal(&mut self, sig: Signal, now: Instant) {
        if sig == Signal::SIGCHLD {
            let reaped = self.units.os.reap();
            self.children_left = reaped.children_left;
            for (pid, code) in reaped.ended {
                self.units.on_exit(pid, code, now);
                self.take_shutdown(now);
            }
        } else if signals::is_stop_request(sig) {
            if self.phase == Phase::Running {
                let name = crate::spec::signal_name(sig);
                log::info(&format!("received SIG{name}, stopping"));
            }
            self.begin_shutdown(0, now);
        } else if sig == Signal::SIGHUP {
            self.rerender(Waiters::asked("SIGHUP", None, true), now);
        }
    }

    pub fn on_control(&mut self, req: Request, now: Instant) -> Response {
        let running = self.phase == Phase::Running;
        let resp = match req {
            Request::Status => Response {
                ok: true,
                message: String::new(),
                units: self.units.status(now),
                ..Response::default()
            },
            Request::Health => self.units.health(running),
            Request::Metrics => answer(true, metrics::text(&self.units, &self.renders, now)),
            Request::Restart { unit } => self.units.restart(&unit, running, now),
            Request::Reload { unit: Some(unit) } => self.units.reload_unit(&unit, now),
            // Answered when the re-render is done (see `on_event`).
            Request::Reload { unit: None } => {
                answer(false, "internal: reload answered elsewhere".into())
            }
        };
        self.take_shutdown(now);
        resp
    }

    pub fn on_deadlines(&mut self, now: Instant) {
        if self.release_at.is_some_and(|at| at <= now) {
            self.release_at = None;
            self.units.os.release_memory();
        }
        self.units.on_deadlines(now);
        self.take_shutdown(now);
        if let Some((why, paths)) = self.reloader.quiet(now) {
            if self.phase == Phase::Running {
                self.rerender(Waiters::asked(&why, None, false), now);
                self.units.signal_on_change(&paths);
            }
        }
        if let Phase::Leftovers { kill_at: Some(at) } = self.phase {
            if at <= now {
                log::info("leftover processes did not exit within shutdown-grace: sending SIGKILL");
                self.units.os.signal_leftovers(Signal::SIGKILL);
                self.phase = Phase::Leftovers { kill_at: None };
            }
        }
    }

    /// Starts the shutdown when a unit's policy asked for it.
    fn take_shutdown(&mut self, now: Instant) {
        if let Some(code) = self.units.take_shutdown() {
            self.begin_shutdown(code, now);
        }
    }

    /// Starts the stop of everything. The whole stop ends by `stop-timeout` from now: units
    /// still stopping when only `shutdown-grace` is left get SIGKILL, whatever their own
    /// kill-delay, and the leftovers' grace ends with the timeout too.
    pub fn begin_shutdown(&mut self, code: i32, now: Instant) {
        if self.exit_code.is_none() {
            self.exit_code = Some(code);
        }
        if self.phase == Phase::Running {
            self.phase = Phase::StoppingUnits;
            self.units.stopping = true;
            let settings = &self.units.settings;
            let end = now.checked_add(settings.stop_timeout).unwrap_or(now);
            self.stop_deadline = Some(end);
            let units_by = end
                .checked_sub(settings.shutdown_grace)
                .unwrap_or(now)
                .max(now);
            for s in &mut self.units.slots {
                s.unit.stop_by(units_by);
            }
        }
    }

    /// Moves the units forward: starts what may start, or stops what may stop.
    pub fn pump(&mut self, now: Instant) {
        loop {
            let mut changed = false;
            for i in 0..self.units.slots.len() {
                let before = self.units.slots[i].unit.state;
                if let Some(input) = self.next_input(i) {
                    self.units.feed(i, input, now);
                    self.take_shutdown(now);
                }
                changed |= self.units.slots[i].unit.state != before;
            }
            if !changed {
                break;
            }
        }
        let all_down = self.units.slots.iter().all(|s| s.unit.is_down());
        if self.phase == Phase::StoppingUnits && all_down {
            self.units.stop_probes();
            if self.children_left_now() {
                log::info("all units stopped; sending SIGTERM to leftover processes");
                self.units.os.signal_leftovers(Signal::SIGTERM);
                self.units.os.signal_leftovers(Signal::SIGCONT);
                let grace = self.units.settings.shutdown_grace;
                let grace_end = now.checked_add(grace).unwrap_or(now);
                self.phase = Phase::Leftovers {
                    kill_at: Some(self.stop_deadline.map_or(grace_end, |d| d.min(grace_end))),
                };
            } else {
                self.phase = Phase::Leftovers { kill_at: None };
                self.children_left = false;
            }
        }
    }

    /// What the phase asks of unit `i` now: a waiting unit starts once everything in its
    /// `after` allows; at shutdown a unit stops once it is idle or everything that comes after
    /// it is down (reverse dependency order).
    fn next_input(&self, i: usize) -> Option<Input> {
        let slots = &self.units.slots;
        let slot = &slots[i];
        let state = slot.unit.state;
        match self.phase {
            Phase::Running => {
                let deps_allow = slot
                    .deps
                    .iter()
                    .all(|&d| slots[d].unit.satisfies_dependents());
                (matches!(state, State::Waiting) && deps_allow).then_some(Input::Start)
            }
            Phase::StoppingUnits | Phase::Leftovers { .. } => {
                let idle = slot.unit.is_down();
                let dependents_down = slot.dependents.iter().all(|&d| slots[d].unit.is_down());
                let stopping = matches!(state, State::Stopping { .. } | State::Draining { .. });
                let done = matches!(state, State::Stopped | State::Skipped);
                (!done && !stopping && (idle || dependents_down)).then_some(Input::Stop)
            }
        }
    }

    /// Reaps once more so the answer is current (a unit's last exit was just processed).
    fn children_left_now(&mut self) -> bool {
        let reaped = self.units.os.reap();
        for (pid, _) in &reaped.ended {
            self.units.forget(*pid);
        }
        self.children_left = reaped.children_left;
        self.children_left
    }

    /// Renders again (see `reload`): starts `jinit-config plan`, whose answer comes back as
    /// `Event::Rendered`.
    fn rerender(&mut self, waiters: Waiters, now: Instant) {
        let Some(argv) = self.render.clone() else {
            return self.answer_waiters(waiters, Ok(()));
        };
        if let Begun::Start = self.reloader.begin(waiters) {
            let (reply, answer) = tokio::sync::oneshot::channel();
            self.units.run_render(&argv, reply, now);
            reload::await_answer(answer, self.tx.clone());
        }
    }

    /// Reports what a re-render wrote, reloads the units of changed files, has the units
    /// follow the plan for the environment now in force, answers its waiters, and starts the
    /// queued re-render if any.
    fn finish_rerender(&mut self, outcome: Result<Outcome, String>, now: Instant) {
        let Some(waiters) = self.reloader.finish() else {
            return;
        };
        let why = waiters.why.join(", ");
        self.renders.total += 1;
        let outcome = match outcome.and_then(|o| match o.error {
            Some(text) => Err(text),
            None => Ok(o),
        }) {
            Ok(o) => o,
            Err(text) => {
                self.renders.failed += 1;
                log::warn(&format!(
                    "{why}: cannot render ({text}); keeping the current config"
                ));
                self.answer_waiters(waiters, Err(text));
                return self.next_render(now);
            }
        };
        for p in &outcome.problems {
            log::warn(&format!("{why}: {p}"));
        }
        if outcome.problems.is_empty() {
            self.renders.last_ok = Some(std::time::SystemTime::now());
        } else {
            self.renders.failed += 1;
        }
        if outcome.changed.is_empty() {
            log::info(&format!("{why}: config unchanged"));
        } else {
            log::info(&format!("{why}: rewrote {}", outcome.changed.join(", ")));
        }
        self.units.settings = Settings::of(&outcome);
        if self.phase == Phase::Running {
            for name in &outcome.reload {
                if let Ok(i) = self.units.find(name) {
                    if self.units.slots[i].unit.state.pid().is_some() {
                        let _ = self.units.reload(i, now);
                    }
                }
            }
            // The same environment gives the same plan, which changes nothing (`follow`).
            match (outcome.plan, outcome.plan_error) {
                (Some(plan), _) => self.units.follow(plan, &why, now),
                (None, text) => log::warn(&format!(
                    "{why}: the units cannot follow the new environment ({}); they stay as they are",
                    text.unwrap_or_default()
                )),
            }
            self.take_shutdown(now);
        }
        self.answer_waiters(waiters, Ok(()));
        self.next_render(now);
    }

    /// Starts the re-render asked for while the last one ran, if any.
    fn next_render(&mut self, now: Instant) {
        match self.reloader.next() {
            Some(next) => self.rerender(next, now),
            None => self.release_at = Some(now + RELEASE_AFTER),
        }
    }

    /// Tells the waiters of a re-render how it went (and reloads for SIGHUP / `jinit reload`).
    fn answer_waiters(&mut self, waiters: Waiters, result: Result<(), String>) {
        let response = match result {
            Ok(()) if waiters.reload_all && self.phase == Phase::Running => {
                answer(true, self.units.reload_all())
            }
            Ok(()) => answer(true, "rendered".into()),
            Err(e) => answer(false, format!("cannot render, config kept: {e}")),
        };
        for reply in waiters.replies {
            let _ = reply.send(answer(response.ok, response.message.clone()));
        }
    }
}
