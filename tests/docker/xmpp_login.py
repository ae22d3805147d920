#!/usr/bin/env python3
"""Logs in to the XMPP server of the running stack, the way each kind of client does.

  xmpp_login.py bosh URL DOMAIN          anonymous login over BOSH (web's /http-bind)
  xmpp_login.py websocket URL DOMAIN     anonymous login over XMPP WebSocket (web's /xmpp-websocket)
  xmpp_login.py tcp HOST:PORT JID [PASSWORD]
                                         login over a client-to-server TCP connection with
                                         slixmpp: anonymous when JID is a bare domain, else
                                         with the password (a service account)

Each mode ends with resource binding and prints the full JID the server assigned; the exit code
is 0 only then. slixmpp speaks neither BOSH nor WebSocket, so those two are done here with the
standard library and `websockets`, following XEP-0124/0206 and RFC 7395. TLS certificates are
not verified (the stack's are self-signed).
"""
import ssl
import sys
import urllib.request
import uuid
import xml.etree.ElementTree as ET

SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
HTTPBIND = "http://jabber.org/protocol/httpbind"
FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
TIMEOUT = 20


def insecure_tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def bound_jid(element):
    jid = element.find(f".//{{{BIND}}}jid")
    return jid.text if jid is not None else None


def bosh(url, domain):
    rid = [int(uuid.uuid4().int % 10**9)]
    sid = [None]

    def post(payload="", final=False, **attrs):
        rid[0] += 1
        attrs.setdefault("rid", str(rid[0]))
        if sid[0]:
            attrs.setdefault("sid", sid[0])
        head = " ".join(f"{k}='{v}'" for k, v in attrs.items())
        body = f"<body {head} xmlns='{HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh'>{payload}</body>"
        req = urllib.request.Request(url, data=body.encode(), method="POST",
                                     headers={"Content-Type": "text/xml; charset=utf-8"})
        with urllib.request.urlopen(req, timeout=TIMEOUT, context=insecure_tls()) as resp:
            reply = ET.fromstring(resp.read())
        if reply.get("type") == "terminate" and not final:
            raise SystemExit(f"BOSH session terminated: {ET.tostring(reply).decode()}")
        return reply

    created = post(**{"to": domain, "ver": "1.6", "wait": "30", "hold": "1",
                      "xmpp:version": "1.0", "content": "text/xml; charset=utf-8"})
    sid[0] = created.get("sid")
    if not sid[0]:
        raise SystemExit(f"no BOSH session: {ET.tostring(created).decode()}")
    reply = post(f"<auth xmlns='{SASL}' mechanism='ANONYMOUS'/>")
    if reply.find(f"{{{SASL}}}success") is None:
        raise SystemExit(f"ANONYMOUS login refused: {ET.tostring(reply).decode()}")
    post(**{"to": domain, "xmpp:restart": "true"})
    reply = post(f"<iq type='set' id='bind1' xmlns='jabber:client'><bind xmlns='{BIND}'/></iq>")
    jid = bound_jid(reply)
    post(type="terminate", final=True)
    return jid


def websocket(url, domain):
    from websockets.sync.client import connect

    def open_stream(ws):
        ws.send(f"<open xmlns='{FRAMING}' to='{domain}' version='1.0'/>")
        opened = ET.fromstring(ws.recv(timeout=TIMEOUT))
        if opened.tag != f"{{{FRAMING}}}open":
            raise SystemExit(f"no stream: {ET.tostring(opened).decode()}")
        return ET.fromstring(ws.recv(timeout=TIMEOUT))  # stream features

    with connect(url, subprotocols=["xmpp"], ssl=insecure_tls(), open_timeout=TIMEOUT) as ws:
        features = open_stream(ws)
        mechanisms = [m.text for m in features.iter(f"{{{SASL}}}mechanism")]
        if "ANONYMOUS" not in mechanisms:
            raise SystemExit(f"ANONYMOUS not offered (offered: {mechanisms})")
        ws.send(f"<auth xmlns='{SASL}' mechanism='ANONYMOUS'/>")
        result = ET.fromstring(ws.recv(timeout=TIMEOUT))
        if result.tag != f"{{{SASL}}}success":
            raise SystemExit(f"ANONYMOUS login refused: {ET.tostring(result).decode()}")
        open_stream(ws)
        ws.send(f"<iq type='set' id='bind1' xmlns='jabber:client'><bind xmlns='{BIND}'/></iq>")
        jid = bound_jid(ET.fromstring(ws.recv(timeout=TIMEOUT)))
        ws.send(f"<close xmlns='{FRAMING}'/>")
        return jid


def tcp(address, jid, password=""):
    import asyncio
    import slixmpp

    host, port = address.rsplit(":", 1)
    client = slixmpp.ClientXMPP(jid, password)
    client.ssl_context = insecure_tls()
    outcome = {}

    def started(_):
        outcome["jid"] = str(client.boundjid)
        client.disconnect()

    def refused(stanza):
        outcome["error"] = f"authentication failed: {stanza}"
        client.disconnect()

    client.add_event_handler("session_start", started)
    client.add_event_handler("failed_all_auth", refused)
    client.connect(host=host, port=int(port))
    try:
        client.loop.run_until_complete(asyncio.wait_for(client.disconnected, TIMEOUT))
    except asyncio.TimeoutError:
        raise SystemExit("timed out")
    if "error" in outcome:
        raise SystemExit(outcome["error"])
    return outcome.get("jid")


def main(argv):
    modes = {"bosh": bosh, "websocket": websocket, "tcp": tcp}
    if len(argv) < 3 or argv[0] not in modes:
        print(__doc__)
        return 2
    jid = modes[argv[0]](*argv[1:])
    if not jid or "@" not in jid or "/" not in jid:
        print(f"{argv[0]}: no JID bound (got {jid!r})")
        return 1
    print(f"{argv[0]}: logged in as {jid}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
