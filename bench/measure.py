#!/usr/bin/env python3
"""Helpers for bench/run.sh: the parts that need timing, /proc walking or arithmetic.

Every init under test runs as PID 1 of a fresh PID namespace (`unshare --pid --fork
--mount-proc`), the way Docker runs it, and is signalled from the parent namespace, the way
`docker stop` does. When a namespace's PID 1 dies the kernel SIGKILLs everything left in it, so
SIGKILL to the init is a complete cleanup of what a measurement started.

How time is taken, and why:
- An exit is waited for, never polled: a short-lived command is started with posix_spawn and
  reaped with a blocking wait4() in this process; a long-lived init (not our child: unshare
  is) is watched through a pidfd, which poll() reports readable the moment the process is gone
  (pidfd_open(2), Linux 5.3). Popen.wait(timeout=...) would sleep 0.5, 1, 2, 4 ... ms between
  looks and round every time up to the next step.
- Peers are measured interleaved: every round runs each command once, in an order rotated
  from round to round, so load from elsewhere on a shared machine lands on all of them alike.
  The report gives medians and ratios of medians from the same run.
- Readiness (services up, the init idle in its main loop) is observed on /proc with short
  looks; nothing sleeps a fixed time except the crash-loop window, which is the measurement.

Each subcommand appends JSON objects, one a line, to $BENCH_RESULTS; bench/report.py turns them
into Markdown and the verdicts of the targets. Plain stdlib.
"""

import json
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time

RESULTS = os.environ.get("BENCH_RESULTS", "/tmp/jinit-bench-results.jsonl")
# Every init started is listed here ("pid starttime"), so `cleanup` can kill what an
# interrupted run left behind without touching a reused pid.
PIDS = os.environ.get("BENCH_PIDS", "/tmp/jinit-bench-pids")
UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc", "--"]
UP_TIMEOUT_S = 20.0
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def emit(obj):
    with open(RESULTS, "a") as f:
        f.write(json.dumps(obj) + "\n")


def groups(args, size):
    """The arguments after the first "--", cut into tuples of `size`."""
    rest = args[args.index("--") + 1:]
    if len(rest) % size:
        sys.exit(f"measure.py: expected groups of {size} arguments after --, got {rest}")
    return [tuple(rest[i:i + size]) for i in range(0, len(rest), size)]


def rotated(items, r):
    r %= len(items)
    return items[r:] + items[:r]


# ---------------------------------------------------------------- /proc helpers

def read(path):
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def children(pid):
    """Direct children of every thread of pid (empty once it is gone)."""
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tids:
        out += [int(c) for c in read(f"/proc/{pid}/task/{tid}/children").split()]
    return out


def descendants(pid):
    seen, todo = [], children(pid)
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += children(p)
    return seen


def stat_fields(path):
    """Fields of a /proc stat file after the command name: [0] is the state (proc(5) field 3)."""
    text = read(path)
    return text.rsplit(")", 1)[1].split() if text else []


def starttime(pid):
    f = stat_fields(f"/proc/{pid}/stat")
    return f[19] if f else ""


def comm(pid):
    return read(f"/proc/{pid}/comm").strip()


def cpu_ms(pid):
    """utime + stime of the whole process (exited threads included), in ms; clock-tick grain."""
    f = stat_fields(f"/proc/{pid}/stat")
    return (int(f[11]) + int(f[12])) * TICK_MS if f else 0.0


