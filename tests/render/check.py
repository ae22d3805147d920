"""Render every image's configuration for a matrix of environments with `jinit render` and
feed the results to the real parsers: nginx -t (and a live nginx), luac5.4 -p and prosodyctl
check config, pyhocon (keys checked against reference/*.conf), node (config.js keys checked
against jitsi-meet-config-keys.txt), a Java-properties parser (keys checked against
Jigasi's sample) and promtool check config (prometheus.yml). Sets every variable to a hostile
value (hostile.py): refused, or rendered without a directive, key or statement the clean
render lacks. Also checks the schemas themselves (seed variables covered, each variable
declared once, every name a template or spec expression reads declared), that `prosodyctl
register` overwrites a changed password, that the subscribe-focus oneshot is idempotent
(tests/stack's stand-in mod_roster_command), the prosody + nginx pair with a real XMPP
client, Prosody's /metrics and its allowed network, and that the golden files
(golden/<env>/<image>/<path>) equal a fresh render.

    PYTHONPATH=tests/pylib python3 tests/render/check.py [-k FILTER] [-v] [--keep]
    UPDATE_GOLDEN=1 PYTHONPATH=tests/pylib python3 tests/render/check.py -k golden  # rewrite golden/

Needs the jinit binary ($JINIT, default target/debug/jinit), nginx, prosody, lua5.4, openssl,
node, curl, promtool (Debian's prometheus) and pyhocon, javaproperties, slixmpp, PyYAML
(PyPI); tests/stack/run.sh installs them. Ends with the line "N passed, M failed"; exits 1
when anything failed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import javaproperties
from pyhocon import ConfigFactory, ConfigTree

import hostile
import jinit_cli
import xmpp_clients
from checks import Checks, Failed
from jinit_cli import REFERENCE, REPO, TEMPLATES, RenderError

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
JINIT = ""  # the binary under test, set by main()
# prosodyctl binaries to check against, e.g. PROSODYCTL=prosodyctl:/opt/prosody13/prosodyctl
PROSODYCTLS = os.environ.get("PROSODYCTL", "prosodyctl").split(":")

SECRETS = {
    "JICOFO_AUTH_PASSWORD": "focus-secret-0123456789",
    "JVB_AUTH_PASSWORD": "jvb-secret-0123456789ab",
}
JIGASI = {
    "JIGASI_XMPP_PASSWORD": "jigasi\\secret = #0123456789",
    "JIGASI_SIP_URI": "test@sip2sip.info",
    "JIGASI_SIP_PASSWORD": "sip pass=with:odd#chars",
    "JIGASI_SIP_SERVER": "sip2sip.info",
}

# name -> (environment, files to create under the root before rendering)
MATRIX: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "defaults": ({}, {}),
    "auth-internal-guests": ({"ENABLE_AUTH": "1", "ENABLE_GUESTS": "true", "AUTH_TYPE": "internal"}, {}),
    "jwt": ({"ENABLE_AUTH": "true", "AUTH_TYPE": "jwt", "JWT_APP_ID": "my_app",
             "JWT_APP_SECRET": "a-long-jwt-secret-0123456789", "JWT_ACCEPTED_ISSUERS": "web, app",
             "JWT_ACCEPTED_AUDIENCES": "server1", "TOKEN_AUTH_URL": "https://auth.example.com/login?room={room}",
             "JWT_ENABLE_DOMAIN_VERIFICATION": "1"}, {}),
    "jwt-asap-guests": ({"ENABLE_AUTH": "1", "ENABLE_GUESTS": "1", "AUTH_TYPE": "jwt", "JWT_APP_ID": "my_app",
                         "JWT_ASAP_KEYSERVER": "https://keys.example.com/asap", "JWT_ALLOW_EMPTY": "1",
                         "JWT_TOKEN_AUTH_MODULE": "token_verification"}, {}),
    "ldap": ({"ENABLE_AUTH": "1", "AUTH_TYPE": "ldap", "LDAP_URL": "ldaps://ldap.example.com/",
              "LDAP_BASE": "DC=example,DC=com", "LDAP_BINDDN": "CN=bind,DC=example,DC=com",
              "LDAP_BINDPW": 'pa"ss\\word', "LDAP_FILTER": "(sAMAccountName=%u)", "LDAP_AUTH_METHOD": "custom",
              "LDAP_USE_TLS": "1", "LDAP_START_TLS": "0", "LDAP_TLS_CIPHERS": "SECURE256:SECURE128",
              "LDAP_TLS_CHECK_PEER": "0", "LDAP_TLS_CACERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
              "LDAP_TLS_CACERT_DIR": "/etc/ssl/certs", "LDAP_VERSION": "3"}, {}),
    "letsencrypt": ({"ENABLE_LETSENCRYPT": "1", "LETSENCRYPT_DOMAIN": "meet.example.com",
                     "LETSENCRYPT_EMAIL": "alice@example.com", "ENABLE_HTTP_REDIRECT": "1",
                     "HTTP_PORT": "80", "HTTPS_PORT": "443", "PUBLIC_URL": "https://meet.example.com/"},
                    {"storage/acme-certs/meet.example.com/fullchain.pem": "@cert",
                     "storage/acme-certs/meet.example.com/key.pem": "@key"}),
    "letsencrypt-pending": ({"ENABLE_LETSENCRYPT": "1", "LETSENCRYPT_DOMAIN": "meet.example.com",
                             "LETSENCRYPT_EMAIL": "alice@example.com",
                             "LETSENCRYPT_USE_STAGING": "1", "ENABLE_HTTP_REDIRECT": "1"}, {}),
    "https-disabled": ({"DISABLE_HTTPS": "1", "ENABLE_HTTP_REDIRECT": "1", "ENABLE_HSTS": "1"}, {}),
    "ipv6-off": ({"ENABLE_IPV6": "0", "ENABLE_XMPP_WEBSOCKET": "0", "ENABLE_SUBDOMAINS": "0"}, {}),
    "jigasi": (dict(JIGASI, ENABLE_AUTH="1", JIGASI_ENABLE_SDES_SRTP="1", JIGASI_SIP_TRANSPORT="TLS",
                    JIGASI_SIP_PORT="5061", JIGASI_HEALTH_CHECK_SIP_URI="keepalive",
                    JIGASI_SIP_DEFAULT_ROOM="siptest"), {}),
    "nat": ({"JVB_ADVERTISE_IPS": "192.168.1.10, 203.0.113.7", "JVB_STUN_SERVERS": "stun1.example.com:3478,stun2.example.com:443",
             "ENABLE_OCTO": "1", "JVB_OCTO_REGION": "eu-west", "JICOFO_OCTO_REGION": "eu-west",
             "OCTO_BRIDGE_SELECTION_STRATEGY": "RegionBasedBridgeSelectionStrategy", "JVB_INSTANCE_ID": "jvb-1",
             "BRIDGE_STRESS_THRESHOLD": "0.85", "BRIDGE_AVG_PARTICIPANT_STRESS": "0.02", "MAX_BRIDGE_PARTICIPANTS": "60",
             "JICOFO_BRIDGE_REGION_GROUPS": "eu-west, eu-central; us-east,us-west"}, {}),
    "nat-legacy": ({"DOCKER_HOST_ADDRESS": "192.168.1.10", "JVB_DISABLE_STUN": "1", "JVB_LOCAL_ADDRESS": "172.18.0.5",
                    "XMPP_RECORDER_DOMAIN": "recorder.meet.jitsi", "JICOFO_COMPONENT_SECRET": "s3cr37",
                    "JVB_TCP_HARVESTER_DISABLED": "true", "JVB_TCP_PORT": "4443", "JVB_ENABLE_APIS": "rest,colibri"}, {}),
    # turn.yml: coturn with web's Let's Encrypt certificate, web's HTTPS port shared with it.
    "turn": ({"TURN_CREDENTIALS": "turn-secret-0123456789", "TURN_HOST": "turn.example.com", "TURN_PORT": "3478",
              "TURN_TRANSPORT": "udp", "TURNS_HOST": "turn.example.com", "TURNS_PORT": "443",
              "TURNS_BACKEND": "turn.meet.jitsi:5349", "TURN_ALLOWED_PEER_IPS": "172.18.0.0-172.18.255.255, 10.0.0.7",
              "TURN_REALM": "meet.example.com", "TURN_USER_QUOTA": "4", "TURN_MAX_BPS": "300000",
              "ENABLE_LETSENCRYPT": "1", "LETSENCRYPT_DOMAIN": "meet.example.com", "LETSENCRYPT_EMAIL": "alice@example.com",
              "HTTPS_PORT": "443"},
             {"storage/acme-certs/meet.example.com/fullchain.pem": "@cert",
              "storage/acme-certs/meet.example.com/key.pem": "@key",
              "storage/acme-certs/meet.example.com/fullchain.pem": "@cert",
              "storage/acme-certs/meet.example.com/key.pem": "@key"}),
    # prometheus.yml: every metrics switch on, jinit's port in every container.
    "metrics": ({"JINIT_METRICS_PORT": "9105", "PROSODY_ENABLE_METRICS": "1", "PROSODY_METRICS_ALLOWED_CIDR": "10.20.0.0/16",
                 "JICOFO_ENABLE_REST": "1", "JVB_ENABLE_REST": "1", "PROMETHEUS_SCRAPE_INTERVAL": "12.5s",
                 "PROMETHEUS_RETENTION_TIME": "1d12h"}, {}),
    "everything": ({"TURN_HOST": "turn.example.com", "TURNS_HOST": "turns.example.com", "TURN_TRANSPORT": "udp",
                    "TURN_CREDENTIALS": "turn-secret-0123456789", "GLOBAL_MODULES": "mod_statistics, alert",
                    "XMPP_MODULES": "info", "XMPP_MUC_MODULES": "mod_info,", "XMPP_INTERNAL_MUC_MODULES": "alert",
                    "GLOBAL_CONFIG": 'statistics = "internal";\\nstatistics_interval = 60;', "MAX_PARTICIPANTS": "50",
                    "PUBLIC_URL": "https://meet.example.com", "ETHERPAD_URL_BASE": "http://etherpad.meet.jitsi:9001/",
                    "TOOLBAR_BUTTONS": "microphone, camera,hangup", "DEFAULT_LANGUAGE": "de", "DISABLE_POLLS": "1",
                    "ENABLE_LOBBY": "0", "ENABLE_BREAKOUT_ROOMS": "0", "ENABLE_AV_MODERATION": "0",
                    "ENABLE_END_CONFERENCE": "0", "JICOFO_ENABLE_HEALTH_CHECKS": "1", "MAX_BRIDGE_PARTICIPANTS": "80",
                    "JICOFO_CONF_INITIAL_PARTICIPANT_WAIT_TIMEOUT": "1m30s", "JICOFO_CONF_SINGLE_PARTICIPANT_TIMEOUT": "1.5s",
                    "JICOFO_CONF_MAX_AUDIO_SENDERS": "10", "JICOFO_CONF_MAX_VIDEO_SENDERS": "20", "ENABLE_CODEC_OPUS_RED": "1",
                    "COLIBRI_REST_ENABLED": "1", "SHUTDOWN_REST_ENABLED": "1", "LOG_LEVEL": "debug",
                    "XMPP_DOMAIN": "meet.internal", "XMPP_MUC_DOMAIN": "conference.meet.internal",
                    "PROSODY_C2S_REQUIRE_ENCRYPTION": "0", "ENABLE_AUTH": "1", "AUTH_TYPE": "internal",
                    "ENABLE_RECORDING": "1", "ENABLE_LIVESTREAMING": "1", "JIBRI_XMPP_PASSWORD": "jibri-secret-0123456789",
                    "JIBRI_RECORDER_PASSWORD": "recorder-secret-0123456789", "JIBRI_PENDING_TIMEOUT": "90s",
                    "JIBRI_REQUEST_RETRIES": "2"},
                   {"config/custom-config.js": "config.disableChat = true;\n",
                    "config/custom-interface_config.js": "interfaceConfig.APP_NAME = 'Meet';\n",
                    "config/nginx/custom-meet.conf": "location = /custom-probe { return 204; }\n",
                    "config/keys/cert.crt": "@cert", "config/keys/cert.key": "@key",
                    "config/custom-jicofo.conf": "jicofo.conference.max-ssrcs-per-user = 30\n",
                    "config/custom-jvb.conf": "videobridge.cc.jvb-last-n = 20\n",
                    "config/custom-sip-communicator.properties": "org.jitsi.jigasi.ENABLE_SIP=true\n",
                    "config/custom-logging.properties": "org.jitsi.level = FINE\n",
                    "config/custom-site.cfg.lua": "-- operator addition\n",
                    "usr/share/jitsi-meet/interface_config.js": "var interfaceConfig = { APP_NAME: 'Jitsi Meet' };\n"}),
}

CONFIG_KEYS = set((REFERENCE / "jitsi-meet-config-keys.txt").read_text().split())
MUC_CLIENT_KEYS = {"HOSTNAME", "PORT", "DOMAIN", "USERNAME", "PASSWORD", "MUC_JIDS", "MUC_NICKNAME",
                   "DISABLE_CERTIFICATE_VERIFICATION", "IQ_HANDLER_MODE", "SECURITY_MODE"}
STATIC_MAPPING_KEYS = {"local-address", "public-address", "local-port", "public-port", "name"}
# SIP account properties that Jigasi's sample does not show (jitsi's ProtocolProviderFactory
# constants): the SIP server's port and transport, which the seed variables JIGASI_SIP_PORT
# and JIGASI_SIP_TRANSPORT need.
EXTRA_ACCOUNT_PROPERTIES = {"PREFERRED_TRANSPORT"}


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)


# nginx and Prosody run unprivileged in the images; the checks run them as `nobody`.
UNPRIVILEGED = "nobody"


def as_unprivileged(argv: list[str]) -> list[str]:
    # setpriv execs the program (runuser would stay its parent and, on SIGTERM, wait 2 s
    # before killing it).
    return ["setpriv", f"--reuid={UNPRIVILEGED}", "--regid=nogroup", "--clear-groups", "--", *argv] \
        if os.geteuid() == 0 else argv


def give_to_unprivileged(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, UNPRIVILEGED)
        for p in path.rglob("*"):
            shutil.chown(p, UNPRIVILEGED)


def make_cert(directory: Path) -> tuple[str, str]:
    key, crt = directory / "k.pem", directory / "c.pem"
    if not crt.exists():
        r = run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test",
                 "-keyout", str(key), "-out", str(crt)])
        if r.returncode:
            raise Failed(r.stderr)
    return crt.read_text(), key.read_text()


def prepare_root(root: Path, files: dict[str, str], cert: tuple[str, str]) -> None:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(cert[0] if content == "@cert" else cert[1] if content == "@key" else content)


def render(image: str, env: dict[str, str], root: Path) -> jinit_cli.Rendered:
    """`jinit render` of one image into root, with the test secrets."""
    return jinit_cli.render(image, dict(SECRETS, **env), root, JINIT)


def unit_spec(image: str, unit: str) -> dict:
    spec = jinit_cli.spec_of(image)
    return spec.get("oneshot", {}).get(unit) or spec["service"][unit]


def command(image: str, unit: str, env: dict[str, str]) -> list[str]:
    """A unit's argv from the image's spec, for running a oneshot by hand."""
    return jinit_cli.expand_argv(unit_spec(image, unit)["command"], dict(SECRETS, **env),
                                 jinit_cli.image_schema(image))


def unit_input(image: str, unit: str, env: dict[str, str]) -> str | None:
    """A unit's `stdin` text, expanded as jinit does (None: the unit has none)."""
    text = unit_spec(image, unit).get("stdin")
    if text is None:
        return None
    return jinit_cli.expand_argv([text], dict(SECRETS, **env), jinit_cli.image_schema(image))[0]


