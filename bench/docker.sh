#!/usr/bin/env bash
# jinit inside the images: image sizes, start to healthy, `docker stop`, memory, and the same
# containers with Docker's own init (`--init`, docker-init = tini) as PID 1. Prints a Markdown
# report and writes it to bench/DOCKER.md.
#
#   bash bench/docker.sh            # about 2 minutes on 2 cores when the images exist; root
#   REPS=3 bash bench/docker.sh     # repetitions per measurement (default 5)
#   IMAGE_TAG=e2e bash bench/docker.sh
#
# Starts dockerd when it is not running (and stops it again at the end), builds the images with
# `PARTS=images bash tests/docker/run.sh` when jinit-test/web or jinit-test/prosody is missing,
# and removes every container, volume and network it creates (they carry the label
# jinit-bench=<run id>), also when interrupted.
#
# The containers run as docker-compose.yml runs them: read-only root, tmpfs /run (uid 1000) and
# /tmp, secrets from the image's `jinit gen-secrets`, prosody with the alias xmpp.meet.jitsi on
# a user-defined network, `docker stop -t 25` (stop_grace_period). State volumes
# (/var/lib/prosody, /storage) are named volumes kept across the repetitions: one first boot
# (account registration, key generation) is timed alone, then REPS warm starts.
set -uo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
cd "$ROOT" || exit 1
REPO='jinit-test'
TAG=${IMAGE_TAG:-test}
REPS=${REPS:-5}
POLL=0.05           # seconds between two probes of every poller
TIMEOUT=40          # seconds: a container not ready by then counts as failed
RUN_ID=$$
LABEL="jinit-bench=$RUN_ID"
P="jinit-bench-$RUN_ID"            # prefix of every container, volume and network name
NET="${P}_meet.jitsi"              # Compose would name it <project>_meet.jitsi
WORK=$(mktemp -d /tmp/jinit-bench-docker.XXXXXX)
R="$WORK/results"; mkdir -p "$R"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'FATAL: %s\n' "$*" >&2; exit 1; }
now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

