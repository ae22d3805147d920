//! Reaping: orphaned grandchildren re-parent to jinit (PID 1, or a child subreaper) and never
//! stay zombies, in single-command mode and under a spec.

#[macro_use]
mod common;
use common::*;

both_modes!(
    reaps_orphans_of_a_single_command,
    reaps_orphans_of_a_service
);

/// Spawns 100 orphans that outlive their parent for a second, writes `spawned`, then sleeps.
const ORPHAN_SPAWNER: &str = "i=0; while [ $i -lt 100 ]; do (sleep 1 &); i=$((i+1)); done; \
                              touch {D}/spawned; exec sleep 1000";

/// Checks the orphans were adopted by jinit, then that all of them are reaped.
fn assert_orphans_reaped(sb: &Sandbox, jinit: &Running) {
    sb.wait_file("spawned", secs(10));
    // The subshells have exited, so every orphan still running is now jinit's child.
    let adopted = jinit.live_children().len();
    assert!(
        adopted > 50,
        "jinit adopted only {adopted} children; is it a subreaper / PID 1?"
    );
    wait_for("every orphan to be reaped", secs(10), || {
        jinit.zombies().is_empty() && jinit.live_children().len() == 1
    });
}

fn reaps_orphans_of_a_single_command(mode: Mode) {
    let sb = Sandbox::new();
    let script = sb.expand(ORPHAN_SPAWNER);
    let mut jinit = Jinit::command(&sb, ["sh", "-c", &script])
        .mode(mode)
        .spawn();
    assert_orphans_reaped(&sb, &jinit);
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(5)), 128 + libc::SIGTERM);
}

fn reaps_orphans_of_a_service(mode: Mode) {
    let sb = Sandbox::new();
    sb.spec(&format!(
        r#"
[service.spawner]
command = ["sh", "-c", '''{ORPHAN_SPAWNER}''']
"#
    ));
    let mut jinit = Jinit::spec(&sb).mode(mode).spawn();
    assert_orphans_reaped(&sb, &jinit);
    jinit.signal(libc::SIGTERM);
    assert_eq!(jinit.wait_exit(secs(10)), 0, "stderr:\n{}", jinit.stderr());
}