def runtime_ns(pid):
    """Time on CPU of the process's live threads in ns (schedstat: exact, unlike the ticks)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0
    for tid in tids:
        s = read(f"/proc/{pid}/task/{tid}/schedstat").split()
        total += int(s[0]) if s else 0
    return total


def status_kb(pid):
    """VmRSS, RssAnon, RssFile from /proc/PID/status and Pss from smaps_rollup, in kB."""
    out = {}
    for line in read(f"/proc/{pid}/status").splitlines():
        key, _, val = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = int(val.split()[0])
    for line in read(f"/proc/{pid}/smaps_rollup").splitlines():
        if line.startswith("Pss:"):
            out["Pss"] = int(line.split()[1])
    return out


# How long resident memory must stay the same to count as the idle footprint.
STEADY_SPAN_S = 1.5


def poll_until(what, check, timeout=UP_TIMEOUT_S):
    """Readiness only (never used to time anything): look every millisecond until check()."""
    deadline = time.monotonic() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.001)


def idle(pids):
    """Every thread of pids is asleep (state S) and none has run since the previous look: the
    processes wait in their main loops. True after three such looks in a row."""
    state = {"prev": None, "streak": 0}

    def look():
        snap = []
        for p in pids:
            try:
                tids = sorted(os.listdir(f"/proc/{p}/task"))
            except FileNotFoundError:
                return False
            for t in tids:
                f = stat_fields(f"/proc/{p}/task/{t}/stat")
                snap.append((p, t, f[0] if f else "?",
                             read(f"/proc/{p}/task/{t}/schedstat").split()[:1]))
        asleep = all(s[2] == "S" for s in snap)
        state["streak"] = state["streak"] + 1 if asleep and snap == state["prev"] else 0
        state["prev"] = snap
        return state["streak"] >= 2
    return look


# ---------------------------------------------------------------- a long-lived init

class Init:
    """An init started as PID 1 of a new PID namespace; `pid` is its pid in our namespace and
    `pidfd` a pidfd on it, which poll() reports readable once the init has exited."""

    def __init__(self, argv, log):
        self.argv = argv
        self.pidfd = None
        self.pid = None
        # A session of its own: a Ctrl-C of the benchmark reaches us, and we clean up.
        self.proc = subprocess.Popen(UNSHARE + argv, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, start_new_session=True)
        try:
            self.pid = poll_until("unshare's child",
                                  lambda: (children(self.proc.pid) or [None])[0])
            # unshare is alive and has not reaped it, so the pid cannot have been reused.
            self.pidfd = os.pidfd_open(self.pid)
            with open(PIDS, "a") as f:
                f.write(f"{self.pid} {starttime(self.pid)}\n")
            # Wait for the exec: until then the child is still a copy of unshare.
            want = os.path.basename(argv[0])[:15]
            poll_until(f"exec of {argv[0]}", lambda: comm(self.pid) == want)
        except BaseException:
            self.kill()
            raise

    def supervisors(self, comms):
        """The init plus its children whose comm is in comms (s6-svscan's s6-supervise). Only
        children: a grandchild named s6-supervise is one forked to become a service, not yet
        exec'd."""
        return [self.pid] + [p for p in children(self.pid) if comm(p) in comms]

    def wait_up(self, sleeps, comms):
        """Up: `sleeps` sleep processes run below the init, and it (with its helper processes)
        sleeps in its main loop."""
        poll_until(f"{sleeps} sleep children of {self.argv[0]}",
                   lambda: sum(comm(p) == "sleep" for p in descendants(self.pid)) >= sleeps)
        poll_until(f"{self.argv[0]} idle", idle(self.supervisors(comms)))

    def exited(self, timeout_s):
        """Blocks until the init is gone (True) or timeout_s passes (False)."""
        p = select.poll()
        p.register(self.pidfd, select.POLLIN)
        return bool(p.poll(timeout_s * 1000))

    def kill(self):
        if self.proc.poll() is None:
            # SIGKILL is forced even on a namespace's init, and its death kills the namespace.
            try:
                if self.pidfd is not None:
                    signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
                else:
                    os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


# ---------------------------------------------------------------- subcommands: measurements

def cmd_size(args):
    """size NAME PATH...: file sizes, how each is linked, and the non-libc libraries it needs.
    A missing PATH is recorded as not built."""
    name, paths = args[0], args[1:]
    if not all(os.path.exists(p) for p in paths):
        emit({"section": "size", "name": name, "missing": paths})
        return
    files = []
    for p in paths:
        ldd = subprocess.run(["ldd", p], capture_output=True, text=True).stdout
        libs = []
        for line in ldd.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
                lib = os.path.realpath(parts[2])
                if not os.path.basename(lib).startswith(("libc.so", "libc-", "ld-linux")):
                    libs.append({"path": parts[2], "bytes": os.path.getsize(lib)})
        files.append({"path": p, "bytes": os.path.getsize(p),
                      "static": "=>" not in ldd, "libs": libs})
    emit({"section": "size", "name": name, "files": files})


def cmd_mem(args):
    """mem NAME SERVICES LOG COMMS -- ARGV: memory of the init (plus its children whose comm is
    in the comma-separated COMMS, e.g. s6-supervise) once SERVICES sleeps run and it idles."""
    name, sleeps, log, comms = args[0], int(args[1]), args[2], args[3]
    argv = args[args.index("--") + 1:]
    comms = set(filter(None, comms.split(",")))
    with open(log, "a") as logf:
        init = Init(argv, logf)
        try:
            init.wait_up(sleeps, comms)
            per = steady(lambda: [dict(comm=comm(p), **status_kb(p))
                                  for p in init.supervisors(comms)])
        finally:
            init.kill()
    emit({"section": "mem", "name": name, "services": sleeps, "procs": per})


def steady(sample, span=STEADY_SPAN_S, timeout=UP_TIMEOUT_S):
    """The memory of an idle init once it has stopped changing: the same resident sizes for
    `span` seconds (an init may give memory back a moment after its boot, as jinit does one
    second after it, once the children it forked have exec'd). Returns the last sample."""
    deadline = time.monotonic() + timeout
    last, since = sample(), time.monotonic()
    key = lambda s: [(p["VmRSS"], p["RssAnon"]) for p in s]  # noqa: E731
    while time.monotonic() - since < span:
        if time.monotonic() > deadline:
            raise TimeoutError("memory did not settle")
        time.sleep(0.05)
        now = sample()
        if key(now) != key(last):
            last, since = now, time.monotonic()
    return last


def spawn_wait(argv, devnull):
    """Runs argv to its exit: (wall ms, CPU ms and minor page faults of it and every descendant
    it reaped, exit status).
    posix_spawn then a blocking wait4: the clock stops when the kernel wakes us, not at the
    next look of a polling loop."""
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
               (os.POSIX_SPAWN_DUP2, devnull, 2)]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status, ru = os.wait4(pid, 0)
    t1 = time.perf_counter_ns()
    return ((t1 - t0) / 1e6, (ru.ru_utime + ru.ru_stime) * 1e3, ru.ru_minflt,
            os.waitstatus_to_exitcode(status))


