#!/usr/bin/env python3
"""A real conference against a running stack: two participants, Jicofo and the bridge.

  conference.py --web https://127.0.0.1:8443 --stats docker:JVB-CONTAINER \\
                [--domain meet.jitsi] [--advertise 192.0.2.10] [--jvb-port 10000]

What it checks, in order (one line each, "ok" or "FAIL"; it stops at the first failure and
ends with "N passed, M failed"; exit code 1 on a failure):
  1. participant A logs in anonymously over BOSH (web's /http-bind) and asks the focus
     (focus.DOMAIN, Prosody's client_proxy to Jicofo) for the room: Jicofo answers ready;
  2. A joins ROOM@muc.DOMAIN and sees Jicofo in the room;
  3. participant B logs in over WebSocket (web's /xmpp-websocket), asks the focus, joins;
  4. Jicofo sends each a Jingle session-initiate whose ICE candidates name the bridge's
     advertised address (--advertise, JVB_ADVERTISE_IPS) and JVB_PORT; each answers with a
     session-accept (ICE credentials and a DTLS fingerprint, no media sources) that Jicofo
     acknowledges;
  5. the bridge's statistics (COLIBRI REST API, COLIBRI_REST_ENABLED) show one conference
     with two endpoints.

With several bridges (./bridges.sh: one --stats and one --jvb-port per bridge) and --rooms N,
steps 1-4 run for N rooms one after the other, every participant staying in its room, and the
end check is over all bridges: N conferences with 2N endpoints in all, each bridge with at least
one of them when N is at least the number of bridges (Jicofo spreads new conferences over the
least loaded bridges), and every room's offer names the port of the bridge that has it.

--drain PORT --drain-command CMD then stops the bridge on PORT with CMD (e.g. `docker stop
CONTAINER`) while every participant stays: the bridge drains (the image's jvb-drain asks it for a
graceful shutdown), Jicofo moves its participants, each gets a new Jingle offer through another
bridge's port and accepts it, and CMD ends with exit code 0.

The XMPP side is a deliberately small client: it answers what Jicofo asks of a participant
(disco#info for its features, pings, Jingle) and nothing else. The login steps (SASL
ANONYMOUS, resource binding) come from tests/pylib/xmpp_clients.py; here the sessions stay
open, one thread per participant. TLS certificates are not verified (the stack's are
self-signed).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import queue
import random
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import quoteattr

from checks import Checks
from xmpp_clients import FRAMING, HTTPBIND, SASL, bind_iq, bound_jid, insecure_tls, sasl_auth

CLIENT = "jabber:client"
MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"
FOCUS = "http://jitsi.org/protocol/focus"
JINGLE = "urn:xmpp:jingle:1"
ICE = "urn:xmpp:jingle:transports:ice-udp:1"
DTLS = "urn:xmpp:jingle:apps:dtls:0"
RTP = "urn:xmpp:jingle:apps:rtp:1"
DISCO = "http://jabber.org/protocol/disco#info"
PING = "urn:xmpp:ping"
# What a participant without media sources supports; Jicofo asks with disco#info.
FEATURES = [DISCO, JINGLE, RTP, ICE, DTLS, "urn:xmpp:jingle:apps:rtp:audio",
            "urn:xmpp:jingle:apps:rtp:video", "urn:ietf:rfc:5761", "urn:ietf:rfc:5888",
            "urn:ietf:rfc:4588", "http://jitsi.org/tcc", "http://jitsi.org/source-name",
            "http://jitsi.org/rtp-mid-demux", "urn:xmpp:jingle:transports:dtls-sctp:1"]
TIMEOUT = 40


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def text(el: ET.Element) -> str:
    return ET.tostring(el, encoding="unicode")


# ---------------------------------------------------------------------------------------------
# Transports: open() logs in and returns the bound JID; exchange(outgoing) sends the stanzas
# given and returns what arrived meanwhile (waiting a little when nothing did).
# ---------------------------------------------------------------------------------------------

class Bosh:
    """XEP-0124/0206, one request at a time (wait=2: a stanza goes out within 2 s)."""

    def __init__(self, url: str, domain: str):
        self.url, self.domain = url, domain
        self.rid = random.randrange(10**6, 10**9)
        self.sid = None
        self.inbox: list[ET.Element] = []

    def post(self, payload: str = "", **attrs: str) -> ET.Element:
        self.rid += 1
        attrs = dict({"rid": str(self.rid)}, **({"sid": self.sid} if self.sid else {}), **attrs)
        head = " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items())
        body = f"<body {head} xmlns='{HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh'>{payload}</body>"
        req = urllib.request.Request(self.url, data=body.encode(), method="POST",
                                     headers={"Content-Type": "text/xml; charset=utf-8"})
        with urllib.request.urlopen(req, timeout=30, context=insecure_tls()) as resp:
            reply = ET.fromstring(resp.read())
        if reply.get("type") == "terminate" and attrs.get("type") != "terminate":
            raise ConnectionError(f"BOSH session terminated: {reply.get('condition')}")
        return reply

    def until(self, *tags: str, payload: str | None = None, **attrs: str) -> ET.Element:
        if payload is not None or attrs:
            self.inbox.extend(self.post(payload or "", **attrs))
        for _ in range(10):
            for i, el in enumerate(self.inbox):
                if local(el.tag) in tags:
                    del self.inbox[:i + 1]
                    return el
            self.inbox.extend(self.post())
        raise TimeoutError(f"none of {tags} from the BOSH server")

    def open(self) -> str:
        created = self.post(to=self.domain, ver="1.6", wait="2", hold="1",
                            **{"xml:lang": "en", "xmpp:version": "1.0"})
        self.sid = created.get("sid")
        if not self.sid:
            raise ConnectionError(f"no BOSH session: {text(created)[:300]}")
        self.inbox.extend(created)
        self.until("features")
        _, auth = sasl_auth(None, None)
        if local(self.until("success", "failure", payload=auth).tag) != "success":
            raise ConnectionError("SASL ANONYMOUS refused over BOSH")
        self.until("features", to=self.domain, **{"xmpp:restart": "true"})
        jid = bound_jid(self.until("iq", payload=bind_iq()))
        if not jid:
            raise ConnectionError("no JID bound over BOSH")
        return jid

    def exchange(self, outgoing: list[str]) -> list[ET.Element]:
        got, self.inbox = self.inbox, []
        return got + list(self.post("".join(outgoing)))

    def close(self) -> None:
        try:
            self.post(type="terminate")
        except (OSError, ConnectionError, ET.ParseError):
            pass


class WebSocket:
    """RFC 7395 (websockets' threaded client)."""

    def __init__(self, url: str, domain: str):
        self.url, self.domain = url, domain
        self.ws = None
        self.exits = contextlib.ExitStack()

    def recv(self, timeout: float = 15) -> ET.Element:
        return ET.fromstring(self.ws.recv(timeout=timeout))

    def open_stream(self) -> ET.Element:
        self.ws.send(f"<open xmlns='{FRAMING}' to='{self.domain}' version='1.0'/>")
        if self.recv().tag != f"{{{FRAMING}}}open":
            raise ConnectionError("no <open/> over WebSocket")
        return self.recv()

    def open(self) -> str:
        from websockets.sync.client import connect
        self.ws = self.exits.enter_context(
            connect(self.url, subprotocols=["xmpp"], ssl=insecure_tls(), open_timeout=15))
        self.open_stream()
        _, auth = sasl_auth(None, None)
        self.ws.send(auth)
        if self.recv().tag != f"{{{SASL}}}success":
            raise ConnectionError("SASL ANONYMOUS refused over WebSocket")
        self.open_stream()
        self.ws.send(bind_iq())
        jid = bound_jid(self.recv())
        if not jid:
            raise ConnectionError("no JID bound over WebSocket")
        return jid

    def exchange(self, outgoing: list[str]) -> list[ET.Element]:
        for stanza in outgoing:
            self.ws.send(stanza)
        got = []
        try:
            got.append(self.recv(timeout=0.5))
            while True:
                got.append(self.recv(timeout=0))
        except TimeoutError:
            pass
        return got

    def close(self) -> None:
        try:
            self.ws.send(f"<close xmlns='{FRAMING}'/>")
        except Exception:  # noqa: BLE001 - closing a connection that may be gone already
            pass
        self.exits.close()


# ---------------------------------------------------------------------------------------------
# A participant: one thread that sends, receives and answers Jicofo; the test waits on events.
# ---------------------------------------------------------------------------------------------

class Participant(threading.Thread):
    def __init__(self, name: str, transport):
        super().__init__(daemon=True, name=name)
        self.nick, self.transport = name, transport
        self.outgoing: queue.Queue[str] = queue.Queue()
        self.events: list[ET.Element] = []
        self.cond = threading.Condition()
        self.jid = ""
        self.error: Exception | None = None
        self.accept_id = ""  # the id of our session-accept, once sent
        self.port = 0  # the bridge's port in Jicofo's offer
        self.room = ""
        self.stopping = False

    def send(self, stanza: str) -> None:
        self.outgoing.put(stanza)

    def run(self) -> None:
        try:
            while not self.stopping:
                out = []
                while not self.outgoing.empty():
                    out.append(self.outgoing.get())
                for el in self.transport.exchange(out):
                    self.handle(el)
        except Exception as e:  # noqa: BLE001 - reported by wait()
            self.error = e
            with self.cond:
                self.cond.notify_all()

    def handle(self, el: ET.Element) -> None:
        if local(el.tag) == "iq" and el.get("type") in ("get", "set"):
            self.answer(el)
        with self.cond:
            self.events.append(el)
            self.cond.notify_all()

    def answer(self, iq: ET.Element) -> None:
        """Answers Jicofo's requests: features, pings, Jingle; refuses anything else."""
        head = f"<iq xmlns='{CLIENT}' type='result' to={quoteattr(iq.get('from', ''))} id={quoteattr(iq.get('id', ''))}"
        child = next(iter(iq), None)
        if child is not None and child.tag == f"{{{DISCO}}}query":
            features = "".join(f"<feature var='{f}'/>" for f in FEATURES)
            self.send(f"{head}><query xmlns='{DISCO}'><identity category='client' type='web' "
                      f"name='conference.py'/>{features}</query></iq>")
        elif child is not None and child.tag in (f"{{{PING}}}ping", f"{{{JINGLE}}}jingle"):
            self.send(head + "/>")
            if child.tag == f"{{{JINGLE}}}jingle" and child.get("action") == "session-initiate":
                self.accept_id = uuid.uuid4().hex[:12]
                self.send(session_accept(iq, child, self.jid, self.accept_id))
        else:
            self.send(f"<iq xmlns='{CLIENT}' type='error' to={quoteattr(iq.get('from', ''))} "
                      f"id={quoteattr(iq.get('id', ''))}><error type='cancel'><feature-not-implemented "
                      f"xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")

    def wait(self, what: str, match, timeout: float = TIMEOUT) -> ET.Element:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for el in self.events:
                    if match(el):
                        return el
                if self.error:
                    raise ConnectionError(f"{self.nick}: {self.error}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.nick}: no {what} within {timeout} s")
                self.cond.wait(left)

    def iq(self, payload: str, to: str, kind: str = "set") -> ET.Element:
        ident = uuid.uuid4().hex[:12]
        self.send(f"<iq xmlns='{CLIENT}' type='{kind}' to={quoteattr(to)} id='{ident}'>{payload}</iq>")
        reply = self.wait(f"answer to iq {ident}", lambda e: local(e.tag) == "iq" and e.get("id") == ident)
        if reply.get("type") != "result":
            raise ConnectionError(f"{self.nick}: iq to {to} refused: {text(reply)[:400]}")
        return reply

    def stop(self) -> None:
        self.stopping = True
        self.join(5)
        self.transport.close()


def session_accept(iq: ET.Element, offer: ET.Element, me: str, ident: str) -> str:
    """A session-accept for Jicofo's offer: every content answered with the offer's codecs,
    fresh ICE credentials and a (made-up) DTLS fingerprint, and no media sources."""
    contents = []
    for content in offer.findall(f"{{{JINGLE}}}content"):
        parts = []
        desc = content.find(f"{{{RTP}}}description")
        if desc is not None:
            keep = [c for c in desc if local(c.tag) in ("payload-type", "rtp-hdrext", "rtcp-mux")]
            parts.append(f"<description xmlns='{RTP}' media={quoteattr(desc.get('media', ''))}>"
                         + "".join(text(c) for c in keep) + "</description>")
        transport = content.find(f"{{{ICE}}}transport")
        if transport is not None:
            fingerprint = ":".join(f"{random.randrange(256):02X}" for _ in range(32))
            extra = "".join(text(c) for c in transport if local(c.tag) in ("rtcp-mux", "sctpmap", "web-socket"))
            parts.append(f"<transport xmlns='{ICE}' ufrag='{uuid.uuid4().hex[:8]}' pwd='{uuid.uuid4().hex}'>"
                         f"<fingerprint xmlns='{DTLS}' hash='sha-256' setup='active'>{fingerprint}</fingerprint>"
                         f"{extra}</transport>")
        attrs = " ".join(f"{k}={quoteattr(v)}" for k, v in content.attrib.items())
        contents.append(f"<content {attrs}>{''.join(parts)}</content>")
    return (f"<iq xmlns='{CLIENT}' type='set' to={quoteattr(iq.get('from', ''))} id='{ident}'>"
            f"<jingle xmlns='{JINGLE}' action='session-accept' initiator={quoteattr(offer.get('initiator', iq.get('from', '')))} "
            f"responder={quoteattr(me)} sid={quoteattr(offer.get('sid', ''))}>{''.join(contents)}</jingle></iq>")


# ---------------------------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------------------------

class Stop(Exception):
    """A step failed: the steps after it depend on it."""


# Every failure is reported the same way, as one line: the exception's message.
RESULTS = Checks(expected=(Exception,), timed=True)


def step(name: str, fn):
    if not RESULTS.run(name, fn):
        raise Stop(name)


def join(p: Participant, room: str, domain: str) -> str:
    p.jid = p.transport.open()
    p.start()
    reply = p.iq(f"<conference xmlns='{FOCUS}' room={quoteattr(room)} machine-uid='{uuid.uuid4().hex}'>"
                 "<property name='visitors-version' value='1'/></conference>", f"focus.{domain}")
    conf = reply.find(f"{{{FOCUS}}}conference")
    if conf is None or conf.get("ready") != "true":
        raise ConnectionError(f"the focus did not answer ready: {text(reply)[:400]}")
    p.send(f"<presence xmlns='{CLIENT}' to={quoteattr(room + '/' + p.nick)}><x xmlns='{MUC}'/>"
           f"<nick xmlns='http://jabber.org/protocol/nick'>{p.nick}</nick></presence>")
    p.wait("own presence in the room",
           lambda e: local(e.tag) == "presence" and e.get("from") == f"{room}/{p.nick}" and e.get("type") != "error")
    return f"{p.jid} in {room}"


def focus_in_room(p: Participant, room: str) -> str:
    def is_focus(e):
        if local(e.tag) != "presence" or not e.get("from", "").startswith(room + "/"):
            return False
        item = e.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}item")
        return item is not None and (item.get("jid") or "").split("@")[0] == "focus" or \
            e.get("from", "").endswith("/focus")
    el = p.wait("presence of the focus in the room", is_focus)
    return el.get("from")


