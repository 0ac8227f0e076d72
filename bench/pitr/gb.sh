#!/usr/bin/env bash
# Point-in-time restore of ~1 GB plus MINUTES of the stream benchmark's mixed workload, end to
# end through the CLI, as a user runs it:
#   1. schema bench (~1 GB, bench/restore/generate.sql) and bench_stream.orders (the workload's
#      table, as bench/stream/run.ts makes it);
#   2. `lifeboat stream enable`, `lifeboat stream run` shipping to a local encrypted store, then
#      a full `lifeboat backup` of both schemas to the same store;
#   3. pgbench -R RATE with bench/stream/workload.sql for MINUTES*60-30 s; then the moment M
#      (after its last commit) and lifeboat.fingerprint of bench_stream.orders at M; then 30 s
#      more of the workload, so that M is a moment near the end and not the end of the stream;
#      the RPO and lag are sampled every 5 s throughout;
#   4. `lifeboat restore --until M` into a fresh database, timed end to end (reading and
#      authenticating the chain, the full restore with its checks, the replay);
#   5. every table of the restored database fingerprinted against the source at M.
# Prints a Markdown block for bench/pitr/RESULTS.md.
#
# Usage: LIFEBOAT_STACK_DIR=... bash bench/pitr/gb.sh [--minutes N] [--rate TPS] [--scale S] [--skip-generate]
# (LIFEBOAT_BENCH_KEEP=1 keeps the store and keys in the temporary directory, to restore again.)
# Needs a running stack (scripts/stack.sh start [--no-s3]).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${LIFEBOAT_STACK_DIR:-$ROOT/.lifeboat}"
set -a; . "$STACK_DIR/stack.env"; set +a
DENO="$ROOT/tools/node_modules/.bin/deno"
export PGSSLMODE=disable
MINUTES=10 RATE=500 SCALE=1 GENERATE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --scale) SCALE="$2"; shift 2 ;;
    --skip-generate) GENERATE=0; shift ;;
    *) echo "usage: gb.sh [--minutes N] [--rate TPS] [--scale S] [--skip-generate]" >&2; exit 2 ;;
  esac
