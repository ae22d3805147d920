#!/usr/bin/env bash
# The one command that runs every test of this repository (README.md, "Tests").
# Installs what it needs (Debian packages), builds jinit, runs clippy and the cargo tests (unit,
# property and integration, with real processes), checks that the release binary is static, and stops
# everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/lib.sh
. tests/lib.sh

step "installing test dependencies"
need_debs tini catatonit s6 nginx-light prosody lua5.4 util-linux procps file pebble curl ca-certificates
# pebble 2.5+ answers ACME Renewal Information (ARI) queries, which tests/letsencrypt.rs checks;
# bookworm has 2.4. Debian trixie's package depends on libc6 only and replaces it.
if ! dpkg --compare-versions "$(dpkg-query -W -f='${Version}' pebble)" ge 2.5; then
  debs=$(mktemp -d)
  bash tests/trixie-debs.sh "$debs" pebble
  dpkg -i "$debs"/pebble_*.deb
  rm -rf "$debs"
fi
# Debian's prosody package starts a system prosody on install; our tests run their own.
if command -v service >/dev/null && pgrep -x prosody >/dev/null 2>&1; then service prosody stop || true; fi

step "formatting"
cargo fmt --all -- --check

step "clippy"
cargo clippy --all-targets -- -D warnings

step "cargo test"
cargo test --all-targets 2>&1

step "the Jitsi stack without Docker: templates against real parsers, prosody + nginx under jinit, seed variables"
bash tests/stack/run.sh

step "static release binary"
RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" cargo build --release --target x86_64-unknown-linux-gnu
# jinit (every image's PID 1), jinit-config (its configuration half, in every image) and
# jinit-acme (the web image's Let's Encrypt client): static. PID 1 carries neither the TLS stack
# nor the template engine, spec parser and schemas: at most 2 MB.
for bin in target/x86_64-unknown-linux-gnu/release/jinit target/x86_64-unknown-linux-gnu/release/jinit-config target/x86_64-unknown-linux-gnu/release/jinit-acme; do
  info=$(file "$bin")
  echo "$info"
  [[ $info == *"statically linked"* ]] || { echo "FAIL: $bin is not static"; exit 1; }
  echo "size: $(stat -c %s "$bin") bytes"
done
bin=target/x86_64-unknown-linux-gnu/release/jinit
[ "$(stat -c %s "$bin")" -le 2000000 ] || { echo "FAIL: $bin is larger than 2 MB"; exit 1; }
# A crate's source paths (panic locations) show it is linked in.
for crate in rustls- minijinja- toml_edit-; do
  if grep -aq "$crate" "$bin"; then echo "FAIL: $bin contains ${crate%-}"; exit 1; fi
done
for crate in minijinja- toml_edit-; do
  grep -aq "$crate" "$bin-config" || { echo "FAIL: ${crate%-} not found in $bin-config: the check above sees no crate"; exit 1; }
done
"$bin" -- true

step "Docker: images, structure tests, compose end to end"
bash tests/docker/run.sh

echo
echo "all tests passed"
