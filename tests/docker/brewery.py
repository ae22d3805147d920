#!/usr/bin/env python3
"""Asks the Jicofo stand-in who it sees in a brewery room (tests/docker/standins/jicofo.py).

  brewery.py CONTAINER KIND BARE_JID [NICK]   exit 0 when an occupant of KIND's brewery
                                              (bridge, jigasi) has that real JID, and that
                                              nickname when given; prints what it saw
  brewery.py CONTAINER KIND --room            prints the room's JID

The stand-in serves GET /standin/breweries on Jicofo's REST port, inside the container only
(jicofo.rest.host is 127.0.0.1): the request is made there, with the image's python3.
"""
import json
import subprocess
import sys

FETCH = ("import urllib.request; print(urllib.request.urlopen("
         "'http://127.0.0.1:8888/standin/breweries', timeout=5).read().decode())")


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    container, kind, want = argv[:3]
    out = subprocess.run(["docker", "exec", container, "python3", "-c", FETCH],
                         capture_output=True, text=True, timeout=20)
    if out.returncode != 0:
        print(f"no answer from the Jicofo stand-in: {out.stderr.strip()}")
        return 1
    seen = json.loads(out.stdout)
    if kind not in seen:
        print(f"Jicofo has no {kind} brewery (configured: {sorted(seen)})")
        return 1
    room = seen[kind]
    if want == "--room":
        print(room["room"])
        return 0
    nick = argv[3] if len(argv) > 3 else None
    print(f"{kind} brewery {room['room']}: {room['occupants']}")
    for occupant in room["occupants"]:
        if occupant["jid"].split("/")[0] == want and nick in (None, occupant["nick"]):
            return 0
    print(f"no occupant {want}" + (f" with nickname {nick}" if nick else ""))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
