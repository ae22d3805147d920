//! `jinit [--spec PATH]`: phase one (everything checked and rendered by `jinit-config plan
//! --boot`, or nothing starts), then the event loop with its event sources: signals, the
//! control socket, the config watcher, and the metrics port when `JINIT_METRICS_PORT` asks for
//! one.

use super::{parse, SPEC_ONLY};
use crate::init::{claim, control, event, metrics, os, scrape, supervise, watch};
use crate::log;
use crate::spec::handoff::{self, Outcome};
use crate::spec::plan::Plan;
use crate::sys::spawn;
use crate::sys::{reap, signals};
use std::sync::Arc;

pub fn run(args: &[String]) -> Result<i32, String> {
    parse("run", args, &SPEC_ONLY)?;
    // Before rendering anything: a second `jinit` (`docker exec CONTAINER jinit`) must not
    // touch the running one's files, units or socket.
    let socket = control::socket_path();
    // Held until this function returns: no other jinit binds this socket meanwhile.
    let _claim = claim::claim(&socket).map_err(|e| e.describe("lock", &socket))?;
    let metrics_at = metrics::address()?;
    reap::become_subreaper();
    // Before any thread exists, so every thread inherits the mask (see `signals`).
    let set = signals::block_all().map_err(|e| format!("cannot block signals: {e}"))?;
    // `jinit-config plan ARGS`: the flags are passed on as given (checked above).
    let mut render = vec![
        super::client::beside(handoff::CONFIG_BINARY)
            .display()
            .to_string(),
        "plan".to_string(),
    ];
    render.extend(args.iter().cloned());
    let mut at_boot = render.clone();
    at_boot.insert(2, "--boot".into());
    let mut outcome = boot(&at_boot)?;
    let plan = outcome.plan.take().unwrap_or(Plan { units: Vec::new() });
    let inputs = std::mem::take(&mut outcome.inputs);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the event loop: {e}"))?;
    runtime.block_on(async move {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<event::Event>();
        let sfd =
            signals::signalfd(&set, true).map_err(|e| format!("cannot create a signalfd: {e}"))?;
        let sfd = signals::watch(sfd).map_err(|e| format!("cannot watch the signalfd: {e}"))?;
        let listener = control::bind(&socket).map_err(|e| e.describe("create", &socket))?;
        let restore_socket = Arc::new(tokio::sync::Notify::new());
        let server = tokio::spawn(control::serve(listener, tx.clone(), restore_socket.clone()));
        tokio::spawn(signals::forward(sfd, tx.clone(), restore_socket));
        if let Some(addr) = metrics_at {
            let listener = scrape::bind(addr).await?;
            let shown = listener.local_addr().map_or(addr, |a| a);
            log::info(&format!("metrics: serving http://{shown}/metrics"));
            tokio::spawn(scrape::serve(listener, tx.clone()));
        }
        if !inputs.is_empty() {
            match watch::Watcher::new(inputs) {
                Ok(w) => {
                    tokio::spawn(w.run(tx.clone()));
                }
                // Without inotify the config is still rendered at every boot and on `jinit reload`.
                Err(e) => log::warn(&format!("cannot watch config inputs: {e}")),
            }
        }
        let settings = supervise::Settings::of(&outcome);
        let os = os::Real::new(tx.clone());
        let sup = supervise::Supervisor::new(plan, settings, Some(render), tx, os);
        let code = sup.run(rx).await;
        // Dropping the server removes the socket, if it is still the one we bound.
        server.abort();
        let _ = server.await;
        log::info(&format!("exiting with code {code}"));
        Ok(code)
    })
}

/// Runs `jinit-config plan --boot` and waits for it (no other child exists yet, and the
/// signals stay blocked meanwhile: a stop asked for now is served once the loop runs).
fn boot(argv: &[String]) -> Result<Outcome, String> {
    let program = argv.first().map_or("", String::as_str);
    let (mut out, theirs) =
        handoff::answer_files().map_err(|e| format!("cannot create a memory file: {e}"))?;
    let pid = spawn::spawn(&spawn::Request::answering(argv, &theirs)).map_err(|(_, e)| {
        format!("cannot run {program}: {e} (it ships beside jinit in every image)")
    })?;
    drop(theirs);
    let status = loop {
        match nix::sys::wait::waitpid(pid, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other,
        }
    };
    use nix::sys::wait::WaitStatus;
    let how = match status {
        Ok(WaitStatus::Exited(_, 0)) => None,
        Ok(WaitStatus::Exited(_, code)) => Some(format!("exit code {code}")),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(format!("killed by {sig}")),
        Ok(other) => Some(format!("{other:?}")),
        Err(e) => return Err(format!("cannot wait for {program}: {e}")),
    };
    if let Some(how) = how {
        return Err(format!("{program} failed ({how}); its output is above"));
    }
    let outcome = handoff::read(&mut out)?;
    match outcome.error {
        Some(text) => Err(text.trim_end().to_string()),
        None => Ok(outcome),
    }
}
