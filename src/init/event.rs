//! What the supervisor's loop receives on its channel. Every event source delivers its own
//! type through a `Sink`; the conversions into `Event` are here.

use super::control::{Call, Request, Response};
use super::probe::Report;
use super::watch::Changed;
use crate::config::apply;
use nix::sys::signal::Signal;
use tokio::sync::oneshot;

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
    Validated(Vec<(apply::Validation, Result<(), String>)>),
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
