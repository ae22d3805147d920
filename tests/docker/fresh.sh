# shellcheck shell=bash
# shellcheck disable=SC2153  # LOGS, REPO, TAG, the E2E_* ports and the binaries come from run.sh
# From a fresh clone to a running stack in one command (sourced by tests/docker/run.sh, whose
# helpers it uses: check, pass, fail, wait_for, healthy, has_line, brewery, build_standins).
#
# A copy of the repository's files as a clone has them (tracked and not ignored), with no .env
# and no config directory, in a temporary directory. Compose gets only what this machine needs
# to build (WITH_JITSI=0, the host's static jinit, the local Debian image), the test ports and
# RESTART_POLICY=no, from the shell's environment, never from a file. Then, with one Compose:
#   1. `up -d` builds every image and starts the stack: prosody and web healthy, the app
#      served, the secrets generated in the `secrets` volume (0600, uid 1000, never logged);
#      jicofo and jvb, built without Jitsi's packages, name WITH_JITSI=0 in their logs;
#   2. with the stand-ins for jicofo and jvb (tests/docker/standins.yml): everything healthy,
#      Jicofo's stand-in sees the bridge (both logged in with the generated passwords);
#   3. `down`, `up -d`: the same secrets, the accounts still log in;
#   4. (v2) a .env value wins over the generated one, and stays out of the check image;
#      a removed secret is generated again and every service follows; web is unhealthy while
#      prosody is stopped; CONFIG without config-dir.yml and jigasi.yml without the SIP account
#      are refused by `up`, which prints why;
#   5. (v2) config-dir.yml with a root-owned prosody/data: prosody stops within 5 s naming the
#      host directory, uid 1000 and the chown.
# (v1 runs 1-3 and the refused CONFIG through base's log: it builds the check image only when
# it is missing.)

FRESH_DIR=""
FRESH_FILES=()
FRESH_ENV=()
FRESH_PROJECT=""
fresh_compose() { (cd "$FRESH_DIR" && env "${FRESH_ENV[@]}" "${COMPOSE[@]}" "${FRESH_FILES[@]}" "$@"); }
fresh_capture() { local log=$1; shift; fresh_compose "$@" >"$log" 2>&1; }
fresh_cid() { fresh_compose ps -aq "$1"; }
fresh_down() { [ -n "$FRESH_DIR" ] && fresh_compose down --volumes --remove-orphans >/dev/null 2>&1; }
fresh_logs() { fresh_compose logs --no-color --tail=25 2>&1 | sed 's/\x1b\[[0-9;]*[A-Za-z]//g; s/^/      | /'; }
fresh_https() { curl -fsSk --max-time 5 "https://127.0.0.1:$E2E_HTTPS_PORT$1"; }
fresh_served() { local body; body=$(fresh_https "$1") && grep -q -- "$2" <<<"$body"; }
# "NAME sha256-prefix" per file of the secrets volume, read by a throw-away container as uid 1000.
fresh_secrets() {
  docker run --rm --network none -v "${FRESH_PROJECT}_secrets:/s:ro" --entrypoint sh "$REPO/base:$TAG" \
    -c 'cd /s && for f in *; do printf "%s %s\n" "$f" "$(sha256sum <"$f" | cut -c1-16)"; done'
}
fresh_secret_value() {
  docker run --rm --network none -v "${FRESH_PROJECT}_secrets:/s:ro" --entrypoint cat "$REPO/base:$TAG" "/s/$1"
}
# The long-running services' containers (ids), running or not: what a rejected change must leave.
fresh_running() { fresh_compose ps -aq prosody web jicofo jvb | sort | tr '\n' ' '; }
# fresh_replaced NAME OLD: the secret NAME is stored again, with another value than OLD.
fresh_replaced() { local v; v=$(fresh_secret_value "$1") && [ -n "$v" ] && [ "$v" != "$2" ]; }
fresh_all_healthy() {
  local c
  for c in "$@"; do healthy "$(fresh_cid "$c")" || return 1; done
}
fresh_log_has() { local out; out=$(fresh_compose logs --no-color "$1" 2>&1); has_line "$2" "$out"; }
fresh_set_env() {  # KEY VALUE in .env (created on first use)
  touch "$FRESH_DIR/.env"
  sed -i "/^$1=/d" "$FRESH_DIR/.env"
  echo "$1=$2" >>"$FRESH_DIR/.env"
}

