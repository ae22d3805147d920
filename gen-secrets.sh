#!/bin/sh
# Fills the empty secrets of ./.env with strong random values, and makes .env private (0600).
#
# Optional: without it, prosody generates the secrets .env leaves empty at the first start and
# keeps them in the `secrets` volume. Use it to have them in .env (several hosts, backups).
#
# The secrets are the variables that env.example marks with the line
#   # Secret: leave empty here, ./gen-secrets.sh fills it.
# directly above `NAME=`. For each of them, this script
#   - fills `NAME=` (or `NAME=""`, `NAME=''`) in .env with 32 random [A-Za-z0-9] characters;
#   - leaves a value that is already set, or a NAME_FILE that is set, untouched;
#   - appends `NAME=<random>` when .env has no such line at all.
# Every other line of .env stays as it is, so running it again changes nothing but the mode.
set -eu

cd "$(dirname "$0")"
marker='# Secret: leave empty here, ./gen-secrets.sh fills it.'

if [ ! -f .env ]; then
  echo "gen-secrets.sh: there is no .env here; create it first:  cp env.example .env" >&2
  exit 1
fi
if [ ! -f env.example ]; then
  echo "gen-secrets.sh: env.example is missing: it names the secrets to fill" >&2
  exit 1
fi

# The names on the line after each marker line of env.example.
names=$(awk -v marker="$marker" '
  prev == marker && match($0, /^[A-Za-z_][A-Za-z0-9_]*=/) { print substr($0, 1, RLENGTH - 1) }
  { prev = $0 }' env.example)

# What .env says about a name: "set", "empty" (NAME=, NAME="" or NAME='') or "missing".
# The last line for a name wins, as in Compose.
state() {
  awk -v name="$1" '
    index($0, name "=") == 1 {
      value = substr($0, length(name) + 2)
      found = (value == "" || value == "\"\"" || value == "\047\047") ? "empty" : "set"
    }
    END { print (found == "" ? "missing" : found) }' .env
}

# 32 characters drawn uniformly from [A-Za-z0-9]: tr keeps only those bytes of the random
# stream, dd takes the first 32 (one byte per read, so a short pipe read cannot cut it).
random_secret() {
  LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | dd ibs=1 count=32 2>/dev/null
}

fills=""
for name in $names; do
  [ "$(state "${name}_FILE")" = set ] && continue
  [ "$(state "$name")" = set ] && continue
  fills="$fills$name=$(random_secret)
"
done

if [ -z "$fills" ]; then
  echo "gen-secrets.sh: every secret is already set; nothing changed"
  exit 0
fi

# One pass over .env: the first empty line of each name gets its value, names without any
# line are appended. Written to a copy of .env (same mode and owner: it holds passwords),
# then renamed over it, so .env is never half-written.
tmp=$(mktemp .env.XXXXXX)
trap 'rm -f "$tmp"' EXIT
cp -p .env "$tmp"
printf '%s' "$fills" | awk '
  NR == FNR {
    eq = index($0, "="); name = substr($0, 1, eq - 1)
    value[name] = substr($0, eq + 1); order[++n] = name
    next
  }
  {
    eq = index($0, "=")
    if (eq > 1) {
      name = substr($0, 1, eq - 1); rest = substr($0, eq + 1)
      if (name in value && !(name in done) && (rest == "" || rest == "\"\"" || rest == "\047\047")) {
        print name "=" value[name]; done[name] = 1; next
      }
    }
    print
  }
  END { for (i = 1; i <= n; i++) if (!(order[i] in done)) print order[i] "=" value[order[i]] }
' - .env > "$tmp"
# .env now holds passwords: readable by its owner only, whatever it was before.
chmod 0600 "$tmp"
mv "$tmp" .env
trap - EXIT

echo "gen-secrets.sh: generated $(printf '%s' "$fills" | sed 's/=.*//' | tr '\n' ' ')"
