# shellcheck shell=bash
# The shell helpers of the test suites: tests/ci.sh, tests/stack/run.sh and tests/docker/run.sh
# source this file from the repository's root, after `set -uo pipefail`.
#
#   step TITLE                  a section header
#   pass NAME                   counts a passed test
#   fail NAME [LOG]             counts a failed test and shows the end of LOG (for
#                               container-structure-test, only its failed tests)
#   check NAME COMMAND...       one test: COMMAND's output goes to a log under $LOGS, shown
#                               when it fails
#   part NAME SECONDS COMMAND...  a Python suite (tests/pylib/checks.py) as one part: streams
#                               its output, bounded by SECONDS, and adds its closing
#                               "N passed, M failed" to the counts (a timeout, a crash or a
#                               missing summary line counts as a failure)
#   summary                     the parts' counts, the failed tests, and "N passed, M failed"
#   fatal MESSAGE               counts a failure and exits 1 (the caller's EXIT trap calls
#                               summary)
#   wait_for SECONDS COMMAND... polls COMMAND every 0.2 s until it succeeds; 1 after SECONDS
#   need_debs PACKAGE...        apt-get installs the Debian packages that are not installed
#
# Sets passed, failed, failures and parts, and exports PYTHONPATH with tests/pylib first (the
# Python suites' shared modules: checks.py, xmpp_clients.py, jinit_cli.py) and
# PYTHONDONTWRITEBYTECODE (no __pycache__ in the repository). check and part need $LOGS, a
# scratch directory.
#
# Never: sleep a fixed time where a condition can be polled (wait_for), or pipe a producer
# into `grep -q` (under pipefail, grep's early exit fails the producer with SIGPIPE).

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PYTHONPATH="$TESTS_DIR/pylib${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1

passed=0
failed=0
failures=()
parts=()

step() { printf '\n== %s\n' "$*"; }

pass() { passed=$((passed + 1)); printf 'ok    %s\n' "$1"; }

fail() {
  failed=$((failed + 1)); failures+=("$1"); printf 'FAIL  %s\n' "$1"
  if [ $# -gt 1 ] && [ -s "$2" ]; then
    # container-structure-test logs every test: show the failed ones only.
    if grep -q -- '--- FAIL' "$2"; then grep -A 12 -- '--- FAIL' "$2" | head -n 60
    else tail -n 40 "$2"; fi | sed 's/^/      /'
  fi
}

check() {
  local name=$1; shift
  local log
  log="$LOGS/$(printf '%s' "$name" | tr -c 'A-Za-z0-9._-' '_').log"
  if "$@" >"$log" 2>&1; then pass "$name"; else fail "$name" "$log"; fi
}

part() {
  local name=$1 limit=$2
  shift 2
  step "$name"
  local t0=$SECONDS log="$LOGS/part-$name.log"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$log"
  local code=${PIPESTATUS[0]}
  local last p f
  last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
  if [ -n "$last" ]; then
    p=${last%% passed*}
    f=${last#*, }
    f=${f%% failed}
  else
    p=0 f=1
  fi
  if [ "$code" = 124 ] || [ "$code" = 137 ]; then
    echo "FAIL  $name: timed out after ${limit}s"
    f=$((f + 1))
  elif [ "$code" != 0 ] && [ "$f" = 0 ]; then
    echo "FAIL  $name: exit code $code"
    f=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  [ "$f" = 0 ] || failures+=("$name ($f failed)")
  parts+=("$(printf '%-16s %3d passed, %d failed (%ds)' "$name" "$p" "$f" $((SECONDS - t0)))")
}

summary() {
  echo
  if [ ${#parts[@]} -gt 0 ]; then printf '%s\n' "${parts[@]}"; fi
  if [ ${#failures[@]} -gt 0 ]; then
    echo "failed:"; printf '  - %s\n' "${failures[@]}"
  fi
  echo "$passed passed, $failed failed"
}

fatal() { echo "FATAL: $*"; failed=$((failed + 1)); failures+=("$*"); exit 1; }

wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

need_debs() {
  local need=() pkg log
  for pkg in "$@"; do
    [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] || need+=("$pkg")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  echo "apt-get install ${need[*]}"
  log=$(mktemp /tmp/jinit-apt.XXXXXX)
  if DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >>"$log" 2>&1; then
    rm -f "$log"
    return 0
  fi
  tail -n 20 "$log"
  rm -f "$log"
  return 1
}
