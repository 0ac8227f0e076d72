#!/usr/bin/env bash
# Lifeboat's main job, the whole story on the embedded defaults: start the local stack (with
# Ceph RGW and Azurite), apply the migrations and the demo seed, enable continuous capture, back
# up the database and the Storage files (encrypted, signed; files by default, the stack's Storage
# URL and key are in its env) to a local directory, the primary location, copy it to the other
# locations (a secondary in RGW's object-lock bucket, an archive in Azurite; docs/locations.md),
# verify the backup (every file blob too), run a restore drill from the secondary while the
# primary is set aside (as if it were lost) that measures RTO and restores the files into a
# scratch bucket, say how many users, files and bytes were verified, show the stream with its
# achieved RPO, and print the status summary with the path of the HTML status page (locations
# and 3-2-1 included).
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

step "1/9 start the stack, apply migrations and the demo seed"
bash scripts/stack.sh start
set -a
# shellcheck disable=SC1091
. "$STACK_DIR/stack.env"
set +a

step "2/9 backup keys (age identity in $IDENTITY, signing key beside it)"
if [ ! -f "$IDENTITY" ] || [ ! -f "$IDENTITY.signing" ]; then
  recipient=$(lifeboat keygen --output "$IDENTITY" --force)
else
  recipient=$(grep -o 'age1[0-9a-z]*' "$IDENTITY" | head -n 1)
fi
echo "recipient: $recipient"
# Backups are signed with the private half; verify and drill trust only the public half.
export LIFEBOAT_SIGNING_KEY_FILE="$IDENTITY.signing" LIFEBOAT_TRUSTED_KEYS="$IDENTITY.signing.pub"

step "2b/9 continuous capture: enable the stream (slot, DDL capture) before the backup"
lifeboat stream enable

step "3/9 back up the database and the Storage files to $STORE (the primary location)"
mkdir -p "$STORE"
lifeboat backup --store "$STORE" --recipient "$recipient" --label "main-job" --json | tail -n 1

step "4/9 copy to the other locations (secondary: RGW with Object Lock; archive: Azurite)"
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

step "5/9 verify the newest backup (objects, file blobs, completeness against the source)"
lifeboat verify --store "$STORE" --latest --identity "$IDENTITY"

step "6/9 restore drill from the secondary, the primary set aside as if it were lost: the database into a scratch database (measures RTO), the files into a scratch bucket"
# Without --store the drill uses the locations: the primary has no backup now, so it reads the
# secondary, verified first, and says so. The primary comes back afterwards.
mv "$STORE" "$STORE.set-aside"
mkdir -p "$STORE"
drill_status=0
LIFEBOAT_STORE="" lifeboat drill --identity "$IDENTITY" --files --json >"$STACK_DIR/drill.json" || drill_status=$?
rmdir "$STORE" && mv "$STORE.set-aside" "$STORE"
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  for (const c of r.checks ?? []) if (c.level === "error") console.log("  failed: " + c.check + " " + (c.subject ?? "") + ": " + (c.detail ?? ""));
  if (r.files?.error) console.log("  files: " + r.files.error);
  const users = r.platform ? r.platform.users : 0;
  const f = r.files ?? { files: 0, total: 0, bytes: 0 };
  console.log((r.passed ? "DRILL PASSED" : "DRILL FAILED") + ": RTO " + Number(r.rtoSeconds).toFixed(1) + " s; verified " +
    users + " users, " + f.files + " of " + f.total + " files, " + f.bytes + " bytes of files (sha256 as the project serves them)");
' "$STACK_DIR/drill.json"
[ "$drill_status" = 0 ] || exit "$drill_status"

step "7/9 stream: ship what changed since it was enabled to $STORE; its achieved RPO"
lifeboat stream run --once --to "$STORE" --recipient "$recipient"
lifeboat stream status

step "8/9 point-in-time drill: the backup plus the stream up to its latest commit, into a scratch database"
lifeboat drill --store "$STORE" --identity "$IDENTITY" --until latest

step "9/9 status"
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
