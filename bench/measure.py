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

Each subcommand appends JSON objects, one a line, to $BENCH_RESULTS; `report` turns them into
Markdown and `readme` writes the summary into README.md's Benchmarks section. Plain stdlib.
"""

import json
import os
import platform
import random
import select
import shlex
import shutil
import signal
import statistics
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
            per = [dict(comm=comm(p), **status_kb(p)) for p in init.supervisors(comms)]
        finally:
            init.kill()
    emit({"section": "mem", "name": name, "services": sleeps, "procs": per})


def spawn_wait(argv, devnull):
    """Runs argv to its exit: (wall ms, CPU ms of it and every descendant it reaped, status).
    posix_spawn then a blocking wait4: the clock stops when the kernel wakes us, not at the
    next look of a polling loop."""
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
               (os.POSIX_SPAWN_DUP2, devnull, 2)]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status, ru = os.wait4(pid, 0)
    t1 = time.perf_counter_ns()
    return (t1 - t0) / 1e6, (ru.ru_utime + ru.ru_stime) * 1e3, os.waitstatus_to_exitcode(status)


def cmd_interleave(args):
    """interleave SECTION RUNS WARMUP [--group G] [--prepare-rm DIR] -- NAME CMD [NAME CMD...]:
    RUNS rounds (after WARMUP unrecorded ones), each running every CMD (a shell-quoted string,
    run without a shell) once, in an order rotated by one from round to round. Per NAME: every
    wall time and CPU time in ms, in round order, so ratios can also be taken per round.
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
    res = {name: {"ms": [], "cpu": [], "failed": 0} for name, _ in cmds}
    devnull = os.open(os.devnull, os.O_RDWR)
    for r in range(warmup + runs):
        for name, argv in rotated(cmds, r):
            if prep:
                shutil.rmtree(prep, ignore_errors=True)
            wall, cpu, code = spawn_wait(argv, devnull)
            if r >= warmup:
                res[name]["ms"].append(wall)
                res[name]["cpu"].append(cpu)
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


# ---------------------------------------------------------------- report
# Targets (issue 16 and earlier ones). Each is checked against this run's numbers; the report
# lists every verdict at its top and `readme` copies that list into README.md.

TARGET_BINARY_BYTES = 2_000_000   # (a) an image's PID 1 binary at most 2 MB
MEM_SCALE_CHECKED = (1, 5, 50, 200)  # (b) VmRSS and RssAnon below s6's at these counts
TARGET_STARTUP_RATIO = 1.05       # (c) `jinit -- true` within 5% of catatonit's median
TARGET_INSTR_RATIO = 1.5          #     and at most 1.5x catatonit's instructions
TARGET_RSS_KB = 4 * 1024          # earlier: 5 services in 4 MB VmRSS, 0.5 MB anonymous
TARGET_ANON_KB = 512
TARGET_TERM_MS = 50               # earlier: SIGTERM to exit within 50 ms
TARGET_RENDER_MS = 10             # earlier: the largest image renders in single-digit ms
JINIT_SPEC, S6, CATATONIT = "jinit (spec mode)", "s6-svscan + s6-supervise", "catatonit"


def mb(kb):
    return f"{kb / 1024:.2f}"


def ms(x):
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def verdict(ok):
    return "met" if ok else "**MISSED**"


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def quartiles(xs):
    if len(xs) < 4:
        return min(xs), max(xs)
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


class Report:
    """Collects the Markdown lines of the sections and the verdicts of the targets."""

    def __init__(self):
        self.lines, self.targets = [], []

    def w(self, line=""):
        self.lines.append(line)

    def target(self, text, ok):
        """A target's verdict: said in its section, and listed in the summary."""
        self.targets.append((text, ok))
        self.w(f"- target: {text}: {verdict(ok)}.")


def report_size(rows, notes, rep):
    w = rep.w
    w("## 1. Binary size\n")
    w("| binary | file size | linking | also loads (beyond libc) | total |")
    w("|---|---:|---|---|---:|")
    for r in rows:
        if "missing" in r:
            w(f"| {r['name']} | not built | | | |")
            continue
        size = sum(f["bytes"] for f in r["files"])
        libs = {l["path"]: l["bytes"] for f in r["files"] for l in f["libs"]}
        link = "static" if all(f["static"] for f in r["files"]) else "dynamic"
        also = ", ".join(f"{os.path.basename(p)} ({v / 1024:.0f} KiB)" for p, v in libs.items())
        total = size + sum(libs.values())
        w(f"| {r['name']} | {size / 1024:.0f} KiB | {link} | {also or '-'} | "
          f"{total / 1024:.0f} KiB |")
    w("")
    for n in notes:
        w(f"- {n}")
    for r in rows:
        if not r["name"].startswith("jinit"):
            continue
        label = r["name"].split(" ")[0]
        if "missing" in r:
            w(f"- {label}: not built (no `{r['missing'][0]}`), so not checked.")
            continue
        size = sum(f["bytes"] for f in r["files"])
        rep.target(f"`{label}` at most {TARGET_BINARY_BYTES / 1e6:.0f} MB: "
                   f"{size / 1e6:.2f} MB ({size} bytes)", size <= TARGET_BINARY_BYTES)


