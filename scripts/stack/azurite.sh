# shellcheck shell=bash
# Lifeboat's local Azure Blob Storage: Azurite, Microsoft's official emulator (npm `azurite`,
# pinned in tools/package.json), blob service only, on loopback, run on the stack's Node 24
# (Azurite wants Node >= 22; Debian ships 20). Its data lives under "$STACK_DIR/azurite".
#
# Instead of Azurite's well-known development key, the stack mints an account `lifeboat` with
# a random key once (AZURITE_ACCOUNTS), as it mints the RGW keys, and creates the container
# `lifeboat` (Shared Key request signed here with openssl).
#
# Sourced by scripts/stack.sh (ROOT, STACK_DIR, LOGS, PIDS, say, start_daemon, stop_daemon,
# pid_alive, wait_http, and _STORAGE_NODE from storage.sh). Defines: azurite_start,
# azurite_stop, azurite_status. Writes $STACK_DIR/azurite.env (LIFEBOAT_AZURE_* variables).

AZURITE_PORT="${LIFEBOAT_AZURITE_PORT:-54360}"
_AZURITE_ACCOUNT=lifeboat
_AZURITE_CONTAINER=lifeboat
_AZURITE_MAIN="$ROOT/tools/node_modules/azurite/dist/src/blob/main.js"
_AZURITE_DIR="$STACK_DIR/azurite"

_azurite_endpoint() { printf 'http://127.0.0.1:%s/%s' "$AZURITE_PORT" "$_AZURITE_ACCOUNT"; }

# The account key, minted once (base64 of 64 random bytes, the size of a real account key).
_azurite_key() {
  if [ ! -s "$_AZURITE_DIR/account.key" ]; then
    mkdir -p "$_AZURITE_DIR"
    (umask 077; head -c 64 /dev/urandom | base64 -w0 >"$_AZURITE_DIR/account.key")
  fi
  cat "$_AZURITE_DIR/account.key"
}

# _azurite_create_container: Create Container with Shared Key; 201 (created) or 409 (exists).
_azurite_create_container() {
  local key date version=2021-08-06 sts sig code
  key=$(_azurite_key)
  date=$(LC_ALL=C TZ=GMT date '+%a, %d %b %Y %H:%M:%S GMT')
  sts="PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:$date\nx-ms-version:$version\n/$_AZURITE_ACCOUNT/$_AZURITE_ACCOUNT/$_AZURITE_CONTAINER\nrestype:container"
  sig=$(printf '%b' "$sts" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(printf '%s' "$key" | base64 -d | od -An -v -tx1 | tr -d ' \n')" -binary | base64 -w0)
  code=$(curl -sS -o "$LOGS/azurite-container.out" -w '%{http_code}' -X PUT --max-time 30 \
    -H "x-ms-date: $date" -H "x-ms-version: $version" -H 'Content-Length: 0' \
    -H "Authorization: SharedKey $_AZURITE_ACCOUNT:$sig" \
    "$(_azurite_endpoint)/$_AZURITE_CONTAINER?restype=container") || code=000
  [ "$code" = 201 ] || [ "$code" = 409 ] || { say "azurite: creating container '$_AZURITE_CONTAINER' answered HTTP $code: $(head -c 300 "$LOGS/azurite-container.out")"; return 1; }
}

_azurite_write_env() {
  local f="$STACK_DIR/azurite.env"
  {
    printf "LIFEBOAT_AZURE_ENDPOINT='%s'\n" "$(_azurite_endpoint)"
    printf "LIFEBOAT_AZURE_ACCOUNT='%s'\n" "$_AZURITE_ACCOUNT"
    printf "LIFEBOAT_AZURE_CONTAINER='%s'\n" "$_AZURITE_CONTAINER"
    printf "LIFEBOAT_AZURE_ACCOUNT_KEY='%s'\n" "$(_azurite_key)"
  } >"$f.tmp"
  chmod 600 "$f.tmp"
  mv "$f.tmp" "$f"
}

azurite_start() {
  [ -f "$_AZURITE_MAIN" ] || { say "azurite: $_AZURITE_MAIN is missing; run scripts/stack.sh install"; return 1; }
  mkdir -p "$_AZURITE_DIR/data"
  if ! pid_alive azurite; then
    port_await "$AZURITE_PORT" Azurite LIFEBOAT_AZURITE_PORT
    say "starting Azurite (blob) on 127.0.0.1:$AZURITE_PORT"
    # --skipApiVersionCheck: the SDK may be newer than the emulator; --loose: ignore headers
    # Azurite does not implement instead of failing the request.
    start_daemon azurite "$LOGS/azurite.log" env AZURITE_ACCOUNTS="$_AZURITE_ACCOUNT:$(_azurite_key)" \
      "$_STORAGE_NODE" "$_AZURITE_MAIN" --blobHost 127.0.0.1 --blobPort "$AZURITE_PORT" \
      --location "$_AZURITE_DIR/data" --skipApiVersionCheck --loose --disableProductStyleUrl
  fi
  # Any HTTP answer (403 without credentials) means it serves.
  local t=0
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$(_azurite_endpoint)?comp=list" 2>/dev/null)" != 000 ]; do
    pid_alive azurite || { tail -n 20 "$LOGS/azurite.log" >&2; say "azurite exited during start; see $LOGS/azurite.log"; return 1; }
    t=$((t + 1))
    [ "$t" -lt 1200 ] || { say "azurite did not answer within 120 s; see $LOGS/azurite.log"; return 1; }
    sleep 0.1
  done
  _azurite_create_container || return 1
  _azurite_write_env
  say "Azurite ready at $(_azurite_endpoint) (container '$_AZURITE_CONTAINER')"
}

azurite_stop() { stop_daemon azurite; }

azurite_status() {
  if pid_alive azurite; then echo "azurite: running (pid $(cat "$PIDS/azurite.pid"), port $AZURITE_PORT)"; else echo "azurite: stopped"; fi
}
