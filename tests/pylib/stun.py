"""A STUN binding request over TLS (RFC 5389), as a TURN-over-TLS client sends it: what
answers tells whether a TLS port reaches coturn (a STUN success) or something else.

    python3 tests/pylib/stun.py PORT [--alpn PROTO] [--sni NAME] [--host HOST]

exits 0 when coturn answered, 1 otherwise (printing what came back).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import ssl
import sys

MAGIC = b"\x21\x12\xa4\x42"


def binding_over_tls(port: int, server_name: str | None = None, alpn: list[str] | None = None,
                     host: str = "127.0.0.1") -> tuple[bytes, str]:
    """Sends a binding request through TLS to HOST:PORT; returns the answer (empty when none
    came) and the SHA-256 of the server's certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    with socket.create_connection((host, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as s:
            fingerprint = hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()
            s.sendall(b"\x00\x01\x00\x00" + MAGIC + os.urandom(12))
            try:
                answer = s.recv(2048)
            except (TimeoutError, ssl.SSLError, OSError):
                answer = b""
            return answer, fingerprint


def is_success(answer: bytes) -> bool:
    """A binding success response (class success, method binding) with the magic cookie."""
    return len(answer) >= 20 and answer[:2] == b"\x01\x01" and answer[4:8] == MAGIC


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--alpn", action="append")
    ap.add_argument("--sni")
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    try:
        answer, fingerprint = binding_over_tls(a.port, a.sni, a.alpn, a.host)
    except OSError as e:
        print(f"no TLS connection to {a.host}:{a.port}: {e}")
        return 1
    if is_success(answer):
        print(f"STUN binding success over TLS (certificate sha256 {fingerprint[:16]}...)")
        return 0
    print(f"no STUN success over TLS; got {answer[:60]!r}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
