"""Each of the 71 seed variables (tests/data/seed-variables.txt) has a real effect.

    PYTHONPATH=tests/pylib python3 tests/stack/seed_variables.py

For every variable, one line saying how it was proven, by the first of these that applies:
  render     `jinit render` of an image that declares it, once with a base environment and
             once with the variable set to another valid value (chosen from its schema type):
             some rendered file must change. The base enables what the variable belongs to
             (AUTH_TYPE=ldap for LDAP_*, jwt for JWT_*, ENABLE_LETSENCRYPT for the domain...).
  warning    renamed and removed variables: `jinit render` must warn, naming the variable
             (a renamed one must also still change the output, through its new name).
  argv       variables only used in a unit's command (JIGASI_PORT_MIN/MAX): jinit runs the
             image's spec (tests/stack/gen_spec.py) with a stand-in for jigasi.sh that records
             its arguments.
  compose    variables read by docker-compose only (CONFIG, TZ, HTTP_PORT): the output of
             `docker-compose config` must change.
  acme       LETSENCRYPT_EMAIL, read by `jinit acme`: a fake ACME directory on loopback must
             receive it as the account's contact.
Ends with "N passed, M failed" (one per variable); fails on any variable without effect.
"""

from __future__ import annotations

import base64
import difflib
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import gen_spec
import jinit_cli
from checks import Checks
from jinit_cli import REPO, RenderError

SECRETS = {"JICOFO_AUTH_PASSWORD": "focus-secret-0123456789", "JVB_AUTH_PASSWORD": "jvb-secret-0123456789ab"}
JIGASI = {"JIGASI_XMPP_PASSWORD": "jigasi-secret-0123456789", "JIGASI_SIP_URI": "test@sip.example.com",
          "JIGASI_SIP_PASSWORD": "sip-password", "JIGASI_SIP_SERVER": "sip.example.com"}
LDAP = {"ENABLE_AUTH": "1", "AUTH_TYPE": "ldap", "LDAP_URL": "ldap://ldap.example.com"}
JWT = {"ENABLE_AUTH": "1", "AUTH_TYPE": "jwt", "JWT_APP_ID": "seed_app", "JWT_APP_SECRET": "seed-jwt-secret-0123456789"}
LE_DOMAINS = ("meet.example.com", "seedtest.example.org")

# What a variable needs around it to matter (exact names first, then prefixes).
BASES: dict[str, dict[str, str]] = {
    "ENABLE_GUESTS": {"ENABLE_AUTH": "1"},
    "XMPP_GUEST_DOMAIN": {"ENABLE_AUTH": "1", "ENABLE_GUESTS": "1"},
    "AUTH_TYPE": {"ENABLE_AUTH": "1", "LDAP_URL": "ldap://ldap.example.com"},
    "ENABLE_LETSENCRYPT": {"LETSENCRYPT_DOMAIN": LE_DOMAINS[0], "LETSENCRYPT_EMAIL": "ops@example.com"},
    "LETSENCRYPT_DOMAIN": {"ENABLE_LETSENCRYPT": "1", "LETSENCRYPT_DOMAIN": LE_DOMAINS[0],
                           "LETSENCRYPT_EMAIL": "ops@example.com"},
    "HTTPS_PORT": {"ENABLE_HTTP_REDIRECT": "1"},
    "JIGASI_HEALTH_CHECK_INTERVAL": {"JIGASI_HEALTH_CHECK_SIP_URI": "keepalive"},
    "LDAP_TLS_": dict(LDAP, LDAP_USE_TLS="1"),
    "LDAP_": LDAP,
    "JWT_": JWT,
}
# Values where the type's generic one would not be valid or telling.
VALUES = {"AUTH_TYPE": "ldap", "LDAP_FILTER": "(cn=%u)", "GLOBAL_CONFIG": "seed_test = true;",
          "LETSENCRYPT_DOMAIN": LE_DOMAINS[1], "JIGASI_SIP_URI": "other@sip.example.org"}
