#!/usr/bin/env bash
# Lifeboat's local Supabase-like stack: a private PostgreSQL 15 cluster, a single-node
# Ceph RADOS Gateway for S3, Azurite for Azure Blob Storage, Supabase's Storage server, and the
# edge functions served by Deno behind a small gateway. Every process is recorded by PID and
# stopped by PID.
#
# Usage: scripts/stack.sh start [--no-s3] [--no-azure] [--no-functions] [--no-seed] | stop | status | env | install | db-stop | db-start | storage-stop | storage-start | reserve-ports [--no-s3] [--no-azure] | check-ports [--no-s3] [--no-azure]
#
# Settings (environment): LIFEBOAT_STACK_DIR (default ./.lifeboat), LIFEBOAT_DB_PORT (54322),
# LIFEBOAT_API_PORT (54321), LIFEBOAT_S3_PORT (54330), LIFEBOAT_FN_PORT_BASE (54340),
# LIFEBOAT_STORAGE_PORT (54350), LIFEBOAT_AZURITE_PORT (54360).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_DIR="${LIFEBOAT_STACK_DIR:-$ROOT/.lifeboat}"
case "$STACK_DIR" in /*) ;; *) STACK_DIR="$ROOT/$STACK_DIR" ;; esac
DB_PORT="${LIFEBOAT_DB_PORT:-54322}"
API_PORT="${LIFEBOAT_API_PORT:-54321}"
S3_PORT="${LIFEBOAT_S3_PORT:-54330}"
FN_PORT_BASE="${LIFEBOAT_FN_PORT_BASE:-54340}"
PIDS="$STACK_DIR/pids"
LOGS="$STACK_DIR/logs"
DENO="$ROOT/tools/node_modules/.bin/deno"
SUPABASE="$ROOT/tools/node_modules/.bin/supabase"
export DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1

# shellcheck source=stack/proc.sh
source "$ROOT/scripts/stack/proc.sh"
# shellcheck source=stack/vendor.sh
source "$ROOT/scripts/stack/vendor.sh"
# shellcheck source=stack/extensions.sh
source "$ROOT/scripts/stack/extensions.sh"
# shellcheck source=stack/db.sh
source "$ROOT/scripts/stack/db.sh"
# shellcheck source=stack/s3.sh
source "$ROOT/scripts/stack/s3.sh"
# shellcheck source=stack/storage.sh
source "$ROOT/scripts/stack/storage.sh"
# shellcheck source=stack/azurite.sh
source "$ROOT/scripts/stack/azurite.sh"
# shellcheck source=stack/ports.sh
source "$ROOT/scripts/stack/ports.sh"

say() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

# --- install ---------------------------------------------------------------------------

apt_missing() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  printf '%s\n' "${missing[@]}"
}

apt_install() {
  local missing
  missing=$(apt_missing "$@")
  [ -z "$missing" ] && return 0
  [ "$(id -u)" = 0 ] || die "missing Debian packages: $missing (run as root, or install them with apt-get)"
  say "installing from Debian: $(echo $missing)"
  if [ ! -f "$STACK_DIR/.apt-updated" ]; then
    apt-get update -qq >/dev/null
    mkdir -p "$STACK_DIR" && touch "$STACK_DIR/.apt-updated"
  fi
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

install_all() {
  local with_s3="$1"
  mkdir -p "$STACK_DIR" "$LOGS"
  # age and zstd: the restore without Lifeboat (docs/format.md), which the tests run.
  local pg_version
  pg_version=$(dpkg-query -W -f='${Version}' postgresql-15 2>/dev/null || true)
  # The dev packages build the Supabase extensions (extensions.sh); installing them can
  # upgrade postgresql-15 under a running cluster, so a running one is restarted below.
  apt_install postgresql-15 postgresql-15-pgtap postgresql-15-wal2json postgresql-server-dev-15 \
    libcurl4-openssl-dev libsodium-dev libtap-parser-sourcehandler-pgtap-perl postgresql-client-15 \
    make gcc curl git age zstd
  pg_restart_if_upgraded "$pg_version"
  extensions_install || die "could not build the Supabase extensions"
  [ "$with_s3" = 1 ] && s3_install
  storage_install || die "could not install the Supabase Storage server"
  if [ ! -x "$DENO" ] || [ ! -x "$SUPABASE" ] || [ ! -f "$_AZURITE_MAIN" ]; then
    say "installing the Deno runtime, the Supabase CLI and Azurite (tools/)"
    (cd "$ROOT/tools" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  fi
  # Fetch every npm dependency once, so the first request does not pay for it.
  "$DENO" cache --quiet "$ROOT"/supabase/functions/*/index.ts "$ROOT"/scripts/*.ts "$ROOT"/scripts/stack/*.ts >"$LOGS/deno-cache.log" 2>&1 \
    || { tail -n 20 "$LOGS/deno-cache.log" >&2; die "could not fetch the Deno dependencies; see $LOGS/deno-cache.log"; }
}

db_migrate() {
  say "applying migrations with the Supabase CLI"
  (cd "$ROOT" && PGSSLMODE=disable SUPABASE_YES=1 "$SUPABASE" db push --remote="$(owner_url)" --yes \
      --skip-vault --include-all >"$LOGS/db-push.log" 2>&1) \
    || { tail -n 30 "$LOGS/db-push.log" >&2; die "supabase db push failed; see $LOGS/db-push.log"; }
}

db_seed() {
  say "loading supabase/seed.sql"
  PGSSLMODE=disable psql -X -q -v ON_ERROR_STOP=1 "$(owner_url)" -f "$ROOT/supabase/seed.sql" \
    >"$LOGS/seed.log" 2>&1 || { tail -n 20 "$LOGS/seed.log" >&2; die "seed failed; see $LOGS/seed.log"; }
}

# The demo app's files, uploaded through the gateway with the secret key (only the gateway
# knows sb_ keys, as on Supabase), so Storage writes their storage.objects rows.
seed_files() {
  say "uploading the demo app's files to Storage"
  (set -a; . "$STACK_DIR/stack.env"; set +a
   exec "$DENO" run --quiet --no-prompt --allow-net=127.0.0.1 --allow-env --allow-read="$ROOT" \
     "$ROOT/scripts/stack/seed_files.ts") >"$LOGS/seed-files.log" 2>&1 \
    || { tail -n 20 "$LOGS/seed-files.log" >&2; die "uploading the demo files failed; see $LOGS/seed-files.log"; }
}

# --- keys and environment -----------------------------------------------------------------

write_keys() {
  [ -f "$STACK_DIR/keys.env" ] && return 0
  say "generating local API keys"
  node "$ROOT/scripts/stack/mint-keys.cjs" >"$STACK_DIR/keys.env.tmp"
  chmod 600 "$STACK_DIR/keys.env.tmp"
  mv "$STACK_DIR/keys.env.tmp" "$STACK_DIR/keys.env"
}

# The key pair backups are signed with: made once (lifeboat keygen) into the stack dir, its
# private half stored in Vault by pg_project as lifeboat_signing_key, where backup-export reads
# it, so that scheduled exports on the stack are signed. The CLI signs with signing.key.signing
# (LIFEBOAT_SIGNING_KEY_FILE) and trusts signing.key.signing.pub.
write_signing_key() {
  [ -f "$STACK_DIR/signing.key.signing" ] && return 0
  say "generating the backup signing key (lifeboat keygen)"
  rm -f "$STACK_DIR/signing.key" "$STACK_DIR/signing.key.signing.pub"
  "$ROOT/scripts/lifeboat" keygen --output "$STACK_DIR/signing.key" >/dev/null 2>"$LOGS/keygen.log" \
    || { cat "$LOGS/keygen.log" >&2; die "lifeboat keygen failed; see $LOGS/keygen.log"; }
}

write_env() {
  {
    cat "$STACK_DIR/keys.env"
    printf "SUPABASE_URL='http://127.0.0.1:%s'\n" "$API_PORT"
    printf "SUPABASE_DB_URL='%s'\n" "$(owner_url)"
    printf "PGSSLMODE='disable'\n"
    printf "LIFEBOAT_STACK_DIR='%s'\n" "$STACK_DIR"
    printf "LIFEBOAT_DB_PORT='%s'\n" "$DB_PORT"
    printf "LIFEBOAT_API_PORT='%s'\n" "$API_PORT"
    [ -f "$STACK_DIR/s3.env" ] && cat "$STACK_DIR/s3.env"
    [ -f "$STACK_DIR/storage.env" ] && cat "$STACK_DIR/storage.env"
    if pid_alive azurite && [ -f "$STACK_DIR/azurite.env" ]; then cat "$STACK_DIR/azurite.env"; fi
  } >"$STACK_DIR/stack.env.tmp"
  chmod 600 "$STACK_DIR/stack.env.tmp"
  mv "$STACK_DIR/stack.env.tmp" "$STACK_DIR/stack.env"
}

# --- functions and gateway ------------------------------------------------------------------

function_names() {
  local d
  for d in "$ROOT"/supabase/functions/*/; do
    d="${d%/}"; d="${d##*/}"
    case "$d" in _*) continue ;; esac
    [ -f "$ROOT/supabase/functions/$d/index.ts" ] && echo "$d"
  done
}

