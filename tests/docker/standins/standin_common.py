"""What the three test-only stand-ins for Jitsi's Java components share.

NOT JITSI: these programs exist only for tests/docker/run.sh, in images built FROM ours
(jinit-test/<component>-standin), never shipped. Each is installed at the path of the real
launcher and started by jinit exactly as the real one would be; it reads the configuration
file the real component reads, with a real parser, and does on the XMPP level what the real
component does with those values: log in, join the brewery room, answer on the health port
(and /metrics, a few gauges in Prometheus's text format, on the same host and port).

This module owns the XMPP connection (slixmpp), the small HTTP server and the process's
lifetime. It never decides what to read: each component module does that.

Lifetime: a failed login, a refused room or a lost connection ends the process with exit 1
(jinit restarts it, as it would restart the real component); SIGTERM ends it with exit 0.
The health port opens only after every room is joined, so jinit's readiness (a TCP connect)
and Docker's health check mean "logged in and in the brewery".
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import signal
import ssl
import sys
from dataclasses import dataclass

import slixmpp
from slixmpp.exceptions import PresenceError

TIMEOUT = 20
log = logging.getLogger("standin")


def setup_logging(component: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format=f"[{component} stand-in] %(levelname)s %(message)s")
    # slixmpp's own errors (a refused login) are reported by us, once, with the account.
    logging.getLogger("slixmpp").setLevel(logging.CRITICAL)


def java_sys_props(env: str) -> dict[str, str]:
    """The -Dkey=value options of JAVA_SYS_PROPS, as the launcher scripts pass them to java."""
    props = {}
    for word in shlex.split(env):
        if word.startswith("-D"):
            key, _, value = word[2:].partition("=")
            props[key] = value
    return props


class Fatal(Exception):
    """A configuration or connection problem the real component would not survive either."""


@dataclass
class Account:
    """One XMPP client connection, in the terms every component's configuration uses."""
    jid: str                 # the login JID, bare or with a resource
    password: str
    host: str                # where to connect (the compose network's prosody alias)
    port: int
    verify_certificate: bool
    require_tls: bool


class Connection:
    """A logged-in slixmpp client with MUC support."""

    def __init__(self, account: Account):
        self.account = account
        self.client = slixmpp.ClientXMPP(account.jid, account.password)
        if not account.verify_certificate:
            self.client.ssl_context.check_hostname = False
            self.client.ssl_context.verify_mode = ssl.CERT_NONE
        self.client.register_plugin("xep_0030")
        self.client.register_plugin("xep_0045")
        self.client.register_plugin("xep_0199")
        self.lost = asyncio.get_running_loop().create_future()
        self.rooms: dict[str, str] = {}  # room JID -> our nickname

    @property
    def muc(self):
        return self.client.plugin["xep_0045"]

    async def login(self) -> None:
        a = self.account
        started = asyncio.get_running_loop().create_future()

        def settle(value):
            if not started.done():
                started.set_result(value)

        self.client.add_event_handler("session_start", lambda _: settle("ok"))
        self.client.add_event_handler("failed_all_auth", lambda _: settle("authentication failed"))
        self.client.add_event_handler("disconnected", lambda _: settle("disconnected"))
        log.info("connecting to %s:%d as %s", a.host, a.port, a.jid)
        self.client.connect((a.host, a.port))  # slixmpp 1.8: an (host, port) tuple
        try:
            outcome = await asyncio.wait_for(started, TIMEOUT)
        except asyncio.TimeoutError:
            outcome = f"no session within {TIMEOUT} s"
        if outcome != "ok":
            raise Fatal(f"login as {a.jid} at {a.host}:{a.port}: {outcome}")
        secure = "starttls" in self.client.features
        if a.require_tls and not secure:
            raise Fatal(f"login as {a.jid}: TLS is required but the server did not offer STARTTLS")
        log.info("logged in as %s (%s)", self.client.boundjid, "STARTTLS" if secure else "no TLS")
        self.client.add_event_handler(
            "disconnected", lambda _: self.lost.done() or self.lost.set_result(True))

    async def discover(self, domain: str) -> None:
        """disco#info of a domain, as Jicofo does of its xmpp-domain to find components."""
        try:
            info = await self.client.plugin["xep_0030"].get_info(jid=domain, timeout=TIMEOUT)
        except (slixmpp.exceptions.IqError, slixmpp.exceptions.IqTimeout) as e:
            raise Fatal(f"disco#info of {domain}: {e}") from e
        log.info("discovered %s: %d identities", domain, len(info["disco_info"]["identities"]))

    async def join(self, room: str, nick: str) -> None:
        log.info("joining %s as %s", room, nick)
        try:
            await self.muc.join_muc_wait(slixmpp.JID(room), nick, maxstanzas=0, timeout=TIMEOUT)
        except PresenceError as e:
            raise Fatal(f"joining {room} as {nick}: refused ({e.condition})") from e
        except asyncio.TimeoutError as e:
            raise Fatal(f"joining {room} as {nick}: no answer within {TIMEOUT} s") from e
        self.rooms[room] = nick
        log.info("in %s as %s", room, nick)

    def occupants(self, room: str) -> list[dict[str, str]]:
        """Everyone else in a joined room: nickname and real JID (when the room shows it)."""
        jid = slixmpp.JID(room)
        if jid not in self.muc.rooms:
            return []
        out = []
        for nick in sorted(self.muc.get_roster(jid)):
            if nick == self.rooms.get(room):
                continue
            real = self.muc.get_jid_property(jid, nick, "jid")
            out.append({"nick": nick, "jid": str(real) if real else ""})
        return out

    def close(self) -> None:
        self.client.disconnect()