COMPOSE_VALUES = {"CONFIG": "/srv/seed-config", "TZ": "Europe/Berlin", "HTTP_PORT": "8081"}


class NoEffect(Exception):
    pass


def base_for(name: str) -> dict[str, str]:
    if name in BASES:
        return BASES[name]
    for prefix, env in BASES.items():
        if prefix.endswith("_") and name.startswith(prefix):
            return env
    return {}


def other_values(name: str, decl: dict, current: str | None) -> list[str]:
    """Valid values that differ from the current one: every other one of an enum (two may
    mean the same, as bind and fastbind do), else one chosen from the type."""
    if decl["type"] == "enum" and name not in VALUES:
        return [v for v in decl["values"] if v != current]
    return [other_value(name, decl, current)]


def other_value(name: str, decl: dict, current: str | None) -> str:
    """A valid value of the variable's type that differs from its current one."""
    if name in VALUES:
        return VALUES[name]
    t = decl["type"]
    if t == "bool":
        on = (current or "").lower() in ("1", "true", "yes", "on")
        return "false" if on else "true"
    if t in ("int", "port"):
        return str(int(current) + 1) if current else "7"
    if t == "enum":
        return next(v for v in decl["values"] if v != current)
    return {"host": "seedtest.example.org", "url": "https://seedtest.example.org/seed", "list": "seed-a,seed-b",
            "secret": "seed-secret-value-0123456789", "duration": "42s", "path": "/seed/test/path",
            "string": "seedtest"}[t]


def images_declaring(schema_file: str) -> list[str]:
    return [i for i in jinit_cli.images() if schema_file in jinit_cli.spec_of(i)["jinit"]["schemas"]]


# The turn image cannot start without its shared secret.
TURN = {"TURN_CREDENTIALS": "turn-secret-0123456789"}


def image_env(image: str, env: dict[str, str]) -> dict[str, str]:
    return {**SECRETS, **(JIGASI if image == "jigasi" else {}), **(TURN if image == "turn" else {}), **env}


class Renderer:
    def __init__(self, work: Path, jinit: str):
        self.work, self.jinit, self.n = work, jinit, 0

    def __call__(self, image: str, env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
        self.n += 1
        root = self.work / f"r{self.n}"
        for domain in LE_DOMAINS:  # certificates jinit acme would have stored
            d = root / "storage/acme-certs" / domain
            d.mkdir(parents=True)
            (d / "fullchain.pem").write_text("test\n")
            (d / "key.pem").write_text("test\n")
        result = jinit_cli.render(image, image_env(image, env), root, self.jinit)
        files = {dest: p.read_text() for dest, p in result.files.items()}
        shutil.rmtree(root)
        return files, result.warnings


COMMENT = ("#", "//", "--", ";", "/*", "*")


def first_change(before: dict[str, str], after: dict[str, str]) -> str | None:
    """The first rendered line that a variable adds or removes, comments not counted: a
    variable that only changes a comment has no effect on the program reading the file."""
    for dest in sorted(set(before) | set(after)):
        if dest not in before:
            return f"{dest} appears"
        if dest not in after:
            return f"{dest} disappears"
        for ln in difflib.ndiff(before[dest].splitlines(), after[dest].splitlines()):
            text = ln[2:].strip()
            if ln[:2] in ("+ ", "- ") and any(c.isalnum() for c in text) and not text.startswith(COMMENT):
                return f"{dest}: {'+' if ln[0] == '+' else '-'}{text[:90]}"
    return None


def prove_render(name: str, decl: dict, render: Renderer) -> str:
    base = base_for(name)
    current = base.get(name) or (jinit_cli.env_text(decl["default"]) if "default" in decl else None)
    tried = []
    for value in other_values(name, decl, current):
        for image in images_declaring(decl["_file"]):
            before, _ = render(image, base)
            after, _ = render(image, dict(base, **{name: value}))
            change = first_change(before, after)
            if change:
                context = " ".join(f"{k}={v}" for k, v in base.items() if k != name)
                return f"render  {name}={value}{' with ' + context if context else ''} changes {image}'s {change}"
            tried.append(f"{name}={value} in {image}")
    raise NoEffect(f"nothing rendered changes: {tried} (base {base})")


def prove_warning(name: str, decl: dict, schema: dict, render: Renderer) -> str:
    if "replaced-by" in decl:
        new = decl["replaced-by"]
        value = other_value(new, schema[new], None)
    else:
        value = "1"
    for image in images_declaring(decl["_file"]):
        before, _ = render(image, {})
        after, warnings = render(image, {name: value})
        said = [w for w in warnings if name in w]
        if not said:
            raise NoEffect(f"{image}: no warning naming {name} (warnings: {warnings})")
        if "replaced-by" in decl:
            change = first_change(before, after)
            if not change:
                raise NoEffect(f"{name} warns but its value does not reach {new}")
            return f"warning {image}: \"{said[0][:80]}...\"; the value still changes {change}"
        return f"warning {image}: \"{said[0][:110]}...\""
    raise NoEffect(f"no image declares {name}")


def prove_compose(name: str, work: Path) -> str:
    if not shutil.which("docker-compose"):
        raise NoEffect("docker-compose (v1) is not installed")

    def config(env: dict[str, str]) -> list[str]:
        empty = work / "empty.env"  # no .env: only the variables given here
        empty.write_text("")
        r = subprocess.run(["docker-compose", "--env-file", str(empty), "-f", str(REPO / "docker-compose.yml"),
                            "config"], cwd=work, capture_output=True, text=True, timeout=60,
                           env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **env})
        if r.returncode:
            raise NoEffect(f"docker-compose config: {r.stderr.strip()[-500:]}")
        return r.stdout.splitlines()
    value = COMPOSE_VALUES[name]
    before, after = config({}), config({name: value})
    added = [ln[2:].strip() for ln in difflib.ndiff(before, after) if ln.startswith("+ ")]
    if not added:
        raise NoEffect(f"docker-compose config does not change with {name}={value}")
    return f"compose {name}={value}: docker-compose config shows \"{added[0]}\" ({len(added)} lines change)"