def jingle_offer(p: Participant, advertise: str | None, ports: list[int]) -> str:
    """Jicofo's offer names one of the bridges' advertised address and port; the port found is
    kept in p.port (which bridge the room is on)."""
    iq = p.wait("Jingle session-initiate",
                lambda e: local(e.tag) == "iq" and e.find(f"{{{JINGLE}}}jingle[@action='session-initiate']") is not None)
    candidates = [(c.get("ip"), c.get("port"), c.get("type"))
                  for c in iq.iter(f"{{{ICE}}}candidate")]
    if not candidates:
        raise ConnectionError(f"no ICE candidate in the offer: {text(iq)[:600]}")
    wanted = [c for c in candidates
              if (advertise is None or c[0] == advertise) and c[1] in {str(port) for port in ports}]
    if not wanted:
        raise ConnectionError(f"no candidate {advertise}:{'/'.join(map(str, ports))} among {candidates}")
    p.port = int(wanted[0][1])
    media = [c.get("name") for c in iq.iter(f"{{{JINGLE}}}content")]
    return f"from {iq.get('from')}, contents {media}, candidates {sorted(set(candidates))}"


def accepted(p: Participant) -> str:
    el = p.wait("Jicofo's answer to session-accept",
                lambda e: local(e.tag) == "iq" and p.accept_id and e.get("id") == p.accept_id)
    if el.get("type") != "result":
        raise ConnectionError(f"Jicofo refused it: {text(el)[:400]}")
    return ""


