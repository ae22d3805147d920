#!/usr/bin/env python3
"""Helpers for bench/run.sh: the parts that need monotonic timing, /proc walking or arithmetic.

Every init under test runs as PID 1 of a fresh PID namespace (`unshare --pid --fork
--mount-proc`), the way Docker runs it, and is signalled from the parent namespace, the way
`docker stop` does. When a namespace's PID 1 dies the kernel SIGKILLs everything left in it, so
SIGKILL to the init is a complete cleanup of what a measurement started.

Each subcommand appends one JSON object per line to $BENCH_RESULTS; `report` turns them into
Markdown. No fixed sleeps beyond a short settle: readiness is observed on /proc.
"""

import json
import os
import platform
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
UP_TIMEOUT_S = 10.0


def emit(obj):
    with open(RESULTS, "a") as f:
        f.write(json.dumps(obj) + "\n")


# ---------------------------------------------------------------- /proc helpers

def children(pid):
    """Direct children of every thread of pid (empty once it is gone)."""
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def descendants(pid):
    seen, todo = [], children(pid)
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += children(p)
    return seen


def starttime(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        return ""


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def status_kb(pid):
    """VmRSS, RssAnon, RssFile from /proc/PID/status and Pss from smaps_rollup, in kB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, val = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(val.split()[0])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1])
    return out


def poll_until(what, check, timeout=UP_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.001)


class Init:
    """An init started as PID 1 of a new PID namespace; `pid` is its pid in our namespace."""

    def __init__(self, argv, log):
        self.argv = argv
        # A session of its own: a Ctrl-C of the benchmark reaches us, and we clean up.
        self.proc = subprocess.Popen(UNSHARE + argv, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, start_new_session=True)
        self.pid = None
        try:
            self.pid = poll_until("unshare's child",
                                  lambda: (children(self.proc.pid) or [None])[0])
            with open(PIDS, "a") as f:
                f.write(f"{self.pid} {starttime(self.pid)}\n")
            # Wait for the exec: until then the child is still a copy of unshare.
            want = os.path.basename(argv[0])[:15]
            poll_until(f"exec of {argv[0]}", lambda: comm(self.pid) == want)
        except BaseException:
            self.kill()
            raise

    def wait_sleeps(self, n):
        """The services are up when n `sleep` processes exist below the init."""
        poll_until(f"{n} sleep children of {self.argv[0]}",
                   lambda: sum(comm(p) == "sleep" for p in descendants(self.pid)) >= n)

    def kill(self):
        if self.proc.poll() is None:
            # SIGKILL is forced even on a namespace's init, and its death kills the namespace.
            try:
                os.kill(self.pid or self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


# ---------------------------------------------------------------- subcommands

def cmd_size(args):
    """size NAME PATH...: file sizes, how each is linked, and the non-libc libraries it needs."""
    name, paths = args[0], args[1:]
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
    """mem NAME SLEEPS LOG COMMS -- ARGV: RSS of the init (plus its descendants whose comm is in
    the comma-separated COMMS, e.g. s6-supervise) once SLEEPS services run."""
    name, sleeps, log, comms = args[0], int(args[1]), args[2], args[3]
    argv = args[args.index("--") + 1:]
    comms = set(filter(None, comms.split(",")))
    with open(log, "a") as logf:
        init = Init(argv, logf)
        try:
            init.wait_sleeps(sleeps)
            time.sleep(0.3)  # short settle: let the init finish post-spawn work (probes, logs)
            procs = [init.pid] + [p for p in descendants(init.pid) if comm(p) in comms]
            per = [dict(comm=comm(p), **status_kb(p)) for p in procs]
        finally:
            init.kill()
    emit({"section": "mem", "name": name, "services": sleeps, "procs": per})


def cmd_term(args):
    """term NAME SLEEPS REPS LOG -- ARGV: ms from SIGTERM to the init's exit (as seen by
    unshare's exit, which also covers the kernel tearing the namespace down)."""
    name, sleeps, reps, log = args[0], int(args[1]), int(args[2]), args[3]
    argv = args[args.index("--") + 1:]
    times, codes = [], set()
    with open(log, "a") as logf:
        for _ in range(reps):
            init = Init(argv, logf)
            try:
                init.wait_sleeps(sleeps)
                time.sleep(0.05)  # let the init reach its main loop after the last spawn
                t0 = time.monotonic_ns()
                os.kill(init.pid, signal.SIGTERM)
                rc = init.proc.wait(timeout=30)
                times.append((time.monotonic_ns() - t0) / 1e6)
                # unshare re-raises the child's fatal signal on itself: show it shell-style.
                codes.add(rc if rc >= 0 else 128 - rc)
            finally:
                init.kill()
    emit({"section": "term", "name": name, "services": sleeps, "ms": times,
          "exit_codes": sorted(codes)})


def cmd_hyperfine(args):
    """hyperfine SECTION JSON... -- NAME COMMAND [NAME COMMAND...]: pool the run times of each
    command over several hyperfine exports (rounds) and keep their statistics, in ms."""
    sep = args.index("--")
    section, paths, pairs = args[0], args[1:sep], args[sep + 1:]
    times, cpu = {}, {}
    for path in paths:
        with open(path) as f:
            for r in json.load(f)["results"]:
                times.setdefault(r["command"], []).extend(r["times"])
                # hyperfine keeps only the mean CPU time per round: weigh it by the runs.
                cpu.setdefault(r["command"], []).append(
                    ((r["user"] + r["system"]) * 1e3, len(r["times"])))
    for name, command in zip(pairs[::2], pairs[1::2]):
        t = [x * 1e3 for x in times[command]]
        c = sum(v * n for v, n in cpu[command]) / sum(n for _, n in cpu[command])
        emit({"section": section, "name": name, "mean": statistics.fmean(t),
              "stddev": statistics.stdev(t), "median": statistics.median(t), "min": min(t),
              "max": max(t), "runs": len(t), "cpu": c})


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


def cmd_render_result(args):
    """render-result IMAGE ENTRIES WHOLE_JSON PER_JSON: fold hyperfine's JSON into one row."""
    image, entries, whole, per = args[0], int(args[1]), args[2], args[3]
    w = json.load(open(whole))["results"][0]
    p = json.load(open(per))["results"]
    emit({"section": "render", "name": image, "entries": entries,
          "whole_mean": w["mean"] * 1e3, "whole_stddev": (w["stddev"] or 0) * 1e3,
          "per_sum": sum(r["mean"] for r in p) * 1e3})


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

TARGET_RSS_KB = 4 * 1024
TARGET_ANON_KB = 512
TARGET_TERM_MS = 50
TARGET_RENDER_MS = 10


def mb(kb):
    return f"{kb / 1024:.2f}"


def ms(x):
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def verdict(ok):
    return "met" if ok else "**MISSED**"


def report_size(rows, notes, w):
    w("## 1. Binary size\n")
    w("| binary | file size | linking | also loads (beyond libc) | total |")
    w("|---|---:|---|---|---:|")
    for r in rows:
        size = sum(f["bytes"] for f in r["files"])
        libs = {l["path"]: l["bytes"] for f in r["files"] for l in f["libs"]}
        link = "static" if all(f["static"] for f in r["files"]) else "dynamic"
        also = ", ".join(f"{os.path.basename(p)} ({v / 1024:.0f} KiB)" for p, v in libs.items())
        total = size + sum(libs.values())
        w(f"| {r['name']} | {size / 1024:.0f} KiB | {link} | {also or '-'} | "
          f"{total / 1024:.0f} KiB |")


def report_mem(rows, notes, w):
    w("## 2. Idle memory\n")
    w("VmRSS and RssAnon from `/proc/PID/status`, Pss from `/proc/PID/smaps_rollup` (shared "
      "pages divided among their users), read once the services run, after a 0.3 s settle. "
      "For s6 the supervision tree is `s6-svscan` plus one `s6-supervise` per service, summed.\n")
    w("| init | services | processes | VmRSS MB | RssAnon MB | Pss MB | VmRSS per service MB |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    target = None
    for r in rows:
        t = {k: sum(p[k] for p in r["procs"]) for k in ("VmRSS", "RssAnon", "Pss")}
        if r["name"] == "jinit (spec mode)":
            target = t
        w(f"| {r['name']} | {r['services']} | {len(r['procs'])} | {mb(t['VmRSS'])} | "
          f"{mb(t['RssAnon'])} | {mb(t['Pss'])} | {mb(t['VmRSS'] / r['services'])} |")
    w("")
    for n in notes:
        w(f"- {n}")
    if target:
        w(f"- target: jinit supervising 5 services in at most 4 MB VmRSS: {mb(target['VmRSS'])} "
          f"MB, {verdict(target['VmRSS'] <= TARGET_RSS_KB)}; at most 0.5 MB anonymous: "
          f"{mb(target['RssAnon'])} MB, {verdict(target['RssAnon'] <= TARGET_ANON_KB)}.")


def report_startup(rows, notes, w):
    w("## 3. Start-up and exit of `<init> -- true`\n")
    w("`hyperfine -N --warmup 20`, each command `unshare --pid --fork --mount-proc -- <init> -- "
      "true`, 3 rounds of 100 runs in rotated order, pooled. The baseline is `unshare ... -- "
      "true` with no init, so *init cost* = mean - baseline mean. CPU is the mean user + system "
      "time of the whole command (unshare, init and `true`), which waiting for a busy CPU "
      "does not inflate.\n")
    w("| init | mean ± σ ms | median ms | min ms | runs | init cost ms | CPU (user+sys) ms |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    base = next((r["mean"] for r in rows if r["name"].startswith("baseline")), 0.0)
    for r in rows:
        cost = "-" if r["name"].startswith("baseline") else f"{r['mean'] - base:+.2f}"
        w(f"| {r['name']} | {r['mean']:.2f} ± {r['stddev']:.2f} | {r['median']:.2f} | "
          f"{r['min']:.2f} | {r['runs']} | {cost} | {r['cpu']:.2f} |")
    w("")
    for n in notes:
        w(f"- {n}")
    j = next((r for r in rows if r["name"] == "jinit"), None)
    t = next((r for r in rows if r["name"] == "tini"), None)
    if j and t:
        # "No slower" up to the noise: two standard errors of the difference of the means, and
        # the medians (robust to the outliers a shared machine produces) must agree.
        se2 = 2 * ((j["stddev"] ** 2 + t["stddev"] ** 2) / j["runs"]) ** 0.5
        ok = j["mean"] <= t["mean"] + se2 and j["median"] <= t["median"] + se2
        w(f"- target: jinit no slower than tini: mean {j['mean']:.2f} vs {t['mean']:.2f} ms, "
          f"median {j['median']:.2f} vs {t['median']:.2f} ms (noise allowance {se2:.2f} ms): "
          f"{verdict(ok)}.")
        w(f"- CPU per start (less sensitive to a busy machine than wall time): jinit "
          f"{j['cpu']:.2f} ms vs tini {t['cpu']:.2f} ms ({j['cpu'] - t['cpu']:+.2f} ms).")
        static = [r for r in rows if r["name"] in ("tini-static", "catatonit")]
        if static:
            w("- jinit's median against the other static inits: " + ", ".join(
                f"{j['median'] - r['median']:+.2f} ms vs {r['name']}" for r in static) + ".")


def report_term(rows, notes, w):
    w("## 4. SIGTERM to exit\n")
    w("The init is started, its `sleep 100000` children are seen on /proc, then SIGTERM is sent "
      "to it; the time runs until the init (and with it the namespace) is gone. `sleep` dies on "
      "SIGTERM at once, so the services' own shutdown time is about 0.\n")
    w("| init | services | runs | median ms | max ms | exit code |")
    w("|---|---:|---:|---:|---:|---|")
    for r in rows:
        w(f"| {r['name']} | {r['services']} | {len(r['ms'])} | {ms(statistics.median(r['ms']))} "
          f"| {ms(max(r['ms']))} | {', '.join(map(str, r['exit_codes']))} |")
    w("")
    for n in notes:
        w(f"- {n}")
    worst = max((max(r["ms"]) for r in rows if r["name"].startswith("jinit")), default=None)
    if worst is not None:
        w(f"- target: jinit within {TARGET_TERM_MS} ms plus the services' own shutdown time: "
          f"worst jinit run {ms(worst)} ms, {verdict(worst <= TARGET_TERM_MS)}.")


def report_render(rows, notes, w):
    w("## 5. Config rendering\n")
    for n in notes:
        w(f"- {n}")
    if not rows:
        return
    if notes:
        w("")
    w("`jinit render --no-validate --root DIR` of an image's whole spec in one process, vs. one "
      "process per `[[render]]` entry run one after the other, as upstream's per-template `tpl` "
      "does (sum of each entry's mean; each entry's spec keeps the rest of the image's spec). "
      "DIR is on tmpfs like `/run` and emptied before every run, so every file is written, as "
      "at a container's boot.\n")
    w("| image | templates | one process ms (mean ± σ) | one per template ms | ratio |")
    w("|---|---:|---:|---:|---:|")
    for r in rows:
        w(f"| {r['name']} | {r['entries']} | {r['whole_mean']:.2f} ± {r['whole_stddev']:.2f} | "
          f"{r['per_sum']:.2f} | {r['per_sum'] / r['whole_mean']:.1f}x |")
    big = max(rows, key=lambda r: (r["entries"], r["whole_mean"]))
    slow = max(rows, key=lambda r: r["whole_mean"])
    w(f"\n- target: the largest image ({big['name']}, {big['entries']} templates) in "
      f"single-digit milliseconds: {big['whole_mean']:.2f} ms, "
      f"{verdict(big['whole_mean'] < TARGET_RENDER_MS)} (slowest image: {slow['name']}, "
      f"{slow['whole_mean']:.2f} ms).")


SECTIONS = [("size", report_size), ("mem", report_mem), ("startup", report_startup),
            ("term", report_term), ("render", report_render)]


def cmd_report(args):
    """report META_JSON: the Markdown report of everything in $BENCH_RESULTS, to stdout."""
    meta = json.loads(args[0])
    with open(RESULTS) as f:
        results = [json.loads(line) for line in f]
    out = []
    w = out.append
    w("# jinit benchmarks\n")
    w("Written by `bench/run.sh`; every number below comes from one run of it.\n")
    w(f"- date: {meta['date']}; jinit: `{meta['commit']}` (release, static)")
    if meta["stale"]:
        w(f"- **WARNING: {meta['stale']}.**")
    with open("/proc/loadavg") as f:
        load_end = " ".join(f.read().split()[:3])
    w(f"- kernel: {platform.release()}; CPU: {meta['cpu']} ({os.cpu_count()} cores); "
      f"load average at start {meta['load']}, at end {load_end}")
    busy = max(float(meta["load"].split()[0]), float(load_end.split()[0]))
    if busy > 0.5 * os.cpu_count():
        w("- **the machine was busy with other work during this run: expect noisy timings "
          "(compare medians and minimums, and re-run on a quiet machine).**")
    w(f"- peers (Debian packages): {meta['peers']}")
    w("- every init runs as PID 1 of a fresh PID namespace (`unshare --pid --fork "
      "--mount-proc`) and is signalled from outside it, as `docker stop` does.\n")
    for name, section in SECTIONS:
        rows = [r for r in results if r["section"] == name and "note" not in r]
        notes = [r["note"] for r in results if r["section"] == name and "note" in r]
        if rows or notes:
            section(rows, notes, w)
            w("")
    sys.stdout.write("\n".join(out).rstrip("\n") + "\n")


COMMANDS = {"size": cmd_size, "mem": cmd_mem, "term": cmd_term, "hyperfine": cmd_hyperfine,
            "render-result": cmd_render_result, "split-spec": cmd_split_spec,
            "schemas": cmd_schemas, "note": cmd_note,
            "cleanup": cmd_cleanup, "report": cmd_report}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](sys.argv[2:])
