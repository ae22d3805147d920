#!/usr/bin/env bash
# The templates and the prosody + web part of the stack, tested on this host without Docker:
#
#   bash tests/stack/run.sh            (as root)
#
#   1. tests/render/check.py         every image's configuration rendered by `jinit render`
#                                    for a matrix of environments and fed to the real parsers
#                                    (nginx, prosodyctl, luac, node, HOCON, Java properties);
#                                    every variable set to a hostile value refused or kept as data;
#                                    golden files; schema and template-name checks
#   2. tests/stack/stack_test.py     jinit supervising Debian's prosody and nginx from the
#                                    images' specs; real XMPP logins (BOSH, WebSocket, c2s),
#                                    internal and LDAP (slapd) authentication, password change,
#                                    SIGTERM -> exit 0 with nothing left behind
#   3. tests/stack/seed_variables.py each of the 71 seed variables has a real effect
#   4. tests/stack/turn_test.py      coturn from the turn image's spec beside prosody and web:
#                                    XEP-0215 credentials (slixmpp), turnutils_uclient relays
#                                    over UDP 3478 and over TLS on web's 8443 (nginx
#                                    ssl_preread), wrong secret and private peers refused,
#                                    certificate reload, a killed turnserver comes back
#
# Installs what it needs (Debian packages, PyPI packages), builds jinit when target/debug/jinit
# is missing (or uses $JINIT), stops the daemons Debian's packages start on install, and ends
# with the line "N passed, M failed" summing all four; exits 1 when anything failed.
# Idempotent; every part cleans up its scratch directory; bounded by per-part timeouts.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

PY=${PYTHON:-python3}
export PYTHONDONTWRITEBYTECODE=1
export JINIT=${JINIT:-$PWD/target/debug/jinit}
LOGS=$(mktemp -d /tmp/jinit-stack-tests.XXXXXX)
trap 'rm -rf "$LOGS"' EXIT
start=$(date +%s)
step() { printf '\n== %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "tests/stack/run.sh must run as root (apt-get, namespaces, services as root)"
  echo "0 passed, 1 failed"
  exit 1
fi

step "test dependencies"
need=()
for pkg in nginx-light libnginx-mod-stream prosody lua5.4 lua-ldap slapd ldap-utils nodejs openssl curl docker-compose \
           util-linux iproute2 ca-certificates coturn coreutils; do
  [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] || need+=("$pkg")
done
# Debian's nodejs, or one from NodeSource: any `node` will do.
if command -v node >/dev/null; then
  need=("${need[@]/nodejs/}")
fi
mapfile -t need < <(printf '%s\n' "${need[@]}" | grep .)
if [ ${#need[@]} -gt 0 ]; then
  echo "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >"$LOGS/apt.log" 2>&1 \
    || { tail -20 "$LOGS/apt.log"; echo "0 passed, 1 failed"; exit 1; }
fi
# The packages start their own daemons on install; the tests run their own (stop only those,
# through their init scripts and pid files, never by name: other tests may run nginx too).
for svc in prosody:/run/prosody/prosody.pid slapd:/run/slapd/slapd.pid nginx:/run/nginx.pid \
           coturn:/run/turnserver.pid; do
  name=${svc%%:*} pidfile=${svc#*:}
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "stopping the system $name"
    service "$name" stop >/dev/null 2>&1 || kill "$(cat "$pidfile")" 2>/dev/null || true
  fi
done

pymods="pyhocon javaproperties slixmpp websockets"
if ! "$PY" -c "import pyhocon, javaproperties, slixmpp, websockets" 2>/dev/null; then
  echo "pip install $pymods"
  if ! "$PY" -m pip --version >/dev/null 2>&1; then
    apt-get install -y -q --no-install-recommends python3-pip >"$LOGS/apt-pip.log" 2>&1
  fi
  # shellcheck disable=SC2086
  "$PY" -m pip install -q --break-system-packages $pymods 2>/dev/null \
    || "$PY" -m pip install -q $pymods \
    || { echo "pip install failed"; echo "0 passed, 1 failed"; exit 1; }
fi

if [ ! -x "$JINIT" ]; then
  step "cargo build"
  cargo build -q 2>&1 | tail -20
fi
if [ ! -x "$JINIT" ]; then
  echo "FAIL  no jinit binary at $JINIT"
  echo "0 passed, 1 failed"
  exit 1
fi

total_passed=0
total_failed=0
summary=()
# run NAME SECONDS CMD...: streams the output, adds the part's closing "N passed, M failed".
run() {
  local name=$1 limit=$2
  shift 2
  step "$name"
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$LOGS/$name.log"
  local code=${PIPESTATUS[0]}
  local last p f
  last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$LOGS/$name.log" | tail -1)
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
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
  summary+=("$(printf '%-16s %3d passed, %d failed (%ds)' "$name" "$p" "$f" $((SECONDS - t0)))")
}

run render 240 "$PY" tests/render/check.py
run stack 180 "$PY" tests/stack/stack_test.py
run seed-variables 120 "$PY" tests/stack/seed_variables.py
run turn 240 "$PY" tests/stack/turn_test.py

step "summary"
printf '%s\n' "${summary[@]}"
echo "time: $(($(date +%s) - start))s"
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" = 0 ]