def cmd_interleave(args):
    """interleave SECTION RUNS WARMUP [--group G] [--prepare-rm DIR] -- NAME CMD [NAME CMD...]:
    RUNS rounds (after WARMUP unrecorded ones), each running every CMD (a shell-quoted string,
    run without a shell) once, in an order rotated by one from round to round. Per NAME: every
    wall time and CPU time in ms and the minor page faults, in round order, so ratios can also
    be taken per round.
    --prepare-rm empties DIR before each run, outside the clock."""
    section, runs, warmup = args[0], int(args[1]), int(args[2])
    opts = args[3:args.index("--")]
    group = opts[opts.index("--group") + 1] if "--group" in opts else None
    prep = opts[opts.index("--prepare-rm") + 1] if "--prepare-rm" in opts else None
    cmds = []
    for name, cmd in groups(args, 2):
        argv = shlex.split(cmd)
        argv[0] = shutil.which(argv[0]) or sys.exit(f"interleave: {argv[0]} not found")
        cmds.append((name, argv))
    res = {name: {"ms": [], "cpu": [], "faults": [], "failed": 0} for name, _ in cmds}
    devnull = os.open(os.devnull, os.O_RDWR)
    for r in range(warmup + runs):
        for name, argv in rotated(cmds, r):
            if prep:
                shutil.rmtree(prep, ignore_errors=True)
            wall, cpu, faults, code = spawn_wait(argv, devnull)
            if r >= warmup:
                res[name]["ms"].append(wall)
                res[name]["cpu"].append(cpu)
                res[name]["faults"].append(faults)
                res[name]["failed"] += code != 0
    os.close(devnull)
    for name, _ in cmds:
        emit({"section": section, "group": group, "name": name, **res[name]})


