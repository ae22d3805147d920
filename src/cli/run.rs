//! `jinit [--spec PATH]`: phase one (everything checked and rendered, or nothing starts), then
//! the event loop with its event sources: signals, the control socket, the config watcher,
//! and the metrics port when `JINIT_METRICS_PORT` asks for one.

use super::config::prepare;
use super::{inputs, parse, SPEC_ONLY};
use crate::config::apply;
use crate::init::{claim, control, event, metrics, os, scrape, supervise, watch};
use crate::log;
use crate::problem::Problems;
use crate::sys::{reap, signals};
use std::sync::Arc;

pub fn run(args: &[String]) -> Result<i32, String> {
    let a = parse("run", args, &SPEC_ONLY)?;
    // Before rendering anything: a second `jinit` (`docker exec CONTAINER jinit`) must not
    // touch the running one's files, units or socket.
    let socket = control::socket_path();
    // Held until this function returns: no other jinit binds this socket meanwhile.
    let _claim = claim::claim(&socket).map_err(|e| e.describe("lock", &socket))?;
    let metrics_at = metrics::address()?;
    reap::become_subreaper();
    // Before any thread exists, so every thread inherits the mask (see `signals`).
    let set = signals::block_all().map_err(|e| format!("cannot block signals: {e}"))?;
    let (img, plan, rendered) = prepare(&inputs(&a), true, true)?;
    let applied = apply::apply(&img.spec, &rendered, true);
    if !applied.problems.is_empty() {
        return Err(Problems {
            what: "rendering".into(),
            list: applied.problems,
        }
        .to_string());
    }
    if !rendered.is_empty() {
        log::info(&format!(
            "rendered {} files ({} changed)",
            rendered.len(),
            applied.changed.len()
        ));
    }
    let inputs = img.inputs();
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
        let settings = supervise::Settings::of(&img);
        let os = os::Real::new(tx.clone());
        let sup = supervise::Supervisor::new(plan, settings, Some(img), tx, os);
        let code = sup.run(rx).await;
        // Dropping the server removes the socket, if it is still the one we bound.
        server.abort();
        let _ = server.await;
        log::info(&format!("exiting with code {code}"));
        Ok(code)
    })
}
