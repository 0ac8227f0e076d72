#!/usr/bin/env bash
# Export benchmark: generates schema `bench` in the stack's database (0.5 GB, then grown to
# 1 GB), and at each size exports it to the stack's RGW bucket with
#   (a) lifeboat backup (defaults: zstd level 1 + age, 8 MiB parts, to S3),
#   (b) the seed pipeline: pg_dump -Fc | gpg --encrypt, then upload with the same S3 client,
#   (c) raw COPY ... TO STDOUT of every table to /dev/null through psql (the limit),
# measuring wall time, CPU (user+sys, children included) and peak RSS with /usr/bin/time -v.
# Prints a markdown table. Not part of the test suite. Needs a stack started with S3:
#   LIFEBOAT_STACK_DIR=... scripts/stack.sh start && bash bench/export/run.sh
# Env: SIZES (default "0.5 1", in GB of table data), KEEP=1 to keep schema bench and the
# stored objects afterwards (otherwise both are removed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${LIFEBOAT_STACK_DIR:-$ROOT/.lifeboat}"
case "$STACK_DIR" in /*) ;; *) STACK_DIR="$PWD/$STACK_DIR" ;; esac
set -a; . "$STACK_DIR/stack.env"; [ -f "$STACK_DIR/s3.env" ] && . "$STACK_DIR/s3.env"; set +a
: "${LIFEBOAT_S3_ENDPOINT:?start the stack with S3 (without --no-s3)}"
export PGPASSWORD=postgres
# The stack accepts TLS; every tool here (libpq's psql, pg_dump, pg_restore and Lifeboat alike)
# uses plain TCP on loopback so that none pays for encryption the others skip.
export PGSSLMODE=disable
DB="$SUPABASE_DB_URL"
DENO="$ROOT/tools/node_modules/.bin/deno"
WORK=$(mktemp -d /tmp/lifeboat-bench.XXXXXX)
SIZES="${SIZES:-0.5 1}"
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
S3="s3://${LIFEBOAT_S3_BUCKET:-lifeboat}/bench/$RUN_ID"
# The run's objects are deleted afterwards (KEEP=1 keeps them, and schema bench).
cleanup() {
  [ "${KEEP:-0}" = 1 ] || "$DENO" run -A --quiet "$ROOT/bench/export/cleanup.ts" "$S3/" >&2 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

# Keys: an age recipient for Lifeboat, a throwaway gpg key for the baseline.
# Keys as 'lifeboat keygen' makes them: an age identity and the signing key pair; backups are
# signed and read back trusting the public half, as users run them.
"$DENO" run -A "$ROOT/scripts/lifeboat.ts" keygen --output "$WORK/age.txt" >/dev/null
RECIPIENT=$(grep -o 'age1[0-9a-z]*' "$WORK/age.txt" | head -n 1)
export LIFEBOAT_SIGNING_KEY_FILE="$WORK/age.txt.signing" LIFEBOAT_TRUSTED_KEYS="$WORK/age.txt.signing.pub"
export GNUPGHOME="$WORK/gnupg"; mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'lifeboat-bench <bench@lifeboat.invalid>' default default never 2>/dev/null

table_bytes() { q -c "select sum(pg_table_size(c.oid)) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'bench' and c.relkind = 'r'"; }

# measure NAME CMD...: runs CMD under /usr/bin/time -v, prints "wall cpu rss_kb".
measure() {
  local name="$1"; shift
  /usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || { cat "$WORK/$name.err" >&2; exit 1; }
  awk -F': ' '
    /Elapsed \(wall clock\)/ { n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i] }
    /User time/ { u = $2 } /System time/ { s = $2 } /Maximum resident/ { r = $2 }
    END { printf "%.2f %.2f %d\n", w, u + s, r }' "$WORK/$name.time"
}

q -c "drop schema if exists bench cascade"
ids_done=0
echo "| DB size (tables) | tool | wall s | MB/s | CPU s | CPU s/GB | peak RSS MB | stored MB |"
echo "|---|---|---|---|---|---|---|---|"
for gb in $SIZES; do
  ids=$(awk -v g="$gb" 'BEGIN { printf "%d", g * 1650000 }')
  if [ "$ids" -gt "$ids_done" ]; then
    q -v rows_from=$((ids_done + 1)) -v rows_to="$ids" -f "$ROOT/bench/export/generate.sql" >/dev/null
    ids_done=$ids
  fi
  # Settle the new rows before timing anything: the first scan of freshly inserted rows sets
  # their hint bits (dirtying every page), which would otherwise be charged to whichever tool
  # runs first, (a). VACUUM (the schema owner may) does that once, for all three.
  # A CHECKPOINT (as the stack's superuser, over its socket) writes the generated data out now
  # instead of during the first timed run.
  q -c "vacuum (analyze) bench.orders, bench.events, bench.wide, bench.documents"
  runuser -u postgres -- psql -X -q -h "$STACK_DIR/pg/run" -p "${LIFEBOAT_DB_PORT:-54322}" -U supabase_admin -d postgres \
    -c checkpoint 2>/dev/null || echo "bench: no CHECKPOINT (not root?): the first run may pay for writing the new data" >&2
  bytes=$(table_bytes)
  mb=$(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1e6 }')
  row() { # tool wall cpu rss stored
    awk -v n="$1" -v w="$2" -v c="$3" -v r="$4" -v b="$bytes" -v s="$5" -v mb="$mb" 'BEGIN {
      printf "| %s MB | %s | %.1f | %.1f | %.1f | %.1f | %.0f | %s |\n", mb, n, w, b / 1e6 / w, c, c / (b / 1e9), r / 1024, s }'
  }

  read -r wa ca ra < <(measure "a$gb" "$ROOT/scripts/lifeboat" backup --db-url "$DB" --store "$S3/lifeboat-$gb" \
    --recipient "$RECIPIENT" --include-schema bench)
  stored_a=$(grep -o '[0-9.]* [MG]B stored' "$WORK/a$gb.out" | head -1)
  row "(a) lifeboat backup" "$wa" "$ca" "$ra" "${stored_a% stored}"
  echo "$wa" >"$WORK/a.wall.$gb"

  if [ "$gb" = "$(echo $SIZES | awk '{print $NF}')" ]; then
    read -r wb cb rb < <(measure "b$gb" bash -c "
      pg_dump -Fc -n bench -d '$DB' | gpg --batch --quiet --trust-model always -r bench@lifeboat.invalid --encrypt -o '$WORK/dump.gpg' &&
      '$DENO' run -A --quiet '$ROOT/bench/export/upload.ts' '$WORK/dump.gpg' '$S3' 'pg_dump-$gb.dump.gpg'")
    stored_b=$(awk '{ printf "%.1f MB", $0 / 1e6 }' < <(stat -c %s "$WORK/dump.gpg"))
    row "(b) pg_dump -Fc \\| gpg, upload" "$wb" "$cb" "$rb" "$stored_b"
    rm -f "$WORK/dump.gpg"
    read -r wc cc rc < <(measure "c$gb" bash -c "
      for t in \$(psql -X -At -d '$DB' -c \"select format('%I.%I', schemaname, tablename) from pg_tables where schemaname = 'bench'\"); do
        psql -X -q -d '$DB' -c \"copy \$t to stdout\" > /dev/null; done")
    row "(c) raw COPY to /dev/null" "$wc" "$cc" "$rc" "-"
    awk -v a="$wa" -v b="$wb" -v c="$wc" 'BEGIN {
      printf "\nAt the largest size: lifeboat is %.2fx the throughput of (b) (target >= 2.5x) and %.2fx that of (c) (target >= 0.6x).\n", b / a, c / a }'
  fi
done
[ "${KEEP:-0}" = 1 ] || q -c "drop schema bench cascade"
echo
echo "run: $RUN_ID, objects under $S3 ($([ "${KEEP:-0}" = 1 ] && echo kept || echo deleted afterwards))"