def read_stats(source: str) -> dict:
    """The bridge's /colibri/stats: from a URL, or as docker:CONTAINER from inside the bridge's
    container (its private HTTP server listens on loopback only; bash, which jvb.sh needs, speaks
    enough HTTP through /dev/tcp)."""
    if not source.startswith("docker:"):
        with urllib.request.urlopen(source, timeout=5) as resp:
            return json.load(resp)
    request = ("exec 3<>/dev/tcp/127.0.0.1/8080 && "
               "printf 'GET /colibri/stats HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && cat <&3")
    out = subprocess.run(["docker", "exec", source[len("docker:"):], "bash", "-c", request],
                         capture_output=True, timeout=10)
    # Bytes, not text=True: universal newlines would turn the header's CRLF into LF.
    head, _, body = out.stdout.decode(errors="replace").partition("\r\n\r\n")
    if out.returncode != 0 or " 200 " not in head.split("\r\n", 1)[0]:
        raise OSError(f"no statistics: {head.splitlines()[:1] or out.stderr.decode(errors='replace').strip()}")
    return json.loads(body)


def moved(p: Participant, seen: set[int], ports: list[int], gone: int, timeout: float) -> str:
    """A Jingle offer newer than the ones in `seen`, through another bridge than `gone`'s port;
    answered with a session-accept that Jicofo acknowledges."""
    def new_offer(e: ET.Element) -> bool:
        return (id(e) not in seen and local(e.tag) == "iq"
                and e.find(f"{{{JINGLE}}}jingle[@action='session-initiate']") is not None)
    iq = p.wait("a new Jingle session-initiate", new_offer, timeout)
    offered = {c.get("port") for c in iq.iter(f"{{{ICE}}}candidate")}
    others = {str(port) for port in ports if port != gone}
    if not offered & others:
        raise ConnectionError(f"the new offer names ports {sorted(offered)}, not another bridge's {sorted(others)}")
    accept_id = p.accept_id
    p.wait("Jicofo's answer to the new session-accept",
           lambda e: local(e.tag) == "iq" and e.get("id") == accept_id and e.get("type") == "result")
    p.port = int(sorted(offered & others)[0])
    return f"now through port {p.port}"