# ---------------------------------------------------------------- nginx

def rewrite_paths(text: str, root: Path, ports: dict[str, int] | None = None) -> str:
    """Point the absolute paths of a rendered nginx file into the scratch root."""
    for prefix in ("/run/web/", "/storage/", "/config/", "/usr/share/jitsi-meet"):
        # (unix: sockets of the stream server that shares the HTTPS port with TURN)
        text = re.sub(r"(?:(?<=[\s\"'])|(?<=unix:))" + re.escape(prefix), str(root) + prefix, text)
    for old, new in (ports or {}).items():
        text = re.sub(rf"(?<=listen )(\[::\]:)?{old}\b", lambda m: (m.group(1) or "") + str(new), text)
        if old == "upstream":
            text = re.sub(r'set \$xmpp_http [^;]*;', f'set $xmpp_http "http://127.0.0.1:{new}";', text)
    return text.replace("meet.conf;", "meet.test.conf;")


def nginx_files(root: Path, ports=None) -> Path:
    conf_dir = root / "run/web/config/nginx"
    (conf_dir / "meet.test.conf").write_text(rewrite_paths((conf_dir / "meet.conf").read_text(), root, ports))
    test_conf = conf_dir / "nginx.test.conf"
    test_conf.write_text(rewrite_paths((conf_dir / "nginx.conf").read_text(), root, ports))
    return test_conf


def check_nginx(root: Path, selfsigned: tuple[str, str]) -> None:
    """nginx -t, as the unprivileged user, with the self-signed certificate in place."""
    keys = root / "storage/keys"
    keys.mkdir(parents=True, exist_ok=True)
    (keys / "cert.crt").write_text(selfsigned[0])
    (keys / "cert.key").write_text(selfsigned[1])
    conf = nginx_files(root)
    log = nginx_log(root)
    with log.open("r+") as out:
        r = subprocess.run(as_unprivileged(["nginx", "-t", "-q", "-c", str(conf)]), stdout=out, stderr=out,
                           timeout=60)
    if r.returncode:
        raise Failed("nginx -t:\n" + log.read_text() + "\n" + conf.read_text())


def nginx_log(root: Path) -> Path:
    """A log file the unprivileged nginx can reopen as /dev/stdout and /dev/stderr.

    nginx opens /dev/stdout by path (access_log), which re-opens file descriptor 1: that
    works when the descriptor belongs to nginx's user, as a container's stdio does (runc
    hands it to the container user) and as pipes jinit creates do. A pipe created here by
    root would not be, so the checks log to a file owned by that user instead.
    """
    log = root / "nginx.log"
    log.write_text("")
    give_to_unprivileged(root)
    return log


