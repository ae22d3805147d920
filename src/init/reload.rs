//! Re-rendering while running: input changes are debounced into one re-render, and a
//! re-render asked for while another one runs is queued (all its waiters served by one more).
//! The work itself is `jinit-config plan`, run as jinit's helper while the loop goes on; this
//! module keeps that state, the supervisor acts on the outcome (reloads units, re-plans,
//! answers).

use super::control::Response;
use super::event::Event;
use crate::spec::handoff::Outcome;
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

/// What `begin` did.
pub enum Begun {
    /// Another re-render runs; this one runs after it.
    Queued,
    /// The helper is to be started for these waiters (`finish` gives them back).
    Start,
}

#[derive(Default)]
pub struct Reloader {
    pending: Option<Pending>,
    /// Who waits for the re-render that runs, and who asked for another meanwhile.
    in_flight: Option<Waiters>,
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

    /// A re-render is asked for: it starts now, or after the one that runs.
    pub fn begin(&mut self, waiters: Waiters) -> Begun {
        if self.in_flight.is_some() {
            self.queued
                .get_or_insert_with(Waiters::default)
                .add(waiters);
            return Begun::Queued;
        }
        self.in_flight = Some(waiters);
        Begun::Start
    }

    /// The re-render that ran has answered: its waiters.
    pub fn finish(&mut self) -> Option<Waiters> {
        self.in_flight.take()
    }

    /// The re-render asked for while the last one ran.
    pub fn next(&mut self) -> Option<Waiters> {
        self.queued.take()
    }
}

/// Hands the loop the answer of the re-render `reply` will carry.
pub fn await_answer(
    answer: oneshot::Receiver<Result<Outcome, String>>,
    tx: mpsc::UnboundedSender<Event>,
) {
    tokio::spawn(async move {
        let outcome = answer
            .await
            .unwrap_or_else(|_| Err("re-render abandoned: jinit is stopping".into()));
        let _ = tx.send(Event::Rendered(Box::new(outcome)));
    });
}
