"""jinit running the prosody and web images' specs on this host, without Docker.

    PYTHONPATH=tests/pylib python3 tests/stack/stack_test.py [-v] [--keep]

jinit (as root) supervises Debian's prosody and nginx with the configuration it renders from
templates/, following a spec derived from images/prosody/jinit.toml and images/web/jinit.toml
by gen_spec.py (paths moved into a scratch root; units, renders, conditions, order and
readiness unchanged). Everything runs in fresh network, PID and mount namespaces, so the
images' own ports (5222, 5280, 8000, 8443) are free and nothing outlives the test.

Three starts of the stack on the same data directory (a container's volume):
  open      anonymous users over BOSH and WebSocket through nginx; the focus account over
            STARTTLS on 5222 joins the bridge brewery, where the bridge's account meets it;
            without mod_roster_command the subscribe-focus oneshot says so and Prosody starts;
            jinit's metrics port passes `promtool check metrics`, and a killed nginx counts
            exactly one restart;
  internal  ENABLE_AUTH=1 AUTH_TYPE=internal ENABLE_GUESTS=1 and a new JICOFO_AUTH_PASSWORD:
            a user registered with prosodyctl logs in, a wrong password and anonymous users
            are refused, guests get in on XMPP_GUEST_DOMAIN, only the new focus password works;
            with a stand-in mod_roster_command (standin-plugins/, ours: Jitsi's is not here)
            subscribe-focus leaves focus.meet.jitsi subscribed in the roster of focus;
  ldap      AUTH_TYPE=ldap against a slapd started here: the directory's user logs in, a
            wrong password is refused; subscribe-focus ran again and the roster is unchanged.
Each start waits for `jinit health`; each stop is SIGTERM, which must make jinit exit 0 and
leave no process behind. Ends with "N passed, M failed".

Debian's prosody has none of Jitsi's prosody plugins (speakerstats, lobby, polls...): it logs
that it cannot load them and serves the rest, which is what is tested here. The templates fall
back to Prosody's own anonymous authentication when Jitsi's is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path

import gen_spec
import xmpp_clients as xmpp
from checks import Checks, Failed

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

JINIT = os.environ.get("JINIT", str(REPO / "target/debug/jinit"))
SECRETS = {"JICOFO_AUTH_PASSWORD": "focus-secret-0123456789", "JVB_AUTH_PASSWORD": "jvb-secret-0123456789ab"}
NEW_FOCUS_PASSWORD = "changed-focus-secret-9876543210"
LDAP_PORT = 3890
LDAP_ADMIN = ("cn=admin,dc=example,dc=com", "ldap-admin-secret-0123456789")
LDAP_USER = ("carol", "carol-ldap-password-0123")
HTTPS = "https://127.0.0.1:8443"
# jinit's metrics port in the open phase (this test's own network namespace: any port is free).
METRICS_PORT = 9105
STANDIN_PLUGINS = HERE / "standin-plugins"
# Written by the subscribe-focus oneshot (prosodyctl mod_roster_command), under the data root.
FOCUS_ROSTER = "var/lib/prosody/auth%2emeet%2ejitsi/roster/focus.dat"


def in_namespaces() -> None:
    """Re-executes this script in new network, PID and mount namespaces (once)."""
    if os.environ.get("JINIT_STACK_NS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    if os.geteuid() != 0:
        sys.exit("stack_test.py must run as root (it starts jinit as root in its own namespaces)")
    env = dict(os.environ, JINIT_STACK_NS="1")
    argv = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
            sys.executable, __file__, *sys.argv[1:]]
    sys.exit(subprocess.run(argv, env=env).returncode)


class Stack:
    """One jinit run of the generated spec, with its log."""

    def __init__(self, root: Path, name: str, env: dict[str, str]):
        self.root, self.name = root, name
        self.log = root / f"jinit-{name}.log"
        self.env = {
            "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "JINIT_SOCKET": str(root / "jinit.sock"),
            "JINIT_TEMPLATES": str(root / "templates"),
            # Prosody's HTTP side, as nginx reaches it (the image default names the container).
            "XMPP_BOSH_URL_BASE": "http://127.0.0.1:5280",
            **env,
        }
        with self.log.open("w") as out:
            self.proc = subprocess.Popen([JINIT, "--spec", str(root / "jinit.toml")], env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT, cwd=root)

    def jinit(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([JINIT, *args], env=self.env, capture_output=True, text=True, timeout=30)

    def wait_healthy(self, timeout: float = 60) -> float:
        start = time.monotonic()
        while True:
            if self.jinit("health").returncode == 0:
                return time.monotonic() - start
            if self.proc.poll() is not None:
                raise Failed(f"jinit exited with {self.proc.returncode} before it was healthy:\n{self.tail()}")
            if time.monotonic() - start > timeout:
                raise Failed(f"jinit health not 0 after {timeout}s:\n{self.jinit('status').stdout}\n{self.tail()}")
            time.sleep(0.1)

    def status(self) -> dict[str, dict]:
        r = self.jinit("status", "--json")
        if r.returncode:
            raise Failed(f"jinit status --json: {r.stderr}")
        return {u["name"]: u for u in json.loads(r.stdout)["units"]}

    def stop(self) -> int:
        """SIGTERM, as `docker stop` does; returns jinit's exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failed("jinit still running 30s after SIGTERM") from None

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:]