_GIVEN_PORTS: set[int] = set()


def free_port() -> int:
    """A loopback port free now and not handed out before in this run (the kernel may give two
    bind-to-0 calls the same port once the first socket is closed)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _GIVEN_PORTS:
            _GIVEN_PORTS.add(port)
            return port


def curl(url: str, *extra: str) -> tuple[int, dict[str, str], str]:
    r = run(["curl", "-sk", "-o", "-", "-D", "/dev/stderr", "--max-time", "5", *extra, url])
    status, headers = 0, {}
    for line in r.stderr.splitlines():
        if line.startswith("HTTP/"):
            status = int(line.split()[1])
        elif ":" in line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    return status, headers, r.stdout


class FakeProsody:
    """An HTTP server standing in for Prosody's BOSH/WebSocket endpoint: records requests."""

    def __init__(self):
        import http.server
        import threading
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                seen.append((self.path, self.headers.get("Host"), self.headers.get("Upgrade")))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def nginx_live(root: Path, name: str, env: dict[str, str]) -> None:
    """Start nginx on free ports with the rendered configuration and probe it."""
    http, https = free_port(), free_port()
    upstream = FakeProsody()
    app = root / "usr/share/jitsi-meet"
    (app / "static").mkdir(parents=True, exist_ok=True)
    (app / "index.html").write_text("<html>app</html>")
    (app / "static/404.html").write_text("missing")
    # `jinit acme --webroot /run/web/acme-challenge` writes .well-known/acme-challenge/<token>.
    (root / "run/web/acme-challenge/.well-known/acme-challenge").mkdir(parents=True, exist_ok=True)
    (root / "run/web/acme-challenge/.well-known/acme-challenge/tok123").write_text("tok123.thumb")
    conf = nginx_files(root, {"8000": http, "8443": https, "upstream": upstream.port})
    log = nginx_log(root)
    out = log.open("r+")
    proc = subprocess.Popen(as_unprivileged(["nginx", "-c", str(conf), "-g", "daemon off;"]),
                            stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", http), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise Failed("nginx did not start: " + log.read_text())
                time.sleep(0.05)
        st, _, body = curl(f"http://127.0.0.1:{http}/.well-known/acme-challenge/tok123")
        if st != 200 or body != "tok123.thumb":
            raise Failed(f"ACME challenge not served over HTTP: {st} {body!r}")
        redirect = env.get("ENABLE_HTTP_REDIRECT") == "1" and env.get("DISABLE_HTTPS") != "1"
        st, hdr, body = curl(f"http://127.0.0.1:{http}/someroom")
        if redirect:
            want = "https://127.0.0.1" + ("" if env.get("HTTPS_PORT") == "443" else ":" + env.get("HTTPS_PORT", "8443"))
            if st != 301 or hdr.get("location") != want + "/someroom":
                raise Failed(f"expected a redirect to {want}/someroom, got {st} {hdr.get('location')}")
        elif st != 200 or "app" not in body:
            raise Failed(f"room page over HTTP: {st} {body!r}")
        base = f"http://127.0.0.1:{http}" if env.get("DISABLE_HTTPS") == "1" else f"https://127.0.0.1:{https}"
        st, hdr, body = curl(base + "/config.js")
        if st != 200 or "var config" not in body:
            raise Failed(f"/config.js: {st}")
        if env.get("ENABLE_SUBDOMAINS", "1") == "1":
            st, _, body = curl(base + "/tenant1/config.js")
            if st != 200 or 'var subdir = \'tenant1/\'' not in body:
                raise Failed(f"/tenant1/config.js: SSI not applied ({st}): {body[:400]!r}")
        if env.get("DISABLE_HTTPS") != "1":
            st, hdr, _ = curl(base + "/someroom")
            if st != 200:
                raise Failed(f"room page over HTTPS: {st}")
            if "strict-transport-security" not in hdr:
                raise Failed("no HSTS header over HTTPS")
        st, hdr, _ = curl(f"http://127.0.0.1:{http}/.well-known/acme-challenge/tok123")
        if "strict-transport-security" in hdr:
            raise Failed("HSTS header sent over plain HTTP")
        if name == "everything":
            st, _, _ = curl(base + "/custom-probe")
            if st != 204:
                raise Failed(f"custom-meet.conf location not active: {st}")
        # BOSH and WebSocket reach Prosody with its virtual host as Host, tenants included.
        domain = env.get("XMPP_DOMAIN", "meet.jitsi")
        probes = [("/http-bind?room=r1", "/http-bind?room=r1", None)]
        if env.get("ENABLE_SUBDOMAINS", "1") == "1":
            probes.append(("/tenant1/http-bind?room=r2", "/http-bind?room=r2", None))
        if env.get("ENABLE_XMPP_WEBSOCKET", "1") == "1":
            probes.append(("/xmpp-websocket?room=r3", "/xmpp-websocket?room=r3", "websocket"))
        for path, want, upgrade in probes:
            upstream.seen.clear()
            extra = ["--http1.1", "-H", "Connection: Upgrade", "-H", "Upgrade: websocket"] if upgrade else []
            st, _, body = curl(base + path, *extra)
            if st != 200 or upstream.seen != [(want, domain, upgrade)]:
                raise Failed(f"{path} proxied as {upstream.seen} ({st}), want {[(want, domain, upgrade)]}")
    finally:
        upstream.close()
        proc.terminate()
        proc.wait(10)
        out.close()


def wait_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise Failed(f"port {port} never opened:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.05)


def xmpp_login(port: int, jid: str, password: str) -> bool:
    """Log in with slixmpp (STARTTLS, certificate not verified, as the Java clients do)."""
    return xmpp_clients.c2s("127.0.0.1", port, jid, password).ok



def prosody_scratch(root: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """Prosody's config rendered into `root` and pointed at a scratch data directory and config
    volume there, to run the real Prosody by hand: (data directory, prosody.cfg.lua)."""
    render("prosody", env, root)
    data = root / "data"
    (data / "certs").mkdir(parents=True)
    (root / "config").mkdir()
    cfg = root / "run/prosody/config/prosody.cfg.lua"
    cfg.write_text(cfg.read_text().replace("/var/lib/prosody", str(data))
                   .replace('Include "/config/', f'Include "{root}/config/'))
    return data, cfg

def check_stack(work: Path) -> None:
    """Rendered Prosody behind rendered nginx: a browser's BOSH session gets SASL ANONYMOUS;
    Jicofo's account logs in over STARTTLS; a password changed in .env replaces the old one."""
    c2s, bosh, http, https = free_port(), free_port(), free_port(), free_port()
    env = {"XMPP_PORT": str(c2s), "PROSODY_HTTP_PORT": str(bosh), "XMPP_BOSH_URL_BASE": f"http://127.0.0.1:{bosh}"}
    proot, wroot = work / "prosody", work / "web"
    data, cfg = prosody_scratch(proot, env)
    for unit in ("xmpp-cert", "register-focus", "register-jvb"):
        argv = [a.replace("/var/lib/prosody", str(data)).replace("/run/prosody/config", str(cfg.parent))
                for a in command("prosody", unit, env)]
        give_to_unprivileged(work)
        r = run(as_unprivileged(argv), input=unit_input("prosody", unit, env))
        if r.returncode:
            raise Failed(f"{unit}: {r.stdout}{r.stderr}")
    plog = proot / "prosody.log"
    plog.write_text("")
    give_to_unprivileged(work)
    with plog.open("r+") as out:
        prosody = subprocess.Popen(as_unprivileged(["prosody", "--config", str(cfg), "-F"]), stdout=out, stderr=out)
        try:
            wait_port(bosh, prosody, plog)
            render("web", env, wroot)
            keys = wroot / "storage/keys"
            keys.mkdir(parents=True)
            cert = make_cert(work)
            (keys / "cert.crt").write_text(cert[0])
            (keys / "cert.key").write_text(cert[1])
            conf = nginx_files(wroot, {"8000": http, "8443": https})
            nlog = nginx_log(wroot)
            with nlog.open("r+") as nout:
                nginx = subprocess.Popen(as_unprivileged(["nginx", "-c", str(conf), "-g", "daemon off;"]),
                                         stdout=nout, stderr=nout)
                try:
                    wait_port(http, nginx, nlog)
                    body = ("<body rid='1' xmlns='http://jabber.org/protocol/httpbind' to='meet.jitsi' "
                            "xml:lang='en' wait='10' hold='1' ver='1.6' xmpp:version='1.0' "
                            "xmlns:xmpp='urn:xmpp:xbosh'/>")
                    st, _, reply = curl(f"https://127.0.0.1:{https}/http-bind", "--http1.1", "-H",
                                        "Content-Type: text/xml", "--data-binary", body)
                    if st != 200 or "<mechanism>ANONYMOUS</mechanism>" not in reply:
                        raise Failed(f"BOSH through nginx: {st} {reply[:500]}\n{plog.read_text()[-2000:]}")
                    # Jicofo's way in: STARTTLS with the self-signed certificate, then SCRAM.
                    if not xmpp_login(c2s, "focus@auth.meet.jitsi", SECRETS["JICOFO_AUTH_PASSWORD"]):
                        raise Failed("focus cannot log in over c2s:\n" + plog.read_text()[-2000:])
                    if xmpp_login(c2s, "focus@auth.meet.jitsi", "not-the-password-0123456789"):
                        raise Failed("focus logged in with a wrong password")
                finally:
                    nginx.terminate()
                    nginx.wait(10)
        finally:
            prosody.terminate()
            prosody.wait(10)

        # The operator changes JICOFO_AUTH_PASSWORD in .env and restarts: the register oneshot
        # runs again before Prosody starts, and only the new password works.
        new = "changed-focus-password-0123456789"
        render("prosody", dict(env, JICOFO_AUTH_PASSWORD=new), proot)
        cfg.write_text(cfg.read_text().replace("/var/lib/prosody", str(data))
                       .replace('Include "/config/', f'Include "{proot}/config/'))
        new_env = dict(env, JICOFO_AUTH_PASSWORD=new)
        argv = [a.replace("/run/prosody/config", str(cfg.parent))
                for a in command("prosody", "register-focus", new_env)]
        give_to_unprivileged(work)
        r = run(as_unprivileged(argv), input=unit_input("prosody", "register-focus", new_env))
        if r.returncode:
            raise Failed(f"register-focus: {r.stdout}{r.stderr}")
        prosody = subprocess.Popen(as_unprivileged(["prosody", "--config", str(cfg), "-F"]), stdout=out, stderr=out)
        try:
            wait_port(c2s, prosody, plog)
            if not xmpp_login(c2s, "focus@auth.meet.jitsi", new):
                raise Failed("the changed password does not work:\n" + plog.read_text()[-2000:])
            if xmpp_login(c2s, "focus@auth.meet.jitsi", SECRETS["JICOFO_AUTH_PASSWORD"]):
                raise Failed("the old password still works")
        finally:
            prosody.terminate()
            prosody.wait(10)


# ---------------------------------------------------------------- config.js

def node_eval(kind: str, path: Path, *flags: str) -> dict:
    r = run(["node", str(HERE / "eval_config.js"), kind, str(path), *flags])
    if r.returncode:
        raise Failed(f"node could not evaluate {path}:\n{r.stderr}")
    return json.loads(r.stdout)


def check_config_js(root: Path, env: dict[str, str], name: str) -> None:
    path = root / "run/web/config/config.js"
    for flags in ((), ("--ssi",), ("--no-location",)):
        cfg = node_eval("config", path, *flags)
        unknown = set(cfg) - CONFIG_KEYS
        if unknown:
            raise Failed(f"config.js keys not in jitsi-meet-config-keys.txt: {sorted(unknown)}")
    cfg = node_eval("config", path, "--ssi")
    domain = env.get("XMPP_DOMAIN", "meet.jitsi")
    if cfg["hosts"]["domain"] != domain:
        raise Failed("hosts.domain")
    if cfg["hosts"]["muc"] != env.get("XMPP_MUC_DOMAIN", "muc.meet.jitsi"):
        raise Failed(f"hosts.muc without tenant: {cfg['hosts']['muc']}")
    guests = env.get("ENABLE_AUTH") in ("1", "true") and env.get("ENABLE_GUESTS") in ("1", "true")
    if guests != ("anonymousdomain" in cfg["hosts"]):
        raise Failed("hosts.anonymousdomain")
    if env.get("ENABLE_XMPP_WEBSOCKET", "1") == "1" and not cfg.get("websocket", "").startswith("wss://"):
        raise Failed(f"websocket URL: {cfg.get('websocket')}")
    if "PUBLIC_URL" in env and cfg["bosh"] != "https://meet.example.com/http-bind":
        raise Failed(f"bosh: {cfg['bosh']}")
    if name == "everything":
        if cfg.get("disableChat") is not True or cfg["toolbarButtons"] != ["microphone", "camera", "hangup"]:
            raise Failed("custom-config.js not appended, or toolbarButtons wrong")
        ic = node_eval("interfaceConfig", root / "run/web/config/interface_config.js")
        if ic.get("APP_NAME") != "Meet":
            raise Failed("interface_config.js: package file + custom override not combined")


# ---------------------------------------------------------------- prosody

def check_prosody(root: Path, env: dict[str, str]) -> None:
    cfg = root / "run/prosody/config/prosody.cfg.lua"
    r = run(["luac5.4", "-p", str(cfg)])
    if r.returncode:
        raise Failed("luac5.4 -p:\n" + r.stderr)
    # /config (operator additions) is the image's volume: point it into the scratch root.
    (root / "config").mkdir(exist_ok=True)
    cfg.write_text(cfg.read_text().replace('Include "/config/', f'Include "{root}/config/'))
    give_to_unprivileged(root)
    for prosodyctl in PROSODYCTLS:
        r = run(as_unprivileged([prosodyctl, "--config", str(cfg), "check", "config"]))
        if r.returncode or "All checks passed" not in r.stdout:
            raise Failed(f"{prosodyctl} check config:\n" + r.stdout + r.stderr)
    text = cfg.read_text()
    for host in ("VirtualHost \"" + env.get("XMPP_DOMAIN", "meet.jitsi") + "\"",
                 'Component "focus.' + env.get("XMPP_DOMAIN", "meet.jitsi") + '" "client_proxy"'):
        if host not in text:
            raise Failed(f"missing {host}")
    if env.get("AUTH_TYPE") == "ldap":
        ldap = (root / "run/prosody/config/ldap.conf").read_text()
        for line in ldap.splitlines():
            if line and not line.startswith("#") and line.split()[0] not in {
                    "TLS_REQCERT", "TLS_CACERT", "TLS_CACERTDIR", "TLS_CIPHER_SUITE"}:
                raise Failed(f"ldap.conf: unexpected {line}")
        if "TLS_REQCERT never" not in ldap or 'ldap_filter = "(sAMAccountName=$user)"' not in text:
            raise Failed("LDAP settings not rendered as expected")


def scram_stored_key(password: str, salt: str, iterations: int) -> str:
    salted = hashlib.pbkdf2_hmac("sha1", password.encode(), salt.encode(), iterations)
    client_key = hmac.new(salted, b"Client Key", "sha1").digest()
    return hashlib.sha1(client_key).hexdigest()


def check_register_overwrites(work: Path) -> None:
    """Run the register oneshot's argv twice with two passwords: the second must win."""
    for i, prosodyctl in enumerate(PROSODYCTLS):
        register_twice(work / str(i), prosodyctl)


def register_twice(work: Path, prosodyctl: str) -> None:
    data = work / "prosody-data"
    data.mkdir(parents=True)
    stored = []
    for password in ("first-password-0123456789", "second-password-0123456789"):
        root = work / f"root-{len(stored)}"
        render("prosody", {"JICOFO_AUTH_PASSWORD": password}, root)
        cfg = root / "run/prosody/config/prosody.cfg.lua"
        (root / "config").mkdir(exist_ok=True)
        cfg.write_text(cfg.read_text().replace('"/var/lib/prosody"', json.dumps(str(data)))
                       .replace('Include "/config/', f'Include "{root}/config/'))
        env = {"JICOFO_AUTH_PASSWORD": password}
        argv = [a.replace("/run/prosody/config", str(cfg.parent))
                for a in command("prosody", "register-focus", env)]
        # The oneshot runs `prosodyctl` from PATH: put the one under test first.
        bindir = work / "bin"
        bindir.mkdir(exist_ok=True)
        link = bindir / "prosodyctl"
        if not link.exists():
            link.symlink_to(shutil.which(prosodyctl) or prosodyctl)
        path = f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}"
        give_to_unprivileged(work)
        r = run(as_unprivileged(argv), input=unit_input("prosody", "register-focus", env),
                env=dict(os.environ, PATH=path))
        if r.returncode:
            raise Failed("prosodyctl register failed:\n" + r.stdout + r.stderr)
        account = data / "auth%2emeet%2ejitsi/accounts/focus.dat"
        # Prosody's file store keeps each account as a Lua chunk returning a table.
        lua = "local t = dofile(arg[1]); print(t.salt, t.iteration_count, t.stored_key)"
        out = run(["lua5.4", "-e", lua.replace("arg[1]", json.dumps(str(account)))])
        salt, iterations, key = (out.stdout.split() + [None, None, None])[:3]
        if not key:
            raise Failed(f"could not read {account}: {out.stderr} {account.read_text()[:200]}")
        if key != scram_stored_key(password, salt, int(iterations)):
            raise Failed("stored key does not match the password just registered")
        stored.append(key)
    if stored[0] == stored[1]:
        raise Failed("password not changed")


def check_subscribe_focus(work: Path) -> None:
    """The subscribe-focus oneshot's argv, with each prosodyctl: without mod_roster_command it
    says so and succeeds; with tests/stack's stand-in it subscribes, and a second run leaves
    the roster file as it was."""
    for i, prosodyctl in enumerate(PROSODYCTLS):
        subscribe_twice(work / str(i), prosodyctl)


def subscribe_twice(work: Path, prosodyctl: str) -> None:
    data, root, plugins = work / "prosody-data", work / "root", work / "plugins-custom"
    data.mkdir(parents=True)
    env = {"JICOFO_AUTH_PASSWORD": "focus-password-0123456789"}
    render("prosody", env, root)
    cfg = root / "run/prosody/config/prosody.cfg.lua"
    (root / "config").mkdir(exist_ok=True)
    moved = {'"/var/lib/prosody"': json.dumps(str(data)), 'Include "/config/': f'Include "{root}/config/',
             '"/prosody-plugins-custom"': json.dumps(str(plugins))}
    text = cfg.read_text()
    for old, new in moved.items():
        text = text.replace(old, new)
    cfg.write_text(text)
    bindir = work / "bin"
    bindir.mkdir()
    (bindir / "prosodyctl").symlink_to(shutil.which(prosodyctl) or prosodyctl)
    path = f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}"

    def oneshot(unit: str) -> subprocess.CompletedProcess:
        argv = [a.replace("/run/prosody/config", str(cfg.parent)).replace("/prosody-plugins-custom", str(plugins))
                for a in command("prosody", unit, env)]
        give_to_unprivileged(work)
        return run(as_unprivileged(argv), input=unit_input("prosody", unit, env), env=dict(os.environ, PATH=path))

    r = oneshot("register-focus")
    if r.returncode:
        raise Failed("register-focus failed:\n" + r.stdout + r.stderr)
    r = oneshot("subscribe-focus")
    if r.returncode or "mod_roster_command is not in the plugin paths" not in r.stderr:
        raise Failed(f"subscribe-focus without mod_roster_command (exit {r.returncode}):\n{r.stdout}{r.stderr}")
    plugins.mkdir()
    shutil.copy(REPO / "tests/stack/standin-plugins/mod_roster_command.lua", plugins)
    roster = data / "auth%2emeet%2ejitsi/roster/focus.dat"
    texts = []
    for _ in range(2):
        r = oneshot("subscribe-focus")
        if r.returncode or not roster.is_file():
            raise Failed(f"subscribe-focus with the stand-in (exit {r.returncode}):\n{r.stdout}{r.stderr}")
        texts.append(roster.read_text())
    lua = ("local t = dofile(arg[1]); for k, v in pairs(t) do if k then print(k, v.subscription) end end"
           .replace("arg[1]", json.dumps(str(roster))))
    items = run(["lua5.4", "-e", lua]).stdout.split("\n")
    if items != ["focus.meet.jitsi\tfrom", ""] or texts[0] != texts[1]:
        raise Failed(f"roster of focus after two subscriptions: {items}\n{texts[0]}\n{texts[1]}")


# ---------------------------------------------------------------- HOCON

def reference_paths(files: list[str]) -> set[str]:
    """Every key path of the reference files, including keys only shown commented out."""
    paths: set[str] = set()
    for f in files:
        text = (REFERENCE / f).read_text()
        tree = ConfigFactory.parse_string(text, resolve=False)
        collect_paths(tree, "", paths, leaves_only=False)
        stack: list[str] = []
        bracket = 0
        for line in text.splitlines():
            code, comment = split_comment(line)
            if bracket == 0 and comment is not None:
                m = re.match(r'\s*([A-Za-z0-9_."-]+)\s*[=:]', comment)
                if m:
                    key = m.group(1).strip('"')
                    paths.add(".".join(stack + [key]))
            for m in re.finditer(r'([A-Za-z0-9_."-]+)?\s*[=:]?\s*([{}\[\]])', code):
                ch = m.group(2)
                if ch == "[":
                    bracket += 1
                elif ch == "]":
                    bracket -= 1
                elif bracket == 0 and ch == "{":
                    stack.append((m.group(1) or "").strip('"'))
                elif bracket == 0 and ch == "}":
                    stack.pop()
    return paths


def split_comment(line: str) -> tuple[str, str | None]:
    in_str = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_str = not in_str
        elif not in_str and (ch == "#" or line.startswith("//", i)):
            return line[:i], line[i + (1 if ch == "#" else 2):]
    return line, None


def collect_paths(tree, prefix: str, out: set[str], leaves_only: bool) -> None:
    for key in tree:
        value = tree[key]
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, ConfigTree):
            if not leaves_only:
                out.add(path)
            collect_paths(value, path, out, leaves_only)
        else:
            out.add(path)


