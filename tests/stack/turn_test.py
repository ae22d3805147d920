"""TURN: coturn from the turn image's spec, next to prosody and web, on this host without Docker.

    python3 tests/stack/turn_test.py [-v] [--keep]

One jinit (as root) runs a spec derived by gen_spec.py from images/prosody, images/web and
images/turn (paths moved into a scratch root), in fresh network, PID and mount namespaces.
The network namespace has a veth pair with 10.99.0.1-3/24 (coturn needs an address that is
not loopback to relay from) and a turnutils_peer echoing UDP on 10.99.0.2, 10.99.0.3 and
127.0.0.1. TURN_ALLOWED_PEER_IPS allows 10.99.0.2 only. The web container's certificate is
there before the start (in Compose, turn starts once web is healthy); coturn reads it from
web's /storage (turn.yml mounts web's volumes read-only at the same paths).

Checks, with real clients only:
  xep-0215         an anonymous slixmpp client asks Prosody for external services and gets
                   turn (udp 3478) and turns (tcp 443) entries whose password is the HMAC of
                   the user name under TURN_CREDENTIALS;
  allocate-*       turnutils_uclient allocates a relay with those credentials and sends
                   packets through it to the allowed peer, over UDP 3478, and over TLS and
                   plain TCP on web's 8443 (the HTTPS port) through nginx's ssl_preread;
  tls-routing      on 8443: a TLS client naming TURNS_HOST without ALPN (as browsers do for
                   TURN) gets a STUN answer from coturn; curl (ALPN h2) gets the web app;
                   nginx logs the client's address, not the unix socket;
  wrong-secret     credentials from another secret are refused;
  denied-peers     relaying to 127.0.0.1 and to 10.99.0.3 (10.0.0.0/8) is refused (403);
  cert-reload      a renewed certificate (same files) is served by coturn after the SIGUSR2
                   jinit sends for the service's on-change;
  restart          a killed turnserver is restarted by jinit and allocates again;
  sigterm          jinit exits 0 and leaves no process.
Ends with "N passed, M failed".
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import select
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the repository
import gen_spec  # noqa: E402  (beside this file; tests/pylib is on PYTHONPATH)
import stun  # noqa: E402
from checks import Checks  # noqa: E402
from stack_test import JINIT, Failed, Stack, leftover_processes  # noqa: E402

SECRET = "turn-shared-secret-0123456789"
TURNS_HOST = "turn.example.com"
ENV = {
    "JICOFO_AUTH_PASSWORD": "focus-secret-0123456789", "JVB_AUTH_PASSWORD": "jvb-secret-0123456789ab",
    "TURN_CREDENTIALS": SECRET, "TURN_HOST": TURNS_HOST, "TURN_PORT": "3478", "TURN_TRANSPORT": "udp",
    "TURNS_HOST": TURNS_HOST, "TURNS_PORT": "443", "TURNS_BACKEND": "127.0.0.1:5349",
    "TURN_ALLOWED_PEER_IPS": "10.99.0.2",
}
PEER_PORT = 3480
ALLOWED_PEER, DENIED_PEER = "10.99.0.2", "10.99.0.3"
HTTPS_PORT = 8443  # web's container port, published as 443 (HTTPS_PORT) by Compose


def in_namespaces() -> None:
    """Re-executes this script in new network, PID and mount namespaces (once)."""
    if os.environ.get("JINIT_TURN_NS") == "1":
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "link", "add", "vt0", "type", "veth", "peer", "name", "vt1"],
                    ["ip", "addr", "add", "10.99.0.1/24", "dev", "vt0"],
                    ["ip", "addr", "add", f"{ALLOWED_PEER}/24", "dev", "vt1"],
                    ["ip", "addr", "add", f"{DENIED_PEER}/24", "dev", "vt1"],
                    ["ip", "link", "set", "vt0", "up"], ["ip", "link", "set", "vt1", "up"]):
            subprocess.run(cmd, check=True)
        return
    if os.geteuid() != 0:
        sys.exit("turn_test.py must run as root (it starts jinit as root in its own namespaces)")
    env = dict(os.environ, JINIT_TURN_NS="1")
    argv = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
            sys.executable, __file__, *sys.argv[1:]]
    sys.exit(subprocess.run(argv, env=env).returncode)


def make_cert(keys: Path, cn: str) -> str:
    """A self-signed certificate as web's selfsigned-cert oneshot writes it; returns its SHA-256."""
    keys.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "30", "-subj", f"/CN={cn}", "-keyout", str(keys / "cert.key.new"),
                        "-out", str(keys / "cert.crt.new")], capture_output=True, text=True, timeout=30)
    if r.returncode:
        raise Failed(r.stderr)
    # Replaced by rename, as `jinit acme` swaps its files.
    os.replace(keys / "cert.key.new", keys / "cert.key")
    os.replace(keys / "cert.crt.new", keys / "cert.crt")
    der = ssl.PEM_cert_to_DER_cert((keys / "cert.crt").read_text())
    return hashlib.sha256(der).hexdigest()