def command_ends(proc: subprocess.Popen, started: float, timeout: float) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise TimeoutError(f"still running after {timeout:.0f} s") from None
    if proc.returncode != 0:
        raise ConnectionError(f"exit code {proc.returncode}: {out.strip()[:300]}")
    return f"exit code 0 after {time.monotonic() - started:.1f} s"


def someone(leaving: list[Participant]) -> str:
    if not leaving:
        raise ConnectionError("no participant there")
    return ", ".join(f"{p.nick} [{p.room}]" for p in leaving)


def same_bridge(a: Participant, b: Participant) -> str:
    if a.port != b.port:
        raise ConnectionError(f"{a.nick}'s offer names port {a.port}, {b.nick}'s {b.port}")
    return f"port {a.port}"


def bridges_used(placed: dict[int, list[str]], wanted: int) -> str:
    if len(placed) < wanted:
        raise ConnectionError(f"{len(placed)} of {wanted} bridges used")
    return f"{len(placed)} bridges used"


def bridge_stats(sources: list[str], conferences: int, endpoints: int, spread: bool) -> str:
    """Polls every bridge's statistics until they add up to `conferences` and `endpoints`
    (and, when `spread`, every bridge has a conference)."""
    deadline = time.monotonic() + TIMEOUT
    last: list[dict] = []
    while time.monotonic() < deadline:
        last = []
        for source in sources:
            try:
                last.append(read_stats(source))
            except (OSError, ValueError, subprocess.SubprocessError) as e:
                last.append({"error": str(e)})
        counts = [(st.get("conferences"), st.get("endpoints")) for st in last]
        if (all(isinstance(c, int) and isinstance(e, int) for c, e in counts)
                and sum(c for c, _ in counts) == conferences and sum(e for _, e in counts) == endpoints
                and (not spread or all(c >= 1 for c, _ in counts))):
            return "; ".join(f"bridge {i + 1}: conferences={c}, endpoints={e}"
                             for i, (c, e) in enumerate(counts))
        time.sleep(1)
    shown = [{k: st.get(k) for k in ("conferences", "endpoints", "participants", "error") if k in st}
             for st in last]
    raise ConnectionError(f"wanted conferences={conferences} endpoints={endpoints} in all"
                          f"{', each bridge with one' if spread else ''}; last {shown}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--web", required=True, help="https://HOST:PORT of the web container")
    ap.add_argument("--stats", required=True, action="append",
                    help="a bridge's /colibri/stats URL, or docker:CONTAINER (read inside the bridge's "
                         "container); once per bridge")
    ap.add_argument("--domain", default="meet.jitsi")
    ap.add_argument("--muc-domain", default=None, help="default muc.DOMAIN")
    ap.add_argument("--advertise", default=None, help="address the candidates must name")
    ap.add_argument("--jvb-port", type=int, action="append",
                    help="a bridge's JVB_PORT, once per bridge (default 10000)")
    ap.add_argument("--rooms", type=int, default=1, help="conferences to hold at once (default 1)")
    ap.add_argument("--room", default=f"conference{random.randrange(10**6)}")
    ap.add_argument("--drain", type=int, default=None, metavar="PORT",
                    help="afterwards, stop the bridge on this port with --drain-command")
    ap.add_argument("--drain-command", default=None, help="a shell command that stops that bridge")
    ap.add_argument("--drain-timeout", type=float, default=150, help="seconds for the whole move (150)")
    args = ap.parse_args()
    if (args.drain is None) != (args.drain_command is None):
        ap.error("--drain and --drain-command go together")
    ports = args.jvb_port or [10000]
    web = args.web.rstrip("/")
    ws_url = "wss" + web[len("https"):] if web.startswith("https") else "ws" + web[len("http"):]

    everyone: list[Participant] = []
    placed: dict[int, list[str]] = {}
    try:
        for r in range(args.rooms):
            name = args.room if args.rooms == 1 else f"{args.room}-{r + 1}"
            room = f"{name}@{args.muc_domain or 'muc.' + args.domain}"
            tag = "" if args.rooms == 1 else f" [{name}]"
            a = Participant("alice", Bosh(f"{web}/http-bind", args.domain))
            b = Participant("bob", WebSocket(f"{ws_url}/xmpp-websocket", args.domain))
            a.room = b.room = name
            everyone += [a, b]
            step(f"alice (BOSH) asks the focus for the room and joins it{tag}", lambda: join(a, room, args.domain))
            step(f"Jicofo is in the room{tag}", lambda: focus_in_room(a, room))
            step(f"bob (WebSocket) asks the focus for the room and joins it{tag}", lambda: join(b, room, args.domain))
            for p in (a, b):
                step(f"{p.nick}: Jicofo offers a Jingle session through the bridge "
                     f"({args.advertise or 'any address'}:{'/'.join(map(str, ports))}){tag}",
                     lambda p=p: jingle_offer(p, args.advertise, ports))
            for p in (a, b):
                step(f"{p.nick}: Jicofo accepts the session-accept{tag}", lambda p=p: accepted(p))
            if len(ports) > 1:
                step(f"alice and bob are on the same bridge{tag}", lambda: same_bridge(a, b))
            placed.setdefault(a.port, []).append(name)
        if args.rooms == 1 and len(args.stats) == 1:
            step("the bridge has one conference with two endpoints",
                 lambda: bridge_stats(args.stats, 1, 2, False))
        else:
            spread = len(args.stats) > 1 and args.rooms >= len(args.stats)
            shown = ", ".join(f"port {port}: {', '.join(rooms)}" for port, rooms in sorted(placed.items()))
            step(f"Jicofo placed the rooms on the bridges ({shown})",
                 lambda: bridges_used(placed, len(args.stats) if spread else 1))
            step(f"the bridges have {args.rooms} conferences with {2 * args.rooms} endpoints in all"
                 f"{', each bridge at least one' if spread else ''}",
                 lambda: bridge_stats(args.stats, args.rooms, 2 * args.rooms, spread))
        if args.drain is not None:
            leaving = [p for p in everyone if p.port == args.drain]
            step(f"a room on the bridge of port {args.drain} to move", lambda: someone(leaving))
            seen = {id(p): {id(e) for e in p.events} for p in leaving}
            proc = subprocess.Popen(args.drain_command, shell=True, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            started = time.monotonic()
            deadline = started + args.drain_timeout
            for p in leaving:
                step(f"{p.nick} [{p.room}]: moved to another bridge while port {args.drain}'s drains",
                     lambda p=p: moved(p, seen[id(p)], ports, args.drain,
                                       max(1.0, deadline - time.monotonic())))
            step(f"the drained bridge's stop ({args.drain_command}) ends",
                 lambda: command_ends(proc, started, max(1.0, deadline - time.monotonic())))
    except Stop:
        pass
    finally:
        for p in everyone:
            if p.is_alive():
                p.stop()
    return RESULTS.summary()


if __name__ == "__main__":
    sys.exit(main())
