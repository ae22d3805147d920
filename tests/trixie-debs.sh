#!/usr/bin/env bash
# trixie-debs.sh DIR PACKAGE...: downloads Debian trixie's .deb of each PACKAGE into DIR,
# without touching the system's apt sources (a private source list and list directory).
# For the few tools whose bookworm version is too old for the tests: the Compose v2 and buildx
# CLI plugins (bookworm has neither) and pebble (2.4 lacks ACME Renewal Information).
set -euo pipefail
dir=$1; shift
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo 'deb http://deb.debian.org/debian trixie main' >"$work/trixie.list"
# Own lists and caches: the system's apt state (bookworm) stays as it is.
opts=(-o "Dir::Etc::sourcelist=$work/trixie.list" -o Dir::Etc::sourceparts=-
      -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
apt-get update -q "${opts[@]}" >/dev/null
# apt-get download writes into the current directory (as root: unsandboxed, which it notes).
cd "$dir"
apt-get download -q "${opts[@]}" "$@" 2>&1 | { grep -v '^W: Download is performed unsandboxed' || true; }
for pkg in "$@"; do
  ls "${pkg}"_*.deb >/dev/null 2>&1 || { echo "trixie-debs.sh: $pkg was not downloaded" >&2; exit 1; }
done
