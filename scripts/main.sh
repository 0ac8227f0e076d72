#!/usr/bin/env bash
# Lifeboat's main job, the whole story on the embedded defaults: start the local stack (with
# Ceph RGW and Azurite), apply the migrations and the demo seed, enable continuous capture, back
# up the database and the Storage files (encrypted, signed; files by default, the stack's Storage
# URL and key are in its env) to a local directory, the primary location, copy it to the other
# locations (a secondary in RGW's object-lock bucket, an archive in Azurite; docs/locations.md),
# verify the backup (every file blob too), run a restore drill from the secondary while the
# primary is set aside (as if it were lost) that measures RTO and restores the files into a
# scratch bucket, say how many users, files and bytes were verified, show the stream with its
# achieved RPO, let the project prove itself (backup-export, then backup-verify and backup-drill
# driven by pg_cron/pg_net, until backup-status says recoverable), and print the status summary
# with the path of the HTML status page (locations and 3-2-1 included).
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

step "1/10 start the stack, apply migrations and the demo seed"
bash scripts/stack.sh start
set -a
# shellcheck disable=SC1091
. "$STACK_DIR/stack.env"
set +a

step "2/10 backup keys (age identity in $IDENTITY, signing key beside it)"
if [ ! -f "$IDENTITY" ] || [ ! -f "$IDENTITY.signing" ]; then
  recipient=$(lifeboat keygen --output "$IDENTITY" --force)
else
  recipient=$(grep -o 'age1[0-9a-z]*' "$IDENTITY" | head -n 1)
fi
echo "recipient: $recipient"
# Backups are signed with the private half; verify and drill trust only the public half.
export LIFEBOAT_SIGNING_KEY_FILE="$IDENTITY.signing" LIFEBOAT_TRUSTED_KEYS="$IDENTITY.signing.pub"

step "2b/10 continuous capture: enable the stream (slot, DDL capture) before the backup"
lifeboat stream enable

step "3/10 back up the database and the Storage files to $STORE (the primary location)"
mkdir -p "$STORE"
lifeboat backup --store "$STORE" --recipient "$recipient" --label "main-job" --json | tail -n 1

step "4/10 copy to the other locations (secondary: RGW with Object Lock; archive: Azurite)"
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

step "5/10 verify the newest backup (objects, file blobs, completeness against the source)"
lifeboat verify --store "$STORE" --latest --identity "$IDENTITY"

step "6/10 restore drill from the secondary, the primary set aside as if it were lost: the database into a scratch database (measures RTO), the files into a scratch bucket"
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

step "7/10 stream: ship what changed since it was enabled to $STORE; its achieved RPO"
lifeboat stream run --once --to "$STORE" --recipient "$recipient"
lifeboat stream status

step "8/10 point-in-time drill: the backup plus the stream up to its latest commit, into a scratch database"
lifeboat drill --store "$STORE" --identity "$IDENTITY" --until latest

step "9/10 the project proves itself: backup-export, then pg_cron drives backup-verify and an in-project drill (backup-drill)"
# What a user does in the SQL editor (README, "Every backup proven by the project itself"): the
# export target in RGW, backups encrypted to the offline recipient and a drill recipient, the
# drill identity in Vault. Then one backup through the function, and only waiting: its
# completion invokes backup-verify (the verify-backups sweep is the safety net), and pg_cron's
# drill-weekly, moved to every 5 seconds for this step, invokes backup-drill. The settings are
# put back after (the verification and the drill stay recorded).
secret=$(node -e 'process.stdout.write(JSON.parse(process.env.SUPABASE_SECRET_KEYS).default)')
DRILL_IDENTITY="$STACK_DIR/drill-identity.txt"
[ -f "$DRILL_IDENTITY" ] || age-keygen -o "$DRILL_IDENTITY" 2>/dev/null
drill_recipient=$(age-keygen -y "$DRILL_IDENTITY")
# The change stream's schedule follows export.target; steps 7-8 ship it to the local store, so it
# stays off while the target is set here (else its segments would land in RGW, apart).
ship_enabled=$(psql -X -At -d "$SUPABASE_DB_URL" -c "select coalesce((select enabled from lifeboat.schedules where name = 'stream-ship'), false)")
drill_schedule=$(psql -X -At -d "$SUPABASE_DB_URL" -c "select schedule from lifeboat.schedules where name = 'drill-weekly'")
psql -X -q -v ON_ERROR_STOP=1 -d "$SUPABASE_DB_URL" -v target="\"s3://$LIFEBOAT_S3_BUCKET/main-job-project\"" \
  -v recipients="[\"$recipient\", \"$drill_recipient\"]" -v identity="$(cat "$DRILL_IDENTITY")" <<'SQL' >/dev/null