# ---------------------------------------------------------------- clients

def external_services(domain: str) -> list[dict]:
    """XEP-0215: an anonymous client's <services/> query to its own server."""
    import slixmpp
    from slixmpp.xmlstream import ET

    async def query() -> list[dict]:
        c = slixmpp.ClientXMPP(domain, "")
        c.ssl_context.check_hostname = False
        c.ssl_context.verify_mode = ssl.CERT_NONE
        started = asyncio.get_running_loop().create_future()
        c.add_event_handler("session_start", lambda _: started.done() or started.set_result(True))
        c.add_event_handler("failed_all_auth", lambda _: started.done() or started.set_result(False))
        c.add_event_handler("disconnected", lambda _: started.done() or started.set_result(False))
        c.connect("127.0.0.1", 5222)
        try:
            if not await asyncio.wait_for(started, 15):
                raise Failed("anonymous login to Prosody failed")
            iq = c.Iq()
            iq["type"] = "get"
            iq["to"] = domain
            iq.append(ET.Element("{urn:xmpp:extdisco:2}services"))
            reply = await iq.send(timeout=15)
            return [dict(s.attrib) for s in reply.xml.iter("{urn:xmpp:extdisco:2}service")]
        finally:
            c.disconnect()
            await asyncio.sleep(0.1)
    return asyncio.run(query())


STALLED = "call SSL_connect..."


def uclient(*args: str, user: str, password: str, stall: float | None = None) -> tuple[bool, str, float]:
    """turnutils_uclient: allocate, permit and bind the peer, send 5 packets and wait for their
    echo, within 30 s. With `stall`, gives up as soon as it has waited that long in a TLS
    handshake (its verbose output then ends with STALLED)."""
    t0 = time.monotonic()
    # Line-buffered, so that what it says is read as it says it.
    argv = ["stdbuf", "-oL", "-eL", "turnutils_uclient", "-c", "-n", "5", "-m", "1", "-r", str(PEER_PORT),
            "-u", user, "-w", password, *args]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out = b""
    last = t0
    try:
        while True:
            limit = t0 + 30
            if stall and out.rstrip().endswith(STALLED.encode()):
                limit = min(limit, last + stall)
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, limit - time.monotonic()))
            if not ready:
                return False, f"{' '.join(argv[3:])}: no end after {time.monotonic() - t0:.0f}s\n" + \
                    out.decode(errors="replace"), time.monotonic() - t0
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
            last = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
    text = out.decode(errors="replace")
    ok = proc.returncode == 0 and "tot_send_msgs=5, tot_recv_msgs=5\n" in text and "Total lost packets 0 " in text
    return ok, text, time.monotonic() - t0


def uclient_tls(*args: str, user: str, password: str) -> tuple[bool, str, float, int]:
    """uclient over TLS. For each of its TLS connections (two per run) turnutils_uclient picks
    one of its client contexts at random, among them TLS 1.0 and 1.1 ones, which our coturn
    refuses (no-tlsv1, no-tlsv1_1): with those it waits in SSL_connect forever. A run that has
    waited 2 s in a handshake (loopback handshakes take milliseconds) is repeated, a second
    later (the client seeds its choice with the time), up to 30 runs; a run that got past its
    handshakes counts, whatever its outcome."""
    for attempt in range(1, 31):
        ok, out, took = uclient("-v", "-t", "-S", *args, user=user, password=password, stall=2)
        if not out.rstrip().endswith(STALLED):
            return ok, out, took, attempt
        time.sleep(max(0.0, 1.05 - took))
    return False, "stuck in a TLS handshake in 30 runs:\n" + out[-600:], 0.0, 30


