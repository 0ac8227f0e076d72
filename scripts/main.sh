#!/usr/bin/env bash
# Lifeboat's main job, the whole story on the embedded defaults: start the local stack (with
# Ceph RGW and Azurite), apply the migrations and the demo seed, back up (encrypted, signed) to
# a local directory, the primary location, copy it to the other locations (a secondary in RGW's
# object-lock bucket, an archive in Azurite; docs/locations.md), verify the backup, run a
# restore drill that measures RTO reading from the secondary while the primary is set aside (as
# if it were lost), and print the status summary with the path of the HTML status page
# (locations and 3-2-1 included).
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

step "1/7 start the stack, apply migrations and the demo seed"
bash scripts/stack.sh start
set -a
# shellcheck disable=SC1091
. "$STACK_DIR/stack.env"
set +a

step "2/7 backup keys (age identity in $IDENTITY, signing key beside it)"
if [ ! -f "$IDENTITY" ] || [ ! -f "$IDENTITY.signing" ]; then
  recipient=$(lifeboat keygen --output "$IDENTITY" --force)
else
  recipient=$(grep -o 'age1[0-9a-z]*' "$IDENTITY" | head -n 1)
fi
echo "recipient: $recipient"
# Backups are signed with the private half; verify and drill trust only the public half.
export LIFEBOAT_SIGNING_KEY_FILE="$IDENTITY.signing" LIFEBOAT_TRUSTED_KEYS="$IDENTITY.signing.pub"

step "3/7 back up to $STORE (the primary location)"
mkdir -p "$STORE"
lifeboat backup --store "$STORE" --recipient "$recipient" --label "main-job" --json | tail -n 1

step "4/7 copy to the other locations (secondary: RGW with Object Lock; archive: Azurite)"
# The locations, as a project configures them (docs/locations.md): the secondary in RGW's
# object-lock bucket (every copied object locked, governance mode, 1 day), the archive in
# Azurite. Credentials come from the stack's LIFEBOAT_S3_* and LIFEBOAT_AZURE_* environment.
# Re-running the job keeps the rows up to date.
psql -X -q -v ON_ERROR_STOP=1 -d "$SUPABASE_DB_URL" \
  -v primary="$STORE" -v secondary="s3://$LIFEBOAT_S3_LOCKED_BUCKET/main-job-secondary" \
  -v archive="az://$LIFEBOAT_AZURE_ACCOUNT/$LIFEBOAT_AZURE_CONTAINER/main-job-archive" <<'SQL'
insert into lifeboat.locations (name, url, role, retention, lock, offsite, lag_objective) values
  ('primary', :'primary', 'primary', '{"daily": 7}', null, false, '1 day'),
  ('secondary', :'secondary', 'secondary', '{"daily": 7, "weekly": 4, "monthly": 12}', '{"mode": "governance", "days": 1}', true, '1 day'),
  ('archive', :'archive', 'archive', '{"monthly": 12, "yearly": 7}', null, true, '7 days')
on conflict (name) do update set url = excluded.url, role = excluded.role, retention = excluded.retention,
  lock = excluded.lock, offsite = excluded.offsite, lag_objective = excluded.lag_objective, enabled = true;
SQL
lifeboat copy

step "5/7 verify the newest backup"
lifeboat verify --store "$STORE" --latest --identity "$IDENTITY"

step "6/7 restore drill from the secondary, the primary set aside as if it were lost (measures RTO)"
# Without --store the drill uses the locations: the primary has no backup now, so it reads the
# secondary, verified first, and says so. The primary comes back afterwards.
mv "$STORE" "$STORE.set-aside"
mkdir -p "$STORE"
drill_status=0
LIFEBOAT_STORE="" lifeboat drill --identity "$IDENTITY" || drill_status=$?
rmdir "$STORE" && mv "$STORE.set-aside" "$STORE"
[ "$drill_status" = 0 ] || exit "$drill_status"

step "7/7 status"
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
