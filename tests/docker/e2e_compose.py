#!/usr/bin/env python3
"""Derives the end-to-end test's compose file from docker-compose.yml.

  e2e_compose.py REPO_ROOT > DIR/docker-compose.yml
  e2e_compose.py REPO_ROOT FILE SERVICE... > DIR/FILE

Keeps base, check, prosody and web (Jitsi's Java components cannot be built here), or the SERVICEs
named of FILE (docker-compose.yml or an overlay: the stand-in test keeps jicofo and jvb too),
points the build contexts at the repository, publishes every port on 127.0.0.1 only, and adds
Prosody's client port (E2E_XMPP_PORT, default 15222) so that the test's XMPP client can log in
directly as well as through web. Everything else stays as the file has it.
"""
import os
import sys
from pathlib import Path

import yaml

root = Path(sys.argv[1]).resolve()
source = sys.argv[2] if len(sys.argv) > 2 else "docker-compose.yml"
keep = sys.argv[3:] or ["base", "check", "prosody", "web"]
compose = yaml.safe_load((root / source).read_text())
services = compose["services"]
dropped = [name for name in services if name not in keep]
for name in dropped:
    del services[name]
for name, service in services.items():
    if "build" in service and "context" in service["build"]:
        service["build"]["context"] = str((root / service["build"]["context"]).resolve())
    depends = service.get("depends_on")
    if isinstance(depends, dict):
        for gone in [d for d in depends if d in dropped]:
            del depends[gone]
    if "ports" in service:
        # (prometheus.yml already publishes on 127.0.0.1 only.)
        service["ports"] = [p if str(p).startswith("127.0.0.1:") else f"127.0.0.1:{p}"
                            for p in service["ports"]]
xmpp_port = os.environ.get("E2E_XMPP_PORT", "15222")
# (Only in the main file: an overlay that adds to prosody would publish it a second time.)
if "prosody" in services and source == "docker-compose.yml":
    services["prosody"].setdefault("ports", []).append(f"127.0.0.1:{xmpp_port}:5222")
# The generated x-* blocks are already merged into the services by the YAML loader.
compose = {k: v for k, v in compose.items() if not k.startswith("x-")}
yaml.safe_dump(compose, sys.stdout, sort_keys=False, default_flow_style=False)
