#!/usr/bin/env python3
"""Asks the Prometheus of prometheus.yml what it scrapes, through its HTTP API (for run.sh).

  prom.py URL targets JOB:SERVICE=COUNT...   every active target, one line each; exit 0 when
                                             each JOB:SERVICE has COUNT targets, all of them
                                             up, and there is no other target
  prom.py URL value EXPR                     the value of an instant query that has exactly
                                             one series (exit 1 when it has none or several)
  prom.py URL jobs                           the job names of the loaded configuration

URL is Prometheus's base URL (http://127.0.0.1:PORT). Output goes to stdout, so a failed
check's log shows what Prometheus saw (lastError included).
"""
import json
import sys
import urllib.parse
import urllib.request
from collections import Counter


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise SystemExit(f"{url}: {body}")
    return body["data"]


def targets(base: str, wanted: list[str]) -> int:
    active = get(f"{base}/api/v1/targets?state=active")["activeTargets"]
    seen, down = Counter(), []
    for t in sorted(active, key=lambda t: (t["labels"].get("job", ""), t["labels"].get("service", ""))):
        key = f"{t['labels'].get('job')}:{t['labels'].get('service')}"
        seen[key] += 1
        print(f"{key:28} {t['labels'].get('instance', ''):22} {t['health']:8} {t.get('lastError', '')}")
        if t["health"] != "up":
            down.append(key)
    want = Counter()
    for w in wanted:
        key, _, count = w.rpartition("=")
        want[key] = int(count)
    if seen != want:
        print(f"targets {dict(seen)}, want {dict(want)}")
        return 1
    if down:
        print(f"not up: {down}")
        return 1
    return 0


def value(base: str, expr: str) -> int:
    result = get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))["result"]
    if len(result) != 1:
        print(f"{expr}: {len(result)} series: {result}", file=sys.stderr)
        return 1
    print(result[0]["value"][1])
    return 0


def jobs(base: str) -> int:
    import yaml
    config = yaml.safe_load(get(f"{base}/api/v1/status/config")["yaml"])
    for job in config.get("scrape_configs", []):
        print(job["job_name"])
    return 0


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    base, what, args = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3:]
    try:
        if what == "targets":
            return targets(base, args)
        if what == "value" and len(args) == 1:
            return value(base, args[0])
        if what == "jobs":
            return jobs(base)
    except OSError as e:  # not answering yet, or refused: the caller polls
        print(f"{base}: {e}", file=sys.stderr)
        return 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