def cmd_instr(args):
    """instr REPS OUTDIR -- NAME CMD [NAME CMD...]: instructions the init process itself
    executes for `CMD` (an init with its arguments, e.g. `catatonit -- true`), counted by
    callgrind with --trace-children=no inside a fresh PID namespace. callgrind writes one file
    per process (%p, the pid inside the namespace): the init's is pid 1, so the child it forks
    (counted until its exec in another file) and `true` are left out."""
    reps, outdir = int(args[0]), args[1]
    cmds = [(name, shlex.split(cmd)) for name, cmd in groups(args, 2)]
    res = {name: [] for name, _ in cmds}
    for r in range(reps):
        for name, argv in rotated(cmds, r):
            shutil.rmtree(outdir, ignore_errors=True)
            os.makedirs(outdir)
            # A failed run writes no totals and is missing from the count, not fatal.
            subprocess.run(UNSHARE + ["valgrind", "--tool=callgrind", "--trace-children=no",
                                      f"--callgrind-out-file={outdir}/callgrind.%p", "-q"]
                           + argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=120)
            for line in read(f"{outdir}/callgrind.1").splitlines():
                if line.startswith("totals:"):
                    res[name].append(int(line.split()[1]))
    for name, _ in cmds:
        emit({"section": "instr", "name": name, "ir": res[name]})


def cmd_term(args):
    """term REPS LOG -- NAME SERVICES COMMS CMD [...]: ms from SIGTERM to the init's exit, REPS
    rounds, each starting every CMD once in rotated order. The clock stops when the init's
    pidfd turns readable: the kernel reports a namespace's PID 1 as exited only once every
    other process of the namespace is gone."""
    reps, log = int(args[0]), args[1]
    inits = [(n, int(s), set(filter(None, c.split(","))), shlex.split(cmd))
             for n, s, c, cmd in groups(args, 4)]
    res = {n: {"ms": [], "codes": set()} for n, *_ in inits}
    with open(log, "a") as logf:
        for r in range(reps):
            for name, sleeps, comms, argv in rotated(inits, r):
                init = Init(argv, logf)
                try:
                    init.wait_up(sleeps, comms)
                    t0 = time.perf_counter_ns()
                    signal.pidfd_send_signal(init.pidfd, signal.SIGTERM)
                    if not init.exited(30):
                        raise TimeoutError(f"{name} still runs 30 s after SIGTERM")
                    res[name]["ms"].append((time.perf_counter_ns() - t0) / 1e6)
                    rc = init.proc.wait()
                    # unshare re-raises the child's fatal signal on itself: show it shell-style.
                    res[name]["codes"].add(rc if rc >= 0 else 128 - rc)
                finally:
                    init.kill()
    for name, sleeps, *_ in inits:
        emit({"section": "term", "name": name, "services": sleeps, "ms": res[name]["ms"],
              "exit_codes": sorted(res[name]["codes"])})


def cmd_crash(args):
    """crash WINDOW LOG -- NAME COMMS STARTS CMD [...]: a crash loop, every init at once. Each
    supervises one service that appends a line to the file STARTS and exits 1. From the first
    start on, for WINDOW seconds: the restarts (lines added) and the CPU time of the supervisor
    processes (the init plus its children named in COMMS), never of the service."""
    window, log = float(args[0]), args[1]
    inits = [(n, set(filter(None, c.split(","))), f, shlex.split(cmd))
             for n, c, f, cmd in groups(args, 4)]
    lines = lambda path: read(path).count("\n")
    running, rows = [], []
    with open(log, "a") as logf:
        try:
            for name, comms, starts, argv in inits:
                running.append((name, comms, starts, Init(argv, logf)))
            marks = []
            for name, comms, starts, init in running:
                poll_until(f"{name}: first start", lambda: lines(starts) >= 1)
                sup = init.supervisors(comms)
                marks.append((time.monotonic(), sup, lines(starts),
                              sum(map(runtime_ns, sup)), sum(map(cpu_ms, sup))))
            for (name, comms, starts, init), (t0, sup, n0, ns0, ms0) in zip(running, marks):
                time.sleep(max(0.0, t0 + window - time.monotonic()))  # the window itself
                rows.append({"section": "crash", "name": name, "window_s": window,
                             "procs": len(sup), "restarts": lines(starts) - n0,
                             "cpu_ms": (sum(map(runtime_ns, sup)) - ns0) / 1e6,
                             "tick_ms": sum(map(cpu_ms, sup)) - ms0})
        finally:
            for *_, init in running:
                init.kill()
    for row in rows:
        emit(row)


