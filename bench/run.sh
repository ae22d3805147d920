#!/usr/bin/env bash
# Benchmarks jinit side by side with the inits it replaces or competes with (tini, catatonit,
# dumb-init, s6), prints a Markdown report, writes it to bench/BENCHMARKS.md and the targets'
# verdicts into README.md's Benchmarks section.
#
#   bash bench/run.sh                  # about 3 minutes on 2 busy cores; needs root (PID namespaces)
#   JINIT=/path/to/jinit bash bench/run.sh        # that binary, no build; jinit-config and
#                                                 # jinit-acme next to it
#   SECTIONS="2 4" bash bench/run.sh   # some sections only: printed, BENCHMARKS.md untouched
#   TEMPLATES=DIR IMAGES=DIR bash bench/run.sh   # render other templates/specs than the repo's
#   STARTUP_RUNS=1000 TERM_RUNS=60 CRASH_WINDOW=60 INSTR_RUNS=3 SCALE="1 5 10 50 200"
#
# Installs its Debian packages when missing, builds jinit (release, static) when cargo is
# there and JINIT is not given, and kills every process it starts. The parts that need timing
# or /proc walking live in bench/measure.py, which says how it times (no polling); the report
# and the targets' verdicts in bench/report.py.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
TARGET=x86_64-unknown-linux-gnu
JINIT=${JINIT:-$ROOT/target/$TARGET/release/jinit}
# The Let's Encrypt client, split out of jinit into its own binary (built next to it).
JINIT_ACME=${JINIT_ACME:-$(dirname "$JINIT")/jinit-acme}
# The configuration half PID 1 runs at boot and for every re-render (in every image).
JINIT_CONFIG=$(dirname "$JINIT")/jinit-config
TEMPLATES=${TEMPLATES:-$ROOT/templates}
IMAGES=${IMAGES:-$ROOT/images}
SECTIONS=${SECTIONS:-1 2 3 4 5 6}
STARTUP_RUNS=${STARTUP_RUNS:-1000}
INSTR_RUNS=${INSTR_RUNS:-3}
TERM_RUNS=${TERM_RUNS:-60}
CRASH_WINDOW=${CRASH_WINDOW:-60}
RENDER_RUNS=${RENDER_RUNS:-100}
SCALE=${SCALE:-1 5 10 50 200}
stale=""
built="" # how $JINIT came to be, when this run built it (or tried to)

log() { printf '==> %s\n' "$*" >&2; }
M() { python3 "$BENCH/measure.py" "$@"; }
R() { python3 "$BENCH/report.py" "$@"; }

# ---------------------------------------------------------------- dependencies
# Debian packages: the peers (tini, catatonit, dumb-init, s6), valgrind (instruction counts),
# unshare (util-linux), python3.
[[ $(id -u) == 0 ]] || { echo "run.sh needs root for PID namespaces (unshare --pid)" >&2; exit 1; }
need=()
for pair in tini:tini catatonit:catatonit dumb-init:dumb-init s6-svscan:s6 valgrind:valgrind \
    unshare:util-linux python3:python3; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi
python3 -c 'import os, sys; sys.exit(not hasattr(os, "pidfd_open"))' ||
    { echo "run.sh needs Python 3.9+ on Linux 5.3+ (os.pidfd_open)" >&2; exit 1; }

# jinit, release and static (the way the images ship it). A no-op when it is up to date; when
# the tree does not compile (someone mid-edit) an existing binary is used, with a warning.
if command -v cargo >/dev/null && [[ $JINIT == "$ROOT/target/$TARGET/release/jinit" ]]; then
    log "building jinit (release, static)"
    if (cd "$ROOT" && RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
        cargo build -q --release --target "$TARGET") >&2; then
        built="built from this tree (release, static)"
    else
        log "WARNING: build failed; benchmarking the existing binary, if any"
        built="not rebuilt (the build failed)"
        stale="the working tree did not build: this binary was built $(
            date -u -r "$JINIT" '+%Y-%m-%d %H:%M UTC' 2>/dev/null)"
    fi
fi
[[ -x $JINIT ]] || { echo "no jinit binary at $JINIT" >&2; exit 1; }