def check_hocon(path: Path, reference: set[str]) -> None:
    text = path.read_text()
    try:
        # Substitutions must resolve; ${HOSTNAME} comes from the container's environment.
        os.environ.setdefault("HOSTNAME", "0123456789ab")
        ConfigFactory.parse_string(text)
        tree = ConfigFactory.parse_string(text, resolve=False)
    except Exception as e:  # noqa: BLE001 - any parse error is a failure to report
        raise Failed(f"HOCON parse error in {path}: {e}\n{text}") from None
    leaves: set[str] = set()
    collect_paths(tree, "", leaves, leaves_only=True)
    unknown = []
    for leaf in leaves:
        parts = leaf.split(".")
        if leaf in reference:
            continue
        if parts[:4] == ["videobridge", "apis", "xmpp-client", "configs"] and len(parts) == 6 \
                and parts[5] in MUC_CLIENT_KEYS:
            continue
        unknown.append(leaf)
    if "ice4j" in tree and tree.get("ice4j.harvest.mapping.static-mappings", None):
        for m in tree.get("ice4j.harvest.mapping.static-mappings"):
            bad = set(m) - STATIC_MAPPING_KEYS
            if bad:
                unknown.append(f"static-mappings[].{sorted(bad)}")
    if unknown:
        raise Failed(f"{path.name}: keys not in the reference: {sorted(unknown)}")


