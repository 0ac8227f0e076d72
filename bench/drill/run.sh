#!/usr/bin/env bash
# Drill benchmark (issue 19 item 2): the in-project drill (backup-drill, through the gateway,
# with its default budgets: continuation after continuation) against `lifeboat drill` from the
# CLI, side by side in one run, on the same signed, encrypted backup of schema `bench`
# (bench/export/generate.sql, SIZE_GB of table data, default 1). Prints seconds per GB of each and
# their ratio. Not part of the test suite. Needs a stack started with S3:
#   LIFEBOAT_STACK_DIR=... scripts/stack.sh start && bash bench/drill/run.sh
# Env: SIZE_GB (default 1), KEEP=1 keeps schema bench and the stored objects.
# It changes the stack's settings (export.target, export.recipients, drill.*) and resets drill.* at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${LIFEBOAT_STACK_DIR:-$ROOT/.lifeboat}"
case "$STACK_DIR" in /*) ;; *) STACK_DIR="$PWD/$STACK_DIR" ;; esac
set -a; . "$STACK_DIR/stack.env"; [ -f "$STACK_DIR/s3.env" ] && . "$STACK_DIR/s3.env"; set +a
: "${LIFEBOAT_S3_ENDPOINT:?start the stack with S3 (without --no-s3)}"
export PGPASSWORD=postgres PGSSLMODE=disable
DB="$SUPABASE_DB_URL"
DENO="$ROOT/tools/node_modules/.bin/deno"
WORK=$(mktemp -d /tmp/lifeboat-drill-bench.XXXXXX)
SIZE_GB="${SIZE_GB:-1}"
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
S3="s3://${LIFEBOAT_S3_BUCKET:-lifeboat}/bench-drill/$RUN_ID"
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
cleanup() {
  q -c "update lifeboat.settings set value = default_value where key like 'drill.%'" >/dev/null 2>&1 || true
  q -c "delete from vault.secrets where name = 'lifeboat_drill_identity_bench'" >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" != 1 ]; then
    "$DENO" run -A --quiet "$ROOT/bench/export/cleanup.ts" "$S3/" >&2 || true
    q -c "drop schema if exists bench cascade" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Keys: an offline identity and a drill identity; backups are encrypted to both and signed with
# the project's signing key (the one backup-export uses), which the in-project drill trusts.
"$DENO" run -A "$ROOT/scripts/lifeboat.ts" keygen --output "$WORK/offline.txt" >/dev/null
"$DENO" run -A "$ROOT/scripts/lifeboat.ts" keygen --output "$WORK/drill.txt" >/dev/null
OFFLINE=$(grep -o 'age1[0-9a-z]*' "$WORK/offline.txt" | head -n 1)
DRILL=$(grep -o 'age1[0-9a-z]*' "$WORK/drill.txt" | head -n 1)
export LIFEBOAT_TRUSTED_KEYS="$STACK_DIR/signing.key.signing.pub"

q -c "drop schema if exists bench cascade"
ids=$(awk -v g="$SIZE_GB" 'BEGIN { printf "%d", g * 1650000 }')
q -v rows_from=1 -v rows_to="$ids" -f "$ROOT/bench/export/generate.sql" >/dev/null
q -c "vacuum (analyze) bench.orders, bench.events, bench.wide, bench.documents"
bytes=$(q -c "select sum(pg_table_size(c.oid)) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'bench' and c.relkind = 'r'")
"$ROOT/scripts/lifeboat" backup --db-url "$DB" --store "$S3" --recipient "$OFFLINE" --recipient "$DRILL" \
  --signing-key "$STACK_DIR/signing.key.signing" --include-schema bench >"$WORK/backup.out" 2>&1 \
  || { cat "$WORK/backup.out" >&2; exit 1; }
plain=$(q -c "select sum((t->>'bytes')::bigint) from lifeboat.backup_runs r, jsonb_array_elements(r.tables) t where r.target = '$S3'" 2>/dev/null || echo "")

# (a) in-project: backup-drill through the gateway, default budgets, continuations.
q -c "update lifeboat.settings set value = '\"$S3\"' where key = 'export.target'"
q -c "select vault.create_secret('$(cat "$WORK/drill.txt" | grep AGE-SECRET)', 'lifeboat_drill_identity_bench')" >/dev/null
q -c "update lifeboat.settings set value = '\"lifeboat_drill_identity_bench\"' where key = 'drill.identity_secret'"
q -c "update lifeboat.settings set value = '4294967296' where key = 'drill.max_bytes'"
q -c "update lifeboat.settings set value = 'null' where key = 'drill.assertions_schema'"
key=$(echo "$SUPABASE_SECRET_KEYS" | sed 's/.*"default":"\([^"]*\)".*/\1/')
t0=$(date +%s.%N)
curl -fsS -o "$WORK/a.json" -X POST "$SUPABASE_URL/functions/v1/backup-drill" -H "apikey: $key" -H 'content-type: application/json' -d '{}' || true
drill=$(grep -o '"drill":[0-9]*' "$WORK/a.json" | head -1 | cut -d: -f2)
[ -n "$drill" ] || { cat "$WORK/a.json" >&2; exit 1; }
until [ "$(q -c "select finished_at is not null from lifeboat.drills where id = $drill")" = t ]; do sleep 1; done
t1=$(date +%s.%N)
read -r a_ok a_rto a_work a_inv a_tables < <(q -F ' ' -c "select success, extract(epoch from measured_rto), details->>'workSeconds', details->>'invocations', details->>'tables' from lifeboat.drills where id = $drill")
wa=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')

# (b) lifeboat drill from the CLI (default --jobs 2), same backup.
t0=$(date +%s.%N)
"$ROOT/scripts/lifeboat" drill --store "$S3" --identity "$WORK/drill.txt" --db-url "$DB" >"$WORK/b.out" 2>&1 || true
t1=$(date +%s.%N)
wb=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
read -r b_ok b_rto < <(q -F ' ' -c "select success, extract(epoch from measured_rto) from lifeboat.drills where details ->> 'where' is null order by id desc limit 1")

gb=$(awk -v b="$bytes" 'BEGIN { printf "%.3f", b / 1e9 }')
echo "| tool | DB (tables) | wall s | s/GB | drill success | recorded RTO s | notes |"
echo "|---|---|---|---|---|---|---|"
awk -v n="(a) in-project backup-drill" -v w="$wa" -v g="$gb" -v ok="$a_ok" -v r="$a_rto" -v note="$a_inv invocations, $a_work s of work, $a_tables tables" \
  'BEGIN { printf "| %s | %.0f MB | %.1f | %.1f | %s | %.1f | %s |\n", n, g * 1000, w, w / g, ok, r, note }'
awk -v n="(b) lifeboat drill (CLI, --jobs 2)" -v w="$wb" -v g="$gb" -v ok="$b_ok" -v r="$b_rto" \
  'BEGIN { printf "| %s | %.0f MB | %.1f | %.1f | %s | %.1f | scratch database |\n", n, g * 1000, w, w / g, ok, r }'
awk -v a="$wa" -v b="$wb" 'BEGIN { printf "\nin-project / CLI wall time: %.2f\n", a / b }'
echo "run: $RUN_ID ($SIZE_GB GB requested, $gb GB of table data${plain:+, $plain plain bytes backed up})"
