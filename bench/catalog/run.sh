#!/usr/bin/env bash
# Generated-catalog benchmark for Lifeboat's checks: creates 1,000 and then 10,000 user tables,
# times every check at both sizes, and shows the growth ratio (about 10 means linear; about 100
# would mean quadratic). Also times lifeboat.fingerprint() against count(*) on large tables.
# Writes bench/catalog/RESULTS.md.
#
# Usage: bench/catalog/run.sh            (uses the running stack in $LIFEBOAT_STACK_DIR)
#        BENCH_DB_URL=postgresql://... bench/catalog/run.sh
# Settings: BENCH_SIZES ("1000 10000"), BENCH_FP_ROWS (1000000), BENCH_REPEAT (2).
#
# The tables live in schemas lb_bench_* of the stack's own database, not in a scratch
# database: the foundation migration needs pg_cron (which only installs into
# cron.database_name) and superuser-only extensions, so `supabase db push` cannot apply the
# migrations to a second database as postgres (it stops at "schema extensions does not
# exist"), exactly as on hosted Supabase. Every lb_bench_* schema is dropped at the end, also
# on failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${LIFEBOAT_STACK_DIR:-$ROOT/.lifeboat}"
if [ -z "${BENCH_DB_URL:-}" ]; then
  [ -f "$STACK_DIR/stack.env" ] || { echo "bench: no $STACK_DIR/stack.env; start the stack (scripts/stack.sh start --no-s3) or set BENCH_DB_URL" >&2; exit 1; }
  BENCH_DB_URL="$(. "$STACK_DIR/stack.env" && printf '%s' "$SUPABASE_DB_URL")"
fi
export PGSSLMODE="${PGSSLMODE:-disable}"
SIZES="${BENCH_SIZES:-1000 10000}"
FP_ROWS="${BENCH_FP_ROWS:-1000000}"
REPEAT="${BENCH_REPEAT:-2}"
PER_SCHEMA=500   # tables per schema: create and drop one schema per transaction (lock table)
OUT="$ROOT/bench/catalog/RESULTS.md"
WORK="$(mktemp -d)"

psqlq() { psql -X -q -v ON_ERROR_STOP=1 "$BENCH_DB_URL" "$@"; }