update lifeboat.settings set value = :'target'::jsonb where key = 'export.target';
update lifeboat.settings set value = :'recipients'::jsonb where key = 'export.recipients';
select vault.update_secret(s.id, :'identity') from vault.secrets s where s.name = 'lifeboat_drill_identity';
select vault.create_secret(:'identity', 'lifeboat_drill_identity', 'age identity used only for restore drills')
 where not exists (select from vault.secrets s where s.name = 'lifeboat_drill_identity');
update lifeboat.settings set value = '"lifeboat_drill_identity"' where key = 'drill.identity_secret';
update lifeboat.schedules set schedule = '5 seconds' where name = 'drill-weekly';
update lifeboat.schedules set enabled = false where name = 'stream-ship';
select * from lifeboat.apply_schedules();
SQL
since=$(psql -X -At -d "$SUPABASE_DB_URL" -c "select now()")
psql -X -q -At -d "$SUPABASE_DB_URL" -c "select lifeboat.invoke('backup-export', '{\"mode\":\"full\"}')" >/dev/null
proof_status=0
# Waits (up to 3 minutes) for a backup-export backup taken since this step, its backup-verify
# verification, and a backup-drill drill of it in the project.
proof=""
for _ in $(seq 1 90); do
  proof=$(psql -X -At -d "$SUPABASE_DB_URL" -v since="$since" <<'SQL'
select format('backup %s (backup-export); verification %s by backup-verify: %s; drill %s in the project: %s, RTO %s s, %s tables',
    lifeboat.backup_id_of(r.manifest_key), v.id, case when v.success then 'passed' else 'FAILED' end,
    d.id, case when d.success then 'passed' else 'FAILED' end, round(extract(epoch from d.measured_rto)::numeric, 1), d.details ->> 'tables')
from lifeboat.backup_runs r
join lifeboat.verification_runs v on v.backup_run_id = r.id and v.source = 'backup-verify' and v.finished_at is not null
join lifeboat.drills d on d.backup_run_id = r.id and d.ran_in = 'project' and d.finished_at is not null
where r.created_at >= :'since'::timestamptz
order by d.id desc limit 1;
SQL
  ) || proof=""
  [ -n "$proof" ] && break
  sleep 2
done
# Back to how the job found the project: the drill schedule it had, and no export target, so
# that pg_cron does not go on exporting, and the change stream (stream-ship follows
# export.target) keeps shipping where steps 7 and 8 of the next run expect it.
psql -X -q -v ON_ERROR_STOP=1 -d "$SUPABASE_DB_URL" -v ship="$ship_enabled" -v drill_schedule="$drill_schedule" >/dev/null <<'SQL'
update lifeboat.schedules set schedule = :'drill_schedule' where name = 'drill-weekly';
update lifeboat.schedules set enabled = :'ship'::boolean where name = 'stream-ship';
update lifeboat.settings set value = default_value
 where key in ('export.target', 'export.recipients', 'drill.identity_secret');
select * from lifeboat.apply_schedules();
SQL
echo "${proof:-no verified and drilled backup-export backup within 3 minutes}"
curl -sS -H "apikey: $secret" "$SUPABASE_URL/functions/v1/backup-status" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const r = JSON.parse(s);
    for (const x of r.reasons ?? []) console.log("  " + (x.ok ? "ok  " : "FAIL") + " " + x.check + ": " + x.detail);
    const proved = /\(project\)/.test((r.reasons ?? []).find((x) => x.check === "drill_passed")?.detail ?? "");
    console.log("recoverable: " + r.recoverable + (r.recoverable && proved ? " (proved by the project itself: verified by backup-verify, drilled by backup-drill)" : ""));
    process.exit(r.recoverable && proved ? 0 : 1);
  });' || proof_status=1
[ "$proof_status" = 0 ] && [ -n "$proof" ] || exit 1

step "10/10 status"
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
