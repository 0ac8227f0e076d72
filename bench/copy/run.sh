#!/usr/bin/env bash
# Copy benchmark (issue 21): `lifeboat copy` of one backup from RGW to a second RGW bucket
# (streamed, each object written with its manifest sha256, the destination checked first and
# the manifest last, recorded in lifeboat.location_copies) against a plain streamed GET and PUT
# of the same objects with the same S3 driver, side by side in one run. Wall time and peak RSS
# of each from /usr/bin/time -v.
#
# Usage: bash bench/copy/run.sh [MIB (1024)] [rgw|azure (rgw)]   — needs the stack with S3 (and
# Azurite for `azure`: scripts/stack.sh start); the destination is a second RGW bucket or Azurite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${LIFEBOAT_STACK_DIR:-$ROOT/.lifeboat}"
set -a; . "$STACK_DIR/stack.env"; set +a
DENO="$ROOT/tools/node_modules/.bin/deno"
MIB="${1:-1024}"
DEST="${2:-rgw}"
RUN=$(date +%s)
SRC="s3://$LIFEBOAT_S3_BUCKET/bench-copy-src-$RUN"
case "$DEST" in
  rgw) PLAIN="s3://lifeboat-copy-bench/plain-$RUN" COPY="s3://lifeboat-copy-bench/copy-$RUN" WHERE="second RGW bucket" ;;
  azure) PLAIN="az://$LIFEBOAT_AZURE_ACCOUNT/$LIFEBOAT_AZURE_CONTAINER/bench-plain-$RUN"
    COPY="az://$LIFEBOAT_AZURE_ACCOUNT/$LIFEBOAT_AZURE_CONTAINER/bench-copy-$RUN" WHERE="Azurite" ;;
  *) echo "usage: bash bench/copy/run.sh [MIB] [rgw|azure]" >&2; exit 2 ;;
esac
WORK=$(mktemp -d /tmp/lifeboat-bench-copy.XXXXXX)
TOOL=("$DENO" run --quiet -A --v8-flags=--max-semi-space-size=2 "$ROOT/bench/copy/tool.ts")
tool() { "${TOOL[@]}" "$@"; }
timed() { local name="$1"; shift; /usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.out"; }
field() { grep -F "$2" "$WORK/$1.time" | sed 's/.*: //'; }
secs() { field "$1" "Elapsed (wall clock)" | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }'; }
trap 'tool clean "$SRC" "$PLAIN" "$COPY" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

ID=$(tool setup "$MIB" "$SRC")
tool locations "$SRC" "$COPY"
timed plain "${TOOL[@]}" plain "$SRC" "$PLAIN" "$ID"
timed copy "$ROOT/scripts/lifeboat" copy --no-retention --json
grep -q '"copied": \[' "$WORK/copy.out" || { cat "$WORK/copy.out"; exit 1; }
P=$(secs plain) C=$(secs copy)
cat <<MD
| what ($MIB MiB, RGW → $WHERE) | wall s | MiB/s | peak RSS MB |
|---|---|---|---|
| plain streamed GET + PUT (same store drivers) | $P | $(awk -v m="$MIB" -v s="$P" 'BEGIN{printf "%.1f", m/s}') | $(( $(field plain "Maximum resident") / 1024 )) |
| \`lifeboat copy\` (sha256-verified, recorded) | $C | $(awk -v m="$MIB" -v s="$C" 'BEGIN{printf "%.1f", m/s}') | $(( $(field copy "Maximum resident") / 1024 )) |

copy / plain throughput: **$(awk -v p="$P" -v c="$C" 'BEGIN{printf "%.2f", p/c}')** (goal ≥ 0.8)
MD
