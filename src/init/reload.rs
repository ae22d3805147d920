//! Re-rendering while running: input changes are debounced into one re-render, a re-render
//! asked for while another one's validations run is queued (all its waiters served by one
//! more), and the validation commands run as jinit's helpers while the loop goes on. This
//! module keeps that state and renders; the supervisor acts on the outcome (reloads units,
//! re-plans, answers).

use super::control::Response;
use super::event::Event;
use crate::config::apply;
use crate::config::image::Image;
use crate::log;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Re-render once the inputs have been quiet this long (editors write in bursts)...
const DEBOUNCE: Duration = Duration::from_millis(200);
/// ...but never wait longer than this after the first change of a burst.
const DEBOUNCE_MAX: Duration = Duration::from_secs(2);

/// A pending re-render: the first change of the burst, when to render, what changed.
struct Pending {
    first: Instant,
    at: Instant,
    paths: Vec<PathBuf>,
}

/// Who waits for a re-render, and what they asked for besides it.
#[derive(Default)]
pub struct Waiters {
    pub why: Vec<String>,
    /// `jinit reload` requests to answer.
    pub replies: Vec<oneshot::Sender<Response>>,
    /// SIGHUP or `jinit reload`: every unit with a reload-signal gets it afterwards.
    pub reload_all: bool,
}

impl Waiters {
    pub fn asked(why: &str, reply: Option<oneshot::Sender<Response>>, reload_all: bool) -> Waiters {
        Waiters {
            why: vec![why.to_string()],
            reload_all,
            replies: reply.into_iter().collect(),
        }
    }

    fn add(&mut self, other: Waiters) {
        self.why.extend(other.why);
        self.replies.extend(other.replies);
        self.reload_all |= other.reload_all;
    }
}

/// A re-render that has written its files.
pub struct Finished {
    pub waiters: Waiters,
    pub applied: apply::Applied,
    /// The environment changed: the units must follow a new plan.
    pub env_changed: bool,
}

/// What `begin` did.
pub enum Begun {
    /// Another re-render is validating; this one runs after it.
    Queued,
    /// Nothing was written: the environment or a template is broken (the reason in words).
    Failed(Waiters, String),
    Finished(Finished),
    /// These validation commands must pass first (see `validate`).
    Validating(Vec<apply::Validation>),
}

#[derive(Default)]
pub struct Reloader {
    pending: Option<Pending>,
    /// The re-render whose validations run, and who asked for another meanwhile.
    in_flight: Option<Finished>,
    queued: Option<Waiters>,
}

impl Reloader {
    pub fn input_changed(&mut self, path: PathBuf, now: Instant) {
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

    pub fn deadline(&self) -> Option<Instant> {
        self.pending.as_ref().map(|p| p.at)
    }

    /// The burst of input changes whose quiet time has passed: the reason to re-render, and
    /// the paths that changed.
    pub fn quiet(&mut self, now: Instant) -> Option<(String, Vec<PathBuf>)> {
        if self.pending.as_ref().is_none_or(|p| p.at > now) {
            return None;
        }
        let p = self.pending.take()?;
        let shown: Vec<String> = p.paths.iter().map(|p| p.display().to_string()).collect();
        Some((format!("changed: {}", shown.join(", ")), p.paths))
    }

    /// Reads the environment again and renders. On any problem the files in place are kept.
    pub fn begin(&mut self, waiters: Waiters, image: &mut Image) -> Begun {
        if self.in_flight.is_some() {
            self.queued
                .get_or_insert_with(Waiters::default)
                .add(waiters);
            return Begun::Queued;
        }
        let before = (image.env.values.clone(), image.env.raw.clone());
        let rendered = match image.reload_env().and_then(|()| image.render()) {
            Ok(r) => r,
            Err(problems) => {
                let text = problems
                    .iter()
                    .map(|p| format!("{}: {}", p.at, p.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                log::warn(&format!(
                    "{}: cannot render ({text}); keeping the current config",
                    waiters.why.join(", ")
                ));
                return Begun::Failed(waiters, text);
            }
        };
        let (applied, validations) = apply::apply_unvalidated(&image.spec, &rendered, true);
        let env_changed = image.env.values != before.0 || image.env.raw != before.1;
        let finished = Finished {
            waiters,
            applied,
            env_changed,
        };
        if validations.is_empty() {
            return Begun::Finished(finished);
        }
        self.in_flight = Some(finished);
        Begun::Validating(validations)
    }

    /// The validations of the re-render in flight have answered: it is finished.
    pub fn validated(
        &mut self,
        results: Vec<(apply::Validation, Result<(), String>)>,
        image: &Image,
    ) -> Option<Finished> {
        let mut flight = self.in_flight.take()?;
        apply::finish_validated(&image.spec, results, &mut flight.applied);
        Some(flight)
    }

    /// The re-render asked for while the last one was validating.
    pub fn next(&mut self) -> Option<Waiters> {
        self.queued.take()
    }
}

/// Asks the loop to run each validation command in turn (as its helper), then hands it
/// every verdict.
pub fn validate(validations: Vec<apply::Validation>, tx: mpsc::UnboundedSender<Event>) {
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

/// The files a re-render changed, and the units to reload for them (each once).
pub fn changes(image: &Image, applied: &apply::Applied) -> (Vec<String>, Vec<String>) {
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
    (files, units)
}
