#!/bin/sh
# Creates the Swarm secrets swarm.yml uses: the passwords of Jicofo's and the bridges' XMPP
# accounts, 32 random characters each (docker secret create, on a manager). A secret that
# exists already is kept, so running it again changes nothing; to rotate one, remove the stack,
# then the secret (docker secret rm jitsi_jvb_auth_password), run this again and deploy.
set -eu
for name in jitsi_jicofo_auth_password jitsi_jvb_auth_password; do
  if docker secret inspect "$name" >/dev/null 2>&1; then
    echo "swarm-secrets.sh: $name exists, kept" >&2
    continue
  fi
  # 32 characters of [A-Za-z0-9] from the kernel's random source, without a trailing newline.
  LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 | docker secret create "$name" - >/dev/null
  echo "swarm-secrets.sh: created $name" >&2
done