def stun_over_tls(server_name: str | None, alpn: list[str] | None) -> tuple[bytes, str]:
    """What answers a STUN binding request on web's HTTPS port, and its certificate's SHA-256."""
    return stun.binding_over_tls(HTTPS_PORT, server_name, alpn)


def is_stun_success(answer: bytes) -> bool:
    return stun.is_success(answer)


def https_get(path: str) -> tuple[int, str]:
    r = subprocess.run(["curl", "-sk", "--http2", "-o", "-", "-w", "\n%{http_code} %{http_version}",
                        f"https://127.0.0.1:{HTTPS_PORT}{path}"], capture_output=True, text=True, timeout=30)
    body, _, status = r.stdout.rpartition("\n")
    code, _, version = status.partition(" ")
    return int(code or 0), body + f" (HTTP/{version})"


# ---------------------------------------------------------------- the test

def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-v", action="store_true", help="print the jinit log in full on failure")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()
    if not Path(JINIT).is_file():
        missing = Checks()
        missing.fail("jinit", f"binary not found at {JINIT} (cargo build, or set JINIT)")
        return missing.summary()
    in_namespaces()

    root = Path(tempfile.mkdtemp(prefix="jinit-turn-"))
    root.chmod(0o755)
    results = Checks()

    def check(name: str, fn) -> None:
        results.run(f"turn/{name}", fn)

    gen_spec.generate(root, ["prosody", "web", "turn"], JINIT)
    app = root / "usr/share/jitsi-meet"
    app.mkdir(parents=True)
    (app / "index.html").write_text("<html><body>jitsi-meet placeholder</body></html>\n")
    (root / "config").mkdir()
    (root / "config/custom-test-root.cfg.lua").write_text("run_as_root = true\n")
    first_cert = make_cert(root / "storage/keys", "before-renewal")

    peer_log = (root / "peer.log").open("w")
    peer = subprocess.Popen(["turnutils_peer", "-L", ALLOWED_PEER, "-L", DENIED_PEER, "-L", "127.0.0.1",
                             "-p", str(PEER_PORT)], stdout=peer_log, stderr=subprocess.STDOUT)
    stack = Stack(root, "turn", ENV)
    creds: dict[str, str] = {}
    try:
        check("healthy", lambda: f"jinit health 0 after {stack.wait_healthy():.1f}s")

        def status():
            units = stack.status()
            got = {n: units[n]["state"] for n in ("turnserver", "nginx", "prosody")}
            if got != {"turnserver": "ready", "nginx": "ready", "prosody": "ready"}:
                raise Failed(f"jinit status: {got}")
            conf = (root / "run/turn/config/turnserver.conf").read_text()
            if f"cert={root}/storage/keys/cert.crt" not in conf:
                raise Failed(f"turnserver.conf does not use web's certificate:\n{conf}")
            return "turnserver ready with web's certificate"
        check("status", status)

        def xep0215():
            services = external_services("meet.jitsi")
            by_type = {s.get("type"): s for s in services}
            turn, turns = by_type.get("turn"), by_type.get("turns")
            if not turn or not turns:
                raise Failed(f"no turn and turns entries: {services}")
            want = [(turn, "3478", "udp"), (turns, "443", "tcp")]
            for s, port, transport in want:
                if (s.get("host"), s.get("port"), s.get("transport")) != (TURNS_HOST, port, transport):
                    raise Failed(f"entry {s}, want {TURNS_HOST} port {port} {transport}")
                user, password = s.get("username", ""), s.get("password", "")
                expected = base64.b64encode(hmac.new(SECRET.encode(), user.encode(), hashlib.sha1).digest()).decode()
                if password != expected:
                    raise Failed(f"password of {s.get('type')} is not HMAC-SHA1(TURN_CREDENTIALS, {user!r})")
                expiry = int(user.split(":")[0])
                if not time.time() < expiry <= time.time() + 86400 + 60:
                    raise Failed(f"user name {user!r} does not expire within a day")
            creds.update(user=turn["username"], password=turn["password"])
            return (f"turn {turn['host']}:{turn['port']}/{turn['transport']}, turns {turns['host']}:{turns['port']}; "
                    f"user {turn['username']}, expires {turn.get('expires')}")
        check("xep-0215-credentials", xep0215)

        def need_creds():
            if not creds:
                raise Failed("no credentials from Prosody (see xep-0215-credentials)")
            return creds["user"], creds["password"]

        def allocate_udp():
            user, password = need_creds()
            ok, out, took = uclient("-e", ALLOWED_PEER, "127.0.0.1", user=user, password=password)
            if not ok:
                raise Failed(f"turnutils_uclient over UDP 3478:\n{out[-1500:]}")
            return f"relay allocated over UDP 3478, 5 packets to {ALLOWED_PEER} and back ({took:.2f}s in all)"
        check("allocate-udp-3478", allocate_udp)

        def allocate_tls():
            user, password = need_creds()
            ok, out, took, tries = uclient_tls("-p", str(HTTPS_PORT), "-e", ALLOWED_PEER, "127.0.0.1",
                                               user=user, password=password)
            if not ok:
                raise Failed(f"turnutils_uclient over TLS on {HTTPS_PORT}:\n{out[-1500:]}")
            return (f"relay allocated over TLS on web's {HTTPS_PORT} through nginx, 5 packets to {ALLOWED_PEER} "
                    f"and back ({took:.2f}s; run {tries} got past its TLS handshakes)")
        check("allocate-tls-via-nginx", allocate_tls)

        def allocate_tcp():
            user, password = need_creds()
            ok, out, took = uclient("-t", "-p", str(HTTPS_PORT), "-e", ALLOWED_PEER, "127.0.0.1",
                                    user=user, password=password)
            if not ok:
                raise Failed(f"turnutils_uclient over plain TCP on {HTTPS_PORT}:\n{out[-1500:]}")
            return f"relay allocated over plain TCP on web's {HTTPS_PORT} (not TLS: to coturn), echoed ({took:.2f}s)"
        check("allocate-tcp-via-nginx", allocate_tcp)

        def tls_routing():
            t0 = time.monotonic()
            answer, fp = stun_over_tls(TURNS_HOST, None)
            took = time.monotonic() - t0
            if not is_stun_success(answer):
                raise Failed(f"SNI {TURNS_HOST} without ALPN: no STUN answer ({answer[:40]!r})")
            if fp != first_cert:
                raise Failed("coturn does not serve web's certificate")
            other, _ = stun_over_tls("meet.example.com", None)
            if is_stun_success(other):
                raise Failed("another name without ALPN reached coturn, not the web app")
            code, body = https_get("/turn-routing-probe")
            if code != 200 or "placeholder" not in body or "HTTP/2" not in body:
                raise Failed(f"HTTPS on {HTTPS_PORT}: {code} {body[:200]}")
            log = stack.log.read_text(errors="replace")
            lines = [ln for ln in log.splitlines() if "/turn-routing-probe" in ln]
            if not lines or not lines[-1].startswith("127.0.0.1 "):
                raise Failed(f"nginx did not log the client's address: {lines}")
            return (f"SNI {TURNS_HOST} (no ALPN) -> coturn, STUN answered with web's certificate "
                    f"({took * 1000:.0f} ms for connect, TLS handshake and binding through nginx); "
                    f"other names and ALPN h2 -> the web app over HTTP/2; access log: {lines[-1][:40]}...")
        check("tls-routing-on-https-port", tls_routing)

        def wrong_secret():
            user = f"{int(time.time()) + 3600}"
            bad = base64.b64encode(hmac.new(b"not-the-secret-0123456789", user.encode(), hashlib.sha1).digest()).decode()
            ok, out, _ = uclient("-e", ALLOWED_PEER, "127.0.0.1", user=user, password=bad)
            if ok or "Cannot complete Allocation" not in out:
                raise Failed(f"allocation with a wrong secret was not refused:\n{out[-800:]}")
            ok, out, _, _ = uclient_tls("-p", str(HTTPS_PORT), "-e", ALLOWED_PEER, "127.0.0.1",
                                        user=user, password=bad)
            if ok or "Cannot complete Allocation" not in out:
                raise Failed(f"allocation over TLS with a wrong secret was not refused:\n{out[-800:]}")
            return "credentials from another secret: allocation refused over UDP and TLS"
        check("wrong-secret-refused", wrong_secret)

        def denied_peers():
            user, password = need_creds()
            said = []
            for peer_ip in ("127.0.0.1", DENIED_PEER):
                ok, out, _ = uclient("-e", peer_ip, "127.0.0.1", user=user, password=password)
                if ok or "403 (Forbidden IP)" not in out:
                    raise Failed(f"relaying to {peer_ip} was not refused:\n{out[-800:]}")
                said.append(f"{peer_ip}: 403 Forbidden IP")
            return "; ".join(said) + f" (while {ALLOWED_PEER}, in TURN_ALLOWED_PEER_IPS, works)"
        check("denied-peers", denied_peers)

        def cert_reload():
            pid_before = stack.status()["turnserver"]["pid"]
            # Renewed in place: the same files, nothing else asked; on-change sends SIGUSR2.
            renewed = make_cert(root / "storage/keys", "after-renewal")
            deadline = time.monotonic() + 15
            while True:
                answer, fp = stun_over_tls(TURNS_HOST, ["stun.turn"])
                if fp == renewed and is_stun_success(answer):
                    break
                if time.monotonic() > deadline:
                    raise Failed("coturn still serves the old certificate 15s after the renewal")
                time.sleep(0.1)
            if "Reloading TLS certificates and keys" not in stack.log.read_text(errors="replace"):
                raise Failed("coturn did not log a TLS reload")
            pid_after = stack.status()["turnserver"]["pid"]
            if pid_after != pid_before:
                raise Failed(f"turnserver was restarted ({pid_before} -> {pid_after}), not reloaded")
            if "turnserver: sent SIGUSR2" not in stack.log.read_text(errors="replace"):
                raise Failed("jinit did not log the SIGUSR2 of on-change")
            return f"same files, new certificate served after on-change's SIGUSR2 (turnserver pid {pid_before} kept)"
        check("cert-reload", cert_reload)

        def restart():
            units = stack.status()
            pid = units["turnserver"]["pid"]
            t0 = time.monotonic()
            os.kill(pid, 9)
            while True:
                u = stack.status()["turnserver"]
                if u["state"] == "ready" and u["pid"] not in (None, pid):
                    break
                if time.monotonic() - t0 > 30:
                    raise Failed(f"turnserver not ready again 30s after SIGKILL: {u}")
                time.sleep(0.05)
            back = time.monotonic() - t0
            user, password = need_creds()
            ok, out, _ = uclient("-e", ALLOWED_PEER, "127.0.0.1", user=user, password=password)
            if not ok:
                raise Failed(f"no allocation after the restart:\n{out[-800:]}")
            return f"SIGKILL to pid {pid}: ready again as pid {u['pid']} after {back:.2f}s, allocates again"
        check("killed-turnserver-restarts", restart)
    finally:
        def stop():
            code = stack.stop()
            if code != 0:
                raise Failed(f"jinit exited with {code} after SIGTERM:\n{stack.tail()}")
            left = leftover_processes({peer.pid})
            if left:
                raise Failed(f"processes left after jinit exited: {left}")
            return "SIGTERM: jinit exited 0, no process left"
        check("sigterm-exit-0", stop)
        peer.terminate()
        peer.wait(10)
        peer_log.close()
    if results.failed:
        text = stack.log.read_text(errors="replace")
        print(f"--- {stack.log.name}{'' if args.v else ' (last 4000 characters)'}\n{text if args.v else text[-4000:]}")
    if args.keep:
        print(f"scratch directory kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return results.summary()


if __name__ == "__main__":
    sys.exit(main())