def prove_argv(name: str, decl: dict, work: Path, jinit: str) -> str:
    """Runs the jigasi image's spec with jinit; a stand-in jigasi.sh records its argv."""
    def run(env: dict[str, str]) -> list[str]:
        root = Path(tempfile.mkdtemp(dir=work))
        gen_spec.generate(root, ["jigasi"], jinit)
        (root / "config").mkdir()
        script = root / "usr/share/jigasi/jigasi.sh"
        script.parent.mkdir(parents=True)
        script.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$0.argv.tmp" && mv "$0.argv.tmp" "$0.argv"\n'
                          "exec sleep 60\n")
        script.chmod(0o755)
        full = {"PATH": os.environ["PATH"], "JINIT_SOCKET": str(root / "jinit.sock"),
                "JINIT_TEMPLATES": str(root / "templates"), **image_env("jigasi", env)}
        log = (root / "jinit.log").open("w")
        proc = subprocess.Popen([jinit, "--spec", str(root / "jinit.toml")], env=full, stdout=log,
                                stderr=subprocess.STDOUT)
        argv_file = Path(str(script) + ".argv")
        try:
            deadline = time.monotonic() + 20
            while not argv_file.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise NoEffect(f"jigasi.sh never ran:\n{(root / 'jinit.log').read_text()[-1500:]}")
                time.sleep(0.05)
            return argv_file.read_text().splitlines()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            log.close()
            if code != 0:
                raise NoEffect(f"jinit exited with {code} after SIGTERM")
    value = other_value(name, decl, jinit_cli.env_text(decl["default"]))
    if name == "JIGASI_PORT_MIN":
        value = "20010"  # stays below JIGASI_PORT_MAX
    flag = "--min-port=" if name == "JIGASI_PORT_MIN" else "--max-port="
    before, after = run({}), run({name: value})
    got = [a for a in after if a.startswith(flag)]
    default = [a for a in before if a.startswith(flag)]
    if got != [flag + value] or default == got:
        raise NoEffect(f"jigasi.sh argv {after} does not carry {name}={value} (default run: {before})")
    return f"argv    {name}={value}: jinit starts jigasi.sh with {got[0]} (default run: {default[0]})"


