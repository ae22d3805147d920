//! Hot reload: re-rendering when the inputs change (debounced), on SIGHUP or `jinit reload`;
//! the re-render's validation commands run as jinit's helpers while the loop goes on; units
//! whose files changed are reloaded, and a changed environment re-plans the units (matched
//! to the running ones by name).

use super::control::Response;
use super::os::Os;
use super::requests::{fail, ok};
use super::supervise::{Event, Job, Owner, Phase, Settings, Supervisor};
use super::unit::{Input, State};
use crate::config::render;
use crate::log;
use crate::spec::plan::Plan;
use crate::sys::spawn::{self, Group};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Re-render once the inputs have been quiet this long (editors write in bursts)...
const DEBOUNCE: Duration = Duration::from_millis(200);
/// ...but never wait longer than this after the first change of a burst.
const DEBOUNCE_MAX: Duration = Duration::from_secs(2);

/// A pending re-render: the first change of the burst, when to render, what changed.
pub(super) struct Pending {
    first: Instant,
    pub at: Instant,
    paths: Vec<PathBuf>,
}

/// Who waits for a re-render, and what they asked for besides it.
#[derive(Default)]
pub(super) struct Waiters {
    pub why: Vec<String>,
    /// `jinit reload` requests to answer.
    pub replies: Vec<oneshot::Sender<Response>>,
    /// SIGHUP or `jinit reload`: every unit with a reload-signal gets it afterwards.
    pub reload_all: bool,
}