# ---------------------------------------------------------------- Jigasi properties

def property_reference() -> tuple[set[str], set[str]]:
    keys, account_props = set(), set()
    for line in (REFERENCE / "jigasi-sip-communicator.properties").read_text().splitlines():
        m = re.match(r"^\s*#?\s*([A-Za-z][\w.\-/]*)\s*=", line)
        if m:
            keys.add(m.group(1))
            a = re.match(r"net\.java\.sip\.communicator\.impl\.protocol\.(sip|jabber)\.[\w-]+\.(.+)$", m.group(1))
            if a:
                account_props.add(a.group(2))
    return keys, account_props


def check_properties(path: Path, env: dict[str, str]) -> None:
    with path.open() as f:
        props = javaproperties.load(f)
    keys, account_props = property_reference()
    families = {p.split(".")[0] for p in account_props if "." in p}
    unknown = []
    for key in props:
        if key in keys:
            continue
        a = re.match(r"net\.java\.sip\.communicator\.impl\.protocol\.(sip|jabber)\.[\w-]+\.(.+)$", key)
        if a and (a.group(2) in account_props or a.group(2) in EXTRA_ACCOUNT_PROPERTIES
                  or a.group(2).split(".")[0] in families):
            continue
        unknown.append(key)
    if unknown:
        raise Failed(f"{path.name}: keys not in Jigasi's sample: {sorted(unknown)}")
    sip = "net.java.sip.communicator.impl.protocol.sip.acc1403273890647"
    if base64.b64decode(props[sip + ".PASSWORD"]).decode() != env["JIGASI_SIP_PASSWORD"]:
        raise Failed("SIP password does not survive the properties round trip")
    if props[sip + ".ACCOUNT_UID"] != "SIP:" + env["JIGASI_SIP_URI"]:
        raise Failed("ACCOUNT_UID")
    xmpp = "net.java.sip.communicator.impl.protocol.jabber.acc-xmpp-1"
    if base64.b64decode(props[xmpp + ".PASSWORD"]).decode() != env["JIGASI_XMPP_PASSWORD"]:
        raise Failed("XMPP password does not survive the properties round trip")
    if env.get("ENABLE_AUTH") == "1" and props["org.jitsi.jigasi.xmpp.acc.PASS"] != env["JIGASI_XMPP_PASSWORD"]:
        raise Failed("xmpp.acc.PASS does not survive the properties round trip")


# ---------------------------------------------------------------- schemas

TYPES = {"bool", "int", "port", "string", "list", "url", "host", "cidr", "decimal", "enum", "secret", "duration", "path"}


def check_schemas() -> str:
    """The schemas, read as TOML: every seed variable declared, each variable once, complete
    declarations; and jinit itself loads all of them (`jinit docs reference`)."""
    try:
        schema = jinit_cli.load_schemas()
    except ValueError as e:
        raise Failed(str(e)) from None
    seed = jinit_cli.SEED_VARIABLES.read_text().split()
    missing = [v for v in seed if v not in schema]
    if missing:
        raise Failed(f"seed variables not declared: {missing}")
    problems = []
    for name, decl in schema.items():
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            problems.append(f"{name}: not an environment variable name")
        if "removed" in decl or "replaced-by" in decl:
            if "replaced-by" in decl and "type" not in schema.get(decl["replaced-by"], {}):
                problems.append(f"{name}: replaced-by names an undeclared variable")
            continue
        for key in ("description", "section"):
            if not decl.get(key):
                problems.append(f"{name}: no {key}")
        t = decl.get("type")
        if t not in TYPES:
            problems.append(f"{name}: type {t!r}")
            continue
        if "default" in decl:
            d = decl["default"]
            if d in decl.get("also", []):
                pass
            elif t == "bool" and not isinstance(d, bool) or t in ("int", "port") and type(d) is not int \
                    or t not in ("bool", "int", "port") and not isinstance(d, str):
                problems.append(f"{name}: default {d!r} does not have type {t}")
        if t == "enum" and decl.get("default", decl["values"][0]) not in decl["values"]:
            problems.append(f"{name}: default not among values")
        if "required-if" in decl:
            for var in jinit_cli.expression_names(decl["required-if"]) - set(schema):
                problems.append(f"{name}: required-if names undeclared {var}")
    r = run([JINIT, "docs", "reference", "--templates", str(TEMPLATES)])
    if r.returncode:
        problems.append(f"jinit docs reference refuses the schemas:\n{r.stderr}")
    if problems:
        raise Failed("\n".join(problems))
    return f"{len(schema)} variables, {len(seed)} seed variables declared"