# ---------------------------------------------------------------- daemon and cleanup
STARTED_DOCKERD=""
POLLERS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local j; for j in "${POLLERS[@]}"; do kill "$j" 2>/dev/null; done
  if docker info >/dev/null 2>&1; then
    local ids
    mapfile -t ids < <(docker ps -aq --filter "label=$LABEL")
    [ ${#ids[@]} -gt 0 ] && docker rm -fv "${ids[@]}" >/dev/null 2>&1
    mapfile -t ids < <(docker volume ls -q --filter "label=$LABEL")
    [ ${#ids[@]} -gt 0 ] && docker volume rm -f "${ids[@]}" >/dev/null 2>&1
    mapfile -t ids < <(docker network ls -q --filter "label=$LABEL")
    [ ${#ids[@]} -gt 0 ] && docker network rm "${ids[@]}" >/dev/null 2>&1
  fi
  if [ -n "$STARTED_DOCKERD" ]; then
    log "stopping the dockerd this run started (pid $STARTED_DOCKERD)"
    kill "$STARTED_DOCKERD" 2>/dev/null
    for _ in $(seq 1 300); do kill -0 "$STARTED_DOCKERD" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "bench/docker.sh needs root (dockerd, /proc of the containers' processes)"
command -v docker >/dev/null || die "no docker CLI (apt-get install docker.io)"
command -v curl >/dev/null || die "no curl"
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: $WORK/dockerd.log)"
  dockerd >"$WORK/dockerd.log" 2>&1 &
  STARTED_DOCKERD=$!
  for _ in $(seq 1 300); do docker info >/dev/null 2>&1 && break; sleep 0.1; done
  docker info >/dev/null 2>&1 || { tail -n 20 "$WORK/dockerd.log" >&2; die "dockerd did not start"; }
fi

# ---------------------------------------------------------------- images
WEB="$REPO/web:$TAG"
PROSODY="$REPO/prosody:$TAG"
if ! docker image inspect "$WEB" >/dev/null 2>&1 || ! docker image inspect "$PROSODY" >/dev/null 2>&1; then
  [ "$TAG" = test ] || die "$WEB or $PROSODY missing (tests/docker/run.sh builds the tag test only)"
  log "building the images: PARTS=images bash tests/docker/run.sh"
  PARTS="images" bash tests/docker/run.sh >"$WORK/images.log" 2>&1
  if ! docker image inspect "$WEB" >/dev/null 2>&1 || ! docker image inspect "$PROSODY" >/dev/null 2>&1; then
    tail -n 30 "$WORK/images.log" >&2; die "the images could not be built"
  fi
fi

# ---------------------------------------------------------------- helpers
# stats FILE: "median min max" of the numbers in FILE (one a line; NA lines are failures).
stats() {
  grep -E '^[0-9.]+$' "$1" 2>/dev/null | sort -n | awk '
    { v[NR] = $1 }
    END { if (NR == 0) { print "NA NA NA"; exit }
          m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
          print m, v[1], v[NR] }'
}
fails() { grep -c '^NA$' "$1" 2>/dev/null; }
# s MS: milliseconds as seconds with 2 decimals.
s() { [ "$1" = NA ] && { echo "n/a"; return; }; awk -v v="$1" 'BEGIN { printf "%.2f", v / 1000 }'; }
# cell FILE: "median (min-max)" in seconds; "n/a" without data; "(k failed)" when some failed.
cell() {
  local f=$1 med lo hi n
  [ -s "$f" ] || { echo "n/a"; return; }
  read -r med lo hi < <(stats "$f")
  n=$(fails "$f")
  if [ "$med" = NA ]; then echo "failed"; return; fi
  printf '%s (%s-%s)' "$(s "$med")" "$(s "$lo")" "$(s "$hi")"
  [ "${n:-0}" -gt 0 ] && printf ' (%s failed)' "$n"
  return 0
}
# cellmax FILE: "median / max" in seconds.
cellmax() {
  local f=$1 med lo hi
  [ -s "$f" ] || { echo "n/a"; return; }
  read -r med lo hi < <(stats "$f")
  [ "$med" = NA ] && { echo "failed"; return; }
  printf '%s / %s' "$(s "$med")" "$(s "$hi")"
}
# kb FILE: median of kB values as MB with 2 decimals.
mb() {
  local f=$1 med lo hi
  [ -s "$f" ] || { echo "n/a"; return; }
  read -r med lo hi < <(stats "$f")
  [ "$med" = NA ] && { echo "n/a"; return; }
  if awk -v a="$lo" -v b="$hi" 'BEGIN { exit !(b - a > 0.05 * b) }'; then
    awk -v m="$med" -v a="$lo" -v b="$hi" 'BEGIN { printf "%.2f (%.2f-%.2f)", m / 1024, a / 1024, b / 1024 }'
  else
    awk -v m="$med" 'BEGIN { printf "%.2f", m / 1024 }'
  fi
}
codes() { [ -s "$1" ] && sort "$1" | uniq -c | awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }' || echo "n/a"; }

# poll OUT T0 COMMAND...: runs COMMAND every $POLL s until it succeeds; writes to OUT the ms from
# T0 (microseconds) to the end of the first successful probe, or NA after $TIMEOUT s.
poll() {
  local out=$1 t0=$2 t; shift 2
  local deadline=$((t0 + TIMEOUT * 1000000))
  while :; do
    if "$@" >/dev/null 2>&1; then t=$(now_us); echo $(((t - t0) / 1000)) >"$out"; return 0; fi
    [ "$(now_us)" -gt "$deadline" ] && { echo NA >"$out"; return 1; }
    sleep "$POLL"
  done
}
docker_healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$1")" = healthy ]; }
jinit_healthy() { docker exec "$1" jinit health; }
# Any HTTP answer counts (nginx's 8000 may redirect); a refused connection does not.
answers() { curl -s -o /dev/null --max-time 1 "$1"; }
ip_of() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }

# start KEY NAME URL-PATH PROBES DOCKER-RUN-ARGS...: `docker run -d --name NAME ...`, then the
# PROBES, in parallel, each every $POLL s: "port" (an HTTP request to http://<container
# ip>URL-PATH), "ready" (`docker exec NAME jinit health`), "healthy" (Docker's health status).
# Appends the times to $R/KEY.{run,port,ready,healthy}.
start() {
  local key=$1 name=$2 path=$3 probes=" $4 "; shift 4
  local t0 t1 ip
  t0=$(now_us)
  if ! docker run -d --name "$name" --label "$LABEL" "$@" >/dev/null 2>"$WORK/run.err"; then
    cat "$WORK/run.err" >&2; die "docker run $name failed"
  fi
  t1=$(now_us); echo $(((t1 - t0) / 1000)) >>"$R/$key.run"
  ip=$(ip_of "$name")
  local o="$WORK/poll.$key"
  rm -f "$o".*
  # (Waited for by pid: a plain `wait` would also wait for the dockerd this script started.)
  POLLERS=()
  [[ $probes == *" port "* ]] && { poll "$o.port" "$t0" answers "http://$ip$path" & POLLERS+=($!); }
  [[ $probes == *" ready "* ]] && { poll "$o.ready" "$t0" jinit_healthy "$name" & POLLERS+=($!); }
  [[ $probes == *" healthy "* ]] && { poll "$o.healthy" "$t0" docker_healthy "$name" & POLLERS+=($!); }
  wait "${POLLERS[@]}"
  POLLERS=()
  local f
  for f in port ready healthy; do
    [ -f "$o.$f" ] || continue
    cat "$o.$f" >>"$R/$key.$f"
    if [ "$(cat "$o.$f")" = NA ]; then
      log "$name: no $f within $TIMEOUT s; its last log lines:"
      docker logs --tail 15 "$name" 2>&1 | sed 's/^/    | /' >&2
    fi
  done
}
# ms_between RFC3339 RFC3339: milliseconds from the first time to the second.
ms_between() {
  local a b
  if [ -n "$1" ] && [ -n "$2" ] && a=$(date -d "$1" +%s%N 2>/dev/null) && b=$(date -d "$2" +%s%N 2>/dev/null); then
    echo $(((b - a) / 1000000))
  else
    echo NA
  fi
}
# stop KEY NAME [SERVICE]: `docker stop -t 25` (docker-compose.yml's stop_grace_period), timed;
# the exit code; with SERVICE (a jinit unit), when jinit's log says it spawned it and found it
# ready, in ms after Docker's StartedAt; then removes the container and its anonymous volumes.
stop() {
  local key=$1 name=$2 svc=${3:-} t0 t1
  t0=$(now_us)
  docker stop -t 25 "$name" >/dev/null
  t1=$(now_us)
  echo $(((t1 - t0) / 1000)) >>"$R/$key.stop"
  docker inspect -f '{{.State.ExitCode}}' "$name" >>"$R/$key.exit"
  docker logs -t "$name" >"$WORK/last-$key.log" 2>&1
  if [ -n "$svc" ]; then
    local started spawned ready
    started=$(docker inspect -f '{{.State.StartedAt}}' "$name")
    spawned=$(grep -m1 "jinit: $svc: waiting -> starting" "$WORK/last-$key.log" | cut -d' ' -f1)
    ready=$(grep -m1 "jinit: $svc: starting -> ready" "$WORK/last-$key.log" | cut -d' ' -f1)
    ms_between "$started" "$spawned" >>"$R/$key.log_spawned"
    ms_between "$started" "$ready" >>"$R/$key.log_ready"
  fi
  docker rm -v "$name" >/dev/null
}
# memory KEY NAME: VmRSS, RssAnon and RssFile of PID 1 (read inside the container), and the sum
# of VmRSS and of Pss (smaps_rollup) over the container's processes (read from the host; the
# HEALTHCHECK's short-lived `jinit health` is left out), in kB.
memory() {
  local key=$1 name=$2 st
  sleep 1   # settle: nginx workers, prosody's first GC
  st=$(docker exec "$name" cat /proc/1/status)
  awk '/^VmRSS:/ { print $2 }' <<<"$st" >>"$R/$key.pid1_rss"
  awk '/^RssAnon:/ { print $2 }' <<<"$st" >>"$R/$key.pid1_anon"
  awk '/^RssFile:/ { print $2 }' <<<"$st" >>"$R/$key.pid1_file"
  awk '/^Name:/ { print $2 }' <<<"$st" >"$R/$key.pid1_name"
  local pid args rss=0 pss=0 n=0 v
  while read -r pid args; do
    [[ $args == *"jinit health"* ]] && continue
    v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
    rss=$((rss + ${v:-0}))
    v=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null)
    pss=$((pss + ${v:-0}))
    n=$((n + 1))
  done < <(docker top "$name" -eo pid,args | tail -n +2)
  echo "$rss" >>"$R/$key.total_rss"
  echo "$pss" >>"$R/$key.total_pss"
  echo "$n" >>"$R/$key.nproc"
}

# ---------------------------------------------------------------- setup
docker network create --label "$LABEL" "$NET" >/dev/null || die "cannot create network $NET"
VOL_PDATA="${P}_prosody-data"; VOL_STORAGE="${P}_web-storage"
VOL_PRUN="${P}_prosody-run"; VOL_WRUN="${P}_web-run"
for v in "$VOL_PDATA" "$VOL_STORAGE" "$VOL_PRUN" "$VOL_WRUN"; do
  docker volume create --label "$LABEL" "$v" >/dev/null || die "cannot create volume $v"
done
# The secrets every schema of prosody declares (web's are a subset), as `-e` arguments.
SECRETS=()
while IFS= read -r line; do
  [[ $line =~ ^[A-Z0-9_]+=. ]] && SECRETS+=(-e "$line")
done < <(docker run --rm --label "$LABEL" "$PROSODY" gen-secrets 2>/dev/null)
[ ${#SECRETS[@]} -gt 0 ] || die "$PROSODY gen-secrets printed no secret"
# shellcheck disable=SC2054 # the commas belong to --tmpfs's options
# As docker-compose.yml's x-service: read-only root, tmpfs /run (uid 1000) and /tmp, the network.
COMMON=(--read-only --tmpfs /run:uid=1000,gid=1000,mode=0755 --tmpfs /tmp --network "$NET"
  -e TZ=UTC "${SECRETS[@]}")
P_ARGS=(--network-alias xmpp.meet.jitsi -v "$VOL_PDATA:/var/lib/prosody")
W_ARGS=(-v "$VOL_STORAGE:/storage")
PROSODY_PATH=":5280/http-bind"
WEB_PATH=":8000/"

# Probe cost: how long one probe of each kind takes on a running container (the resolution of
# the times below is about this plus $POLL).
probe_cost() {
  local name=$1 i t0
  for i in 1 2 3 4 5; do
    t0=$(now_us); docker exec "$name" jinit health >/dev/null 2>&1; echo $((($(now_us) - t0) / 1000)) >>"$R/probe.exec"
    t0=$(now_us); docker_healthy "$name"; echo $((($(now_us) - t0) / 1000)) >>"$R/probe.inspect"
    t0=$(now_us); answers "http://$(ip_of "$name")$WEB_PATH"; echo $((($(now_us) - t0) / 1000)) >>"$R/probe.curl"
  done
}

# ---------------------------------------------------------------- 1. first boot (fresh volumes)
ALL="port ready healthy"
log "first boot with empty state volumes (prosody registers the accounts, both create keys)"
start prosody.first "$P-prosody" "$PROSODY_PATH" "$ALL" "${COMMON[@]}" "${P_ARGS[@]}" "$PROSODY"
start web.first "$P-web" "$WEB_PATH" "$ALL" "${COMMON[@]}" "${W_ARGS[@]}" "$WEB"
probe_cost "$P-web"
stop web.first "$P-web" nginx
stop prosody.first "$P-prosody" prosody
for f in "$R"/*.first.*; do grep -q '^NA$' "$f" && die "the first boot failed ($(basename "$f")); logs above"; done

# For docker-init (tini) as PID 1, the configuration is rendered beforehand by the image's own
# `jinit render` (same environment) into named volumes mounted at /run/web and /run/prosody;
# the state volumes hold what the first boot created (certificates, accounts). Then the server
# alone runs under --init, without the image's HEALTHCHECK (it asks jinit, which is not there).
log "rendering the configuration for the docker-init runs (jinit render)"
docker run --rm --label "$LABEL" "${COMMON[@]}" "${W_ARGS[@]}" -v "$VOL_WRUN:/run/web" \
  --entrypoint /usr/local/bin/jinit "$WEB" render >"$WORK/render-web.log" 2>&1 \
  || { cat "$WORK/render-web.log" >&2; die "jinit render (web) failed"; }
docker run --rm --label "$LABEL" "${COMMON[@]}" "${P_ARGS[@]}" -v "$VOL_PRUN:/run/prosody" \
  --entrypoint /usr/local/bin/jinit "$PROSODY" render >"$WORK/render-prosody.log" 2>&1 \
  || { cat "$WORK/render-prosody.log" >&2; die "jinit render (prosody) failed"; }
TINI_COMMON=(--init --no-healthcheck "${COMMON[@]}")

# ---------------------------------------------------------------- 2. jinit and docker-init
# Warm starts, alternating jinit and docker-init so that drift hits both. Only the HTTP probe
# runs: `docker exec` every 50 ms is heavy enough on 2 cores to slow the start it measures.
# Web starts once prosody serves.
for i in $(seq 1 "$REPS"); do
  log "jinit and docker-init (tini) as PID 1: repetition $i/$REPS"
  start prosody.jinit "$P-prosody" "$PROSODY_PATH" port "${COMMON[@]}" "${P_ARGS[@]}" "$PROSODY"
  start web.jinit "$P-web" "$WEB_PATH" port "${COMMON[@]}" "${W_ARGS[@]}" "$WEB"
  memory web.jinit "$P-web"
  memory prosody.jinit "$P-prosody"
  stop web.jinit "$P-web" nginx
  stop prosody.jinit "$P-prosody" prosody

  start prosody.tini "$P-prosody" "$PROSODY_PATH" port "${TINI_COMMON[@]}" "${P_ARGS[@]}" \
    -v "$VOL_PRUN:/run/prosody" -e LDAPCONF=/run/prosody/config/ldap.conf \
    --entrypoint prosody "$PROSODY" --config /run/prosody/config/prosody.cfg.lua -F
  start web.tini "$P-web" "$WEB_PATH" port "${TINI_COMMON[@]}" "${W_ARGS[@]}" -v "$VOL_WRUN:/run/web" \
    --entrypoint nginx "$WEB" -c /run/web/config/nginx/nginx.conf -g 'daemon off;'
  memory web.tini "$P-web"
  memory prosody.tini "$P-prosody"
  stop web.tini "$P-web"
  stop prosody.tini "$P-prosody"
done

# ---------------------------------------------------------------- 3. jinit with the health probes
# As Compose waits: web starts once prosody is healthy by Docker's account.
for i in $(seq 1 "$REPS"); do
  log "jinit as PID 1 with the health probes: repetition $i/$REPS"
  start prosody.probed "$P-prosody" "$PROSODY_PATH" "$ALL" "${COMMON[@]}" "${P_ARGS[@]}" "$PROSODY"
  start web.probed "$P-web" "$WEB_PATH" "$ALL" "${COMMON[@]}" "${W_ARGS[@]}" "$WEB"
  stop web.probed "$P-web" nginx
  stop prosody.probed "$P-prosody" prosody
done

# ---------------------------------------------------------------- report
IMAGES=$(docker image ls --filter "reference=$REPO/*:$TAG" --format '{{.Repository}}:{{.Tag}}' | sort)
image_rows() {
  local img size id created
  for img in $IMAGES; do
    read -r size id created < <(docker image inspect -f '{{.Size}} {{.Id}} {{.Created}}' "$img")
    id=${id#sha256:}
    # shellcheck disable=SC2016 # Markdown backquotes
    printf '| `%s` | %s | `%s` | %s |\n' "$img" "$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1e6 }')" \
      "${id:0:12}" "${created%%.*}"
  done
}
jinit_size=$(docker run --rm --label "$LABEL" --entrypoint stat "$WEB" -c %s /usr/local/bin/jinit 2>/dev/null)
# The daemon's init binary, as --init mounts it into a container (/sbin/docker-init).
tini_version=$(docker run --rm --label "$LABEL" --init --entrypoint /sbin/docker-init "$WEB" --version 2>/dev/null \
  || echo unknown)
revision=$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$WEB" | cut -c1-7)
read -r med _ _ < <(stats "$R/probe.exec"); cost_exec=$med
read -r med _ _ < <(stats "$R/probe.inspect"); cost_inspect=$med
read -r med _ _ < <(stats "$R/probe.curl"); cost_curl=$med
first() { local v; v=$(head -n 1 "$R/$1" 2>/dev/null); s "${v:-NA}"; }

report() {
  cat <<EOF
# jinit in its containers

Written by \`bench/docker.sh\`; every number below comes from one run of it.

- date: $(date -u '+%Y-%m-%d %H:%M UTC'); kernel: $(uname -r); CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo) ($(nproc) cores); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)
- docker $(docker version -f '{{.Server.Version}}') (server), storage driver $(docker info -f '{{.Driver}}'), cgroup v$(docker info -f '{{.CgroupVersion}}'); docker-init: $tini_version
- images: \`$WEB\` and \`$PROSODY\` (revision \`${revision:-unknown}\`; working tree at \`$(git rev-parse --short HEAD 2>/dev/null)\`; built with \`WITH_JITSI=0\`: nginx with a placeholder page, Prosody without Jitsi's plugins); jinit in them: $((${jinit_size:-0} / 1024)) KiB, static
- containers as in docker-compose.yml: \`--read-only --tmpfs /run:uid=1000,gid=1000,mode=0755 --tmpfs /tmp\`, user 1000, secrets from \`jinit gen-secrets\`, prosody on a user-defined network (\`$NET\`, alias \`xmpp.meet.jitsi\`), web on the same network; \`docker stop -t 25\` (stop_grace_period)
- $REPS repetitions of each measurement; times are "median (min-max)" in seconds unless said otherwise

## 1. Image sizes

\`docker image inspect -f '{{.Size}}'\` in MB (10^6 bytes); layers shared between images (base, base-java) count in each.

| image | size MB | id | created |
|---|---:|---|---|
$(image_rows)

jicofo, jvb and jigasi are built here without their Jitsi packages, so they are base-java plus a spec and templates.

## 2. Start: from \`docker run -d\` to ready

The clock starts just before \`docker run -d\`; probes run every ${POLL} s and a time is taken when the first successful probe returns. One probe costs (median, on a running container) \`curl\` ${cost_curl} ms, \`docker inspect\` ${cost_inspect} ms, \`docker exec ... jinit health\` ${cost_exec} ms: the times are resolved to about that plus ${POLL} s.

- **docker run returns**: \`docker run -d\` itself (create, mounts, network, start of PID 1).
- **serves**: an HTTP request from the host to the container's address gets an answer (web: \`:8000/\`; prosody: \`:5280/http-bind\`, the URL of jinit's readiness probe, answered once Prosody has loaded every host).

### 2a. jinit against docker-init, warm starts

Only the HTTP probe runs. The state volumes are kept from one start to the next (accounts, certificates), and each docker-init start follows a jinit start.

| | docker run returns | serves |
|---|---:|---:|
| prosody, jinit | $(cell "$R/prosody.jinit.run") | $(cell "$R/prosody.jinit.port") |
| prosody, docker-init + \`prosody -F\` | $(cell "$R/prosody.tini.run") | $(cell "$R/prosody.tini.port") |
| web, jinit | $(cell "$R/web.jinit.run") | $(cell "$R/web.jinit.port") |
| web, docker-init + \`nginx\` | $(cell "$R/web.tini.run") | $(cell "$R/web.tini.port") |

- jinit's start includes, before the server starts: rendering the configuration (web: 4 files; prosody: 2, validated with luac), the oneshots (prosody: \`prosodyctl register\` of the service accounts at every start, so that a password changed in .env takes effect; web: the certificate check), then the server, then its readiness probe (prosody: HTTP on 5280; web: TCP on 8000).
- The docker-init rows start the server alone, on a configuration that \`jinit render\` wrote into a volume beforehand, with the accounts and certificates that the first jinit boot left in the state volumes: that work is not in their numbers (a tini image does it at build time or in an entrypoint script).

### 2b. jinit with the health probes

Three probes in parallel: the HTTP one, **jinit health** (\`docker exec <c> jinit health\` exits 0: every enabled service ready) and **Docker healthy** (\`docker inspect -f '{{.State.Health.Status}}'\` says healthy). Web starts once prosody is healthy by Docker's account, as \`depends_on: condition: service_healthy\` does. First boot: empty state volumes, so prosody also creates its TLS key (RSA 2048) and the accounts, web its self-signed certificate.

| | serves | jinit health | Docker healthy |
|---|---:|---:|---:|
| prosody, first boot | $(first prosody.first.port) | $(first prosody.first.ready) | $(first prosody.first.healthy) |
| prosody, warm | $(cell "$R/prosody.probed.port") | $(cell "$R/prosody.probed.ready") | $(cell "$R/prosody.probed.healthy") |
| web, first boot | $(first web.first.port) | $(first web.first.ready) | $(first web.first.healthy) |
| web, warm | $(cell "$R/web.probed.port") | $(cell "$R/web.probed.ready") | $(cell "$R/web.probed.healthy") |

- **Docker healthy is Docker's schedule, not jinit's**: the image's HEALTHCHECK runs every 5 s and its first probe comes 5 s after the start (Docker $(docker version -f '{{.Server.Version}}') has no \`--health-start-interval\`), so this column cannot go below about 5 s whatever PID 1 does, and \`depends_on: service_healthy\` waits that long. A shorter \`interval\` in docker-compose.yml would shorten it, at the cost of a \`jinit health\` process that often.
- \`docker exec\` every ${POLL} s costs CPU on 2 cores: compare "serves" here with 2a.

### 2c. Inside jinit

From jinit's own log lines (\`docker logs -t\`), in seconds after Docker's \`State.StartedAt\` (PID 1 running), in the runs of 2a (first boot: 2b): when jinit spawned the server (configuration rendered, oneshots done) and when its readiness probe passed. jinit's probes retry on a doubling interval (25 ms, 50 ms, ... up to 500 ms), so "ready" can trail the server's own readiness by up to about half the time since the spawn.

| | server spawned | server ready |
|---|---:|---:|
| prosody, first boot | $(first prosody.first.log_spawned) | $(first prosody.first.log_ready) |
| prosody, warm | $(cell "$R/prosody.jinit.log_spawned") | $(cell "$R/prosody.jinit.log_ready") |
| web (nginx), first boot | $(first web.first.log_spawned) | $(first web.first.log_ready) |
| web (nginx), warm | $(cell "$R/web.jinit.log_spawned") | $(cell "$R/web.jinit.log_ready") |

## 3. \`docker stop\`

Wall time of \`docker stop -t 25 <c>\` ("median / max", seconds) in the runs of 2a, and the exit codes (count of each) of every container of the run.

| | stop jinit | exit codes jinit | stop docker-init | exit codes docker-init |
|---|---:|---|---:|---|
| prosody | $(cellmax "$R/prosody.jinit.stop") | $(cat "$R"/prosody.{first,jinit,probed}.exit > "$R/prosody.all.exit"; codes "$R/prosody.all.exit") | $(cellmax "$R/prosody.tini.stop") | $(codes "$R/prosody.tini.exit") |
| web | $(cellmax "$R/web.jinit.stop") | $(cat "$R"/web.{first,jinit,probed}.exit > "$R/web.all.exit"; codes "$R/web.all.exit") | $(cellmax "$R/web.tini.stop") | $(codes "$R/web.tini.exit") |

- jinit turns Docker's SIGTERM into each service's stop-signal (nginx: QUIT, a graceful stop that lets requests in flight finish; prosody: TERM), waits for it (kill-delay 10 s, then KILL), and exits 0 when the services stopped cleanly. docker-init forwards SIGTERM as it is (nginx: fast shutdown) and exits with the child's code. The servers are idle and stop within milliseconds (jinit logs nginx stopped in under 10 ms), so the wall time is mostly Docker's own.

## 4. Memory of the running containers

Medians over the repetitions, MB (2^20 bytes), read 1 s after the container served (runs of 2a). PID 1 from \`/proc/1/status\` inside the container; the container's total over all its processes, read on the host from \`docker top\`'s pids (VmRSS sums count shared pages once per process; Pss divides them).

| | web, jinit | web, docker-init | prosody, jinit | prosody, docker-init |
|---|---:|---:|---:|---:|
| PID 1 | $(cat "$R/web.jinit.pid1_name" 2>/dev/null) | $(cat "$R/web.tini.pid1_name" 2>/dev/null) | $(cat "$R/prosody.jinit.pid1_name" 2>/dev/null) | $(cat "$R/prosody.tini.pid1_name" 2>/dev/null) |
| PID 1 VmRSS | $(mb "$R/web.jinit.pid1_rss") | $(mb "$R/web.tini.pid1_rss") | $(mb "$R/prosody.jinit.pid1_rss") | $(mb "$R/prosody.tini.pid1_rss") |
| PID 1 RssAnon | $(mb "$R/web.jinit.pid1_anon") | $(mb "$R/web.tini.pid1_anon") | $(mb "$R/prosody.jinit.pid1_anon") | $(mb "$R/prosody.tini.pid1_anon") |
| PID 1 RssFile | $(mb "$R/web.jinit.pid1_file") | $(mb "$R/web.tini.pid1_file") | $(mb "$R/prosody.jinit.pid1_file") | $(mb "$R/prosody.tini.pid1_file") |
| processes | $(stats "$R/web.jinit.nproc" | cut -d' ' -f1) | $(stats "$R/web.tini.nproc" | cut -d' ' -f1) | $(stats "$R/prosody.jinit.nproc" | cut -d' ' -f1) | $(stats "$R/prosody.tini.nproc" | cut -d' ' -f1) |
| total VmRSS | $(mb "$R/web.jinit.total_rss") | $(mb "$R/web.tini.total_rss") | $(mb "$R/prosody.jinit.total_rss") | $(mb "$R/prosody.tini.total_rss") |
| total Pss | $(mb "$R/web.jinit.total_pss") | $(mb "$R/web.tini.total_pss") | $(mb "$R/prosody.jinit.total_pss") | $(mb "$R/prosody.tini.total_pss") |

## What the comparison leaves out

docker-init (tini) is the smaller PID 1, but it is not doing the same job, so these columns are not like for like:

- **No readiness.** tini knows only that its child is alive. The image's HEALTHCHECK (\`jinit health\`) answers from jinit's readiness probes; under tini it must be replaced by a probe of its own (curl, nc), which these images do not ship, and \`depends_on: service_healthy\` has nothing to wait on. The docker-init rows above run with \`--no-healthcheck\`.
- **No configuration.** tini renders nothing: the docker-init containers here run on files that \`jinit render\` wrote beforehand. In an image with tini this is an entrypoint script (upstream docker-jitsi-meet: s6-overlay and tpl), and its time belongs in the start-up column.
- **No oneshots, no order.** Account registration, directories and certificates (prosody's \`register-*\`, web's self-signed certificate) were left in the volumes by the first jinit boot.
- **No restarts, no reloads.** A crashed nginx or prosody ends a tini container (Docker's restart policy then restarts the whole container); jinit restarts the service inside it, re-renders on a changed /config file or \`.env\` value and reloads nginx.
- **One child.** tini runs one program; the web image's ACME client (\`ENABLE_LETSENCRYPT\`) runs next to nginx under jinit.
EOF
}
report | tee "$BENCH/DOCKER.md"
log "written: bench/DOCKER.md"
