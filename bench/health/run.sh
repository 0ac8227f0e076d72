#!/usr/bin/env bash
# Health endpoint throughput and latency against a hello-world Deno.serve, side by side in one
# run: wrk, 50 connections, 10 s each, on loopback. Needs the local stack running
# (scripts/stack.sh start --no-s3). Prints a Markdown table for bench/RESULTS.md.
#
# Usage: bash bench/health/run.sh [seconds]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${LIFEBOAT_STACK_DIR:-$ROOT/.lifeboat}"
DUR="${1:-10}"
DENO="$ROOT/tools/node_modules/.bin/deno"
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
set -a; . "$STACK_DIR/stack.env"; set +a
HELLO_PORT=54391
HEALTH_PORT=54392
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

DENO_SERVE_ADDRESS="tcp:127.0.0.1:$HELLO_PORT" "$DENO" run --quiet -A "$ROOT/bench/health/hello.ts" >/dev/null 2>&1 &
pids+=($!)
DENO_SERVE_ADDRESS="tcp:127.0.0.1:$HEALTH_PORT" "$DENO" run --quiet -A "$ROOT/supabase/functions/health/index.ts" >/dev/null 2>&1 &
pids+=($!)
for port in $HELLO_PORT $HEALTH_PORT; do
  for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
done

calls() {
  psql -X -A -t "$SUPABASE_DB_URL" -c "select coalesce(sum(calls),0) from extensions.pg_stat_statements
    where query = 'select \"check\", level, object, detail, metadata from lifeboat.health()'"
}

# wrk prints "Requests/sec: N" and, with --latency, "99% <value><unit>".
measure() {
  local name="$1" url="$2" out rps p99
  out=$(wrk -t2 -c50 -d"${DUR}s" --latency "$url")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  echo "$name|$rps|$p99"
}

curl -fs -o /dev/null "http://127.0.0.1:$HEALTH_PORT/health"   # warm the cache and the connection
before=$(calls)
t0=$(date +%s.%N)
health=$(measure health "http://127.0.0.1:$HEALTH_PORT/health")
t1=$(date +%s.%N)
after=$(calls)
hello=$(measure hello "http://127.0.0.1:$HELLO_PORT/health")
gateway=$(measure gateway "$SUPABASE_URL/functions/v1/health")

elapsed=$(echo "$t1 - $t0" | bc -l)
ttl_s=$(echo "${LIFEBOAT_HEALTH_CACHE_TTL_MS:-2000} / 1000" | bc -l)
qps=$(echo "($after - $before) / $elapsed" | bc -l)
bound=$(echo "1 / $ttl_s" | bc -l)
h_rps=$(echo "$health" | cut -d'|' -f2)
w_rps=$(echo "$hello" | cut -d'|' -f2)
ratio=$(echo "$h_rps / $w_rps" | bc -l)

printf '| what | requests/s | p99 latency |\n|---|---|---|\n'
for row in "$hello" "$health" "$gateway"; do
  IFS='|' read -r n r p <<<"$row"; printf '| %s | %s | %s |\n' "$n" "$r" "$p"
done
printf '\nhealth / hello-world throughput: %.2f (target >= 0.50)\n' "$ratio"
printf 'database probes during the health run: %d in %.1f s = %.2f/s (bound by TTL %.1f s: <= %.2f/s)\n' \
  "$((after - before))" "$elapsed" "$qps" "$ttl_s" "$bound"
