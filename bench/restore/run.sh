#!/usr/bin/env bash
# Restore benchmark: `lifeboat restore` of a ~1 GB schema against `pg_restore -j2` of a
# `pg_dump -Fc` of the same schema, in the same run, plus lifeboat.fingerprint over every
# table against a sequential count(*) of the same tables.
#
# Usage: LIFEBOAT_STACK_DIR=... bash bench/restore/run.sh [--scale N] [--skip-generate] [--jobs N]
# Needs a running stack (scripts/stack.sh start --no-s3). Prints a Markdown block for RESULTS.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${LIFEBOAT_STACK_DIR:-$ROOT/.lifeboat}"
set -a; . "$STACK_DIR/stack.env"; set +a
DENO="$ROOT/tools/node_modules/.bin/deno"
# The stack accepts TLS; every tool here (libpq's psql, pg_dump, pg_restore and Lifeboat alike)
# uses plain TCP on loopback so that none pays for encryption the others skip.
export PGSSLMODE=disable
SCALE=1 GENERATE=1 JOBS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE="$2"; shift 2 ;;
    --skip-generate) GENERATE=0; shift ;;
    --jobs) JOBS="$2"; shift 2 ;;
    *) echo "usage: run.sh [--scale N] [--skip-generate] [--jobs N]" >&2; exit 2 ;;
  esac
