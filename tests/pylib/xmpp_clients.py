"""The three ways clients reach Prosody in a Jitsi deployment, as small real XMPP clients.

- bosh(url, domain, user, password): XEP-0124/0206 over HTTP(S), as the web app does
  through nginx's /http-bind;
- websocket(url, domain, user, password): RFC 7395 over nginx's /xmpp-websocket;
- c2s(...): slixmpp over TCP with STARTTLS, as Jicofo, the bridge and Jigasi do, optionally
  joining a MUC (the brewery).

slixmpp has no BOSH or WebSocket transport, so the first two speak the protocol here
(standard library, and `websockets` for the WebSocket framing). Each returns a Login: ok only
once SASL succeeded and a resource was bound. user=None logs in anonymously (SASL ANONYMOUS),
otherwise with SASL PLAIN (the mechanism Prosody offers over a secure BOSH/WebSocket
connection, and the only one LDAP authentication can offer). TLS certificates are not
verified: the test stack's are self-signed.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

HTTPBIND = "http://jabber.org/protocol/httpbind"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
STREAMS = "http://etherx.jabber.org/streams"
TIMEOUT = 15

# slixmpp logs a refused login ("No appropriate login method") and the disconnect that follows
# as errors; the callers report the outcome themselves.
logging.getLogger("slixmpp").setLevel(logging.CRITICAL + 1)


@dataclass
class Login:
    ok: bool
    jid: str = ""
    mechanisms: list[str] = field(default_factory=list)
    detail: str = ""

    def __str__(self) -> str:
        return f"bound {self.jid}" if self.ok else f"refused ({self.detail}; offered {self.mechanisms})"


def insecure_tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def sasl_auth(user: str | None, password: str | None) -> tuple[str, str]:
    if user is None:
        return "ANONYMOUS", f"<auth xmlns='{SASL}' mechanism='ANONYMOUS'/>"
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    return "PLAIN", f"<auth xmlns='{SASL}' mechanism='PLAIN'>{token}</auth>"


def mechanisms_of(el: ET.Element) -> list[str]:
    return [m.text or "" for m in el.iter(f"{{{SASL}}}mechanism")]


def bind_iq() -> str:
    return f"<iq type='set' id='bind1' xmlns='jabber:client'><bind xmlns='{BIND}'/></iq>"


def bound_jid(el: ET.Element) -> str | None:
    jid = el.find(f".//{{{BIND}}}jid")
    return jid.text if jid is not None else None


def bosh(url: str, domain: str, user: str | None = None, password: str | None = None) -> Login:
    rid = random.randrange(10**6, 10**9)
    sid = None
    pending: list[ET.Element] = []

    def post(payload: str = "", final: bool = False, **attrs: str) -> ET.Element:
        nonlocal rid
        rid += 1
        attrs = dict({"rid": str(rid)}, **({"sid": sid} if sid else {}), **attrs)
        head = " ".join(f"{k}='{v}'" for k, v in attrs.items())
        body = f"<body {head} xmlns='{HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh'>{payload}</body>"
        req = urllib.request.Request(url, data=body.encode(), method="POST",
                                     headers={"Content-Type": "text/xml; charset=utf-8"})
        with urllib.request.urlopen(req, timeout=TIMEOUT, context=insecure_tls()) as resp:
            reply = ET.fromstring(resp.read())
        if reply.get("type") == "terminate" and not final:
            raise ConnectionError(f"BOSH session terminated: {reply.get('condition')}")
        return reply

    def wait_for(*tags: str, payload: str | None = None, **attrs: str) -> ET.Element:
        """Send (when there is something to send), then take the first of the named elements
        from what arrived, polling while none has (the server may answer later)."""
        if payload is not None or attrs:
            pending.extend(list(post(payload or "", **attrs)))
        for _ in range(5):
            for i, el in enumerate(pending):
                if el.tag.rsplit("}", 1)[-1] in tags:
                    del pending[:i + 1]
                    return el
            pending.extend(list(post()))
        raise TimeoutError(f"none of {tags} from the BOSH server")

    created = post(to=domain, ver="1.6", wait="10", hold="1", **{"xml:lang": "en", "xmpp:version": "1.0"})
    sid = created.get("sid")
    if not sid:
        return Login(False, detail=f"no BOSH session: {ET.tostring(created).decode()[:300]}")
    pending.extend(list(created))
    features = wait_for("features")
    mechs = mechanisms_of(features)
    mech, auth = sasl_auth(user, password)
    if mech not in mechs:
        return Login(False, mechanisms=mechs, detail=f"{mech} not offered")
    answer = wait_for("success", "failure", payload=auth)
    if not answer.tag.endswith("success"):
        return Login(False, mechanisms=mechs, detail="SASL " + "".join(c.tag.split("}")[1] for c in answer))
    wait_for("features", to=domain, **{"xmpp:restart": "true"})
    jid = bound_jid(wait_for("iq", payload=bind_iq()))
    post(final=True, type="terminate")
    return Login(bool(jid), jid or "", mechs, "" if jid else "no JID bound")


async def _websocket(url: str, domain: str, user: str | None, password: str | None) -> Login:
    import websockets

    async with websockets.connect(url, subprotocols=["xmpp"], ssl=insecure_tls() if url.startswith("wss") else None,
                                  open_timeout=TIMEOUT) as ws:
        if ws.subprotocol != "xmpp":
            return Login(False, detail=f"subprotocol {ws.subprotocol!r} instead of xmpp")

        async def recv() -> ET.Element:
            return ET.fromstring(await asyncio.wait_for(ws.recv(), TIMEOUT))

        async def open_stream() -> ET.Element:
            await ws.send(f"<open xmlns='{FRAMING}' to='{domain}' version='1.0'/>")
            opened = await recv()
            if opened.tag != f"{{{FRAMING}}}open":
                raise ConnectionError(f"expected <open/>, got {ET.tostring(opened).decode()[:300]}")
            return await recv()

        features = await open_stream()
        mechs = mechanisms_of(features)
        mech, auth = sasl_auth(user, password)
        if mech not in mechs:
            return Login(False, mechanisms=mechs, detail=f"{mech} not offered")
        await ws.send(auth)
        answer = await recv()
        if answer.tag != f"{{{SASL}}}success":
            return Login(False, mechanisms=mechs, detail="SASL " + "".join(c.tag.split("}")[1] for c in answer))
        await open_stream()
        await ws.send(bind_iq())
        jid = bound_jid(await recv())
        await ws.send(f"<close xmlns='{FRAMING}'/>")
        return Login(bool(jid), jid or "", mechs, "" if jid else "no JID bound")


def websocket(url: str, domain: str, user: str | None = None, password: str | None = None) -> Login:
    return asyncio.run(_websocket(url, domain, user, password))


@dataclass
class C2S(Login):
    starttls: bool = False
    muc_occupants: list[str] = field(default_factory=list)


async def _c2s(host: str, port: int, jid: str, password: str, muc: str | None, nick: str,
               also: tuple[str, str, str] | None) -> C2S:
    import slixmpp

    def client(j, p):
        c = slixmpp.ClientXMPP(j, p)
        c.ssl_context.check_hostname = False
        c.ssl_context.verify_mode = ssl.CERT_NONE
        c.register_plugin("xep_0045")
        return c

    async def session(c) -> bool:
        started = asyncio.get_running_loop().create_future()
        c.add_event_handler("session_start", lambda _: started.done() or started.set_result(True))
        c.add_event_handler("failed_all_auth", lambda _: started.done() or started.set_result(False))
        c.add_event_handler("disconnected", lambda _: started.done() or started.set_result(False))
        c.connect(host, port)
        try:
            return await asyncio.wait_for(started, TIMEOUT)
        except asyncio.TimeoutError:
            return False

    main = client(jid, password)
    clients = [main]
    try:
        if not await session(main):
            return C2S(False, detail="authentication failed or no session")
        result = C2S(True, str(main.boundjid), starttls="starttls" in main.features)
        if muc:
            await main.plugin["xep_0045"].join_muc_wait(slixmpp.JID(muc), nick, timeout=TIMEOUT)
            if also:
                other = client(also[0], also[1])
                clients.append(other)
                if not await session(other):
                    return C2S(False, detail=f"{also[0]} cannot log in")
                await other.plugin["xep_0045"].join_muc_wait(slixmpp.JID(muc), also[2], timeout=TIMEOUT)
                for _ in range(50):  # the occupant's presence reaches the first client
                    if also[2] in main.plugin["xep_0045"].get_roster(muc):
                        break
                    await asyncio.sleep(0.1)
            result.muc_occupants = sorted(main.plugin["xep_0045"].get_roster(muc))
        return result
    finally:
        for c in clients:
            c.disconnect()
        await asyncio.sleep(0.1)


def c2s(host: str, port: int, jid: str, password: str, muc: str | None = None, nick: str = "focus",
        also: tuple[str, str, str] | None = None) -> C2S:
    """Log in with STARTTLS; with muc, join that room as nick (and `also`=(jid, password, nick))."""
    return asyncio.run(_c2s(host, port, jid, password, muc, nick, also))


if __name__ == "__main__":
    import sys
    kind, target, domain, *cred = sys.argv[1:]
    user, pw = (cred + [None, None])[:2]
    if kind == "c2s":
        h, p = target.rsplit(":", 1)
        print(c2s(h, int(p), domain, user))
    else:
        print({"bosh": bosh, "websocket": websocket}[kind](target, domain, user, pw))