# ---------------------------------------------------------------- scratch space and cleanup
# Every long-lived process is started by measure.py as PID 1 of its own PID namespace and
# SIGKILLed (taking the whole namespace with it) before measure.py returns; `cleanup` catches
# an interrupted run from the pid list measure.py keeps.
WORK=$(mktemp -d /tmp/jinit-bench.XXXXXX)
SHM=$(mktemp -d /dev/shm/jinit-bench.XXXXXX) # tmpfs, like /run in a container
export BENCH_RESULTS=$WORK/results.jsonl BENCH_PIDS=$WORK/pids
export JINIT_SOCKET=$WORK/jinit.sock # jinit's control socket, out of the host's /run
cleanup() {
    M cleanup || true
    rm -rf "$WORK" "$SHM"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# N services that only sleep, for each N of the scale: a jinit spec ($WORK/jinit-N.toml) and
# an s6 scandir with one service directory each ($WORK/scan-N).
for n in $SCALE 5; do
    [[ -e $WORK/jinit-$n.toml ]] && continue
    {
        printf '[jinit]\nkill-delay = "2s"\nshutdown-grace = "1s"\n'
        for ((i = 1; i <= n; i++)); do
            printf '[service.s%d]\ncommand = ["sleep", "100000"]\n' "$i"
        done
    } >"$WORK/jinit-$n.toml"
    for ((i = 1; i <= n; i++)); do
        mkdir -p "$WORK/scan-$n/s$i"
        printf '#!/bin/sh\nexec sleep 100000\n' >"$WORK/scan-$n/s$i/run"
        chmod +x "$WORK/scan-$n/s$i/run"
    done
done

# ---------------------------------------------------------------- 1. binary size
# What each image pays on disk for its init. Dynamic binaries also need their shared
# libraries; libc is in every image anyway, so only the others are counted.
measure_size() {
    M size "jinit (static)" "$JINIT"
    M size "jinit-config (static)" "$JINIT_CONFIG"
    M size "jinit-acme (static)" "$JINIT_ACME"
    M size "tini" /usr/bin/tini
    if [[ -x /usr/bin/tini-static ]]; then M size "tini-static" /usr/bin/tini-static; fi
    M size "catatonit" /usr/bin/catatonit
    M size "dumb-init" /usr/bin/dumb-init
    M size "s6-svscan + s6-supervise" /usr/bin/s6-svscan /usr/bin/s6-supervise
}

# ---------------------------------------------------------------- 2. idle memory
# What supervision costs per container while nothing happens, and how it grows with the
# services: jinit supervises them all in one process; s6 needs s6-svscan plus one s6-supervise
# per service. tini, catatonit and dumb-init run a single child, so they have one row each,
# next to jinit's single-command mode.
# evict FILE...: drops the files' pages from the page cache (posix_fadvise DONTNEED), so the
# next start reads them in as a container's first start does. jinit's resident size depends on
# it: after its boot it pages out its binary's mappings (MADV_PAGEOUT), which the kernel does
# for the small pages of a file just written but not for the large folios a file read back in
# gets, so a freshly built binary would look smaller than one started from an image.
evict() {
    python3 -c 'import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    os.fdatasync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)' "$@"
}

measure_memory() {
    local n
    for n in $SCALE; do
        evict "$JINIT"
        M mem "jinit (spec mode)" "$n" "$WORK/log" "" -- "$JINIT" --spec "$WORK/jinit-$n.toml"
        evict /usr/bin/s6-svscan /usr/bin/s6-supervise
        M mem "s6-svscan + s6-supervise" "$n" "$WORK/log" s6-supervise -- \
            s6-svscan "$WORK/scan-$n"
    done
    evict "$JINIT" /usr/bin/tini /usr/bin/catatonit /usr/bin/dumb-init
    M mem "jinit (single mode)" 1 "$WORK/log" "" -- "$JINIT" -- sleep 100000
    M mem "tini" 1 "$WORK/log" "" -- tini -- sleep 100000
    M mem "catatonit" 1 "$WORK/log" "" -- catatonit -- sleep 100000
    M mem "dumb-init" 1 "$WORK/log" "" -- dumb-init -- sleep 100000
    M note mem "Before each row its binaries are dropped from the page cache (posix_fadvise" \
        "DONTNEED), so their pages come in as at a container's first start. jinit's resident size" \
        "depends on that: after its boot it pages out its binary's mappings (MADV_PAGEOUT), which" \
        "the kernel does for the small page-cache pages of a file just written, not for the" \
        "large folios of a file read back in (a binary just built shows about 0.4 MB VmRSS)."
    M note mem "tini, catatonit and dumb-init run a single child: they cannot supervise" \
        "several services, so they have one row, with 1."
    M note mem "Pss divides a page among every process on this host that maps it: s6's" \
        "processes share their code with each other and libc with the whole host, while the one" \
        "static jinit here shares nothing, so its Pss is its RSS. Containers started from one" \
        "image share the image's jinit file pages through the page cache, which this one-process" \
        "measurement does not show."
}

# ---------------------------------------------------------------- 3. start-up
# The fixed cost an init adds to every container start (and to every `docker run --init`):
# exec of the init, which forks and execs `true`, reaps it and exits with its code. Timed in
# interleaved rounds; then the instructions the init process itself executes (callgrind),
# which a busy machine does not change.
measure_startup() {
    local ns="unshare --pid --fork --mount-proc --"
    local pairs=("baseline (no init)" "$ns true" "jinit" "$ns $JINIT -- true"
        "tini" "$ns /usr/bin/tini -- true")
    local instr=("jinit" "$JINIT -- true" "tini" "/usr/bin/tini -- true")
    if [[ -x /usr/bin/tini-static ]]; then
        pairs+=("tini-static" "$ns /usr/bin/tini-static -- true")
        instr+=("tini-static" "/usr/bin/tini-static -- true")
    fi
    pairs+=("catatonit" "$ns /usr/bin/catatonit -- true" "dumb-init" "$ns /usr/bin/dumb-init -- true")
    instr+=("catatonit" "/usr/bin/catatonit -- true" "dumb-init" "/usr/bin/dumb-init -- true")
    M interleave startup "$STARTUP_RUNS" 20 -- "${pairs[@]}"
    M instr "$INSTR_RUNS" "$WORK/callgrind" -- "${instr[@]}"
}

# ---------------------------------------------------------------- 4. SIGTERM to exit
# What `docker stop` waits for: SIGTERM to PID 1 until the container is gone. sleep dies on
# SIGTERM at once, so anything beyond a few ms is the init's own delay.
measure_sigterm() {
    M term "$TERM_RUNS" "$WORK/log" -- \
        "jinit (single mode)" 1 "" "$JINIT -- sleep 100000" \
        "tini" 1 "" "tini -- sleep 100000" \
        "catatonit" 1 "" "catatonit -- sleep 100000" \
        "dumb-init" 1 "" "dumb-init -- sleep 100000" \
        "jinit (spec mode)" 5 "" "$JINIT --spec $WORK/jinit-5.toml" \
        "s6-svscan + s6-supervise" 5 s6-supervise "s6-svscan $WORK/scan-5"
    M note term "s6 $(dpkg-query -W -f '${Version}' s6 2>/dev/null): s6-svscan treats SIGTERM" \
        "like \`s6-svscanctl -t\`: it tells every s6-supervise to stop its service and exit," \
        "then exits 0 (no \`.s6-svscan/finish\` here). s6-overlay adds its own stage-3 scripts" \
        "on top of this."
    M note term "Exit code: 143 = 128 + SIGTERM, the child's death passed on (tini's" \
        "convention); 0 = the supervisor's orderly stop."
}

# ---------------------------------------------------------------- 5. crash loop
# What a service that keeps crashing costs its supervisor. The same script for both: it
# records its start in a file and exits 1.
measure_crash() {
    local who
    for who in jinit s6; do
        printf '#!/bin/sh\necho >>%s\nexit 1\n' "$WORK/starts-$who" >"$WORK/crash-$who"
        chmod +x "$WORK/crash-$who"
    done
    printf '[service.crash]\ncommand = ["%s"]\non-failure = "restart"\n' "$WORK/crash-jinit" \
        >"$WORK/crash.toml"
    mkdir -p "$WORK/scan-crash/crash"
    ln -s "$WORK/crash-s6" "$WORK/scan-crash/crash/run"
    M crash "$CRASH_WINDOW" "$WORK/log" -- \
        "jinit (spec mode)" "" "$WORK/starts-jinit" "$JINIT --spec $WORK/crash.toml" \
        "s6-svscan + s6-supervise" s6-supervise "$WORK/starts-s6" "s6-svscan $WORK/scan-crash"
}

# ---------------------------------------------------------------- 6. config rendering
# The boot-time cost of turning the environment into config files: jinit renders an image's
# whole spec in one process; upstream runs one `tpl` process per template. Both are timed with
# jinit itself, so the difference is one process vs. many. The environment is what a fresh
# .env holds: the schemas' defaults, the secrets `jinit gen-secrets` makes, and the few
# values only an operator can give (jigasi's SIP account).
measure_render() {
    shopt -s nullglob
    local specs=("$IMAGES"/*/jinit.toml) secrets line spec image out strip whole entries e
    if [[ ! -d $TEMPLATES || ${#specs[@]} == 0 ]]; then
        M note render "skipped: templates not written yet (no templates/ or images/*/jinit.toml)."
        return
    fi
    # gen-secrets reads every schema under the templates; if one the images don't use is
    # broken, fall back to the schemas the images name (and say so in the report).
    if ! secrets=$("$JINIT" gen-secrets --templates "$TEMPLATES" 2>"$WORK/err"); then
        M note render "\`jinit gen-secrets --templates templates\` failed:" \
            "$(tr '\n' ' ' <"$WORK/err" | head -c 300); secrets generated from the schemas" \
            "the images name instead."
        while IFS= read -r line; do
            mkdir -p "$(dirname "$WORK/schemas/$line")"
            cp "$TEMPLATES/$line" "$WORK/schemas/$line"
        done < <(M schemas "${specs[@]}")
        secrets=$("$JINIT" gen-secrets --templates "$WORK/schemas" 2>"$WORK/err") ||
            M note render "that failed too: $(tr '\n' ' ' <"$WORK/err" | head -c 300)"
    fi
    while IFS= read -r line; do
        if [[ $line =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then export "${line?}"; fi
    done <<<"$secrets"
    export JIGASI_SIP_URI=${JIGASI_SIP_URI:-bench@sip.example.com}
    export JIGASI_SIP_SERVER=${JIGASI_SIP_SERVER:-sip.example.com}
    export JIGASI_SIP_PASSWORD=${JIGASI_SIP_PASSWORD:-bench-sip-password}
    for spec in "${specs[@]}"; do
        image=$(basename "$(dirname "$spec")")
        out=$SHM/$image
        local render=("$JINIT" render --templates "$TEMPLATES" --root "$out" --no-validate --spec)
        # Loading a spec checks its units' commands exist; this host lacks Jitsi's own
        # programs (jicofo.sh, jvb.sh, ...), so such an image is rendered without its units.
        strip=""
        if ! "${render[@]}" "$spec" >/dev/null 2>"$WORK/err"; then
            if grep -q "command not found" "$WORK/err"; then
                strip=--strip-units
            else
                M note render "$image: not timed, its render fails:" \
                    "$(tr '\n' ' ' <"$WORK/err" | head -c 400)"
                continue
            fi
        fi
        mkdir -p "$WORK/split/$image"
        mapfile -t entries < <(M split-spec "$spec" "$WORK/split/$image" $strip)
        whole=${entries[0]}
        entries=("${entries[@]:1}")
        if ((${#entries[@]} == 0)); then
            M note render "$image: no [[render]] entries."
            continue
        fi
        if [[ -n $strip ]]; then
            if ! "${render[@]}" "$whole" >/dev/null 2>"$WORK/err"; then
                M note render "$image: not timed, its render fails even without its units:" \
                    "$(tr '\n' ' ' <"$WORK/err" | head -c 400)"
                continue
            fi
            M note render "$image: its spec names programs this host lacks (\"command not" \
                "found\"), so it is timed without its [service]/[oneshot] tables."
            image="$image (no units)"
        fi
        # Rounds run the whole spec and every entry once each, in rotated order; the output
        # root is emptied before every run, so every run writes every file, as at a boot.
        local pairs=(whole "${render[*]} $whole")
        for e in "${entries[@]}"; do pairs+=("$(basename "$e" .toml)" "${render[*]} $e"); done
        M interleave render "$RENDER_RUNS" 5 --group "$image" --prepare-rm "$out" -- "${pairs[@]}"
    done
}

# ---------------------------------------------------------------- run and report
titles=([1]="binary size" [2]="idle memory, $SCALE services"
    [3]="start-up ($STARTUP_RUNS interleaved rounds) and instructions ($INSTR_RUNS runs)"
    [4]="SIGTERM to exit ($TERM_RUNS interleaved rounds)" [5]="crash loop (${CRASH_WINDOW} s)"
    [6]="config rendering ($RENDER_RUNS interleaved rounds per image)")
steps=([1]=measure_size [2]=measure_memory [3]=measure_startup [4]=measure_sigterm
    [5]=measure_crash [6]=measure_render)
load=$(cut -d' ' -f1-3 /proc/loadavg)
for n in $SECTIONS; do
    log "$n. ${titles[$n]} (at ${SECONDS} s)"
    "${steps[$n]}"
done

meta=$(python3 -c 'import json, sys; print(json.dumps(dict(zip(
    ["date", "commit", "jinit", "stale", "cpu", "load", "peers", "elapsed"], sys.argv[1:]))))' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)" \
    "\`${JINIT/#$ROOT\//}\`, ${built:-given by JINIT=, not built by this run}, modified $(
        date -u -r "$JINIT" '+%Y-%m-%d %H:%M UTC'), sha256 $(sha256sum "$JINIT" | cut -c1-12)" \
    "$stale" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" "$load" \
    "$(dpkg-query -W -f '${Package} ${Version}, ' tini catatonit dumb-init s6 valgrind \
        2>/dev/null | sed 's/, $//')" "$SECONDS")

if [[ $SECTIONS == "1 2 3 4 5 6" ]]; then
    R report "$meta" | tee "$BENCH/BENCHMARKS.md"
    R readme "$ROOT/README.md" "$meta"
else
    R report "$meta"
fi