def mem_totals(r):
    return {k: sum(p[k] for p in r["procs"]) for k in ("VmRSS", "RssAnon", "Pss")}


def report_mem(rows, notes, rep):
    w = rep.w
    w("## 2. Idle memory\n")
    w("VmRSS and RssAnon from `/proc/PID/status`, Pss from `/proc/PID/smaps_rollup` (each "
      "shared page divided among the processes mapping it), read once the `sleep` services run "
      "and every supervisor thread has slept through three looks at /proc in a row. For s6 the "
      "supervision tree is `s6-svscan` plus one `s6-supervise` per service, summed. The "
      "services themselves are not counted.\n")
    w("| init | services | processes | VmRSS MB | RssAnon MB | Pss MB |")
    w("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        t = mem_totals(r)
        w(f"| {r['name']} | {r['services']} | {len(r['procs'])} | {mb(t['VmRSS'])} | "
          f"{mb(t['RssAnon'])} | {mb(t['Pss'])} |")
    w("")
    for n in notes:
        w(f"- {n}")
    jin = {r["services"]: mem_totals(r) for r in rows if r["name"] == JINIT_SPEC}
    s6 = {r["services"]: mem_totals(r) for r in rows if r["name"] == S6}
    both = sorted(set(jin) & set(s6))
    if both:
        w("\njinit against s6, as jinit / s6 (below 1: jinit uses less):\n")
        w("| services | VmRSS | RssAnon | Pss |")
        w("|---:|---:|---:|---:|")
        for n in both:
            w(f"| {n} | " + " | ".join(f"{jin[n][k] / s6[n][k]:.2f}"
                                       for k in ("VmRSS", "RssAnon", "Pss")) + " |")
        w("")
    if 5 in jin and 5 in s6:
        rep.target(f"Pss of jinit supervising 5 services at most s6's: {mb(jin[5]['Pss'])} vs "
                   f"{mb(s6[5]['Pss'])} MB", jin[5]["Pss"] <= s6[5]["Pss"])
    for n in MEM_SCALE_CHECKED:
        if n in jin and n in s6:
            j, s = jin[n], s6[n]
            rep.target(f"VmRSS and anonymous memory below s6's with {n} service"
                       f"{'s' if n > 1 else ''}: VmRSS {mb(j['VmRSS'])} vs {mb(s['VmRSS'])} MB, "
                       f"RssAnon {mb(j['RssAnon'])} vs {mb(s['RssAnon'])} MB",
                       j["VmRSS"] < s["VmRSS"] and j["RssAnon"] < s["RssAnon"])
    if 5 in jin:
        rep.target(f"jinit supervising 5 services in at most 4 MB VmRSS and 0.5 MB anonymous: "
                   f"{mb(jin[5]['VmRSS'])} and {mb(jin[5]['RssAnon'])} MB",
                   jin[5]["VmRSS"] <= TARGET_RSS_KB and jin[5]["RssAnon"] <= TARGET_ANON_KB)


def paired(a, b):
    """Median of the per-round ratios a[i] / b[i] (the same round: the same load)."""
    return med([x / y for x, y in zip(a, b)])


def ratio_interval(a, b, resamples=1000):
    """95% bootstrap interval of median(a) / median(b), resampling whole rounds (a[i] and b[i]
    ran in the same round), with a fixed seed so a report is reproducible from its data."""
    rng, n = random.Random(0), len(a)
    rs = []
    for _ in range(resamples):
        idx = rng.choices(range(n), k=n)
        rs.append(med([a[i] for i in idx]) / med([b[i] for i in idx]))
    rs.sort()
    return rs[int(0.025 * resamples)], rs[int(0.975 * resamples) - 1]


def report_startup(rows, notes, rep):
    w = rep.w
    w("## 3. Start-up and exit of `<init> -- true`\n")
    w("Each command is `unshare --pid --fork --mount-proc -- <init> -- true`, started with "
      "posix_spawn and reaped with a blocking wait4() by the timing process; one round runs "
      "every command once, in an order rotated from round to round. The baseline runs `true` "
      "with no init, so *init cost* = median - baseline median. CPU is user + system time of "
      "the command and everything it reaped (unshare, the init, `true`), which waiting for a "
      "busy CPU does not inflate. Ratios are against catatonit: of the medians, and the median "
      "of the per-round ratios.\n")
    cat = next((r for r in rows if r["name"] == CATATONIT), None)
    base = next((med(r["ms"]) for r in rows if r["name"].startswith("baseline")), 0.0)
    w("| init | median ms | quartiles ms | min ms | runs | init cost ms | CPU ms (median) "
      "| / catatonit | / catatonit per round |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        q1, q3 = quartiles(r["ms"])
        cost = "-" if r["name"].startswith("baseline") else f"{med(r['ms']) - base:+.2f}"
        ratio = f"{med(r['ms']) / med(cat['ms']):.3f}" if cat else "-"
        pr = f"{paired(r['ms'], cat['ms']):.3f}" if cat else "-"
        fail = f" ({r['failed']} failed)" if r["failed"] else ""
        w(f"| {r['name']} | {med(r['ms']):.2f} | {q1:.2f}-{q3:.2f} | {min(r['ms']):.2f} | "
          f"{len(r['ms'])}{fail} | {cost} | {med(r['cpu']):.2f} | {ratio} | {pr} |")
    w("")
    for n in notes:
        w(f"- {n}")
    j = next((r for r in rows if r["name"] == "jinit"), None)
    if j and cat:
        jc, cc = med(j["ms"]) - base, med(cat["ms"]) - base
        w(f"- The ratio is of whole commands, unshare included, as the target is stated; of "
          f"the init's own cost (median - baseline) it is {jc:.2f} / {cc:.2f} ms = "
          f"{jc / cc:.2f}." if cc > 0 else "- catatonit's median is below the baseline's.")
        cpu_base = next((med(r["cpu"]) for r in rows if r["name"].startswith("baseline")), 0.0)
        w(f"- CPU, which a busy machine inflates less than wall time: jinit / catatonit "
          f"{med(j['cpu']) / med(cat['cpu']):.3f} for the whole command, "
          f"{(med(j['cpu']) - cpu_base) / (med(cat['cpu']) - cpu_base):.2f} above the baseline's "
          f"{cpu_base:.2f} ms.")
        ratio = med(j["ms"]) / med(cat["ms"])
        lo, hi = ratio_interval(j["ms"], cat["ms"])
        noise = (", so the verdict is within this run's noise"
                 if lo <= TARGET_STARTUP_RATIO < hi else "")
        rep.target(f"`jinit -- true` as PID 1 within 5% of catatonit's median: {med(j['ms']):.2f}"
                   f" vs {med(cat['ms']):.2f} ms, ratio {ratio:.3f} (95% bootstrap interval "
                   f"{lo:.3f}-{hi:.3f}{noise})", ratio <= TARGET_STARTUP_RATIO)


def report_instr(rows, notes, rep):
    w = rep.w
    w("### Instructions of the init process\n")
    w("`unshare --pid --fork --mount-proc -- valgrind --tool=callgrind --trace-children=no "
      "<init> -- true`: the instructions (Ir) the init's own process executes, from its exec to "
      "its exit; the child it forks and `true` are left out. A dynamic binary's count includes "
      "the dynamic loader's work.\n")
    cat = next((med(r["ir"]) for r in rows if r["name"] == CATATONIT), None)
    w("| init | instructions (median) | runs | / catatonit |")
    w("|---|---:|---:|---:|")
    for r in rows:
        if not r["ir"]:
            w(f"| {r['name']} | no count (callgrind wrote none) | 0 | - |")
            continue
        ratio = f"{med(r['ir']) / cat:.2f}" if cat else "-"
        w(f"| {r['name']} | {med(r['ir']):,.0f} | {len(r['ir'])} | {ratio} |")
    w("")
    for n in notes:
        w(f"- {n}")
    j = next((r for r in rows if r["name"] == "jinit" and r["ir"]), None)
    if j and cat:
        rep.target(f"instructions of `jinit -- true` within 1.5x catatonit's: {med(j['ir']):,.0f}"
                   f" vs {cat:,.0f}, {med(j['ir']) / cat:.2f}x",
                   med(j["ir"]) <= TARGET_INSTR_RATIO * cat)


def report_term(rows, notes, rep):
    w = rep.w
    w("## 4. SIGTERM to exit\n")
    w("The init is started, its `sleep 100000` children are seen on /proc and it idles; then "
      "SIGTERM is sent to it (pidfd_send_signal) and the clock runs until its pidfd turns "
      "readable, which for a namespace's PID 1 is when it and every process of the namespace "
      "are gone. Rounds run every init once, in rotated order. `sleep` dies on SIGTERM at "
      "once, so the services' own shutdown time is about 0.\n")
    w("| init | services | runs | median ms | quartiles ms | max ms | exit code |")
    w("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        q1, q3 = quartiles(r["ms"])
        w(f"| {r['name']} | {r['services']} | {len(r['ms'])} | {ms(med(r['ms']))} | "
          f"{ms(q1)}-{ms(q3)} | {ms(max(r['ms']))} | {', '.join(map(str, r['exit_codes']))} |")
    w("")
    for n in notes:
        w(f"- {n}")
    by = {r["name"]: med(r["ms"]) for r in rows}
    single = [n for n in by if n not in (JINIT_SPEC, S6) and not n.startswith("jinit")]
    if "jinit (single mode)" in by and single:
        w("- jinit (single mode) / peer, medians: " + ", ".join(
            f"{n} {by['jinit (single mode)'] / by[n]:.2f}" for n in single) + ".")
    if JINIT_SPEC in by and S6 in by:
        w(f"- jinit (spec mode) / s6 with 5 services, medians: {by[JINIT_SPEC] / by[S6]:.2f}.")
    worst = max((max(r["ms"]) for r in rows if r["name"].startswith("jinit")), default=None)
    if worst is not None:
        rep.target(f"jinit exits within {TARGET_TERM_MS} ms of SIGTERM plus the services' own "
                   f"shutdown time: worst jinit run {ms(worst)} ms", worst <= TARGET_TERM_MS)


def report_crash(rows, notes, rep):
    w = rep.w
    w("## 5. Crash loop\n")
    w("One service that appends a line to a file and exits 1 at once, restarted by each "
      "supervisor with its own policy: jinit's default `on-failure = \"restart\"` (after 0.5 s, "
      "doubling up to 30 s, 10% jitter), s6-supervise's (at most one start a second). Both "
      "run at the same time. From the service's first start on, over a fixed window: the "
      "restarts (lines added) and the CPU time of the supervisor processes only (jinit; "
      "s6-svscan and the s6-supervise), from `/proc/PID/task/*/schedstat` (ns) and, as a "
      "cross-check at clock-tick grain, utime + stime from `/proc/PID/stat`. The service's "
      "own CPU (its fork and exec included) is not counted.\n")
    w("| supervisor | processes | window s | restarts | CPU ms | utime+stime ms | CPU ms per "
      "restart | CPU ms per minute |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        per = f"{r['cpu_ms'] / r['restarts']:.3f}" if r["restarts"] else "-"
        w(f"| {r['name']} | {r['procs']} | {r['window_s']:.0f} | {r['restarts']} | "
          f"{r['cpu_ms']:.2f} | {r['tick_ms']:.0f} | {per} | "
          f"{r['cpu_ms'] * 60 / r['window_s']:.2f} |")
    w("")
    for n in notes:
        w(f"- {n}")
    by = {r["name"]: r for r in rows}
    if JINIT_SPEC in by and S6 in by and by[JINIT_SPEC]["restarts"] and by[S6]["restarts"]:
        j, s = by[JINIT_SPEC], by[S6]
        w(f"- Per restart jinit spends {j['cpu_ms'] / j['restarts'] / (s['cpu_ms'] / s['restarts']):.2f}x "
          f"s6's supervisor CPU; over the window it restarts {j['restarts']} times to s6's "
          f"{s['restarts']} and spends {j['cpu_ms'] / s['cpu_ms']:.2f}x s6's CPU. At their "
          f"steady paces jinit restarts twice a minute (30 s cap), s6 60 times.")


def report_render(rows, notes, rep):
    w = rep.w
    w("## 6. Config rendering\n")
    for n in notes:
        w(f"- {n}")
    images = {}
    for r in rows:
        images.setdefault(r["group"], {})[r["name"]] = r
    if not images:
        return
    if notes:
        w("")
    w("`jinit render --no-validate --root DIR` of an image's whole spec in one process, vs. one "
      "process per `[[render]]` entry, as upstream's per-template `tpl` does (sum of each "
      "entry's median; each entry's spec keeps the rest of the image's spec). DIR is on tmpfs "
      "like `/run` and emptied before every run, outside the clock, so every file is written "
      "as at a container's boot. Per image, rounds run the whole and every entry once, in "
      "rotated order.\n")
    w("| image | templates | one process ms (median) | quartiles ms | one per template ms "
      "| ratio |")
    w("|---|---:|---:|---:|---:|---:|")
    summary = []
    for image, rs in images.items():
        whole = rs.pop("whole")
        wm = med(whole["ms"])
        per = sum(med(r["ms"]) for r in rs.values())
        q1, q3 = quartiles(whole["ms"])
        w(f"| {image} | {len(rs)} | {wm:.2f} | {q1:.2f}-{q3:.2f} | {per:.2f} | "
          f"{per / wm:.1f}x |")
        summary.append((image, len(rs), wm))
    w("")
    big = max(summary, key=lambda s: (s[1], s[2]))
    slow = max(summary, key=lambda s: s[2])
    rep.target(f"the largest image's configuration ({big[0]}, {big[1]} templates) renders in "
               f"single-digit milliseconds: {big[2]:.2f} ms (slowest image: {slow[0]}, "
               f"{slow[2]:.2f} ms)", big[2] < TARGET_RENDER_MS)


SECTIONS = [("size", report_size), ("mem", report_mem), ("startup", report_startup),
            ("instr", report_instr), ("term", report_term), ("crash", report_crash),
            ("render", report_render)]


def build(meta):
    with open(RESULTS) as f:
        results = [json.loads(line) for line in f]
    body = Report()
    for name, section in SECTIONS:
        rows = [r for r in results if r["section"] == name and "note" not in r]
        notes = [r["note"] for r in results if r["section"] == name and "note" in r]
        if rows or notes:
            section(rows, notes, body)
            body.w()
    return body


def summary_lines(targets):
    missed = sum(not ok for _, ok in targets)
    out = [f"{len(targets) - missed} of {len(targets)} targets met, {missed} missed:\n"]
    out += [f"- {verdict(ok)}: {text}." for text, ok in targets]
    return out


def cmd_report(args):
    """report META_JSON: the Markdown report of everything in $BENCH_RESULTS, to stdout."""
    meta = json.loads(args[0])
    body = build(meta)
    out = ["# jinit benchmarks\n",
           "Written by `bench/run.sh`; every number below comes from one run of it.\n",
           f"- date: {meta['date']}; bench scripts at `{meta['commit']}`; jinit: {meta['jinit']}"]
    if meta["stale"]:
        out.append(f"- **WARNING: {meta['stale']}.**")
    load_end = " ".join(read("/proc/loadavg").split()[:3])
    out.append(f"- kernel: {platform.release()}; CPU: {meta['cpu']} ({os.cpu_count()} cores); "
               f"load average at start {meta['load']}, at end {load_end}; run.sh took "
               f"{meta['elapsed']} s")
    busy = max(float(meta["load"].split()[0]), float(load_end.split()[0]))
    if busy > 0.5 * os.cpu_count():
        out.append("- **the machine was busy with other work during this run: timings are "
                   "noisy; compare the ratios, which come from interleaved rounds.**")
    out.append(f"- peers (Debian packages): {meta['peers']}")
    out.append("- every init runs as PID 1 of a fresh PID namespace (`unshare --pid --fork "
               "--mount-proc`) and is signalled from outside it, as `docker stop` does.\n")
    out.append("## Targets\n")
    out += summary_lines(body.targets)
    out.append("")
    out += body.lines
    sys.stdout.write("\n".join(out).rstrip("\n") + "\n")


README_START = "<!-- bench-summary: written by bench/run.sh from the run in bench/BENCHMARKS.md -->"
README_END = "<!-- /bench-summary -->"


def cmd_readme(args):
    """readme README META_JSON: replaces the block between the bench-summary markers in README
    with the verdicts of this run, so README and BENCHMARKS.md say the same."""
    path, meta = args[0], json.loads(args[1])
    text = read(path)
    if README_START not in text or README_END not in text:
        sys.exit(f"readme: {path} has no bench-summary markers; README.md not changed")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    verdicts = summary_lines(build(meta).targets)
    lines = [README_START, f"Last run ({meta['date']}, bench scripts at `{meta['commit']}`): "
             f"{verdicts[0]}"]
    lines += verdicts[1:]
    with open(path, "w") as f:
        f.write(head + "\n".join(lines) + "\n" + README_END + tail)


COMMANDS = {"size": cmd_size, "mem": cmd_mem, "interleave": cmd_interleave, "instr": cmd_instr,
            "term": cmd_term, "crash": cmd_crash, "split-spec": cmd_split_spec,
            "schemas": cmd_schemas, "note": cmd_note, "cleanup": cmd_cleanup,
            "report": cmd_report, "readme": cmd_readme}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](sys.argv[2:])
