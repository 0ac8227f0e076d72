#!/usr/bin/env bash
# Lifeboat's main job, the whole story on the embedded defaults: start the local stack (no S3:
# backups go to a local directory store), apply the migrations and the demo seed, back up
# (encrypted), verify the backup, run a restore drill that measures RTO, show continuous
# capture running with its achieved RPO, and print the status summary with the path of the HTML
# status page.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STACK_DIR="${LIFEBOAT_STACK_DIR:-$ROOT/.lifeboat}"
case "$STACK_DIR" in /*) ;; *) STACK_DIR="$ROOT/$STACK_DIR" ;; esac
export LIFEBOAT_STACK_DIR="$STACK_DIR"
STORE="$STACK_DIR/backups"
IDENTITY="$STACK_DIR/backup-identity.txt"
REPORT="$STACK_DIR/status.html"
lifeboat() { "$ROOT/scripts/lifeboat" "$@"; }
step() { printf '\n== %s\n' "$*"; }

step "1/6 start the stack, apply migrations and the demo seed"
bash scripts/stack.sh start --no-s3
set -a
# shellcheck disable=SC1091
. "$STACK_DIR/stack.env"
set +a

step "2/6 backup keys (age identity in $IDENTITY, signing key beside it)"
if [ ! -f "$IDENTITY" ] || [ ! -f "$IDENTITY.signing" ]; then
  recipient=$(lifeboat keygen --output "$IDENTITY" --force)
else
  recipient=$(grep -o 'age1[0-9a-z]*' "$IDENTITY" | head -n 1)
fi
echo "recipient: $recipient"
# Backups are signed with the private half; verify and drill trust only the public half.
export LIFEBOAT_SIGNING_KEY_FILE="$IDENTITY.signing" LIFEBOAT_TRUSTED_KEYS="$IDENTITY.signing.pub"

step "2b/6 continuous capture: enable the stream (slot, DDL capture) before the backup"
lifeboat stream enable

step "3/6 back up to $STORE"
mkdir -p "$STORE"
lifeboat backup --store "$STORE" --recipient "$recipient" --label "main-job" --json | tail -n 1

step "4/6 verify the newest backup"
lifeboat verify --store "$STORE" --latest --identity "$IDENTITY"

step "5/6 restore drill into a scratch database (measures RTO)"
lifeboat drill --store "$STORE" --identity "$IDENTITY"

step "5b/6 stream: ship what changed since it was enabled to $STORE; its achieved RPO"
lifeboat stream run --once --to "$STORE" --recipient "$recipient"
lifeboat stream status

step "5c/6 point-in-time drill: the backup plus the stream up to its latest commit, into a scratch database"
lifeboat drill --store "$STORE" --identity "$IDENTITY" --until latest

step "6/6 status"
secret=$(node -e 'process.stdout.write(JSON.parse(process.env.SUPABASE_SECRET_KEYS).default)')
echo "health: $(curl -sS -H "apikey: $secret" "$SUPABASE_URL/functions/v1/health" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const h = JSON.parse(s);
    console.log(h.status + " (" + Object.entries(h.checks).map(([k, v]) => k.split(":")[1] + "=" + v[0].status).join(", ") + ")");
  });')"
status=0
# The same summary backup-status serves, and the same page as ?format=html.
lifeboat report --html "$REPORT" || status=$?
echo
echo "HTML status page: $REPORT"
echo "The stack keeps running; stop it with: bash scripts/stack.sh stop"
exit "$status"