def metrics_text(gauges: list[tuple[str, str, dict[str, str], float]]) -> str:
    """Prometheus text format (0.0.4) of (name, help, labels, value) gauges; samples of one name
    follow each other under one HELP and TYPE."""
    out: list[str] = []
    seen: set[str] = set()
    for name, help_text, labels, value in gauges:
        if name not in seen:
            seen.add(name)
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        shown = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        out.append(f"{name}{{{shown}}} {value:g}" if shown else f"{name} {value:g}")
    return "\n".join(out) + "\n"


async def serve_http(host: str, port: int, routes: dict, needs_accept: tuple = ()) -> asyncio.AbstractServer:
    """A minimal HTTP/1.0 server: METHOD PATH -> routes["METHOD PATH"]() or, for any method,
    routes[PATH]() -> (status, body): a str is sent as Prometheus text (the /metrics routes),
    anything else as JSON. A request body (Content-Length) is read and dropped. The paths in
    `needs_accept` answer 500 to a request without an Accept header, as the bridge's /metrics
    does (it splits the header without looking first)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            length, accept = 0, False
            while (line := await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length" and value.strip().isdigit():
                    length = min(int(value.strip()), 65536)
                accept = accept or name.strip().lower() == "accept"
            if length:
                await asyncio.wait_for(reader.readexactly(length), 5)
            parts = request.decode("latin-1").split()
            method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
            route = routes.get(f"{method} {path}") or routes.get(path)
            if route and path in needs_accept and not accept:
                status, body = 500, {"error": "no Accept header (the bridge's NullPointerException)"}
            elif route:
                status, body = route()
            else:
                status, body = 404, {"error": f"no such path: {path}"}
            if isinstance(body, str):
                data, kind = body.encode(), "text/plain; version=0.0.4; charset=utf-8"
            else:
                data, kind = json.dumps(body).encode(), "application/json"
            reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error",
                      503: "Service Unavailable"}.get(status, "")
            writer.write(f"HTTP/1.0 {status} {reason}\r\nContent-Type: {kind}\r\n"
                         f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    log.info("serving %s on http://%s:%d", ", ".join(sorted(routes)), host, port)
    return server


async def run_until_stopped(connections: list[Connection]) -> int:
    """Waits for SIGTERM/SIGINT (exit 0) or the loss of any connection (exit 1)."""
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(True))
    done, _ = await asyncio.wait([stop] + [c.lost for c in connections],
                                 return_when=asyncio.FIRST_COMPLETED)
    for c in connections:
        c.close()
    if stop in done:
        log.info("stopping")
        return 0
    log.error("XMPP connection lost")
    return 1


def main(component: str, run) -> None:
    """Runs the component's coroutine; a Fatal ends the process with exit 1 and its message."""
    setup_logging(component)
    try:
        sys.exit(asyncio.run(run()))
    except Fatal as e:
        log.error("%s", e)
        sys.exit(1)