done
SRC="$SUPABASE_DB_URL"
url_of() { printf '%s' "$SRC" | sed -E "s#/[^/?]+(\?|$)#/$1\1#"; }
q() { psql "$SRC" -X -At -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
lb() { "$DENO" run -A --quiet "$ROOT/scripts/lifeboat.ts" "$@"; }
WORK=$(mktemp -d /tmp/lifeboat-bench-pitr-gb.XXXXXX)
T=lifeboat_bench_pitr_gb
SHIPPER= SAMPLER=
cleanup() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
  [ -n "$SHIPPER" ] && kill "$SHIPPER" 2>/dev/null && wait "$SHIPPER" 2>/dev/null || true
  q -c "select lifeboat.stream_disable()" -c "drop database if exists $T with (force)" >/dev/null 2>&1 || true
  if [ -n "${LIFEBOAT_BENCH_KEEP:-}" ]; then echo "bench: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
pgb() { # seconds
  local u="$SRC"
  PGPASSWORD=$(printf '%s' "$u" | sed -E 's#^[^:]+://[^:]+:([^@]*)@.*#\1#') pgbench -n \
    -h "$(printf '%s' "$u" | sed -E 's#^[^@]*@([^:/]+).*#\1#')" -p "$(printf '%s' "$u" | sed -E 's#^[^@]*@[^:]+:([0-9]+).*#\1#')" \
    -U "$(printf '%s' "$u" | sed -E 's#^[^:]+://([^:]+):.*#\1#')" -d "$(printf '%s' "$u" | sed -E 's#^.*/([^/?]+)(\?.*)?$#\1#')" \
    -c 4 -j 2 -R "$RATE" -T "$1" -P 60 -f "$ROOT/bench/stream/workload.sql"
}

echo "bench: load $(uptime | sed 's/.*load average: //')" >&2
if [ "$GENERATE" = 1 ]; then
  echo "bench: generating schema bench (scale $SCALE)" >&2
  t=$(now)
  psql "$SRC" -X -q -v ON_ERROR_STOP=1 -v scale="$SCALE" -f "$ROOT/bench/restore/generate.sql" >/dev/null
  echo "bench: generated in $(echo "$(now) - $t" | bc) s" >&2
fi
q >/dev/null <<'SQL'
drop schema if exists bench_stream cascade;
create schema bench_stream;
create table bench_stream.orders (id bigserial primary key, customer int, amount numeric, note text);
insert into bench_stream.orders (customer, amount, note) select g, g, md5(g::text) from generate_series(1, 1000) g;
select lifeboat.stream_disable();
-- This benchmark runs the CLI shipper itself: no pg_cron call of the function beside it (off
-- in the transaction that enables the stream, so that pg_cron never sees it on).
begin;
select lifeboat.stream_enable();
update lifeboat.schedules set enabled = false where name = 'stream-ship';
select count(*) from lifeboat.apply_schedules();
commit;
SQL

lb keygen --output "$WORK/key.txt" >/dev/null
RECIPIENT=$(grep -o 'age1[0-9a-z]*' "$WORK/key.txt" | head -n 1)
export LIFEBOAT_SIGNING_KEY_FILE="$WORK/key.txt.signing" LIFEBOAT_TRUSTED_KEYS="$WORK/key.txt.signing.pub"
# Deno itself in the background (not through lb, a subshell): $! is the process to stop.
"$DENO" run -A --quiet "$ROOT/scripts/lifeboat.ts" stream run --to "$WORK/store" --recipient "$RECIPIENT" --poll-ms 250 >"$WORK/shipper.log" 2>&1 &
SHIPPER=$!

echo "bench: full backup" >&2
t=$(now)
lb backup --store "$WORK/store" --recipient "$RECIPIENT" --include-schema bench --include-schema bench_stream --json >"$WORK/backup.jsonl"
BACKUP_S=$(echo "$(now) - $t" | bc)
BACKUP_ID=$(grep -o '"id":"[0-9TZ-]*[0-9a-f]*"' "$WORK/backup.jsonl" | tail -n1 | cut -d'"' -f4)

# RPO and lag every 5 s while the workload runs.
W0=$(now)
(
  while true; do
    s=$(q -F ' ' -c "select round(extract(epoch from clock_timestamp()) - $W0), coalesce(extract(epoch from clock_timestamp() - lifeboat.stream_recovery_point())::numeric(10,1)::text, 'null'), (select lag_bytes from lifeboat.stream_slot_wal())" 2>/dev/null) &&
      echo "$s $(ps -o rss= -p "$SHIPPER" 2>/dev/null | tr -d ' ')" >>"$WORK/samples"
    sleep 5
  done
) &
SAMPLER=$!
MAIN_S=$((MINUTES * 60 - 30))
echo "bench: workload ${MAIN_S} s at ${RATE} tx/s requested" >&2
pgb "$MAIN_S" >"$WORK/pgbench1.out" 2>"$WORK/pgbench1.err"
MOMENT=$(q -c "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
# lifeboat.fingerprint's query, run in any database (the restored one has no lifeboat schema),
# with the settings lifeboat.fingerprint pins.
fp() { # URL TABLE
  local query
  query=$(q -c "select lifeboat.fingerprint_sql('$2', 'lifeboat-fp-v2')")
  psql "$1" -X -At -v ON_ERROR_STOP=1 -c "set timezone = 'UTC'; set datestyle = 'ISO, YMD'; set intervalstyle = 'postgres';
    set extra_float_digits = 1; set bytea_output = 'hex'; set lc_monetary = 'C'; set jit = off; set row_security = off; $query" | tail -n1
}
FP_ORDERS=$(fp "$SRC" bench_stream.orders)
ROWS_ORDERS=$(q -c "select count(*) from bench_stream.orders")
echo "bench: moment $MOMENT; tail of the workload, 30 s" >&2
pgb 30 >"$WORK/pgbench2.out" 2>"$WORK/pgbench2.err"
W1=$(now)
# The shipper catches up, then stops.
for _ in $(seq 1 120); do
  LAG=$(q -c "select coalesce(lag_bytes, 0) from lifeboat.stream_slot_wal()")
  [ "$LAG" -lt 65536 ] && break
  sleep 1
done
sleep 2
kill -TERM "$SHIPPER"; wait "$SHIPPER" || true; SHIPPER=
kill "$SAMPLER" 2>/dev/null || true; SAMPLER=
SEGMENTS=$(find "$WORK/store" -path '*stream*' -type f | wc -l)
STORE_STREAM_MB=$(du -sm --apparent-size "$WORK/store" | cut -f1)
BASE_BYTES=$(q -c "select sum(pg_total_relation_size(c.oid)) from pg_class c where c.relnamespace in ('bench'::regnamespace, 'bench_stream'::regnamespace) and c.relkind = 'r'")

echo "bench: lifeboat restore --until $MOMENT" >&2
q -c "drop database if exists $T with (force)" -c "create database $T" >/dev/null
t=$(now)
lb restore --store "$WORK/store" --identity "$WORK/key.txt" --target "$(url_of $T)" --until "$MOMENT" --jobs 2 --json >"$WORK/restore.json" 2>"$WORK/restore.err" || {
  echo "bench: restore failed" >&2; cat "$WORK/restore.err" >&2; grep -B2 -A4 '"error"' "$WORK/restore.json" | head -60 >&2; exit 1; }
RESTORE_S=$(echo "$(now) - $t" | bc)

# Every table of the restored database against the source at M: bench.* never changes after
# the backup, bench_stream.orders was fingerprinted at M.
TQ() { psql "$(url_of $T)" -X -At -v ON_ERROR_STOP=1 "$@"; }
[ -n "$FP_ORDERS" ] || { echo "bench: no fingerprint of bench_stream.orders at M" >&2; exit 1; }
MISMATCH=0
for tbl in $(q -c "select format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname in ('bench', 'bench_stream') and c.relkind = 'r' order by 1"); do
  if [ "$tbl" = bench_stream.orders ]; then want="$FP_ORDERS"; else want=$(fp "$SRC" "$tbl"); fi
  got=$(fp "$(url_of $T)" "$tbl" 2>/dev/null || echo missing)
  if [ "$want" = "$got" ]; then echo "bench: $tbl matches the source at M" >&2; else echo "bench: $tbl DIFFERS: $want vs $got" >&2; MISMATCH=1; fi
done
GOT_ROWS=$(TQ -c "select count(*) from bench_stream.orders")

read -r RESTORE_MS REPLAY_MS REPLAY_TX < <("$DENO" eval --quiet "
const r = JSON.parse(Deno.readTextFileSync('$WORK/restore.json'));
console.log(r.timings.restoreMs, r.timings.replayMs, r.replay?.transactions ?? 'n/a');")
TPS1=$(grep -o 'tps = [0-9.]*' "$WORK/pgbench1.out" | head -n1 | cut -d' ' -f3)
TX1=$(grep -o 'number of transactions actually processed: [0-9]*' "$WORK/pgbench1.out" | grep -o '[0-9]*$')
GB=$(echo "$BASE_BYTES / 1000000000" | bc -l)
cat <<EOF
### Run: $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(uptime | sed 's/.*load average: //')

Base $(printf '%.2f' "$GB") GB on disk (schemas bench and bench_stream), full backup ${BACKUP_S%.*} s ($BACKUP_ID);
workload ${MAIN_S} s + 30 s of bench/stream/workload.sql at ${RATE} tx/s requested: ${TPS1} tx/s achieved
(${TX1} transactions before M); store $STORE_STREAM_MB MB ($SEGMENTS stream objects).

| what | seconds |
|---|---|
| \`lifeboat restore --until M\` end to end (CLI wall clock) | $(printf '%.1f' "$RESTORE_S") |
| of which full restore (verify, load, post-data, fingerprint checks) | $(printf '%.1f' "$(echo "$RESTORE_MS / 1000" | bc -l)") |
| of which replay ($REPLAY_TX transactions up to M) | $(printf '%.1f' "$(echo "$REPLAY_MS / 1000" | bc -l)") |
| **seconds per GB of database (end to end / $(printf '%.2f' "$GB") GB)** | **$(printf '%.1f' "$(echo "$RESTORE_S / $GB" | bc -l)")** |
| replay speed / workload (${MAIN_S} s of workload before M / replay) | **$(printf '%.1f' "$(echo "$MAIN_S * 1000 / $REPLAY_MS" | bc -l)")x** |

Fingerprints of every table in the restored database against the source at M: $([ $MISMATCH = 0 ] && echo "all match" || echo "MISMATCH")
(bench_stream.orders: $ROWS_ORDERS rows at M, $GOT_ROWS restored).

RPO / lag per minute of the workload (CLI shipper, poll 250 ms; sampled every 5 s):

| minute | RPO max (s) | lag max KiB | shipper RSS max MiB |
|---|---|---|---|
EOF
awk '$2 != "null" { m = int($1 / 60) + 1; if ($2 > r[m]) r[m] = $2; if ($3 > l[m]) l[m] = $3; if ($4 > k[m]) k[m] = $4; if (m > n) n = m }
  END { for (i = 1; i <= n; i++) printf "| %d | %.1f | %.0f | %.0f |\n", i, r[i], l[i] / 1024, k[i] / 1024 }' "$WORK/samples"
echo
echo "pgbench progress (per 60 s): $(grep -o 'progress: [0-9.]* s, [0-9.]* tps' "$WORK/pgbench1.err" "$WORK/pgbench2.err" | sed 's/.*progress: //' | tr '\n' ';')"
[ "$MISMATCH" = 0 ]
