//! What can be asked of the units as a whole: their status and health, restarting or
//! reloading one, reloading all, and following a new plan after the environment changed.

use super::control::{HealthCheck, Response, UnitStatus};
use super::os::Os;
use super::slots::Units;
use super::unit::{Input, State};
use crate::spec::plan::Plan;
use crate::spec::{Kind, Ready};
use crate::{duration, log};
use nix::unistd::Pid;
use std::time::Instant;

impl<O: Os> Units<O> {
    pub fn status(&self, now: Instant) -> Vec<UnitStatus> {
        self.slots
            .iter()
            .map(|s| {
                let u = &s.unit;
                UnitStatus {
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
                        State::Draining { until, .. } => Some(format!(
                            "stop signal in {} at the latest",
                            duration::show(until.saturating_duration_since(now))
                        )),
                        State::Skipped if !s.enabled => Some("if is false".into()),
                        _ => None,
                    },
                }
            })
            .collect()
    }

    /// Healthy: running (not stopping) and every enabled service ready.
    pub fn health(&self, running: bool) -> Response {
        let waiting: Vec<&str> = self
            .slots
            .iter()
            .filter(|s| s.enabled && s.unit.spec.kind == Kind::Service)
            .filter(|s| !matches!(s.unit.state, State::Ready { .. }))
            .map(|s| s.unit.name())
            .collect();
        let healthy = waiting.is_empty() && running;
        let message = if !running {
            "stopping".to_string()
        } else if healthy {
            "healthy".to_string()
        } else {
            format!("not ready: {}", waiting.join(", "))
        };
        let mut response = answer(healthy, message);
        if healthy {
            response.checks = self
                .slots
                .iter()
                .filter(|s| s.enabled)
                .filter_map(|s| {
                    let (kind, target) = match s.unit.spec.health.as_ref()? {
                        Ready::Tcp(a) => ("tcp", a.clone()),
                        Ready::Http(u) => ("http", u.clone()),
                        Ready::File(p) => ("file", p.to_string_lossy().into_owned()),
                        Ready::Exec(_) => return None,
                    };
                    Some(HealthCheck {
                        unit: s.unit.name().to_string(),
                        kind: kind.into(),
                        target,
                    })
                })
                .collect();
        }
        response
    }

    /// The enabled unit called `name`.
    pub fn find(&self, name: &str) -> Result<usize, String> {
        match self.slots.iter().position(|s| s.unit.name() == name) {
            None => Err(format!(
                "unknown unit {name:?} (units: {})",
                self.slots
                    .iter()
                    .map(|s| s.unit.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some(i) if !self.slots[i].enabled => Err(format!("{name} is disabled by its `if`")),
            Some(i) => Ok(i),
        }
    }

    /// `jinit restart UNIT`.
    pub fn restart(&mut self, name: &str, running: bool, now: Instant) -> Response {
        match self.find(name) {
            Err(e) => answer(false, e),
            Ok(i) if matches!(self.slots[i].unit.state, State::Waiting) => answer(
                false,
                format!("{name} has not started yet: it waits for its `after` units"),
            ),
            Ok(_) if !running => answer(false, "jinit is stopping".into()),
            Ok(i) => {
                self.feed(i, Input::Restart, now);
                answer(true, format!("{name}: restarting"))
            }
        }
    }

    /// `jinit reload UNIT`.
    pub fn reload_unit(&mut self, name: &str, now: Instant) -> Response {
        match self.find(name).and_then(|i| self.reload(i, now)) {
            Ok(m) => answer(true, m),
            Err(e) => answer(false, e),
        }
    }

    /// Sends the unit's reload-signal; a unit without one is restarted instead.
    pub fn reload(&mut self, i: usize, now: Instant) -> Result<String, String> {
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
                self.slots[i].unit.reloads += 1;
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

    /// Sends each running service whose `on-change` covers one of `paths` its signal.
    pub fn signal_on_change(&mut self, paths: &[std::path::PathBuf]) {
        for s in &mut self.slots {
            let (Some(change), Some(pid)) = (&s.unit.spec.on_change, s.unit.state.pid()) else {
                continue;
            };
            let Some(path) = paths.iter().find(|p| change.covers(p)) else {
                continue;
            };
            self.os.signal(pid, change.signal);
            s.unit.reloads += 1;
            let word = crate::spec::signal_name(change.signal);
            log::info(&format!(
                "{}: sent SIG{word} ({} changed)",
                s.unit.name(),
                path.display()
            ));
        }
    }

    /// Sends every running unit that has a reload-signal its signal.
    pub fn reload_all(&mut self) -> String {
        let mut done = Vec::new();
        for s in &mut self.slots {
            if let (Some(sig), Some(pid)) = (s.unit.spec.reload_signal, s.unit.state.pid()) {
                self.os.signal(pid, sig);
                s.unit.reloads += 1;
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

    /// Makes the units follow a new plan, matching them by name: a unit whose `if` turned
    /// true starts (once its `after` units allow), one whose `if` turned false stops and stays
    /// skipped, and one whose command, env or exec probe now expands differently restarts
    /// with it (a finished oneshot runs again: a service account gets its new password). A
    /// planned unit that is not running is reported and left alone. Stops early when a unit's
    /// policy stops the container.
    pub fn follow(&mut self, plan: Plan, why: &str, now: Instant) {
        for planned in plan.units {
            if self.stopping || self.shutdown_asked() {
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
}

pub fn answer(ok: bool, message: String) -> Response {
    Response {
        ok,
        message,
        ..Response::default()
    }
}
