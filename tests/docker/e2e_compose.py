#!/usr/bin/env python3
"""Derives the end-to-end test's compose file from docker-compose.yml.

  e2e_compose.py REPO_ROOT > DIR/docker-compose.yml

Keeps base, prosody and web (Jitsi's Java components cannot be built here), points the build
contexts at the repository, publishes every port on 127.0.0.1 only, and adds Prosody's client
port (E2E_XMPP_PORT, default 15222) so that the test's XMPP client can log in directly as well
as through web. Everything else stays as docker-compose.yml has it.
"""
import os
import sys
from pathlib import Path

import yaml

KEEP = ("base", "prosody", "web")

root = Path(sys.argv[1]).resolve()
compose = yaml.safe_load((root / "docker-compose.yml").read_text())
services = compose["services"]
for name in list(services):
    if name not in KEEP:
        del services[name]
for name, service in services.items():
    if "build" in service:
        service["build"]["context"] = str(root)
    depends = service.get("depends_on")
    if isinstance(depends, dict):
        for gone in [d for d in depends if d not in KEEP]:
            del depends[gone]
    if "ports" in service:
        service["ports"] = [f"127.0.0.1:{p}" for p in service["ports"]]
xmpp_port = os.environ.get("E2E_XMPP_PORT", "15222")
services["prosody"].setdefault("ports", []).append(f"127.0.0.1:{xmpp_port}:5222")
# The generated x-* blocks are already merged into the services by the YAML loader.
compose = {k: v for k, v in compose.items() if not k.startswith("x-")}
yaml.safe_dump(compose, sys.stdout, sort_keys=False, default_flow_style=False)
