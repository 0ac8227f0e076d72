#!/usr/bin/env bash
# Runs every Lifeboat test suite against the local stack, starting (and installing) whatever
# is needed, and ends with one line: `lifeboat: N passed, N failed`.
#
# Usage: scripts/test.sh [--no-s3] [--no-azure] [deno test file filter...]
# The stack is stopped again at the end if this script started it. Tests of a restore into a new
# project (tests/stack/restore_project*.test.ts), of Storage files and of a fresh install proving
# itself (self_proving) also get a second, empty project (`--no-seed`, no S3 of its own: its
# functions reach this stack's RGW with the LIFEBOAT_S3_* they inherit) in LIFEBOAT_TARGET_STACK_DIR (default ./.lifeboat-target) on the LIFEBOAT_TARGET_DB_PORT,
# _API_PORT, _FN_PORT_BASE and _STORAGE_PORT ports (default 54422, 54421, 54440, 54450),
# started once for all of them and stopped at the end if this script started it.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STACK_DIR="${LIFEBOAT_STACK_DIR:-$ROOT/.lifeboat}"
case "$STACK_DIR" in /*) ;; *) STACK_DIR="$ROOT/$STACK_DIR" ;; esac
export LIFEBOAT_STACK_DIR="$STACK_DIR"
DENO="$ROOT/tools/node_modules/.bin/deno"
OUT="$STACK_DIR/artifacts"
mkdir -p "$OUT"

start_args=()
filters=()
for a in "$@"; do
  case "$a" in
    --no-s3) start_args+=(--no-s3); export LIFEBOAT_SKIP_S3=1 ;;
    --no-azure) start_args+=(--no-azure); export LIFEBOAT_SKIP_AZURE=1 ;;
    *) filters+=("$a") ;;
  esac
done

TARGET_DIR="${LIFEBOAT_TARGET_STACK_DIR:-$ROOT/.lifeboat-target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
# The target's ports, exported so the tests (tests/support/target_project.ts) find the same one.
target_ports_chosen="${LIFEBOAT_TARGET_DB_PORT:-}${LIFEBOAT_TARGET_API_PORT:-}${LIFEBOAT_TARGET_FN_PORT_BASE:-}${LIFEBOAT_TARGET_STORAGE_PORT:-}"
export LIFEBOAT_TARGET_DB_PORT="${LIFEBOAT_TARGET_DB_PORT:-54422}" LIFEBOAT_TARGET_API_PORT="${LIFEBOAT_TARGET_API_PORT:-54421}" \
  LIFEBOAT_TARGET_FN_PORT_BASE="${LIFEBOAT_TARGET_FN_PORT_BASE:-54440}" LIFEBOAT_TARGET_STORAGE_PORT="${LIFEBOAT_TARGET_STORAGE_PORT:-54450}"
# scripts/stack.sh for the target project, on its own ports and state directory.
target_stack() {
  env LIFEBOAT_STACK_DIR="$TARGET_DIR" LIFEBOAT_DB_PORT="$LIFEBOAT_TARGET_DB_PORT" LIFEBOAT_API_PORT="$LIFEBOAT_TARGET_API_PORT" \
    LIFEBOAT_FN_PORT_BASE="$LIFEBOAT_TARGET_FN_PORT_BASE" LIFEBOAT_STORAGE_PORT="$LIFEBOAT_TARGET_STORAGE_PORT" bash scripts/stack.sh "$@"
}
# Whether the chosen tests restore into a second project.
wants_target() {
  [ ${#filters[@]} -eq 0 ] && return 0
  local f
  for f in "${filters[@]}"; do case "$f" in *restore_project* | *storage_files* | *self_proving*) return 0 ;; esac; done
  return 1
}

passed=0
failed=0
finish() {
  if [ "${target_started_here:-0}" = 1 ]; then target_stack stop >/dev/null 2>&1 || true; fi
  if [ "${started_here:-0}" = 1 ]; then bash scripts/stack.sh stop >/dev/null 2>&1 || true; fi
  echo "lifeboat: $passed passed, $failed failed"
  [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
  exit $?
}

# The status page test drives Debian's Chromium (no browser download: the network is closed).
if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'install ok installed'; then
  if [ "$(id -u)" = 0 ]; then
    echo "test: installing chromium from Debian" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
  fi
fi

# The second project's ports are reserved before the first project opens its connections, one
# of which the kernel could otherwise give one of them as its local port (scripts/stack/ports.sh).
if wants_target; then target_stack reserve-ports --no-s3 --no-azure || true; fi

started_here=0
bash scripts/stack.sh status >/dev/null 2>&1 || started_here=1
if ! bash scripts/stack.sh start "${start_args[@]}"; then
  failed=$((failed + 1))
  echo "test: the stack did not start; see $STACK_DIR/logs" >&2
  finish
fi
set -a
# shellcheck disable=SC1091
. "$STACK_DIR/stack.env"
set +a

target_started_here=0
if wants_target; then
  target_stack status >/dev/null 2>&1 || target_started_here=1
  # The target reuses the main stack's builds (extensions, Storage server, Node) instead of
  # building them again.
  mkdir -p "$TARGET_DIR"
  for d in build node24; do
    [ -e "$TARGET_DIR/$d" ] || [ ! -d "$STACK_DIR/$d" ] || ln -s "$STACK_DIR/$d" "$TARGET_DIR/$d"
  done
  # Ports the kernel could not be kept from lending (no root, or a read-only /proc/sys), or a
  # program on them: the test-only project moves, unless its ports were chosen by hand.
  if [ "$target_started_here" = 1 ] && [ -z "$target_ports_chosen" ]; then
    for _ in 1 2 3; do
      taken=$(target_stack check-ports --no-s3 --no-azure) && break
      echo "test: ports of the second project are taken ($(echo $taken)); moving them up by 1000" >&2
      LIFEBOAT_TARGET_DB_PORT=$((LIFEBOAT_TARGET_DB_PORT + 1000)) LIFEBOAT_TARGET_API_PORT=$((LIFEBOAT_TARGET_API_PORT + 1000))
      LIFEBOAT_TARGET_FN_PORT_BASE=$((LIFEBOAT_TARGET_FN_PORT_BASE + 1000)) LIFEBOAT_TARGET_STORAGE_PORT=$((LIFEBOAT_TARGET_STORAGE_PORT + 1000))
      target_stack reserve-ports --no-s3 --no-azure || true
    done
  fi
  if ! target_stack start --no-s3 --no-azure --no-seed; then
    failed=$((failed + 1))
    echo "test: the target project did not start; see $TARGET_DIR/logs" >&2
    finish
  fi
  LIFEBOAT_TARGET_DB_URL=$(. "$TARGET_DIR/stack.env"; printf '%s' "$SUPABASE_DB_URL")
  export LIFEBOAT_TARGET_DB_URL LIFEBOAT_TARGET_STACK_DIR="$TARGET_DIR"
fi

# --- pgTAP ---------------------------------------------------------------------------------
if [ ${#filters[@]} -eq 0 ]; then
  echo "== pgTAP (supabase/tests/database)"
  PGPASSWORD=postgres pg_prove --ext .sql -r supabase/tests/database --verbose \
    -h 127.0.0.1 -p "$LIFEBOAT_DB_PORT" -U postgres -d postgres >"$OUT/pgtap.log" 2>&1
  rc=$?
  cat "$OUT/pgtap.log"
  p=$(grep -cE '^ *ok [0-9]+' "$OUT/pgtap.log")
  f=$(grep -cE '^ *not ok [0-9]+' "$OUT/pgtap.log")
  # A file that died (bad plan, SQL error) fails even if no assertion said "not ok".
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
  if [ "$p" = 0 ] && [ "$f" = 0 ]; then f=1; echo "test: pg_prove ran no test" >&2; fi
  passed=$((passed + p)); failed=$((failed + f))
fi

# --- Deno ----------------------------------------------------------------------------------
echo "== Deno tests (tests/)"
targets=("${filters[@]}")
[ ${#targets[@]} -eq 0 ] && targets=(tests/)
"$DENO" test --quiet -A --no-prompt "${targets[@]}" 2>&1 | tee "$OUT/deno.log"
rc=${PIPESTATUS[0]}
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$OUT/deno.log" | grep -aE '^(ok|FAILED) \| [0-9]+ passed' | tail -n 1)
if [ -n "$summary" ]; then
  p=$(echo "$summary" | sed -E 's/.*\| ([0-9]+) passed.*/\1/')
  f=$(echo "$summary" | sed -E 's/.*\| ([0-9]+) failed.*/\1/')
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
else
  p=0; f=1
  echo "test: deno test printed no summary (type error or crash?)" >&2
fi
passed=$((passed + p)); failed=$((failed + f))

finish