def image_templates(spec: dict) -> list[str]:
    """The templates an image renders, with the ones they include or import."""
    todo = {r["template"] for r in spec.get("render", [])}
    seen: list[str] = []
    while todo:
        t = todo.pop()
        seen.append(t)
        source = (TEMPLATES / t).read_text()
        todo |= set(re.findall(r'{%-?\s*(?:include|import|from)\s+"([^"]+)"', source)) - set(seen)
    return sorted(seen)


def undeclared_names(sources: list[str], exprs: list[str], declared: set[str]) -> set[str]:
    reads, bound = set(), set()
    for text in sources:
        r, b = jinit_cli.template_names(text)
        reads |= r
        bound |= b
    for x in exprs:
        reads |= jinit_cli.expression_names(x)
    return reads - bound - declared


def check_template_names() -> str:
    """Every name a template (any branch) or a spec expression (`if`, `{{ }}` in a command)
    reads is declared in a schema that image loads: templates are strict, so an undeclared
    name would stop the container at the first start that takes that branch."""
    problems = []
    count = 0
    for image in jinit_cli.images():
        spec = jinit_cli.spec_of(image)
        declared = set(jinit_cli.image_schema(image))
        templates = image_templates(spec)
        exprs = [r["if"] for r in spec.get("render", []) if "if" in r]
        for kind in ("oneshot", "service"):
            for unit in spec.get(kind, {}).values():
                exprs += [unit["if"]] if "if" in unit else []
                exprs += [a for a in unit["command"] if "{{" in a]
        count += len(templates) + len(exprs)
        bad = undeclared_names([(TEMPLATES / t).read_text() for t in templates], exprs, declared)
        if bad:
            problems.append(f"{image}: {templates} or its spec reads undeclared {sorted(bad)}")
    if problems:
        raise Failed("\n".join(problems))
    return f"{count} templates and expressions"


def check_missing_required(work: Path) -> str:
    """Missing variables are all reported at once, before anything is rendered."""
    try:
        render("jigasi", {"ENABLE_LETSENCRYPT": "1", "JVB_AUTH_PASSWORD": "short"}, work / "missing")
    except RenderError as e:
        for var in ("JIGASI_XMPP_PASSWORD", "JIGASI_SIP_URI", "JIGASI_SIP_PASSWORD", "JIGASI_SIP_SERVER"):
            if var not in str(e):
                raise Failed(f"{var} not reported missing:\n{e}") from None
        if (work / "missing/run").exists():
            raise Failed("files were written although the environment was refused")
        return "all four reported in one run, nothing written"
    raise Failed("jigasi rendered without its required variables")


def check_checkers(work: Path, jicofo_ref: set[str], jvb_ref: set[str]) -> None:
    """The checks above must reject what they are meant to catch."""
    work.mkdir(parents=True)
    cases = [
        ("jicofo.conf", "jicofo { bridge { brewery-jid = \"x\", bogus-key = 1 } }",
         lambda p: check_hocon(p, jicofo_ref)),
        ("jvb.conf", "videobridge { apis { xmpp-client { configs { a { HOSTNAME = x, NICK = y } } } } }",
         lambda p: check_hocon(p, jvb_ref)),
        ("jvb2.conf", "ice4j.harvest.mapping.static-mappings = [ { local-address = a, public = b } ]",
         lambda p: check_hocon(p, jvb_ref)),
        ("sip-communicator.properties", "org.jitsi.jigasi.NOT_A_KEY=1\n",
         lambda p: check_properties(p, JIGASI)),
    ]
    for fname, text, fn in cases:
        p = work / fname
        p.write_text(text)
        try:
            fn(p)
        except Failed:
            continue
        raise Failed(f"a bad {fname} was accepted: {text}")
    js = work / "config.js"
    js.write_text("var config = { hosts: {}, notAConfigKey: 1 };")
    if set(node_eval("config", js)) <= CONFIG_KEYS:
        raise Failed("the config.js key check accepts an unknown key")
    try:
        hostile.self_test(work / "hostile")
    except AssertionError as e:
        raise Failed(f"hostile.py: {e}") from None
    template = '{% set a = X|default("d") %}{% for k in L %}{{ a ~ k ~ UNDECLARED }}{% endfor %}'
    if undeclared_names([template], ["Y and not Z"], {"X", "L", "Y"}) != {"UNDECLARED", "Z"}:
        raise Failed("the template-name check misses undeclared names or flags local ones")


# ---------------------------------------------------------------- metrics (prometheus.yml)