def leftover_processes(keep: set[int]) -> list[str]:
    """Processes of this PID namespace other than this script, its known children and ps."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != os.getpid() and int(p.name) not in keep:
            try:
                cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                state = [ln for ln in (p / "status").read_text().splitlines() if ln.startswith("State:")]
            except OSError:
                continue
            out.append(f"{p.name}: {cmd or '?'} {state[0] if state else ''}")
    return out


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10, context=xmpp.insecure_tls()) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, ""


def expect(login, accepted: bool, what: str) -> str:
    if bool(login.ok) != accepted:
        raise Failed(f"{what}: expected {'accepted' if accepted else 'refused'}, got {login}")
    return str(login)


def register(root: Path, user: str, domain: str, password: str) -> None:
    """What the README tells operators to run (inside the prosody container)."""
    cfg = root / "run/prosody/config/prosody.cfg.lua"
    r = subprocess.run(["prosodyctl", "--config", str(cfg), "register", user, domain, password],
                       capture_output=True, text=True, timeout=30)
    if r.returncode:
        raise Failed(f"prosodyctl register: {r.stdout}{r.stderr}")


# ---------------------------------------------------------------- slapd

class Slapd:
    """A throw-away OpenLDAP server on 127.0.0.1:LDAP_PORT with one user."""

    def __init__(self, work: Path):
        work.mkdir(parents=True)
        (work / "db").mkdir()
        conf = work / "slapd.conf"
        conf.write_text(f"""\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {work}/slapd.pid
database mdb
maxsize 10485760
suffix "dc=example,dc=com"
rootdn "{LDAP_ADMIN[0]}"
rootpw {LDAP_ADMIN[1]}
directory {work}/db
""")
        self.log = work / "slapd.log"
        with self.log.open("w") as out:
            # -d 0: stay in the foreground (our child, stopped by us).
            self.proc = subprocess.Popen(["slapd", "-f", str(conf), "-h", f"ldap://127.0.0.1:{LDAP_PORT}/", "-d", "0"],
                                         stdout=out, stderr=subprocess.STDOUT)
        ldif = work / "users.ldif"
        ldif.write_text(f"""\
dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: uid={LDAP_USER[0]},ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: {LDAP_USER[0]}
cn: Carol
sn: Example
userPassword: {LDAP_USER[1]}
""")
        deadline = time.monotonic() + 15
        while True:
            r = subprocess.run(["ldapadd", "-x", "-H", f"ldap://127.0.0.1:{LDAP_PORT}", "-D", LDAP_ADMIN[0],
                                "-w", LDAP_ADMIN[1], "-f", str(ldif)], capture_output=True, text=True, timeout=15)
            if r.returncode == 0:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise Failed(f"slapd/ldapadd: {r.stderr}{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- the checks

def check_generated_spec(root: Path) -> str:
    """The generated spec differs from the images' specs only in paths."""
    import tomllib
    ours = tomllib.loads((root / "jinit.toml").read_text())
    rewrite = gen_spec.path_rewriter(root, JINIT)
    want = gen_spec.merge([tomllib.loads((REPO / f"images/{i}/jinit.toml").read_text()) for i in ("prosody", "web")])
    want = gen_spec.rewrite_value(want, rewrite)
    want["jinit"]["schemas"] = ours["jinit"]["schemas"]
    if ours != want:
        raise Failed("generated spec differs from the image specs beyond paths")
    units = sorted(ours["oneshot"]) + sorted(ours["service"])
    return f"{len(ours['render'])} renders, units {', '.join(units)}"


