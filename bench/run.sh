#!/usr/bin/env bash
# Benchmarks jinit side by side with the inits it replaces or competes with (tini, catatonit,
# s6), prints a Markdown report and writes it to bench/BENCHMARKS.md.
#
#   bash bench/run.sh                  # about a minute on 2 cores; needs root (PID namespaces)
#   JINIT=/path/to/jinit bash bench/run.sh
#   SECTIONS="2 4" bash bench/run.sh   # some sections only: printed, BENCHMARKS.md untouched
#   TEMPLATES=DIR IMAGES=DIR bash bench/run.sh   # render other templates/specs than the repo's
#
# Installs its Debian packages when missing, builds jinit (release, static) when cargo is
# there, and kills every process it starts. The parts that need monotonic timing, /proc
# walking or arithmetic live in bench/measure.py.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
TARGET=x86_64-unknown-linux-gnu
JINIT=${JINIT:-$ROOT/target/$TARGET/release/jinit}
TEMPLATES=${TEMPLATES:-$ROOT/templates}
IMAGES=${IMAGES:-$ROOT/images}
SECTIONS=${SECTIONS:-1 2 3 4 5}
stale=""

log() { printf '==> %s\n' "$*" >&2; }
M() { python3 "$BENCH/measure.py" "$@"; }

# ---------------------------------------------------------------- dependencies
# Debian packages: the peers (tini, catatonit, s6), hyperfine, unshare (util-linux), python3.
[[ $(id -u) == 0 ]] || { echo "run.sh needs root for PID namespaces (unshare --pid)" >&2; exit 1; }
need=()
for pair in tini:tini catatonit:catatonit s6-svscan:s6 hyperfine:hyperfine unshare:util-linux \
    python3:python3; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi

# jinit, release and static (the way the images ship it). A no-op when it is up to date; when
# the tree does not compile (someone mid-edit) an existing binary is used, with a warning.
if command -v cargo >/dev/null && [[ $JINIT == "$ROOT/target/$TARGET/release/jinit" ]]; then
    log "building jinit (release, static)"
    if ! (cd "$ROOT" && RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
        cargo build -q --release --target "$TARGET") >&2; then
        log "WARNING: build failed; benchmarking the existing binary, if any"
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

# jinit's spec mode: 5 services that only sleep.
{
    printf '[jinit]\nkill-delay = "2s"\nshutdown-grace = "1s"\n'
    for i in 1 2 3 4 5; do printf '[service.s%d]\ncommand = ["sleep", "100000"]\n' "$i"; done
} >"$WORK/five.toml"
# The same 5 services for s6: a scandir with one service directory each.
for i in 1 2 3 4 5; do
    mkdir -p "$WORK/scan/s$i"
    printf '#!/bin/sh\nexec sleep 100000\n' >"$WORK/scan/s$i/run"
    chmod +x "$WORK/scan/s$i/run"
done

# ---------------------------------------------------------------- 1. binary size
# What each image pays on disk for its init. Dynamic binaries also need their shared
# libraries; libc is in every image anyway, so only the others are counted.
measure_size() {
    M size "jinit (static)" "$JINIT"
    M size "tini" /usr/bin/tini
    if [[ -x /usr/bin/tini-static ]]; then M size "tini-static" /usr/bin/tini-static; fi
    M size "catatonit" /usr/bin/catatonit
    M size "s6-svscan + s6-supervise" /usr/bin/s6-svscan /usr/bin/s6-supervise
}

# ---------------------------------------------------------------- 2. idle memory
# What supervision costs per container while nothing happens. jinit supervises 5 services in
# one process; s6 needs s6-svscan plus one s6-supervise per service; tini and catatonit can
# only run one child, so they are measured with one (and jinit's single mode next to them).
measure_memory() {
    M mem "jinit (spec mode)" 5 "$WORK/log" "" -- "$JINIT" --spec "$WORK/five.toml"
    M mem "s6-svscan + 5 s6-supervise" 5 "$WORK/log" s6-supervise -- s6-svscan "$WORK/scan"
    M mem "jinit (single mode)" 1 "$WORK/log" "" -- "$JINIT" -- sleep 100000
    M mem "tini" 1 "$WORK/log" "" -- tini -- sleep 100000
    M mem "catatonit" 1 "$WORK/log" "" -- catatonit -- sleep 100000
    M note mem "tini and catatonit run a single child: they cannot supervise 5 services, so" \
        "their rows have 1."
}

