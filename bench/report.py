#!/usr/bin/env python3
"""The report of bench/run.sh: reads the measurements bench/measure.py appended to $BENCH_RESULTS
and writes them as Markdown (bench/BENCHMARKS.md), with a verdict for every target, and copies
those verdicts into README.md's Benchmarks section so the two cannot disagree. Measures
nothing and starts no process. Plain stdlib.

    report.py report META_JSON       # the Markdown report, to stdout
    report.py readme README META_JSON
"""

import json
import os
import platform
import random
import statistics
import sys

RESULTS = os.environ.get("BENCH_RESULTS", "/tmp/jinit-bench-results.jsonl")


def read(path):
    with open(path) as f:
        return f.read()


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
        if label == "jinit-config":
            # Not a PID 1: the configuration half, a short-lived child of PID 1.
            w(f"- `{label}` (not a PID 1: in every image, the spec parser, schemas and template "
              f"engine, run by jinit at boot and for each re-render and by `jinit check`, "
              f"`render`, ...; it exits once the files are written): {size / 1e6:.2f} MB.")
            continue
        if label != "jinit":
            # Not a PID 1: the Let's Encrypt client, run by `jinit acme` in the web image only.
            w(f"- `{label}` (not a PID 1: the web image's Let's Encrypt client, run by "
              f"`jinit acme`; no other image carries it): {size / 1e6:.2f} MB.")
            continue
        rep.target(f"`{label}`, every image's PID 1, at most {TARGET_BINARY_BYTES / 1e6:.0f} MB: "
                   f"{size / 1e6:.2f} MB ({size} bytes)", size <= TARGET_BINARY_BYTES)


def mem_totals(r):
    return {k: sum(p[k] for p in r["procs"]) for k in ("VmRSS", "RssAnon", "Pss")}


def report_mem(rows, notes, rep):
    w = rep.w
    w("## 2. Idle memory\n")
    w("VmRSS and RssAnon from `/proc/PID/status`, Pss from `/proc/PID/smaps_rollup` (each "
      "shared page divided among the processes mapping it), read once the `sleep` services run "
      "and every supervisor thread has slept through three looks at /proc in a row, then once "
      "their resident sizes have stayed the same for 1.5 s (jinit gives back the pages only "
      "its boot needed one second after it). For s6 the "
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
      "busy CPU does not inflate; page faults are the minor faults of the same processes (a "
      "bigger binary maps and touches more pages). Ratios are against catatonit: of the "
      "medians, and the median of the per-round ratios.\n")
    cat = next((r for r in rows if r["name"] == CATATONIT), None)
    base = next((med(r["ms"]) for r in rows if r["name"].startswith("baseline")), 0.0)
    w("| init | median ms | quartiles ms | min ms | runs | init cost ms | CPU ms (median) "
      "| page faults (median) | / catatonit | / catatonit per round |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        q1, q3 = quartiles(r["ms"])
        cost = "-" if r["name"].startswith("baseline") else f"{med(r['ms']) - base:+.2f}"
        ratio = f"{med(r['ms']) / med(cat['ms']):.3f}" if cat else "-"
        pr = f"{paired(r['ms'], cat['ms']):.3f}" if cat else "-"
        fail = f" ({r['failed']} failed)" if r["failed"] else ""
        w(f"| {r['name']} | {med(r['ms']):.2f} | {q1:.2f}-{q3:.2f} | {min(r['ms']):.2f} | "
          f"{len(r['ms'])}{fail} | {cost} | {med(r['cpu']):.2f} | {med(r['faults']):.0f} | "
          f"{ratio} | {pr} |")
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
        per = j["cpu_ms"] / j["restarts"] / (s["cpu_ms"] / s["restarts"])
        w(f"- Per restart, the cost of the mechanism itself, jinit spends {per:.2f}x s6's "
          f"supervisor CPU. Over the window, each at its own pace (what a crash loop costs the "
          f"container), jinit restarts {j['restarts']} times to s6's {s['restarts']} and spends "
          f"{j['cpu_ms'] / s['cpu_ms']:.2f}x s6's CPU. Once its backoff reaches the 30 s cap "
          f"jinit restarts twice a minute; s6 keeps to once a second.")


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


def build():
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
    body = build()
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
    verdicts = summary_lines(build().targets)
    lines = [README_START, f"Last run ({meta['date']}, bench scripts at `{meta['commit']}`): "
             f"{verdicts[0]}"]
    lines += verdicts[1:]
    with open(path, "w") as f:
        f.write(head + "\n".join(lines) + "\n" + README_END + tail)


COMMANDS = {"report": cmd_report, "readme": cmd_readme}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](sys.argv[2:])