def metric(text: str, series: str) -> str | None:
    """The value of the sample named `series` (name and labels) in a Prometheus text."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return line[len(series) + 1:]
    return None


def check_metrics(stack: Stack, check) -> None:
    """jinit's metrics port (JINIT_METRICS_PORT) under the real prosody and nginx: Prometheus's
    own linter accepts the text, and a killed nginx counts exactly one restart."""
    url = f"http://127.0.0.1:{METRICS_PORT}/metrics"

    def scrape() -> str:
        status, body = http_get(url)
        if status != 200:
            raise Failed(f"{url}: HTTP {status}")
        return body

    def lint():
        body = scrape()
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise Failed(f"promtool check metrics: {r.returncode} {r.stdout}{r.stderr}")
        want = {'jinit_unit_state{unit="prosody",kind="service",state="ready"}': "1",
                'jinit_unit_state{unit="nginx",kind="service",state="ready"}': "1",
                'jinit_unit_state{unit="register-focus",kind="oneshot",state="done"}': "1",
                'jinit_unit_restarts_total{unit="nginx"}': "0",
                "jinit_render_failures_total": "0"}
        got = {k: metric(body, k) for k in want}
        # The boot's render, and one per burst of input changes since (the certificates the
        # oneshots created under watched directories).
        renders = int(metric(body, "jinit_renders_total") or 0)
        if got != want or renders < 1:
            raise Failed(f"metrics {got}, want {want}; jinit_renders_total {renders}")
        lines = sum(1 for ln in body.splitlines() if not ln.startswith("#"))
        return f"promtool check metrics: ok ({lines} samples); prosody, nginx ready"
    check("open/metrics-promtool", lint)

    def restart_counted():
        pid = stack.status()["nginx"]["pid"]
        os.kill(pid, signal.SIGKILL)
        series = 'jinit_unit_restarts_total{unit="nginx"}'
        deadline = time.monotonic() + 30
        while True:
            body = scrape()
            if (metric(body, series) == "1"
                    and metric(body, 'jinit_unit_state{unit="nginx",kind="service",state="ready"}') == "1"):
                break
            if time.monotonic() > deadline:
                raise Failed(f"after SIGKILL of nginx ({pid}): {series} {metric(body, series)}")
            time.sleep(0.1)
        code = metric(body, 'jinit_unit_last_exit_code{unit="nginx"}')
        prosody = metric(body, 'jinit_unit_restarts_total{unit="prosody"}')
        if code != "137" or prosody != "0":
            raise Failed(f"nginx last exit {code}, prosody restarts {prosody}")
        stack.wait_healthy()
        return "nginx killed: restarts 0 -> 1, last exit 137, ready again; prosody untouched"
    check("open/metrics-restart-counted", restart_counted)


def phase_open(root: Path, check) -> None:
    stack = Stack(root, "open", dict(SECRETS, JINIT_METRICS_PORT=str(METRICS_PORT)))
    try:
        check("open/healthy", lambda: f"jinit health 0 after {stack.wait_healthy():.1f}s")

        def status():
            units = stack.status()
            want = {"prosody": "ready", "nginx": "ready", "data-dirs": "done", "xmpp-cert": "done",
                    "register-focus": "done", "subscribe-focus": "done", "register-jvb": "done",
                    "storage-dirs": "done",
                    # JIGASI_XMPP_PASSWORD is generated in the secrets store: the account exists.
                    "selfsigned-cert": "done", "register-jigasi": "done", "register-jibri": "skipped",
                    "register-recorder": "skipped", "acme": "skipped"}
            got = {n: u["state"] for n, u in units.items()}
            if got != want:
                raise Failed(f"jinit status --json: {got}, want {want}")
            return "prosody, nginx ready; oneshots done; jibri/acme skipped by their if"
        check("open/status-json", status)

        def health_follows_prosody():
            ok = stack.jinit("health")
            if ok.returncode != 0 or ok.stdout.strip() != "healthy":
                raise Failed(f"jinit health with everything up: {ok.returncode} {ok.stdout}{ok.stderr}")
            pid = stack.status()["prosody"]["pid"]
            os.kill(pid, signal.SIGSTOP)  # Prosody stops answering; jinit sees it still running
            try:
                t0 = time.monotonic()
                bad = stack.jinit("health")
                took = time.monotonic() - t0
            finally:
                os.kill(pid, signal.SIGCONT)
            want = "nginx: http http://127.0.0.1:8000/_jinit/xmpp-health failed"
            if bad.returncode != 1 or want not in bad.stdout:
                raise Failed(f"jinit health with Prosody stopped: {bad.returncode} {bad.stdout}{bad.stderr}")
            again = stack.jinit("health")
            if again.returncode != 0:
                raise Failed(f"jinit health after SIGCONT: {again.returncode} {again.stdout}")
            return f"healthy; Prosody stopped: exit 1 after {took:.1f}s ({bad.stdout.strip()}); healthy again"
        check("open/health-asks-prosody-through-nginx", health_follows_prosody)

        def web():
            st, body = http_get(HTTPS + "/someroom")
            if st != 200 or "placeholder" not in body:
                raise Failed(f"/someroom: {st} {body[:200]}")
            st, body = http_get(HTTPS + "/config.js")
            if st != 200 or "'http-bind'" not in body or "meet.jitsi" not in body:
                raise Failed(f"/config.js: {st} {body[:300]}")
            return "room page and config.js over HTTPS"
        check("open/nginx-serves-app", web)
        check("open/bosh-anonymous", lambda: expect(xmpp.bosh(HTTPS + "/http-bind", "meet.jitsi"), True,
                                                    "anonymous over BOSH"))
        check("open/bosh-anonymous-tenant", lambda: expect(xmpp.bosh(HTTPS + "/tenant1/http-bind", "meet.jitsi"),
                                                           True, "anonymous over BOSH with a tenant"))
        check("open/bosh-anonymous-plain-http", lambda: expect(
            xmpp.bosh("http://127.0.0.1:8000/http-bind", "meet.jitsi"), True, "anonymous over BOSH on 8000"))
        check("open/websocket-anonymous", lambda: expect(
            xmpp.websocket("wss://127.0.0.1:8443/xmpp-websocket", "meet.jitsi"), True, "anonymous over WebSocket"))

        def brewery():
            r = xmpp.c2s("127.0.0.1", 5222, "focus@auth.meet.jitsi", SECRETS["JICOFO_AUTH_PASSWORD"],
                         muc="jvbbrewery@internal-muc.meet.jitsi", nick="focus",
                         also=("jvb@auth.meet.jitsi", SECRETS["JVB_AUTH_PASSWORD"], "jvb1"))
            if not r.ok or not r.starttls:
                raise Failed(f"focus over c2s: {r} (STARTTLS: {r.starttls})")
            if r.muc_occupants != ["focus", "jvb1"]:
                raise Failed(f"brewery occupants seen by focus: {r.muc_occupants}")
            return f"{r.jid} over STARTTLS; jvbbrewery@internal-muc.meet.jitsi occupants {r.muc_occupants}"
        check("open/focus-joins-brewery", brewery)
        check("open/focus-wrong-password", lambda: expect(
            xmpp.c2s("127.0.0.1", 5222, "focus@auth.meet.jitsi", "not-the-password-0123456789"), False,
            "focus with a wrong password"))

        def no_roster_command():
            said = [ln for ln in stack.log.read_text(errors="replace").splitlines()
                    if "mod_roster_command is not in the plugin paths" in ln]
            if len(said) != 1 or (root / FOCUS_ROSTER).exists():
                raise Failed(f"subscribe-focus without mod_roster_command: {said}, "
                             f"roster written: {(root / FOCUS_ROSTER).exists()}")
            return f"one log line ({said[0].strip()}); oneshot done, Prosody ready"
        check("open/subscribe-focus-without-roster-command", no_roster_command)
        check_metrics(stack, check)
    finally:
        stop_check(stack, check, "open")


# What prosody's generate-secrets creates when the environment gives none of them: every
# `secret` of its schemas that is neither external (LDAP_BINDPW) nor stored = false (JWT).
GENERATED = ["JIBRI_RECORDER_PASSWORD", "JIBRI_XMPP_PASSWORD", "JICOFO_AUTH_PASSWORD", "JIGASI_XMPP_PASSWORD",
             "JVB_AUTH_PASSWORD", "TURN_CREDENTIALS"]


def phase_generated(root: Path, check) -> None:
    """No password in the environment: prosody creates them in the secrets store, registers
    the accounts with them, and a removed file is a rotation done at once."""
    store = root / "secrets"
    for f in store.iterdir():
        f.unlink()
    stack = Stack(root, "generated", {})
    try:
        check("generated/healthy", lambda: f"jinit health 0 after {stack.wait_healthy():.1f}s")

        def stored():
            names = sorted(f.name for f in store.iterdir())
            if names != GENERATED:
                raise Failed(f"{store}: {names}, want {GENERATED}")
            for f in store.iterdir():
                mode = f.stat().st_mode & 0o777
                value = f.read_text().strip()
                if mode != 0o600 or len(value) != 32 or not value.isalnum():
                    raise Failed(f"{f.name}: mode {mode:o}, {len(value)} characters")
                if value in stack.tail(10**6):
                    raise Failed(f"the value of {f.name} is in jinit's log")
            said = [ln for ln in stack.tail(10**6).splitlines() if "generated secrets and stored" in ln]
            if len(said) != 1 or not all(n in said[0] for n in GENERATED):
                raise Failed(f"log lines about the generated secrets: {said}")
            return f"{len(names)} files of mode 0600, 32 characters each, named in one log line, no value logged"
        check("generated/stored-0600-not-logged", stored)

        def accounts():
            focus = (store / "JICOFO_AUTH_PASSWORD").read_text().strip()
            jvb = (store / "JVB_AUTH_PASSWORD").read_text().strip()
            r = xmpp.c2s("127.0.0.1", 5222, "focus@auth.meet.jitsi", focus)
            b = xmpp.c2s("127.0.0.1", 5222, "jvb@auth.meet.jitsi", jvb)
            if not r.ok or not b.ok:
                raise Failed(f"with the stored passwords: focus {r}, jvb {b}")
            return f"{r.jid} and {b.jid} logged in with the stored passwords"
        check("generated/accounts-use-stored-passwords", accounts)

        def rotation():
            path = store / "JVB_AUTH_PASSWORD"
            old = path.read_text().strip()
            path.unlink()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if path.exists() and path.read_text().strip():
                    break
                time.sleep(0.1)
            else:
                raise Failed(f"{path.name} not created again within 15 s:\n{stack.tail()}")
            new = path.read_text().strip()
            if new == old:
                raise Failed("the new value is the old one")
            # register-jvb runs again with the new password (its stdin changed).
            while time.monotonic() < deadline:
                if xmpp.c2s("127.0.0.1", 5222, "jvb@auth.meet.jitsi", new).ok:
                    break
                time.sleep(0.3)
            else:
                raise Failed(f"jvb with the new password refused 15 s after the removal:\n{stack.tail()}")
            if xmpp.c2s("127.0.0.1", 5222, "jvb@auth.meet.jitsi", old).ok:
                raise Failed("jvb with the old password still accepted")
            return "removed JVB_AUTH_PASSWORD: a new value at once, the account follows, the old one refused"
        check("generated/removed-secret-rotates", rotation)

        def env_wins():
            env_value = "jvb-from-env-0123456789abc"
            s2 = stack.stop()
            if s2 != 0:
                raise Failed(f"jinit exited {s2}")
            again = Stack(root, "generated-env", {"JVB_AUTH_PASSWORD": env_value})
            try:
                again.wait_healthy()
                stored_value = (store / "JVB_AUTH_PASSWORD").read_text().strip()
                if not xmpp.c2s("127.0.0.1", 5222, "jvb@auth.meet.jitsi", env_value).ok:
                    raise Failed("jvb with the environment's password refused")
                if xmpp.c2s("127.0.0.1", 5222, "jvb@auth.meet.jitsi", stored_value).ok:
                    raise Failed("jvb with the stored password still accepted")
            finally:
                code = again.stop()
            if code != 0:
                raise Failed(f"jinit exited {code}")
            return "JVB_AUTH_PASSWORD in the environment wins over the stored one"
        check("generated/environment-wins", env_wins)
    finally:
        if stack.proc.poll() is None:
            stop_check(stack, check, "generated")
        for f in store.iterdir():
            f.unlink()


def phase_internal(root: Path, check) -> None:
    env = dict(SECRETS, ENABLE_AUTH="1", AUTH_TYPE="internal", ENABLE_GUESTS="1",
               JICOFO_AUTH_PASSWORD=NEW_FOCUS_PASSWORD)
    # From here on the operator plugin directory has the stand-in mod_roster_command.
    custom = root / "prosody-plugins-custom"
    custom.mkdir(exist_ok=True)
    shutil.copy(STANDIN_PLUGINS / "mod_roster_command.lua", custom)
    stack = Stack(root, "internal", env)
    try:
        check("internal/healthy", lambda: f"jinit health 0 after {stack.wait_healthy():.1f}s")

        def user():
            register(root, "alice", "meet.jitsi", "alice-password-0123456789")
            a = expect(xmpp.bosh(HTTPS + "/http-bind", "meet.jitsi", "alice", "alice-password-0123456789"), True,
                       "registered user over BOSH")
            b = expect(xmpp.websocket("wss://127.0.0.1:8443/xmpp-websocket", "meet.jitsi", "alice",
                                      "alice-password-0123456789"), True, "registered user over WebSocket")
            return f"prosodyctl register alice; BOSH {a}; WebSocket {b}"
        check("internal/registered-user-accepted", user)
        check("internal/wrong-password-refused", lambda: expect(
            xmpp.bosh(HTTPS + "/http-bind", "meet.jitsi", "alice", "wrong-password-0123456789"), False,
            "registered user with a wrong password"))
        check("internal/anonymous-refused", lambda: expect(
            xmpp.bosh(HTTPS + "/http-bind", "meet.jitsi"), False, "anonymous on XMPP_DOMAIN with ENABLE_AUTH"))
        check("internal/guest-anonymous", lambda: expect(
            xmpp.bosh(HTTPS + "/http-bind", "guest.meet.jitsi"), True, "guest on XMPP_GUEST_DOMAIN"))

        def changed_password():
            new = xmpp.c2s("127.0.0.1", 5222, "focus@auth.meet.jitsi", NEW_FOCUS_PASSWORD)
            old = xmpp.c2s("127.0.0.1", 5222, "focus@auth.meet.jitsi", SECRETS["JICOFO_AUTH_PASSWORD"])
            if not new.ok or old.ok:
                raise Failed(f"after the restart: new password {new}, old password {old}")
            return f"after the restart the new JICOFO_AUTH_PASSWORD works ({new.jid}), the old one is refused"
        check("internal/focus-password-changed", changed_password)
        check("internal/subscribe-focus", lambda: focus_subscribed(root, stack))
    finally:
        stop_check(stack, check, "internal")


def phase_ldap(root: Path, check) -> None:
    slapd = Slapd(root / "slapd")
    env = dict(SECRETS, ENABLE_AUTH="1", AUTH_TYPE="ldap", LDAP_URL=f"ldap://127.0.0.1:{LDAP_PORT}",
               LDAP_BASE="ou=people,dc=example,dc=com", LDAP_BINDDN=LDAP_ADMIN[0], LDAP_BINDPW=LDAP_ADMIN[1],
               LDAP_FILTER="(uid=%u)", LDAP_AUTH_METHOD="bind")
    stack = Stack(root, "ldap", env)
    try:
        check("ldap/healthy", lambda: f"jinit health 0 after {stack.wait_healthy():.1f}s")
        check("ldap/user-accepted", lambda: "BOSH " + expect(
            xmpp.bosh(HTTPS + "/http-bind", "meet.jitsi", *LDAP_USER), True, "LDAP user over BOSH")
            + "; WebSocket " + expect(xmpp.websocket("wss://127.0.0.1:8443/xmpp-websocket", "meet.jitsi", *LDAP_USER),
                                      True, "LDAP user over WebSocket"))
        check("ldap/wrong-password-refused", lambda: expect(
            xmpp.bosh(HTTPS + "/http-bind", "meet.jitsi", LDAP_USER[0], "wrong-password-0123456789"), False,
            "LDAP user with a wrong password"))
        check("ldap/unknown-user-refused", lambda: expect(
            xmpp.bosh(HTTPS + "/http-bind", "meet.jitsi", "mallory", LDAP_USER[1]), False, "a user not in LDAP"))
        check("ldap/subscribe-focus-again", lambda: focus_subscribed(root, stack, again=True))
    finally:
        stop_check(stack, check, "ldap", keep={slapd.proc.pid})
        slapd.stop()


_roster_after_first_subscribe: list[str] = []


def focus_subscribed(root: Path, stack: Stack, again: bool = False) -> str:
    """subscribe-focus ran at this start and focus's roster holds focus.meet.jitsi, once,
    with subscription "from"; with again, byte for byte what the first subscription wrote."""
    said = [ln for ln in stack.log.read_text(errors="replace").splitlines()
            if "focus.meet.jitsi receives the presence of focus@auth.meet.jitsi" in ln]
    if len(said) != 1:
        raise Failed(f"subscribe-focus log lines at this start: {said}")
    path = root / FOCUS_ROSTER
    if not path.is_file():
        raise Failed(f"no roster at {FOCUS_ROSTER}")
    text = path.read_text()
    lua = ('local t = dofile(arg[1]); local n = 0; '
           'for k, v in pairs(t) do if k then n = n + 1; print(k, v.subscription) end end; print("items", n)')
    r = subprocess.run(["lua5.4", "-", str(path)], input=lua, capture_output=True, text=True, timeout=10)
    if r.returncode or r.stdout.split("\n")[:2] != ["focus.meet.jitsi\tfrom", "items\t1"]:
        raise Failed(f"roster of focus: {r.stdout}{r.stderr}\n{text}")
    if not again:
        _roster_after_first_subscribe[:] = [text]
        return "focus.meet.jitsi subscribed (from) in the roster of focus@auth.meet.jitsi"
    if _roster_after_first_subscribe != [text]:
        raise Failed(f"the roster changed at the second subscription:\n{_roster_after_first_subscribe}\n{text}")
    return "ran again at this start; the roster of focus is unchanged"


def stop_check(stack: Stack, check, phase: str, keep: set[int] = frozenset()) -> None:
    def stop():
        code = stack.stop()
        if code != 0:
            raise Failed(f"jinit exited with {code} after SIGTERM:\n{stack.tail()}")
        left = leftover_processes(set(keep))
        if left:
            raise Failed(f"processes left after jinit exited: {left}")
        return "SIGTERM: jinit exited 0, no process left"
    check(f"{phase}/sigterm-exit-0", stop)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-v", action="store_true", help="print the jinit logs of failed phases in full")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()
    results = Checks()
    if not Path(JINIT).is_file():
        results.fail("jinit", f"binary not found at {JINIT} (cargo build, or set JINIT)")
        return results.summary()
    in_namespaces()

    root = Path(tempfile.mkdtemp(prefix="jinit-stack-"))
    root.chmod(0o755)  # nginx's workers (nobody) read the app and config.js below it
    check = results.run

    gen_spec.generate(root, ["prosody", "web"], JINIT)
    app = root / "usr/share/jitsi-meet"
    app.mkdir(parents=True)
    (app / "index.html").write_text("<html><body>jitsi-meet placeholder</body></html>\n")
    (root / "config").mkdir()
    # The units run as root in this test (the image runs everything as uid 1000). prosodyctl
    # refuses to work as root unless told so; this goes through the operator's hook
    # (/config/custom-*.cfg.lua), not through the templates.
    (root / "config/custom-test-root.cfg.lua").write_text("run_as_root = true\n")
    check("spec/generated-from-images", lambda: check_generated_spec(root))

    start = time.monotonic()
    for phase in (phase_open, phase_generated, phase_internal, phase_ldap):
        before = results.failed
        try:
            phase(root, check)
        except Exception:  # noqa: BLE001 - a broken phase must not hide the others
            results.fail(phase.__name__, "\n" + traceback.format_exc().rstrip())
        if results.failed > before:
            name = phase.__name__.removeprefix("phase_")
            log = root / f"jinit-{name}.log"
            if log.exists():
                text = log.read_text(errors="replace")
                print(f"--- {log.name}{'' if args.v else ' (last 3000 characters)'}\n{text if args.v else text[-3000:]}")
    print(f"stack: {time.monotonic() - start:.1f}s")
    if args.keep:
        print(f"scratch directory kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return results.summary()


if __name__ == "__main__":
    sys.exit(main())
