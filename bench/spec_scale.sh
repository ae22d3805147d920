#!/usr/bin/env bash
# How the spec checks scale: CPU seconds (user + system) of `jinit check` on generated specs.
#
#   bash bench/spec_scale.sh                     # builds target/release/jinit when missing
#   JINIT=/path/to/jinit bash bench/spec_scale.sh
#   UNITS=50000 CHAIN=20000 STACK_KB=2048 bash bench/spec_scale.sh
#
# Three specs, written to a temporary directory that is removed at the end:
# - wide:   UNITS services, unit i waits for units 2i+1 and 2i+2 (a tree, depth log2 UNITS);
# - broken: UNITS services without a command, so every unit adds a problem;
# - chain:  CHAIN services, unit i waits for unit i+1, checked with a STACK_KB stack
#           (`ulimit -s`): a recursive cycle search, which starts at the first name, u000000,
#           goes CHAIN calls deep and overflows it.
# Prints one line per spec: the exit code (2 = problems reported, which `broken` expects;
# 134/139 = the process died) and the CPU seconds. Needs bash and awk only; no root.
#
# Measured on the 2-core bench machine (release build, CPU seconds, noisy on a shared host):
#   spec                               before (b57ca6e)        after (linear checks)
#   wide: 50,000 units                 36.7-44.2 s             0.91 s (about 80% is TOML parsing)
#   broken: 50,000 units, no command   23.4-26.0 s             0.60 s
#   chain: 20,000 deep, 2 MiB stack    stack overflow (134)    0.36 s, exit 0
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
JINIT=${JINIT:-$ROOT/target/release/jinit}
UNITS=${UNITS:-50000}
CHAIN=${CHAIN:-20000}
STACK_KB=${STACK_KB:-2048}

if [[ ! -x $JINIT ]]; then
  (cd "$ROOT" && cargo build --release)
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

awk -v n="$UNITS" 'BEGIN {
  for (i = 0; i < n; i++) {
    printf "[service.u%06d]\ncommand = [\"true\"]\n", i
    if (2 * i + 2 < n) printf "after = [\"u%06d\", \"u%06d\"]\n", 2 * i + 1, 2 * i + 2
  }
}' >"$dir/wide.toml"
awk -v n="$UNITS" 'BEGIN {
  for (i = 0; i < n; i++) printf "[service.u%06d]\nafter = []\n", i
}' >"$dir/broken.toml"
awk -v n="$CHAIN" 'BEGIN {
  for (i = 0; i < n; i++) {
    printf "[service.u%06d]\ncommand = [\"true\"]\n", i
    if (i + 1 < n) printf "after = [\"u%06d\"]\n", i + 1
  }
}' >"$dir/chain.toml"

# Runs `jinit check` on one spec with the given stack limit; prints "code cpu-seconds".
measure() {
  local spec=$1 stack_kb=$2
  (
    ulimit -s "$stack_kb"
    TIMEFORMAT='%U %S'
    { time "$JINIT" check --spec "$spec" >/dev/null 2>&1; echo "rc=$?" >"$dir/rc"; } 2>"$dir/time"
  ) || true
  local rc
  rc=$(sed 's/rc=//' "$dir/rc")
  # The last line: bash writes its own "Aborted" report above it when the process dies.
  tail -n 1 "$dir/time" | awk -v rc="$rc" '{ printf "exit %s, %.2f s CPU\n", rc, $1 + $2 }'
}

echo "jinit: $JINIT"
printf '%-44s %s\n' "wide: $UNITS units, tree of after" "$(measure "$dir/wide.toml" unlimited)"
printf '%-44s %s\n' "broken: $UNITS units, no command" "$(measure "$dir/broken.toml" unlimited)"
printf '%-44s %s\n' "chain: $CHAIN-deep after, ${STACK_KB} KiB stack" "$(measure "$dir/chain.toml" "$STACK_KB")"
