//! What the supervisor's loop receives on its channel. Every event source delivers its own
//! type through a `Sink`; the conversions into `Event` are here.

use super::control::{Call, Request, Response};
use super::probe::Report;
use super::watch::Changed;
use crate::spec::handoff::Outcome;
use nix::sys::signal::Signal;
use tokio::sync::oneshot;

pub enum Event {
    Signal(Signal),
    Probe(Report),
    Control(Request, oneshot::Sender<Response>),
    /// A watched input of the rendered config changed.
    InputChanged(std::path::PathBuf),
    /// The re-render in flight has answered (or could not run: the reason in words).
    Rendered(Box<Result<Outcome, String>>),
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
