//! The supervisor's answers to control requests: `status`, `health`, `restart UNIT` and
//! `reload UNIT` (`reload` of everything is a re-render, see `reload`).

use super::control::{Request, Response, UnitStatus};
use super::os::Os;
use super::supervise::{Phase, Supervisor};
use super::unit::{Input, State};
use crate::duration;
use crate::spec::Kind;
use nix::unistd::Pid;
use std::time::Instant;

impl<O: Os> Supervisor<O> {
    pub(super) fn on_control(&mut self, req: Request, now: Instant) -> Response {
        match req {
            Request::Status => Response {
                ok: true,
                message: String::new(),
                units: self.status(now),
            },
            Request::Health => self.health(),
            Request::Restart { unit } => match self.find(&unit) {
                Err(e) => fail(e),
                Ok(i) if matches!(self.slots[i].unit.state, State::Waiting) => fail(format!(
                    "{unit} has not started yet: it waits for its `after` units"
                )),
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
            // Answered when the re-render is done (see `Supervisor::on_event`).
            Request::Reload { unit: None } => fail("internal: reload answered elsewhere".into()),
        }
    }

    fn health(&self) -> Response {
        let waiting: Vec<&str> = self
            .slots
            .iter()
            .filter(|s| s.enabled && s.unit.spec.kind == Kind::Service)
            .filter(|s| !matches!(s.unit.state, State::Ready { .. }))
            .map(|s| s.unit.name())
            .collect();
        let healthy = waiting.is_empty() && self.phase == Phase::Running;
        let message = if self.phase != Phase::Running {
            "stopping".to_string()
        } else if healthy {
            "healthy".to_string()
        } else {
            format!("not ready: {}", waiting.join(", "))
        };
        Response {
            ok: healthy,
            message,
            units: Vec::new(),
        }
    }

    /// The enabled unit called `name`.
    pub(super) fn find(&self, name: &str) -> Result<usize, String> {
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

    fn status(&self, now: Instant) -> Vec<UnitStatus> {
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
                        State::Skipped if !s.enabled => Some("if is false".into()),
                        _ => None,
                    },
                }
            })
            .collect()
    }
}

pub(super) fn ok(message: String) -> Response {
    Response {
        ok: true,
        message,
        units: Vec::new(),
    }
}

pub(super) fn fail(message: String) -> Response {
    Response {
        ok: false,
        message,
        units: Vec::new(),
    }
}
