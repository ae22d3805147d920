//! Programs the tests run under jinit: a shell loop that records TERM, and a python3 signal
//! recorder, with the list of signals jinit forwards.

/// A `sh` loop that records `started NAME` and, on TERM, `stopping NAME` then (after a short
/// pause that would let a too-early signal to another unit show up first) `stopped NAME`.
pub fn traps_term(name: &str, log: &str) -> String {
    format!(
        "trap 'echo stopping {name} >> {log}; sleep 0.2; echo stopped {name} >> {log}; exit 0' TERM; \
         echo started {name} >> {log}; \
         while :; do sleep 1000 & wait $!; done"
    )
}

/// A python3 program that records every catchable signal it receives as `ROLE N` lines in
/// the file given as argv[1], writes `ROLE ready` once its handlers are set, and exits 0 on the
/// first signal after `argv[1].done` exists. With argv[2] == "fork" it forks first, so a
/// grandchild in the same process group records as `child`.
pub const SIGNAL_RECORDER: &str = r#"
import os, signal, sys, time
rec = sys.argv[1]
role = "parent"

def record(line):
    fd = os.open(rec, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (line + "\n").encode())
    os.close(fd)

def handler(n, frame):
    record(f"{role} {n}")
    if os.path.exists(rec + ".done"):
        os._exit(0)

# 32 and 33 are reserved by glibc's threading and cannot be caught reliably.
skip = {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, 32, 33}
for n in range(1, signal.SIGRTMAX + 1):
    if n not in skip:
        signal.signal(n, handler)
if len(sys.argv) > 2 and sys.argv[2] == "fork":
    if os.fork() == 0:
        role = "child"
record(f"{role} ready")
# Not signal.pause(): a signal landing between the last handler check and the pause(2)
# call would leave its Python handler pending until the next signal. A short sleep bounds
# that delay to 20 ms.
while True:
    time.sleep(0.02)
"#;

/// Every signal a child can catch except the ones jinit must not forward (KILL, STOP, CHLD)
/// and glibc's internal 32 and 33.
pub fn forwardable_signals() -> Vec<i32> {
    (1..=64)
        .filter(|&n| ![libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD, 32, 33].contains(&n))
        .collect()
}