def truthy(env: dict[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def lua_settings(cfg: Path) -> list[tuple[str, str]]:
    """(global or host path, value as Lua would print it) of every setting Prosody sees
    (config_shape.lua runs the file in a sandbox)."""
    r = run(["lua5.4", str(HERE / "config_shape.lua"), str(cfg)])
    if r.returncode:
        raise Failed(f"config_shape.lua {cfg}: {r.stderr}")
    # ("call VirtualHost" lines, which have no value, are not settings.)
    return [tuple(line.split("\t", 1)) for line in r.stdout.splitlines() if "\t" in line]


def check_prosody_metrics(root: Path, env: dict[str, str]) -> None:
    """PROSODY_ENABLE_METRICS loads http_openmetrics with manual statistics and the allowed
    network; without it none of them is set."""
    settings = lua_settings(root / "run/prosody/config/prosody.cfg.lua")
    modules = [v for k, v in settings if k == "global modules_enabled[]"]
    got = {k.split()[1]: v for k, v in settings
           if k in ("global statistics", "global statistics_interval", "global openmetrics_allow_cidr")}
    if truthy(env, "PROSODY_ENABLE_METRICS"):
        cidr = env.get("PROSODY_METRICS_ALLOWED_CIDR", "172.16.0.0/12")
        want = {"statistics": '"internal"', "statistics_interval": '"manual"',
                "openmetrics_allow_cidr": json.dumps(cidr)}
        if '"http_openmetrics"' not in modules or got != want:
            raise Failed(f"PROSODY_ENABLE_METRICS: modules {modules}, settings {got}, want {want}")
    elif '"http_openmetrics"' in modules or "openmetrics_allow_cidr" in got:
        raise Failed(f"metrics are off but prosody.cfg.lua has {modules} {got}")


def check_bridge_selection(conf: Path, env: dict[str, str]) -> None:
    """Jicofo's bridge selection for several bridges: each variable set reaches its key of
    jicofo.bridge (as a number, region groups as lists), and an unset one leaves Jicofo's
    default (the key absent)."""
    bridge = ConfigFactory.parse_file(str(conf)).get_config("jicofo.bridge")
    groups = [[r.strip() for r in g.split(",") if r.strip()]
              for g in env.get("JICOFO_BRIDGE_REGION_GROUPS", "").split(";") if g.strip()]
    want = {"stress-threshold": env.get("BRIDGE_STRESS_THRESHOLD"),
            "average-participant-stress": env.get("BRIDGE_AVG_PARTICIPANT_STRESS"),
            "max-bridge-participants": env.get("MAX_BRIDGE_PARTICIPANTS"),
            "region-groups": groups or None,
            "selection-strategy": env.get("OCTO_BRIDGE_SELECTION_STRATEGY", "SingleBridgeSelectionStrategy")}
    for key, value in want.items():
        got = bridge.get(key, None)
        if key == "region-groups" and got is not None:
            got = [list(g) for g in got]
        elif got is not None and key != "selection-strategy":
            got, value = float(got), (float(value) if value is not None else None)
        if got != value:
            raise Failed(f"{conf.name}: jicofo.bridge.{key} = {got!r}, want {value!r}")


def check_rest_host(conf: Path, key: str, env: dict[str, str], variable: str, default: str | None) -> None:
    """jicofo.rest.host / videobridge.http-servers.private.host: every address with the
    variable, loopback (or the component's own default, None: key absent) without it."""
    tree = ConfigFactory.parse_file(str(conf), resolve=False)
    host = tree.get(key, None)
    want = "0.0.0.0" if truthy(env, variable) else default
    if host != want:
        raise Failed(f"{conf.name}: {key} = {host!r} with {variable}={env.get(variable)!r}, want {want!r}")


# One whole number and one unit: what both HOCON and Prometheus read.
WHOLE_DURATION = re.compile(r"\d+(ms|s|m|h|d)")


def check_duration(where: str, got: str, wanted: str) -> None:
    """A rendered duration: in the one form every reader here takes, and the value asked for."""
    try:
        same = jinit_cli.duration_ms(str(got)) == jinit_cli.duration_ms(wanted)
    except ValueError as e:
        raise Failed(f"{where}: {e}") from None
    if not WHOLE_DURATION.fullmatch(str(got)) or not same:
        raise Failed(f"{where} = {got!r}: want {wanted!r} as one whole number and unit")


def check_jicofo_durations(conf: Path, env: dict[str, str]) -> None:
    """Jicofo's duration keys from their variables, in HOCON's duration syntax (no "1h30m")."""
    tree = ConfigFactory.parse_file(str(conf), resolve=False)
    keys = {"JICOFO_AUTH_LIFETIME": ("jicofo.authentication.authentication-lifetime", "24h"),
            "JICOFO_CONF_INITIAL_PARTICIPANT_WAIT_TIMEOUT": ("jicofo.conference.initial-timeout", None),
            "JICOFO_CONF_SINGLE_PARTICIPANT_TIMEOUT": ("jicofo.conference.single-participant-timeout", None),
            "JIBRI_PENDING_TIMEOUT": ("jicofo.jibri.pending-timeout", None)}
    for variable, (key, default) in keys.items():
        wanted = env.get(variable) or default
        got = tree.get(key, None)
        if wanted is None or got is None:
            continue
        check_duration(f"{conf.name}: {key}", got, wanted)


def check_prometheus(root: Path, env: dict[str, str]) -> None:
    """promtool accepts the rendered file; its jobs scrape what prometheus.yml turns on, by
    service name, on the ports the images use."""
    conf = root / "run/prometheus/config/prometheus.yml"
    r = run(["promtool", "check", "config", str(conf)])
    if r.returncode:
        raise Failed(f"promtool check config:\n{r.stdout}{r.stderr}\n{conf.read_text()}")
    import yaml
    loaded = yaml.safe_load(conf.read_text())
    check_duration("scrape_interval", loaded["global"]["scrape_interval"],
                   env.get("PROMETHEUS_SCRAPE_INTERVAL", "15s"))
    jobs = {}
    for job in loaded["scrape_configs"]:
        sd = job.get("dns_sd_configs", [])
        jobs[job["job_name"]] = sorted((n, c["port"]) for c in sd for n in c["names"] if c.get("type") == "A")
    want = {"prometheus": [], "jvb": [("jvb.", 8080)], "jicofo": [("jicofo.", 8888)],
            "prosody": [("prosody.", 5280)]}
    port = env.get("JINIT_METRICS_PORT")
    if port:
        want["jinit"] = sorted((f"{s}.", int(port))
                               for s in ("web", "prosody", "jicofo", "jvb", "jigasi", "turn", "prometheus"))
    if jobs != want:
        raise Failed(f"jobs {jobs}, want {want}")
    argv = command("prometheus", "prometheus", env)
    flag = "--storage.tsdb.retention.time="
    retention = [a[len(flag):] for a in argv if a.startswith(flag)]
    if len(retention) != 1:
        raise Failed(f"prometheus argv {argv}: want one {flag}")
    check_duration("--storage.tsdb.retention.time", retention[0], env.get("PROMETHEUS_RETENTION_TIME", "15d"))


def check_prometheus_custom(work: Path) -> str:
    """custom-prometheus.yml adds scrape jobs (appended as items of scrape_configs); one that
    promtool rejects keeps the start from going further, naming the file."""
    job = ("  - job_name: custom-node\n    static_configs:\n"
           "      - targets: [\"node.example:9100\"]\n")
    root = work / "good"
    prepare_root(root, {"config/custom-prometheus.yml": job}, ("", ""))
    render_validated("prometheus", {}, root)
    import yaml
    names = [j["job_name"] for j in yaml.safe_load(
        (root / "run/prometheus/config/prometheus.yml").read_text())["scrape_configs"]]
    if names[-1] != "custom-node":
        raise Failed(f"jobs {names}: the custom job is not last")
    bad = work / "bad"
    prepare_root(bad, {"config/custom-prometheus.yml": job.replace("static_configs", "static_config")}, ("", ""))
    try:
        render_validated("prometheus", {}, bad)
    except RenderError as e:
        if "prometheus.yml" not in str(e) or "static_config" not in str(e):
            raise Failed(f"the rejection does not name the file and the key: {e}") from None
        return f"jobs {names}; a misspelt key refused by promtool at render"
    raise Failed("promtool accepted a custom job with a misspelt key")


def render_validated(image: str, env: dict[str, str], root: Path) -> jinit_cli.Rendered:
    """`jinit render` with the spec's validation commands (promtool for prometheus)."""
    return jinit_cli.render(image, dict(SECRETS, **env), root, JINIT, validate=True)


def check_prosody_openmetrics_live(work: Path) -> str:
    """Debian's Prosody with PROSODY_ENABLE_METRICS serves /metrics on its HTTP port to
    loopback, and to another address only when it is inside PROSODY_METRICS_ALLOWED_CIDR
    (127.0.0.2 stands for the prometheus container: Prosody lets only 127.0.0.1 and ::1 in
    by themselves)."""
    results = []
    for cidr, want in (("172.16.0.0/12", 403), ("127.0.0.0/30", 200)):
        c2s, http = free_port(), free_port()
        env = {"XMPP_PORT": str(c2s), "PROSODY_HTTP_PORT": str(http), "PROSODY_ENABLE_METRICS": "1",
               "PROSODY_METRICS_ALLOWED_CIDR": cidr}
        root = work / cidr.replace("/", "_")
        data, cfg = prosody_scratch(root, env)
        argv = [a.replace("/var/lib/prosody", str(data)) for a in command("prosody", "xmpp-cert", env)]
        give_to_unprivileged(work)
        r = run(as_unprivileged(argv))
        if r.returncode:
            raise Failed(f"xmpp-cert: {r.stdout}{r.stderr}")
        log = root / "prosody.log"
        log.write_text("")
        give_to_unprivileged(work)
        with log.open("r+") as out:
            prosody = subprocess.Popen(as_unprivileged(["prosody", "--config", str(cfg), "-F"]),
                                       stdout=out, stderr=out)
            try:
                wait_port(http, prosody, log)
                st, headers, body = curl(f"http://127.0.0.1:{http}/metrics")
                if st != 200 or "openmetrics" not in headers.get("content-type", "") \
                        or "prosody_" not in body:
                    raise Failed(f"/metrics from 127.0.0.1: {st} {headers} {body[:300]}\n{log.read_text()[-1500:]}")
                st, _, body = curl(f"http://127.0.0.1:{http}/metrics", "--interface", "127.0.0.2")
                if st != want:
                    raise Failed(f"/metrics from 127.0.0.2 with PROSODY_METRICS_ALLOWED_CIDR={cidr}: "
                                 f"{st}, want {want}")
                results.append(f"{cidr}: {st}")
            finally:
                prosody.terminate()
                prosody.wait(10)
    return "from 127.0.0.1: 200; from 127.0.0.2 with " + ", ".join(results)


# ---------------------------------------------------------------- hostile values

def check_hostile(work: Path, image: str, cert) -> str:
    """Every variable set to a value full of config syntax is refused (naming it) or comes out
    as data: the files parse (nginx -t for web) and hold the clean render's directives, keys
    and statements, no more (hostile.py)."""
    def real_parser(image: str, root: Path) -> None:
        if image == "web":
            check_nginx(root, cert)
        if image == "prometheus":
            conf = root / "run/prometheus/config/prometheus.yml"
            r = run(["promtool", "check", "config", str(conf)])
            if r.returncode:
                raise Failed(f"promtool check config:\n{r.stdout}{r.stderr}")

    def prepare(root: Path) -> None:
        prepare_root(root, {"usr/share/jitsi-meet/interface_config.js": "var interfaceConfig = { A: 1 };\n"}, cert)

    try:
        return hostile.check_image(image, work, JINIT, prepare, real_parser)
    except AssertionError as e:
        raise Failed(str(e)) from None


# ---------------------------------------------------------------- golden files

# Environments whose rendered files are kept in golden/<env>/<image>/<path> for review: a
# template change shows up as a diff of these files in the same commit. Only `defaults` keeps
# every file; the others keep the files that differ from it (so each shows what it changes).
GOLDEN_ENVS = ["defaults", "auth-internal-guests", "jwt", "ldap", "letsencrypt", "https-disabled", "ipv6-off",
               "jigasi", "nat", "turn", "metrics"]
IMAGE_NAMES = ["web", "prosody", "jicofo", "jvb", "jigasi", "turn", "prometheus"]
TURN = {"TURN_CREDENTIALS": "turn-secret-0123456789"}


def image_env(image: str, env: dict[str, str]) -> dict[str, str]:
    """The jigasi image cannot start without its SIP account, the turn image without its
    secret: every environment gets them."""
    if image == "jigasi":
        return dict(JIGASI, **env)
    if image == "turn":
        return dict(TURN, **env)
    return env


def fresh_render(work: Path, env_name: str, image: str, cert) -> dict[str, str]:
    env, files = MATRIX[env_name]
    root = work / env_name / image
    prepare_root(root, files, cert)
    rendered = render(image, image_env(image, env), root).files
    return {dest.lstrip("/"): path.read_text() for dest, path in rendered.items()}


def check_golden(work: Path, env_name: str, image: str, cert) -> str:
    """golden/defaults holds every file; another environment only the files it changes."""
    fresh = fresh_render(work / "golden", env_name, image, cert)
    if env_name != "defaults":
        base = fresh_render(work / "golden-defaults", "defaults", image, cert)
        fresh = {rel: text for rel, text in fresh.items() if base.get(rel) != text}
    gold_dir = GOLDEN / env_name / image
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(gold_dir, ignore_errors=True)
        for rel, text in fresh.items():
            (gold_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (gold_dir / rel).write_text(text)
        return f"wrote {len(fresh)} files to {gold_dir.relative_to(REPO)}"
    gold = {p.relative_to(gold_dir).as_posix(): p.read_text() for p in gold_dir.rglob("*") if p.is_file()} \
        if gold_dir.is_dir() else {}
    problems = []
    for rel in sorted(set(fresh) | set(gold)):
        if rel not in gold:
            problems.append(f"{rel}: rendered but not in {gold_dir.relative_to(REPO)}")
        elif rel not in fresh:
            problems.append(f"{rel}: in {gold_dir.relative_to(REPO)} but no longer rendered")
        elif fresh[rel] != gold[rel]:
            import difflib
            diff = difflib.unified_diff(gold[rel].splitlines(), fresh[rel].splitlines(), f"golden/{rel}",
                                        f"rendered/{rel}", lineterm="", n=1)
            problems.append("\n".join(list(diff)[:40]))
    if problems:
        raise Failed("differs from the golden files (UPDATE_GOLDEN=1 accepts the new render):\n"
                     + "\n".join(problems))
    return f"{len(fresh)} files equal"


def check_golden_stale() -> str:
    stale = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir() and p.name not in GOLDEN_ENVS) \
        if GOLDEN.is_dir() else []
    if stale and os.environ.get("UPDATE_GOLDEN") == "1":
        for name in stale:
            shutil.rmtree(GOLDEN / name)
        return f"removed {stale}"
    if stale:
        raise Failed(f"golden environments no longer rendered: {stale}")
    return f"{len(GOLDEN_ENVS)} environments"


def check_reference_copy(shared: Path) -> str:
    """reference/ is a copy of the shared reference data: it must not drift."""
    differ = [p.name for p in REFERENCE.iterdir() if p.name != "SOURCES.md"
              and (shared / p.name).read_bytes() != p.read_bytes()]
    if differ:
        raise Failed(f"tests/render/reference differs from {shared}: {differ}")
    return f"equal to {shared}"


# ---------------------------------------------------------------- driver

def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", default="", help="run only checks whose name contains this")
    ap.add_argument("-v", action="store_true", help="print what each passing check established")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()
    global JINIT
    results = Checks(detail=args.v, expected=(RenderError, subprocess.TimeoutExpired))
    try:
        JINIT = jinit_cli.jinit_binary()
    except SystemExit as e:
        results.fail("jinit", str(e))
        return results.summary()

    work = Path(tempfile.mkdtemp(prefix="jinit-render-"))
    work.chmod(0o755)
    cert = make_cert(work)
    jicofo_ref = reference_paths(["jicofo-reference.conf", "jicofo-common-reference.conf",
                                  "jicofo-selector-reference.conf"])
    jvb_ref = reference_paths(["jvb-reference.conf", "jmt-reference.conf", "ice4j-reference.conf"])
    checks: list[tuple[str, callable]] = [
        ("schemas", check_schemas),
        ("template-names", check_template_names),
        ("missing-required", lambda: check_missing_required(work)),
        ("prosody-register-overwrites", lambda: check_register_overwrites(work / "register")),
        ("prosody-subscribe-focus", lambda: check_subscribe_focus(work / "subscribe")),
        ("stack/bosh-through-nginx-to-prosody", lambda: check_stack(work / "stack")),
        ("prosody-openmetrics-allowed-cidr", lambda: check_prosody_openmetrics_live(work / "openmetrics")),
        ("prometheus-custom-jobs", lambda: check_prometheus_custom(work / "prometheus-custom")),
        ("checkers-reject-bad-input", lambda: check_checkers(work / "self-test", jicofo_ref, jvb_ref)),
        ("golden/no-stale-environments", check_golden_stale),
    ]
    shared = Path(os.environ.get("JINIT_SHARED", REPO.parent / "shared")) / "reference"
    if shared.is_dir():
        checks.append(("reference-copy-current", lambda: check_reference_copy(shared)))
    for image in jinit_cli.images():
        checks.append((f"hostile-values/{image}", lambda i=image: check_hostile(work / "hostile", i, cert)))
    for env_name in GOLDEN_ENVS:
        for image in IMAGE_NAMES:
            checks.append((f"golden/{env_name}/{image}",
                           lambda e=env_name, i=image: check_golden(work, e, i, cert)))

    for name, (env, files) in MATRIX.items():
        def web(name=name, env=env, files=files):
            root = work / name / "web"
            prepare_root(root, files, cert)
            render("web", env, root)
            check_nginx(root, cert)
            check_config_js(root, env, name)
            nginx_live(root, name, env)

        def prosody(name=name, env=env, files=files):
            root = work / name / "prosody"
            prepare_root(root, files, cert)
            render("prosody", env, root)
            check_prosody(root, env)
            check_prosody_metrics(root, env)

        def jicofo(name=name, env=env, files=files):
            root = work / name / "jicofo"
            prepare_root(root, files, cert)
            render("jicofo", env, root)
            check_hocon(root / "run/jicofo/config/jicofo.conf", jicofo_ref)
            check_rest_host(root / "run/jicofo/config/jicofo.conf", "jicofo.rest.host", env,
                            "JICOFO_ENABLE_REST", "127.0.0.1")
            check_bridge_selection(root / "run/jicofo/config/jicofo.conf", env)
            check_jicofo_durations(root / "run/jicofo/config/jicofo.conf", env)
            props = root / "run/jicofo/config/logging.properties"
            with props.open() as f:
                javaproperties.load(f)

        def jvb(name=name, env=env, files=files):
            root = work / name / "jvb"
            prepare_root(root, files, cert)
            result = render("jvb", env, root)
            conf = root / "run/jvb/config/jvb.conf"
            check_hocon(conf, jvb_ref)
            check_rest_host(conf, "videobridge.http-servers.private.host", env, "JVB_ENABLE_REST", None)
            if "DOCKER_HOST_ADDRESS" in env and not any("DOCKER_HOST_ADDRESS" in w for w in result.warnings):
                raise Failed(f"no deprecation warning for DOCKER_HOST_ADDRESS: {result.stderr}")
            advertised = env.get("JVB_ADVERTISE_IPS") or env.get("DOCKER_HOST_ADDRESS")
            if advertised:
                mappings = ConfigFactory.parse_file(str(conf)).get("ice4j.harvest.mapping.static-mappings")
                if [m["public-address"] for m in mappings] != [a.strip() for a in advertised.split(",")]:
                    raise Failed("static-mappings do not match the advertised addresses")

        def jigasi(name=name, env=env, files=files):
            root = work / name / "jigasi"
            prepare_root(root, files, cert)
            full = image_env("jigasi", env)
            render("jigasi", full, root)
            check_properties(root / "run/jigasi/config/sip-communicator.properties", full)
            argv = command("jigasi", "jigasi", full)
            if "--min-port=20000" not in argv or "--max-port=20050" not in argv:
                raise Failed(f"jigasi argv: {argv}")

        def turn(name=name, env=env, files=files):
            root = work / name / "turn"
            prepare_root(root, files, cert)
            full = image_env("turn", env)
            render("turn", full, root)
            conf = root / "run/turn/config/turnserver.conf"
            settings = hostile.coturn_shape(conf)
            keys = {k for k, _ in settings}
            acme = f"/storage/acme-certs/{full.get('LETSENCRYPT_DOMAIN')}/fullchain.pem"
            if full.get("ENABLE_LETSENCRYPT") and (root / acme.lstrip("/")).exists() and ("cert", acme) not in settings:
                raise Failed(f"turnserver.conf does not use web's Let's Encrypt certificate:\n{conf.read_text()}")
            if ("static-auth-secret", full["TURN_CREDENTIALS"]) not in settings or "use-auth-secret" not in keys:
                raise Failed("turnserver.conf lacks the shared secret")
            allowed = [v for k, v in settings.elements() if k == "allowed-peer-ip"]
            want = [a.strip() for a in full.get("TURN_ALLOWED_PEER_IPS", "").split(",") if a.strip()]
            if allowed != want or ("denied-peer-ip", "10.0.0.0-10.255.255.255") not in settings:
                raise Failed(f"peer rules: allowed {allowed}, want {want}")

        def prometheus(name=name, env=env, files=files):
            root = work / name / "prometheus"
            prepare_root(root, files, cert)
            render("prometheus", env, root)
            check_prometheus(root, env)

        for image, fn in (("web", web), ("prosody", prosody), ("jicofo", jicofo), ("jvb", jvb), ("jigasi", jigasi),
                          ("turn", turn), ("prometheus", prometheus)):
            checks.append((f"{name}/{image}", fn))

    for cname, fn in checks:
        if args.k in cname:
            results.run(cname, fn)
    if args.keep:
        print(f"scratch directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return results.summary()


if __name__ == "__main__":
    sys.exit(main())