# fresh_copy DIR: the repository's files as `git clone` gives them, plus this host's jinit.
fresh_copy() {
  local f
  while IFS= read -r -d '' f; do
    [ -e "$f" ] && cp --parents -p -- "$f" "$1/"
  done < <(git ls-files -z --cached --others --exclude-standard)
  mkdir -p "$1/$(dirname "$JINIT_BINARY")"
  cp "$JINIT_BINARY" "$JINIT_BINARY-config" "$JINIT_ACME_BINARY" "$1/$(dirname "$JINIT_BINARY")/"
  cp tests/docker/standins.yml "$1/"
}

fresh() {
  local label="fresh clone, $1"; shift
  COMPOSE=("$@")
  step "from a fresh clone, one command ($label): no .env, no config directory"
  local tag=fresh-${label##* } t0=$SECONDS
  FRESH_PROJECT=jinitfresh
  FRESH_DIR=$(mktemp -d /tmp/jitsi-fresh.XXXXXX)
  FRESH_FILES=()
  FRESH_ENV=(JITSI_REPO="$REPO" JITSI_IMAGE_VERSION="$tag" WITH_JITSI=0 JINIT_SOURCE=prebuilt
    DEBIAN_IMAGE="$DEBIAN_IMAGE" HTTP_PORT="$E2E_HTTP_PORT" HTTPS_PORT="$E2E_HTTPS_PORT"
    JVB_PORT="$E2E_JVB_PORT" RESTART_POLICY=no COMPOSE_PROJECT_NAME="$FRESH_PROJECT")
  fresh_copy "$FRESH_DIR"
  fresh_steps "$label" "$tag"
  fresh_compose logs --no-color >"$LOGS/$tag-containers.log" 2>&1
  fresh_down
  rm -rf "$FRESH_DIR"; FRESH_DIR=""
  echo "      ($label: $((SECONDS - t0)) s)"
}

fresh_steps() {
  local label=$1 tag=$2 c
  check "$label: the copy has no .env and no config directory" \
    sh -c "[ ! -e '$FRESH_DIR/.env' ] && [ ! -e '$FRESH_DIR/config' ] && [ -d '$FRESH_DIR/custom/web' ]"
  for c in base base-java check prosody web jicofo jvb; do
    docker image rm "$REPO/$c:$tag" >/dev/null 2>&1
  done

  # 1. One command.
  local t1=$SECONDS
  if fresh_capture "$LOGS/$tag-up.log" up -d; then
    pass "$label: up -d, images built included ($((SECONDS - t1)) s)"
  else
    fail "$label: up -d"; sed 's/^/      | /' "$LOGS/$tag-up.log" | tail -n 30; return
  fi
  for c in base check prosody web jicofo jvb; do
    check "$label: $REPO/$c:$tag was built by up" docker image inspect "$REPO/$c:$tag"
  done
  for c in prosody web; do
    if wait_for 120 healthy "$(fresh_cid $c)"; then pass "$label: $c healthy"
    else fail "$label: $c healthy"; fresh_logs; return; fi
  done
  check "$label: https://localhost serves the app" fresh_served / "Jitsi Meet"
  local names="JIBRI_RECORDER_PASSWORD JIBRI_XMPP_PASSWORD JICOFO_AUTH_PASSWORD JIGASI_XMPP_PASSWORD JVB_AUTH_PASSWORD TURN_CREDENTIALS"
  local first; first=$(fresh_secrets)
  check "$label: prosody generated the secrets into the secrets volume ($names)" \
    test "$(awk '{print $1}' <<<"$first" | tr '\n' ' ')" = "$names "
  check "$label: each is readable by uid 1000 only (mode 0600)" sh -c "
    test \"\$(docker exec '$(fresh_cid prosody)' stat -c '%a %u' /secrets/JICOFO_AUTH_PASSWORD /secrets/TURN_CREDENTIALS /secrets | sort -u | tr '\n' ' ')\" = '600 1000 700 1000 '"
  local value logs leaked=""
  logs=$(fresh_compose logs --no-color 2>&1)
  for c in $names; do
    value=$(fresh_secret_value "$c")
    [ ${#value} -eq 32 ] || leaked+=" $c(length ${#value})"
    has_line "$value" "$logs" && leaked+=" $c"
  done
  check "$label: no secret value in any container's log" test -z "$leaked"
  # (jinit restarts the launcher with its backoff: the cause is in the log at every attempt.)
  for c in jicofo jvb; do
    check "$label: $c (built with WITH_JITSI=0) says so in its log, not \"command not found\"" wait_for 30 sh -c "
      docker logs '$(fresh_cid $c)' 2>&1 | grep -q 'is not installed in this image: it was built with WITH_JITSI=0' &&
      docker logs '$(fresh_cid $c)' 2>&1 | grep -q 'exit code 78, restart in'"
  done

  # 2. The stand-ins for jicofo and jvb, built FROM the images up just built.
  build_standins "$tag" jicofo jvb || return
  FRESH_FILES=(-f docker-compose.yml -f standins.yml)
  check "$label: up -d with the stand-ins" fresh_capture "$LOGS/$tag-up-standins.log" up -d
  if wait_for 120 fresh_all_healthy prosody web jicofo jvb; then
    pass "$label: prosody, web, jicofo and jvb healthy"
  else fail "$label: every service healthy"; fresh_logs; return; fi
  local nick
  nick=$(docker inspect -f '{{.Config.Hostname}}' "$(fresh_cid jvb)")
  check "$label: Jicofo sees the bridge (both logged in with the generated passwords)" \
    in_brewery_within 30 "$(fresh_cid jicofo)" bridge jvb@auth.meet.jitsi "$nick"

  # 3. down and up again: the volumes keep the secrets; the accounts still work.
  check "$label: down" fresh_capture "$LOGS/$tag-down.log" down
  check "$label: up -d again" fresh_capture "$LOGS/$tag-up-again.log" up -d
  if wait_for 120 fresh_all_healthy prosody web jicofo jvb; then pass "$label: every service healthy again"
  else fail "$label: every service healthy again"; fresh_logs; return; fi
  check "$label: the same secrets after down and up" test "$(fresh_secrets)" = "$first"
  nick=$(docker inspect -f '{{.Config.Hostname}}' "$(fresh_cid jvb)")
  check "$label: Jicofo sees the bridge again" in_brewery_within 30 "$(fresh_cid jicofo)" bridge jvb@auth.meet.jitsi "$nick"

  # A CONFIG without config-dir.yml is refused: the state would not be where CONFIG says.
  local before; before=$(fresh_running)
  fresh_set_env CONFIG "$FRESH_DIR/cfg"
  check "$label: CONFIG without config-dir.yml: up -d fails" not fresh_capture "$LOGS/$tag-config.log" up -d
  if [ "${label##* }" = v2 ]; then
    check "$label: ... printing why (CONFIG_DIR_IN_USE, config-dir.yml)" has_line \
      "CONFIG_DIR_IN_USE: required but not set (because CONFIG)" "$(cat "$LOGS/$tag-config.log")"
  else
    check "$label: ... base's log says why (CONFIG_DIR_IN_USE, config-dir.yml)" \
      fresh_log_has base "CONFIG_DIR_IN_USE: required but not set (because CONFIG)"
  fi
  check "$label: ... and the running services were left alone" test "$(fresh_running)" = "$before"
  rm -f "$FRESH_DIR/.env"
  [ "${label##* }" = v2 ] || return 0
  fresh_v2_steps "$label" "$tag" "$first"
}

fresh_v2_steps() {
  local label=$1 tag=$2 first=$3 c
  # 4a. A value in .env wins over the generated one, and stays out of the check image.
  local jvb_password; jvb_password=$(head -c 48 /dev/urandom | base64 | tr -dc A-Za-z0-9 | head -c 32)
  fresh_set_env JVB_AUTH_PASSWORD "$jvb_password"
  printf 'services:\n  prosody:\n    ports: ["127.0.0.1:%s:5222"]\n' "$E2E_XMPP_PORT" >"$FRESH_DIR/test-ports.yml"
  FRESH_FILES+=(-f test-ports.yml)
  check "$label: up -d with JVB_AUTH_PASSWORD in .env" fresh_capture "$LOGS/$tag-up-env.log" up -d
  if wait_for 120 fresh_all_healthy prosody web jicofo jvb; then pass "$label: every service healthy"
  else fail "$label: every service healthy"; fresh_logs; return; fi
  check "$label: the jvb account has the .env password" wait_for 30 \
    python3 tests/docker/xmpp_login.py tcp "127.0.0.1:$E2E_XMPP_PORT" jvb@auth.meet.jitsi "$jvb_password"
  local stored; stored=$(fresh_secret_value JVB_AUTH_PASSWORD)
  check "$label: ... not the generated one, which stays stored" sh -c \
    "! python3 tests/docker/xmpp_login.py tcp 127.0.0.1:$E2E_XMPP_PORT jvb@auth.meet.jitsi '$stored' &&
     test '$(fresh_secrets | grep '^JVB_AUTH_PASSWORD ')' = '$(grep '^JVB_AUTH_PASSWORD ' <<<"$first")'"
  local nick; nick=$(docker inspect -f '{{.Config.Hostname}}' "$(fresh_cid jvb)")
  check "$label: Jicofo sees the bridge (logged in with the .env password)" \
    in_brewery_within 30 "$(fresh_cid jicofo)" bridge jvb@auth.meet.jitsi "$nick"
  check "$label: the check image's history holds no value of .env" sh -c \
    "! docker history --no-trunc '$REPO/check:$tag' | grep -qF '$jvb_password'"

  # 4b. A removed secret is generated again at once, and every service follows.
  local old; old=$(fresh_secret_value JICOFO_AUTH_PASSWORD)
  docker exec "$(fresh_cid prosody)" rm /secrets/JICOFO_AUTH_PASSWORD
  check "$label: a removed secret is generated again" wait_for 15 fresh_replaced JICOFO_AUTH_PASSWORD "$old"
  check "$label: up -d after the removal" fresh_capture "$LOGS/$tag-up-rotated.log" up -d
  check "$label: Jicofo logs in with the new password and sees the bridge" \
    in_brewery_within 60 "$(fresh_cid jicofo)" bridge jvb@auth.meet.jitsi "$nick"
  check "$label: the old focus password is refused" sh -c \
    "! python3 tests/docker/xmpp_login.py tcp 127.0.0.1:$E2E_XMPP_PORT focus@auth.meet.jitsi '$old'"

  # 4c. web's health follows Prosody.
  local web; web=$(fresh_cid web)
  fresh_compose stop prosody >/dev/null 2>&1
  check "$label: with prosody stopped, web's health check fails naming Prosody's BOSH" sh -c \
    "out=\$(docker exec '$web' jinit health); [ \$? = 1 ] && printf '%s' \"\$out\" | grep -q 'xmpp-health failed'"
  fresh_compose start prosody >/dev/null 2>&1
  check "$label: ... and passes once prosody is back" wait_for 60 docker exec "$web" jinit health

  # 4d. jigasi.yml without the SIP account: refused by `up`, naming what is missing.
  local before; before=$(fresh_running)
  check "$label: up -d with jigasi.yml but no SIP account fails" \
    not fresh_capture "$LOGS/$tag-jigasi.log" -f jigasi.yml up -d
  check "$label: ... naming JIGASI_SIP_URI, JIGASI_SIP_PASSWORD and JIGASI_SIP_SERVER" sh -c "
    grep -q 'JIGASI_SIP_URI: required but not set' '$LOGS/$tag-jigasi.log' &&
    grep -q 'JIGASI_SIP_PASSWORD: required' '$LOGS/$tag-jigasi.log' &&
    grep -q 'JIGASI_SIP_SERVER: required but not set' '$LOGS/$tag-jigasi.log'"
  check "$label: ... and the running services were left alone" test "$(fresh_running)" = "$before"

  # 5. config-dir.yml with a directory Docker would create as root: a clear, quick stop.
  check "$label: down" fresh_capture "$LOGS/$tag-down2.log" down
  mkdir -p "$FRESH_DIR/cfg/prosody/data" "$FRESH_DIR/cfg/storage/web"
  chown 1000:1000 "$FRESH_DIR/cfg/storage/web"
  fresh_set_env CONFIG "$FRESH_DIR/cfg"
  FRESH_FILES+=(-f config-dir.yml)
  fresh_capture "$LOGS/$tag-up-root-owned.log" up -d
  local p; p=$(fresh_cid prosody)
  check "$label: config-dir.yml, root-owned prosody/data: prosody stops" \
    wait_for 30 sh -c "[ \"\$(docker inspect -f '{{.State.Status}}' '$p')\" = exited ]"
  check "$label: ... within 5 s of its start" python3 - "$p" <<'PY'
import json, subprocess, sys
from datetime import datetime
s = json.loads(subprocess.check_output(["docker", "inspect", sys.argv[1]]))[0]["State"]
t = lambda v: datetime.fromisoformat(v[:26].rstrip("Z"))
sys.exit(0 if (t(s["FinishedAt"]) - t(s["StartedAt"])).total_seconds() < 5 else 1)
PY
  # (The host path is relative to its file system: all of it when that is the root.)
  check "$label: ... naming the path, uid 1000, the owner and the host directory" fresh_log_has prosody \
    "/var/lib/prosody is not writable by uid 1000 (the user this container runs as): it belongs to uid 0, gid 0, mode 0755 (on the Docker host: "
  check "$label: ... and the chown of that directory" sh -c \
    "docker logs '$p' 2>&1 | grep -q 'sudo chown -R 1000:1000 [^ ]*/cfg/prosody/data'"
}