impl Waiters {
    pub fn asked(why: &str, reply: Option<oneshot::Sender<Response>>) -> Waiters {
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
pub(super) struct InFlight {
    waiters: Waiters,
    applied: render::Applied,
    env_changed: bool,
}

impl<O: Os> Supervisor<O> {
    pub(super) fn on_input_changed(&mut self, path: PathBuf, now: Instant) {
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

    /// The inputs have been quiet long enough: render the burst of changes.
    pub(super) fn on_quiet_inputs(&mut self, now: Instant) {
        if let Some(p) = self.pending.take() {
            if self.phase == Phase::Running {
                let shown: Vec<String> = p.paths.iter().map(|p| p.display().to_string()).collect();
                let why = format!("changed: {}", shown.join(", "));
                self.rerender(Waiters::asked(&why, None), now);
            }
        }
    }

    /// Renders again; reloads (or restarts) the units whose files changed. On any problem the
    /// files in place are kept and nothing is reloaded. Validation commands run as helpers
    /// while the loop goes on (`on_validated` finishes the job); a request arriving meanwhile
    /// is served by one more re-render after this one.
    pub(super) fn rerender(&mut self, waiters: Waiters, now: Instant) {
        if self.in_flight.is_some() {
            self.queued
                .get_or_insert_with(Waiters::default)
                .add(waiters);
            return;
        }
        let why = waiters.why.join(", ");
        let Some(image) = self.image.as_mut() else {
            return self.answer_waiters(waiters, Ok(()));
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
                return self.answer_waiters(waiters, Err(text));
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

    pub(super) fn on_validated(
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
        self.settings = Settings {
            shutdown_grace: self.settings.shutdown_grace,
            stop_timeout: self.settings.stop_timeout,
            base_env: image.unit_env(),
            secrets: image.secret_names(),
        };
        if self.phase == Phase::Running {
            for name in &units {
                if let Ok(i) = self.find(name) {
                    if self.slots[i].unit.state.pid().is_some() {
                        let _ = self.reload(i, now);
                    }
                }
            }
            // Units depend on the environment only: a changed custom-* file needs no new plan.
            if env_changed {
                self.replan(&why, now);
            }
        }
        self.answer_waiters(waiters, Ok(()));
        if let Some(next) = self.queued.take() {
            self.rerender(next, now);
        }
    }

    /// Tells the waiters of a re-render how it went (and reloads for SIGHUP / `jinit reload`).
    fn answer_waiters(&mut self, waiters: Waiters, result: Result<(), String>) {
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
    pub(super) fn run_validation(
        &mut self,
        argv: Vec<String>,
        reply: oneshot::Sender<Result<(), String>>,
        now: Instant,
    ) {
        let what = argv.join(" ");
        let req = spawn::Request {
            argv: &argv,
            env: &[],
            env_remove: &self.settings.secrets,
            cwd: None,
            account: None,
            group: Group::Session,
            stdin: spawn::Stdin::Null,
        };
        match self.os.spawn(&req) {
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

    /// Evaluates every unit's `if` and `{{ }}` strings again after the environment changed
    /// (see `follow`). On a problem (a newly enabled command missing, say) the units stay as
    /// they are.
    fn replan(&mut self, why: &str, now: Instant) {
        let Some(image) = self.image.as_ref() else {
            return;
        };
        match image.plan() {
            Ok(plan) => self.follow(plan, why, now),
            Err(problems) => {
                let text: Vec<String> = problems
                    .iter()
                    .map(|p| format!("{}: {}", p.at, p.message))
                    .collect();
                log::warn(&format!(
                    "{why}: the units cannot follow the new environment ({}); they stay as they are",
                    text.join("; ")
                ));
            }
        }
    }

    /// Makes the running units follow a new plan, matching them by name: a unit whose `if`
    /// turned true starts (once its `after` units allow), one whose `if` turned false stops and
    /// stays skipped, and one whose command, env or exec probe now expands differently
    /// restarts with it (a finished oneshot runs again: a service account gets its new
    /// password). A planned unit the running spec does not have is reported and left alone.
    pub(super) fn follow(&mut self, plan: Plan, why: &str, now: Instant) {
        for planned in plan.units {
            // A unit acted on below may stop the container (a oneshot failing to start).
            if self.phase != Phase::Running {
                return;
            }
            let name = planned.spec.name.clone();
            let Some(i) = self.slots.iter().position(|s| s.unit.name() == name) else {
                log::warn(&format!(
                    "{why}: the new plan has a unit {name:?} that is not running"
                ));
                continue;
            };
            let slot = &mut self.slots[i];
            match (slot.enabled, planned.enabled) {
                (false, true) => {
                    slot.enabled = true;
                    slot.unit.spec = planned.spec;
                    slot.account = planned.account;
                    log::info(&format!("{name}: its if is now true"));
                    self.feed(i, Input::Enable, now);
                }
                (true, false) => {
                    slot.enabled = false;
                    log::info(&format!("{name}: its if is now false"));
                    self.feed(i, Input::Disable, now);
                }
                (true, true) if planned.spec != slot.unit.spec => {
                    slot.unit.spec = planned.spec;
                    slot.account = planned.account;
                    // A oneshot with `creates` did its one-time job: it does not run again.
                    let once = slot.unit.spec.creates.is_some();
                    if !once && !matches!(slot.unit.state, State::Waiting | State::Skipped) {
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

    /// Sends the unit's reload-signal; a unit without one is restarted instead.
    pub(super) fn reload(&mut self, i: usize, now: Instant) -> Result<String, String> {
        let unit = &self.slots[i].unit;
        let name = unit.name().to_string();
        let Some(pid) = unit.state.pid() else {
            return Err(format!("{name} is not running"));
        };
        match unit.spec.reload_signal {
            Some(sig) => {
                // Like systemd's ExecReload=kill -HUP $MAINPID: the main process decides what
                // a reload means for its helpers (nginx's workers must not see HUP).
                self.os.signal(pid, sig);
                let word = crate::spec::signal_name(sig);
                log::info(&format!("{name}: sent SIG{word} to reload"));
                Ok(format!("{name}: sent {word}"))
            }
            None => {
                self.feed(i, Input::Restart, now);
                Ok(format!("{name}: restarting (it has no reload-signal)"))
            }
        }
    }

    fn reload_all(&mut self) -> String {
        let mut done = Vec::new();
        for s in &self.slots {
            if let (Some(sig), Some(pid)) = (s.unit.spec.reload_signal, s.unit.state.pid()) {
                self.os.signal(pid, sig);
                done.push(s.unit.name().to_string());
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
}