functions_start() {
  local i=0 name port map="{"
  for name in $(function_names); do
    port=$((FN_PORT_BASE + i)); i=$((i + 1))
    map="$map\"$name\":$port,"
    pid_alive "fn-$name" || port_await "$port" "edge function $name" LIFEBOAT_FN_PORT_BASE
    # Supabase's runtime ignores Deno.serve's port; DENO_SERVE_ADDRESS plays that part here.
    start_daemon "fn-$name" "$LOGS/fn-$name.log" \
      env DENO_SERVE_ADDRESS="tcp:127.0.0.1:$port" "$DENO" run --quiet --no-prompt --allow-net --allow-env --allow-sys \
      --allow-read="$ROOT" "$ROOT/supabase/functions/$name/index.ts"
  done
  map="${map%,}}"
  printf '%s\n' "$map" >"$STACK_DIR/functions.json"
  pid_alive gateway || port_await "$API_PORT" "the API gateway" LIFEBOAT_API_PORT
  start_daemon gateway "$LOGS/gateway.log" \
    env LIFEBOAT_FUNCTIONS_MAP="$STACK_DIR/functions.json" "$DENO" run --quiet --no-prompt --allow-net --allow-env --allow-read="$ROOT,$STACK_DIR" \
    "$ROOT/scripts/stack/gateway.ts"
  wait_http "http://127.0.0.1:$API_PORT/functions/v1/health?probe=liveness" 30 \
    || { tail -n 20 "$LOGS/gateway.log" "$LOGS"/fn-*.log >&2; die "edge functions did not come up"; }
}