done
SRC="$SUPABASE_DB_URL"
url_of() { printf '%s' "$SRC" | sed -E "s#/[^/?]+(\?|$)#/$1\1#"; }
q() { psql "$SRC" -X -At -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
WORK=$(mktemp -d /tmp/lifeboat-bench-restore.XXXXXX)
A=lifeboat_bench_a B=lifeboat_bench_b
cleanup() { q -c "drop database if exists $A with (force)" -c "drop database if exists $B with (force)" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

if [ "$GENERATE" = 1 ]; then
  echo "bench: generating schema bench (scale $SCALE)" >&2
  psql "$SRC" -X -q -v ON_ERROR_STOP=1 -v scale="$SCALE" -f "$ROOT/bench/restore/generate.sql" >/dev/null
fi
BYTES=$(q -c "select sum(pg_total_relation_size(c.oid)) from pg_class c where c.relnamespace = 'bench'::regnamespace and c.relkind = 'r'")
MB=$(echo "$BYTES / 1048576" | bc -l)

# Keys as 'lifeboat keygen' makes them: an age identity and the signing key pair; backups are
# signed and read back trusting the public half, as users run them.
"$DENO" run -A "$ROOT/scripts/lifeboat.ts" keygen --output "$WORK/key.txt" >/dev/null
RECIPIENT=$(grep -o 'age1[0-9a-z]*' "$WORK/key.txt" | head -n 1)
export LIFEBOAT_SIGNING_KEY_FILE="$WORK/key.txt.signing" LIFEBOAT_TRUSTED_KEYS="$WORK/key.txt.signing.pub"
echo "bench: lifeboat backup and pg_dump -Fc of schema bench ($(printf '%.0f' "$MB") MB)" >&2
t0=$(now)
"$DENO" run -A "$ROOT/scripts/lifeboat.ts" backup --store "$WORK/store" --recipient "$RECIPIENT" --include-schema bench --json >"$WORK/backup.jsonl"
t1=$(now)
ID=$(grep -o '"id":"[0-9TZ-]*[0-9a-f]*"' "$WORK/backup.jsonl" | tail -n1 | cut -d'"' -f4)
pg_dump -Fc -n bench -f "$WORK/bench.dump" "$SRC"
t2=$(now)

q -c "drop database if exists $A with (force)" -c "drop database if exists $B with (force)" -c "create database $A" -c "create database $B" >/dev/null
echo "bench: lifeboat restore --jobs $JOBS" >&2
t3=$(now)
"$DENO" run -A "$ROOT/scripts/lifeboat.ts" restore --store "$WORK/store" "$ID" --identity "$WORK/key.txt" --target "$(url_of $A)" --jobs "$JOBS" --json >"$WORK/restore.json" 2>/dev/null
t4=$(now)
echo "bench: pg_restore -j2" >&2
PGPASSWORD=$(printf '%s' "$SRC" | sed -E 's#^[^:]+://[^:]+:([^@]*)@.*#\1#') pg_restore -j 2 -d "$(url_of $B | sed -E 's#://([^:]+):[^@]*@#://\1@#')" "$WORK/bench.dump"
t5=$(now)
ROWS_A=$(psql "$(url_of $A)" -XAt -c "select (select count(*) from bench.events) + (select count(*) from bench.docs) + (select count(*) from bench.blobs)")
ROWS_B=$(psql "$(url_of $B)" -XAt -c "select (select count(*) from bench.events) + (select count(*) from bench.docs) + (select count(*) from bench.blobs)")
[ "$ROWS_A" = "$ROWS_B" ] || { echo "bench: row counts differ ($ROWS_A vs $ROWS_B)" >&2; exit 1; }
grep -q '"passed": true' "$WORK/restore.json" || { echo "bench: the lifeboat restore did not pass" >&2; exit 1; }

echo "bench: lifeboat.fingerprint vs sequential count(*)" >&2
# Same plan shape for both: one backend, sequential scans, warm cache (a first pass warms it).
FP=$(psql "$SRC" -X -q -At -v ON_ERROR_STOP=1 <<'SQL'
set max_parallel_workers_per_gather = 0;
set enable_indexonlyscan = off;
set enable_indexscan = off;
set enable_bitmapscan = off;
select count(*) from bench.events \g /dev/null
select count(*) from bench.docs \g /dev/null
select count(*) from bench.blobs \g /dev/null
select clock_timestamp() as t0 \gset
select count(*) from bench.events \g /dev/null
select count(*) from bench.docs \g /dev/null
select count(*) from bench.blobs \g /dev/null
select clock_timestamp() as t1 \gset
select lifeboat.fingerprint('bench.events') \g /dev/null
select lifeboat.fingerprint('bench.docs') \g /dev/null
select lifeboat.fingerprint('bench.blobs') \g /dev/null
select clock_timestamp() as t2 \gset
select extract(epoch from :'t1'::timestamptz - :'t0'::timestamptz) || ' ' || extract(epoch from :'t2'::timestamptz - :'t1'::timestamptz);
SQL
)
COUNT_S=${FP% *} FP_S=${FP#* }

L=$(echo "$t4 - $t3" | bc -l); P=$(echo "$t5 - $t4" | bc -l)
printf '\n| what | seconds | MB/s |\n|---|---|---|\n'
printf '| lifeboat backup (informational) | %.1f | %.1f |\n' "$(echo "$t1-$t0" | bc -l)" "$(echo "$MB/($t1-$t0)" | bc -l)"
printf '| pg_dump -Fc (informational) | %.1f | %.1f |\n' "$(echo "$t2-$t1" | bc -l)" "$(echo "$MB/($t2-$t1)" | bc -l)"
printf '| **lifeboat restore --jobs %s** (verify sha256, pre-flight, load, post-data, fingerprints) | %.1f | %.1f |\n' "$JOBS" "$L" "$(echo "$MB/$L" | bc -l)"
printf '| pg_restore -j2 | %.1f | %.1f |\n' "$P" "$(echo "$MB/$P" | bc -l)"
printf '| sequential count(*) of the 3 tables | %.2f | %.1f |\n' "$COUNT_S" "$(echo "$MB/$COUNT_S" | bc -l)"
printf '| lifeboat.fingerprint of the 3 tables | %.2f | %.1f |\n' "$FP_S" "$(echo "$MB/$FP_S" | bc -l)"
printf '\n- restore throughput lifeboat / pg_restore -j2: **%.2f** (target >= 1.2)\n' "$(echo "$P/$L" | bc -l)"
printf -- '- fingerprint / count(*) throughput: **%.2f** (target >= 0.5)\n' "$(echo "$COUNT_S/$FP_S" | bc -l)"
printf -- '- size: %.0f MB on disk (tables, TOAST and indexes), %s rows; lifeboat phase timings (ms): %s\n' "$MB" "$ROWS_A" \
  "$(tr -d '\n ' <"$WORK/restore.json" | grep -o '"timings":{[^}]*}' | sed 's/"timings"://')"
