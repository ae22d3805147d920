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
# with the line "N passed, M failed" summing all four; exits 1 when anything failed. Each part
# is a Python suite of tests/pylib/checks.py run by `part` (tests/lib.sh, which also puts
# tests/pylib on PYTHONPATH).
# Idempotent; every part cleans up its scratch directory; bounded by per-part timeouts.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib.sh
. tests/lib.sh

PY=${PYTHON:-python3}
export JINIT=${JINIT:-$PWD/target/debug/jinit}
LOGS=$(mktemp -d /tmp/jinit-stack-tests.XXXXXX)
start=$(date +%s)
finish() {
  local rc=$?
  step "summary"
  echo "time: $(($(date +%s) - start))s"
  summary
  rm -rf "$LOGS"
  [ "$failed" -eq 0 ] && [ "$rc" -eq 0 ] && exit 0
  exit 1
}
trap finish EXIT

[ "$(id -u)" = 0 ] || fatal "tests/stack/run.sh must run as root (apt-get, namespaces, services as root)"

step "test dependencies"
debs=(nginx-light libnginx-mod-stream prosody lua5.4 lua-ldap slapd ldap-utils openssl curl docker-compose
      util-linux iproute2 ca-certificates coturn coreutils prometheus)
# Debian's nodejs, or one from NodeSource: any `node` will do.
command -v node >/dev/null || debs+=(nodejs)
need_debs "${debs[@]}" || fatal "cannot install the test dependencies"
# The packages start their own daemons on install; the tests run their own (stop only those,
# through their init scripts and pid files, never by name: other tests may run nginx too).
for svc in prosody:/run/prosody/prosody.pid slapd:/run/slapd/slapd.pid nginx:/run/nginx.pid \
           coturn:/run/turnserver.pid prometheus:/run/prometheus/prometheus.pid; do
  name=${svc%%:*} pidfile=${svc#*:}
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "stopping the system $name"
    service "$name" stop >/dev/null 2>&1 || kill "$(cat "$pidfile")" 2>/dev/null || true
  fi
done

pymods="pyhocon javaproperties slixmpp websockets pyyaml"
if ! "$PY" -c "import pyhocon, javaproperties, slixmpp, websockets, yaml" 2>/dev/null; then
  echo "pip install $pymods"
  if ! "$PY" -m pip --version >/dev/null 2>&1; then
    need_debs python3-pip || fatal "cannot install python3-pip"
  fi
  # shellcheck disable=SC2086
  "$PY" -m pip install -q --break-system-packages $pymods 2>/dev/null \
    || "$PY" -m pip install -q $pymods \
    || fatal "pip install failed"
fi

if [ ! -x "$JINIT" ]; then
  step "cargo build"
  cargo build -q 2>&1 | tail -20
fi
[ -x "$JINIT" ] || fatal "no jinit binary at $JINIT"

part render 240 "$PY" tests/render/check.py
part stack 180 "$PY" tests/stack/stack_test.py
part seed-variables 120 "$PY" tests/stack/seed_variables.py
part turn 240 "$PY" tests/stack/turn_test.py