wait_http() {
  local url="$1" secs="$2" t=0
  while [ "$t" -lt $((secs * 10)) ]; do
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    sleep 0.1; t=$((t + 1))
  done
  return 1
}

# --- commands ---------------------------------------------------------------------------------

cmd_start() {
  local with_s3=1 with_fn=1 with_seed=1 with_azure=1
  for a in "$@"; do
    case "$a" in
      --no-s3) with_s3=0 ;;
      --no-azure) with_azure=0 ;;
      --no-functions) with_fn=0 ;;
      # A fresh project with no demo data: the target of a restore into a new project.
      --no-seed) with_seed=0 ;;
      *) die "unknown option '$a' (try: start [--no-s3] [--no-azure] [--no-functions] [--no-seed])" ;;
    esac
  done
  mkdir -p "$PIDS" "$LOGS"
  ports_reserve $(stack_ports "$@")
  install_all "$with_s3"
  pg_start
  pg_platform
  write_keys
  write_signing_key
  pg_project
  db_migrate
  # Storage migrates its schema before the seed, which has policies on storage.objects.
  storage_start
  if [ "$with_seed" = 1 ]; then db_seed; fi
  if [ "$with_s3" = 1 ]; then s3_start; fi
  if [ "$with_azure" = 1 ]; then azurite_start || die "Azurite did not start; see $LOGS/azurite.log"; fi
  write_env
  if [ "$with_fn" = 1 ]; then
    functions_stop
    functions_start
    if [ "$with_seed" = 1 ]; then seed_files; fi
  fi
  say "ready: database $(owner_url | sed 's/:postgres@/:***@/'), API http://127.0.0.1:$API_PORT"
  say "environment for tools: $STACK_DIR/stack.env"
}

functions_stop() {
  local f
  for f in "$PIDS"/fn-*.pid "$PIDS/gateway.pid" "$PIDS/outbox-worker.pid"; do
    [ -f "$f" ] || continue
    f="${f##*/}"; stop_daemon "${f%.pid}"
  done
}

cmd_stop() {
  functions_stop
  storage_stop
  azurite_stop
  s3_stop || true
  if pid_alive postgres; then
    say "stopping PostgreSQL"
    # SIGINT is PostgreSQL's fast shutdown.
    stop_daemon postgres INT
  fi
  rm -f "$PIDS/postgres.pid"
}

cmd_status() {
  local ok=0 f name
  if pg_running; then echo "postgres: running (pid $(cat "$PIDS/postgres.pid"), port $DB_PORT)"; else echo "postgres: stopped"; ok=1; fi
  for f in "$PIDS"/fn-*.pid "$PIDS/gateway.pid" "$PIDS/outbox-worker.pid"; do
    [ -f "$f" ] || continue
    name="${f##*/}"; name="${name%.pid}"
    if pid_alive "$name"; then echo "$name: running (pid $(cat "$f"))"; else echo "$name: stopped"; ok=1; fi
  done
  storage_status || ok=1
  s3_status || true
  azurite_status
  return $ok
}

main() {
  local cmd="${1:-}"; shift || true
  mkdir -p "$PIDS" "$LOGS" 2>/dev/null || true
  case "$cmd" in
    start) cmd_start "$@" ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) [ -f "$STACK_DIR/stack.env" ] || die "no stack environment yet: run scripts/stack.sh start"; cat "$STACK_DIR/stack.env" ;;
    install) install_all 1 ;;
    # Stop or start only PostgreSQL (outage drills and tests), leaving everything else up.
    db-stop) stop_daemon postgres INT ;;
    db-start) pg_start ;;
    # Stop or start only the Storage server (tests of a backup across a Storage restart).
    storage-stop) storage_stop ;;
    storage-start) storage_start ;;
    # Keep the kernel from lending this stack's ports to outbound connections (scripts/test.sh
    # reserves the second project's before the first one starts), and list those taken now.
    reserve-ports) ports_reserve $(stack_ports "$@") ;;
    check-ports) ports_check "$@" ;;
    *) die "usage: scripts/stack.sh start [--no-s3] [--no-azure] [--no-functions] [--no-seed] | stop | status | env | install" ;;
  esac
}

main "$@"