# ---------------------------------------------------------------- 3. start-up
# The fixed cost an init adds to every container start (and to every `docker run --init`):
# exec of the init, which forks and execs `true`, reaps it and exits with its code.
# 300 runs each, as 3 rounds of 100 in rotated order, so a burst of load from elsewhere on
# the machine is spread over all commands instead of landing on whichever ran then.
measure_startup() {
    local ns="unshare --pid --fork --mount-proc --" round i
    local names=("baseline (no init)" "jinit" "tini")
    local cmds=("$ns true" "$ns $JINIT -- true" "$ns /usr/bin/tini -- true")
    if [[ -x /usr/bin/tini-static ]]; then
        names+=("tini-static")
        cmds+=("$ns /usr/bin/tini-static -- true")
    fi
    names+=("catatonit")
    cmds+=("$ns /usr/bin/catatonit -- true")
    local pairs=() jsons=() order=()
    for i in "${!names[@]}"; do pairs+=("${names[$i]}" "${cmds[$i]}"); done
    for round in 0 1 2; do
        order=("${cmds[@]:round}" "${cmds[@]:0:round}")
        hyperfine -N --warmup 20 --runs 100 --style none \
            --export-json "$WORK/startup-$round.json" "${order[@]}" >/dev/null 2>&1
        jsons+=("$WORK/startup-$round.json")
    done
    M hyperfine startup "${jsons[@]}" -- "${pairs[@]}"
}

# ---------------------------------------------------------------- 4. SIGTERM to exit
# What `docker stop` waits for: SIGTERM to PID 1 until the container is gone. sleep dies on
# SIGTERM at once, so anything beyond a few ms is the init's own delay.
measure_sigterm() {
    M term "jinit (single mode)" 1 20 "$WORK/log" -- "$JINIT" -- sleep 100000
    M term "tini" 1 20 "$WORK/log" -- tini -- sleep 100000
    M term "catatonit" 1 20 "$WORK/log" -- catatonit -- sleep 100000
    M term "jinit (spec mode)" 5 20 "$WORK/log" -- "$JINIT" --spec "$WORK/five.toml"
    M term "s6-svscan + 5 s6-supervise" 5 20 "$WORK/log" -- s6-svscan "$WORK/scan"
    M note term "s6 $(dpkg-query -W -f '${Version}' s6 2>/dev/null): s6-svscan treats SIGTERM" \
        "like \`s6-svscanctl -t\`: it tells every s6-supervise to stop its service and exit," \
        "then exits 0 (no \`.s6-svscan/finish\` here). s6-overlay adds its own stage-3 scripts" \
        "on top of this."
    M note term "Exit code: 143 = 128 + SIGTERM, the child's death passed on (tini's" \
        "convention); 0 = the supervisor's orderly stop."
}

# ---------------------------------------------------------------- 5. config rendering
# The boot-time cost of turning the environment into config files: jinit renders an image's
# whole spec in one process; upstream runs one `tpl` process per template. Both are timed with
# jinit itself, so the difference is one process vs. many. The environment is what a fresh
# .env holds: the schemas' defaults, the secrets `jinit gen-secrets` makes, and the few
# values only an operator can give (jigasi's SIP account).
measure_render() {
    shopt -s nullglob
    local specs=("$IMAGES"/*/jinit.toml) secrets line spec image out strip whole entries per e
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
        # --prepare empties the output root so every run writes every file, as at a boot.
        hyperfine -N --warmup 5 --runs 100 --style none --prepare "rm -rf $out" \
            --export-json "$WORK/whole.json" "${render[*]} $whole" >/dev/null 2>&1
        per=()
        for e in "${entries[@]}"; do per+=("${render[*]} $e"); done
        hyperfine -N --warmup 5 --runs 100 --style none --prepare "rm -rf $out" \
            --export-json "$WORK/per.json" "${per[@]}" >/dev/null 2>&1
        M render-result "$image" "${#entries[@]}" "$WORK/whole.json" "$WORK/per.json"
    done
}

# ---------------------------------------------------------------- run and report
meta=$(python3 -c 'import json, sys; print(json.dumps(dict(zip(
    ["date", "commit", "stale", "cpu", "load", "peers"], sys.argv[1:]))))' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)" "$stale" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" \
    "$(dpkg-query -W -f '${Package} ${Version}, ' tini catatonit s6 hyperfine 2>/dev/null |
        sed 's/, $//')")

titles=([1]="binary size" [2]="idle memory" [3]="start-up (hyperfine, 3 x 100 runs each)"
    [4]="SIGTERM to exit (20 runs each)" [5]="config rendering")
steps=([1]=measure_size [2]=measure_memory [3]=measure_startup [4]=measure_sigterm
    [5]=measure_render)
for n in $SECTIONS; do
    log "$n. ${titles[$n]}"
    "${steps[$n]}"
done

if [[ $SECTIONS == "1 2 3 4 5" ]]; then
    M report "$meta" | tee "$BENCH/BENCHMARKS.md"
else
    M report "$meta"
fi
