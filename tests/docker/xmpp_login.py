#!/usr/bin/env python3
"""Logs in to the XMPP server of the running stack, the way each kind of client does.

  xmpp_login.py bosh URL DOMAIN          anonymous login over BOSH (web's /http-bind)
  xmpp_login.py websocket URL DOMAIN     anonymous login over XMPP WebSocket (web's /xmpp-websocket)
  xmpp_login.py tcp HOST:PORT JID [PASSWORD]
                                         login over a client-to-server TCP connection with
                                         slixmpp (STARTTLS): anonymous when JID is a bare
                                         domain, else with the password (a service account)

Each mode ends with resource binding and prints the full JID the server assigned; the exit code
is 0 only then. The clients are tests/pylib/xmpp_clients.py (on PYTHONPATH, as tests/lib.sh
sets it); TLS certificates are not verified (the stack's are self-signed).
"""
import sys

import xmpp_clients


def main(argv):
    if len(argv) < 3 or argv[0] not in ("bosh", "websocket", "tcp"):
        print(__doc__)
        return 2
    mode = argv[0]
    if mode == "tcp":
        host, port = argv[1].rsplit(":", 1)
        login = xmpp_clients.c2s(host, int(port), argv[2], argv[3] if len(argv) > 3 else "")
    else:
        login = getattr(xmpp_clients, mode)(argv[1], argv[2])
    if not login.ok or "@" not in login.jid or "/" not in login.jid:
        print(f"{mode}: no JID bound ({login})")
        return 1
    print(f"{mode}: logged in as {login.jid}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