cleanup() {
  local s
  for s in $(psqlq -At -c "select nspname from pg_namespace where nspname like 'lb\_bench\_%' order by 1"); do
    psqlq -c "drop schema \"$s\" cascade" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

psqlq -At -c "select 1 from pg_proc where proname = 'diagnose' and pronamespace = 'lifeboat'::regnamespace" | grep -q 1 \
  || { echo "bench: lifeboat.diagnose() is missing: apply the migrations first (scripts/stack.sh start)" >&2; exit 1; }
cleanup; WORK="$(mktemp -d)"

user_tables() { psqlq -At -c "select count(*) from lifeboat.user_tables()"; }

# Create tables until `lb_bench_*` holds $1 of them. The mix: identity primary key and a
# sequence each, a secondary index on every 5th, a mixed-case name with a space on every 10th,
# no primary key on every 100th, unlogged every 500th; 2 rows each.
grow_to() {
  local target="$1" have s start end
  have=$(psqlq -At -c "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname like 'lb\_bench\_%' and c.relkind = 'r'")
  while [ "$have" -lt "$target" ]; do
    s=$((have / PER_SCHEMA)); start=$have; end=$(( (s + 1) * PER_SCHEMA )); [ "$end" -gt "$target" ] && end=$target
    psqlq <<SQL
create schema if not exists lb_bench_$s;
do \$\$
declare i int; t text;
begin
  for i in $start .. $((end - 1)) loop
    t := case when i % 10 = 0 then format('Bench Table %s', i) else format('t_%s', i) end;
    execute format('create %s table lb_bench_$s.%I (%s v text, n numeric, created_at timestamptz default now())',
      case when i % 500 = 499 then 'unlogged' else '' end, t,
      case when i % 100 = 99 then 'id bigint,' else 'id bigint generated always as identity primary key,' end);
    if i % 5 = 0 then
      execute format('create index on lb_bench_$s.%I (created_at)', t);
    end if;
    execute format('insert into lb_bench_$s.%I (%s v, n) values (%s''a'', 1), (%s''b'', 2)', t,
      case when i % 100 = 99 then 'id,' else '' end,
      case when i % 100 = 99 then '1, ' else '' end, case when i % 100 = 99 then '2, ' else '' end);
  end loop;
end
\$\$;
SQL
    have=$end
  done
  psqlq -c "set client_min_messages = error" -c "analyze" >/dev/null
}

# Milliseconds for one statement, best of $REPEAT runs, each in its own transaction.
time_ms() {
  local sql="$1" best="" ms i
  for i in $(seq "$REPEAT"); do
    ms=$(psql -X -v ON_ERROR_STOP=1 "$BENCH_DB_URL" -c '\timing on' -c "$sql" 2>/dev/null \
         | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1)
    [ -n "$ms" ] || { echo "bench: statement failed: $sql" >&2; psqlq -c "$sql" >/dev/null; exit 1; }
    if [ -z "$best" ] || awk "BEGIN{exit !($ms < $best)}"; then best=$ms; fi
  done
  printf '%s' "$best"
}

CHECKS=(
  "check_row_counts()" "check_row_counts(true)" "check_unvalidated_constraints()" "check_invalid_indexes()"
  "check_btree_indexes('10 minutes')" "check_sequences()" "check_primary_keys()" "check_unlogged_tables()"
  "check_integrity()"
  "diagnose_bloat()" "diagnose_cache_hit()" "diagnose_index_usage()" "diagnose_unused_indexes()"
  "diagnose_duplicate_indexes()" "diagnose_long_running_queries()" "diagnose_blocking_locks()"
  "diagnose_connections()" "diagnose_vacuum()" "diagnose_sizes()" "diagnose_replication_slots()"
  "audit_privileged_roles()" "audit_rls()" "audit_security_definer()" "audit_extensions_in_public()"
  "audit_ssl()" "audit_key_rotation()" "security_audit()" "diagnose()"
)

declare -A RESULT
for n in $SIZES; do
  echo "bench: growing the catalog to $n tables" >&2
  t0=$(date +%s)
  grow_to "$n"
  echo "bench: $(user_tables) user tables (created in $(( $(date +%s) - t0 )) s); timing ${#CHECKS[@]} checks" >&2
  # The bench schemas count as exposed (as if listed in PostgREST's db-schemas), so the RLS and
  # SECURITY DEFINER audits look at every generated table too.
  exposed="set pgrst.db_schemas = '$(psqlq -At -c "select string_agg(nspname, ', ') from pg_namespace where nspname = 'public' or nspname like 'lb\_bench\_%'")'"
  for c in "${CHECKS[@]}"; do
    RESULT["$n|$c"]=$(time_ms "$exposed; select count(*) from lifeboat.$c")
    RESULT["$n|rows|$c"]=$(psqlq -At -c "$exposed" -c "select count(*) from lifeboat.$c" | tail -n 1)
  done
  RESULT["$n|user_tables"]=$(user_tables)
done

# --- fingerprint throughput ----------------------------------------------------------------
echo "bench: fingerprint on $FP_ROWS narrow rows and $((FP_ROWS / 2)) wide rows" >&2
psqlq <<SQL
create schema lb_bench_fp;
create table lb_bench_fp.narrow as select i as id, i * 2 as v, 'row ' || i as label from generate_series(1, $FP_ROWS) i;
create table lb_bench_fp.wide as
  select i as id, timestamptz '2026-01-01' - i * interval '1 minute' as ts, (i * 1.5)::numeric(12, 2) as amount,
    md5(i::text) as s, jsonb_build_object('a', i, 'b', 'x' || i) as j, array[i, i + 1] as arr,
    decode(md5(i::text), 'hex') as b
  from generate_series(1, $((FP_ROWS / 2))) i;
vacuum analyze lb_bench_fp.narrow;
vacuum analyze lb_bench_fp.wide;
SQL
FP_SQL=(
  "count(*)|select count(*) from lb_bench_fp.%s r"
  "row text only|select sum(length(r::text)) from lb_bench_fp.%s r"
  "lifeboat.fingerprint|select lifeboat.fingerprint('lb_bench_fp.%s')"
  "sum(hashtextextended(row::text, 0))|select count(*), sum(hashtextextended(r::text, 0)) from lb_bench_fp.%s r"
  "sum(md5 first 64 bits)|select count(*), sum(('x' || left(md5(r::text), 16))::bit(64)::bigint) from lb_bench_fp.%s r"
  "sum(hash_record_extended(row, 0))|select count(*), sum(hash_record_extended(r, 0)) from lb_bench_fp.%s r"
)
for tbl in narrow wide; do
  RESULT["fp|$tbl|size"]=$(psqlq -At -c "select pg_size_pretty(pg_table_size('lb_bench_fp.$tbl'))")
  for entry in "${FP_SQL[@]}"; do
    label="${entry%%|*}"; fmt="${entry#*|}"
    # shellcheck disable=SC2059
    RESULT["fp|$tbl|$label"]=$(REPEAT=3 time_ms "set max_parallel_workers_per_gather = 0; $(printf "$fmt" "$tbl")")
  done
done

# --- report --------------------------------------------------------------------------------
read -r small large <<<"$SIZES"
pgver=$(psqlq -At -c "show server_version")
amcheck=$(psqlq -At -c "select has_function_privilege('extensions.bt_index_check(regclass, boolean)', 'execute')")
{
  echo "# Catalog-scale and fingerprint benchmark"
  echo
  echo "Generated by \`bench/catalog/run.sh\` on $(date -u +%Y-%m-%d), PostgreSQL $pgver, $(nproc) shared CPU cores."
  echo "Reproduce: \`LIFEBOAT_STACK_DIR=<stack dir> bash bench/catalog/run.sh\` against a running"
  echo "\`scripts/stack.sh start --no-s3\` stack (migrations applied by \`supabase db push\`)."
  echo
  echo "## Checks at $small and $large tables"
  echo
  echo "Tables are generated in schemas \`lb_bench_*\` (500 per schema): identity primary key and"
  echo "sequence each, a secondary index on every 5th, mixed-case names with spaces on every 10th, no"
  echo "primary key on every 100th, unlogged every 500th, 2 rows each, then ANALYZE. amcheck"
  echo "executable by postgres: $amcheck (hosted Supabase grants it, see supabase/postgres"
  echo "ansible/files/postgresql_extension_custom_scripts/amcheck/after-create.sql; when false,"
  echo "check_btree_indexes() stops at its permission check). The generated schemas are treated as"
  echo "exposed (\`pgrst.db_schemas\`), so audit_rls() reports every generated table (none has RLS)."
  echo "Times are the best of $REPEAT runs of \`select count(*) from lifeboat.<check>\`, each in its own"
  echo "transaction. Ratio = time at $large / time at $small: about 10 is linear, about 100 quadratic."
  echo
  echo "| check | rows at $small | ms at ${RESULT[$small|user_tables]} tables | rows at $large | ms at ${RESULT[$large|user_tables]} tables | ratio |"
  echo "|---|---:|---:|---:|---:|---:|"
  for c in "${CHECKS[@]}"; do
    a=${RESULT["$small|$c"]}; b=${RESULT["$large|$c"]}
    ratio=$(awk "BEGIN{ if ($a > 0) printf \"%.1f\", $b / $a; else print \"-\" }")
    echo "| \`lifeboat.$c\` | ${RESULT["$small|rows|$c"]} | $a | ${RESULT["$large|rows|$c"]} | $b | $ratio |"
  done
  echo
  echo "Checks that only read statistics or cluster state (cache hit, connections, locks, slots, ssl,"
  echo "roles, keys) do not grow with the number of tables; their ratio is noise around 1."
  echo
  echo "## lifeboat.fingerprint() throughput"
  echo
  echo "Single backend (\`max_parallel_workers_per_gather = 0\`), best of 3, warm cache."
  echo "narrow: $FP_ROWS rows (int, int, text), ${RESULT[fp|narrow|size]}; wide: $((FP_ROWS / 2)) rows"
  echo "(int, timestamptz, numeric, text, jsonb, int[], bytea), ${RESULT[fp|wide|size]}."
  echo
  echo "| query | narrow ms | x count(*) | wide ms | x count(*) |"
  echo "|---|---:|---:|---:|---:|"
  for entry in "${FP_SQL[@]}"; do
    label="${entry%%|*}"
    a=${RESULT["fp|narrow|$label"]}; b=${RESULT["fp|wide|$label"]}
    ca=${RESULT["fp|narrow|count(*)"]}; cb=${RESULT["fp|wide|count(*)"]}
    echo "| $label | $a | $(awk "BEGIN{printf \"%.2f\", $ca / $a}") | $b | $(awk "BEGIN{printf \"%.2f\", $cb / $b}") |"
  done
  echo
  echo "\"x count(*)\" is throughput relative to count(*) (1.00 = as fast; 0.5 was the target)."
} >"$OUT"
echo "bench: wrote $OUT" >&2
cat "$OUT"