def cmd_cleanup(args):
    """cleanup: SIGKILL every init still alive from the pid list (each takes its namespace)."""
    try:
        lines = open(PIDS).read().split("\n")
    except FileNotFoundError:
        return
    for line in filter(None, lines):
        pid, start = line.split(" ", 1)
        if start and starttime(pid) == start:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


def cmd_schemas(args):
    """schemas SPEC...: the schema files ([jinit] schemas) the given specs use, one a line."""
    import tomllib
    seen = []
    for spec in args:
        with open(spec, "rb") as f:
            for s in tomllib.load(f).get("jinit", {}).get("schemas", []):
                if s not in seen:
                    seen.append(s)
    print("\n".join(seen))


def cmd_note(args):
    """note SECTION TEXT: a line of text the report prints in that section."""
    emit({"section": args[0], "note": " ".join(args[1:])})


def cmd_split_spec(args):
    """split-spec SPEC OUTDIR [--strip-units]: one spec per [[render]] entry, each keeping the
    rest of the spec ([jinit], units), as upstream's one-`tpl`-process-per-template does.
    Prints the whole spec to render (SPEC itself, or its stripped copy), then one path per entry.

    --strip-units drops the [service.*] and [oneshot.*] tables and the entries' `reload` keys
    (which name units): for a host that lacks the image's programs, where loading the full spec
    fails on "command not found". Splits the text at table headers, so what is kept stays
    byte-identical, and checks the result against a real TOML parser."""
    import tomllib
    spec, outdir, strip = args[0], args[1], "--strip-units" in args[2:]
    with open(spec) as f:
        text = f.read()
    blocks, cur = [], []  # each block: its header line (none for the first), then its lines
    for line in text.splitlines(keepends=True):
        if line.startswith("["):
            blocks.append(cur)
            cur = [line]
        else:
            cur.append(line)
    blocks.append(cur)
    is_render = [bool(b) and b[0].strip() == "[[render]]" for b in blocks]
    if strip:
        unit = lambda b: bool(b) and b[0].startswith(("[service.", "[oneshot."))
        keep = [not unit(b) for b in blocks]
        blocks = [[l for l in b if not (r and l.lstrip().startswith("reload"))] if r else b
                  for b, r in zip(blocks, is_render)]
        blocks = [b for b, k in zip(blocks, keep) if k]
        is_render = [r for r, k in zip(is_render, keep) if k]
    want = len(tomllib.loads(text).get("render", []))
    if sum(is_render) != want:
        sys.exit(f"split-spec: found {sum(is_render)} [[render]] headers, TOML has {want}")
    whole = spec
    if strip:
        whole = os.path.join(outdir, "whole.toml")
        body = "".join("".join(b) for b in blocks)
        tomllib.loads(body)
        with open(whole, "w") as f:
            f.write(body)
    print(whole)
    others = "".join("".join(b) for b, r in zip(blocks, is_render) if not r)
    for n, b in enumerate(b for b, r in zip(blocks, is_render) if r):
        path = os.path.join(outdir, f"entry-{n:02d}.toml")
        body = others.rstrip("\n") + "\n\n" + "".join(b)
        tomllib.loads(body)  # still valid TOML
        with open(path, "w") as f:
            f.write(body)
        print(path)


COMMANDS = {"size": cmd_size, "mem": cmd_mem, "interleave": cmd_interleave, "instr": cmd_instr,
            "term": cmd_term, "crash": cmd_crash, "split-spec": cmd_split_spec,
            "schemas": cmd_schemas, "note": cmd_note, "cleanup": cmd_cleanup}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](sys.argv[2:])