class FakeACME(http.server.BaseHTTPRequestHandler):
    """Just enough of an ACME directory to receive a new-account request (RFC 8555 7.3)."""
    contacts: list = []

    def reply(self, status: int, body: dict | None = None, ctype: str = "application/json"):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Replay-Nonce", base64.urlsafe_b64encode(os.urandom(12)).decode().rstrip("="))
        self.send_header("Cache-Control", "no-store")
        if body is not None:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path == "/dir":
            self.reply(200, {k: f"{base}/{v}" for k, v in (("newNonce", "nonce"), ("newAccount", "account"),
                                                          ("newOrder", "order"), ("revokeCert", "revoke"),
                                                          ("keyChange", "key-change"))})
        else:
            self.reply(204)

    def do_HEAD(self):  # noqa: N802 - newNonce: 200 to HEAD (RFC 8555 7.2)
        self.reply(200)

    def do_POST(self):  # noqa: N802
        jws = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        payload = jws.get("payload", "")
        payload = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)) or b"{}")
        if self.path == "/account":
            FakeACME.contacts.append(payload.get("contact"))
        self.reply(400, {"type": "urn:ietf:params:acme:error:malformed", "detail": "seed test ends here"},
                   "application/problem+json")

    def log_message(self, *args):
        pass


def prove_acme(name: str, work: Path, jinit: str) -> str:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeACME)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        got = []
        for email in ("ops@example.com", "seed@example.org"):
            FakeACME.contacts.clear()
            storage = Path(tempfile.mkdtemp(dir=work))
            env = {"PATH": os.environ["PATH"], "ENABLE_LETSENCRYPT": "1", "LETSENCRYPT_DOMAIN": LE_DOMAINS[0],
                   "LETSENCRYPT_ACME_SERVER": f"http://127.0.0.1:{server.server_address[1]}/dir",
                   "JINIT_SOCKET": str(storage / "jinit.sock"), name: email}
            r = subprocess.run([jinit, "acme", "--once", "--storage", str(storage / "s"), "--webroot",
                                str(storage / "w")], env=env, capture_output=True, text=True, timeout=60)
            if FakeACME.contacts != [[f"mailto:{email}"]]:
                raise NoEffect(f"the CA received contacts {FakeACME.contacts} for {name}={email}\n{r.stderr}")
            got.append(FakeACME.contacts[0][0])
        return f"acme    jinit acme --once registers the ACME account with contact {got[0]}, then {got[1]}"
    finally:
        server.shutdown()
        server.server_close()


def main() -> int:
    results = Checks(expected=(NoEffect, RenderError, subprocess.TimeoutExpired))
    try:
        jinit = jinit_cli.jinit_binary()
    except SystemExit as e:
        results.fail("jinit", str(e))
        return results.summary()
    schema = jinit_cli.load_schemas()
    seed = jinit_cli.SEED_VARIABLES.read_text().split()
    work = Path(tempfile.mkdtemp(prefix="jinit-seed-"))
    render = Renderer(work, jinit)
    image_schemas = {f for i in jinit_cli.images() for f in jinit_cli.spec_of(i)["jinit"]["schemas"]}

    def prove(name: str) -> str:
        decl = schema.get(name)
        if decl is None:
            raise NoEffect("not declared in any schema")
        if "removed" in decl or "replaced-by" in decl:
            return prove_warning(name, decl, schema, render)
        if name == "LETSENCRYPT_EMAIL":
            return prove_acme(name, work, jinit)
        if decl["_file"] not in image_schemas:
            return prove_compose(name, work)
        if name in ("JIGASI_PORT_MIN", "JIGASI_PORT_MAX"):
            return prove_argv(name, decl, work, jinit)
        return prove_render(name, decl, render)

    try:
        for name in seed:
            results.run(name, lambda name=name: prove(name))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results.summary()


if __name__ == "__main__":
    sys.exit(main())
