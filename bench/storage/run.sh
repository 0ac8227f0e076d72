#!/usr/bin/env bash
# Storage files benchmark: `lifeboat backup --files` of 10,000 small files and one 1 GiB file
# from the local Storage server to RGW (zstd + age), against a plain parallel copy of the same
# objects (Storage API → S3, no compression, no encryption, the same pool of 8), in one run;
# then a second backup with no change; then `lifeboat restore --storage-target` of the same
# files into a second project against the plain copy the other way. Wall time, CPU and peak
# RSS of each step come from /usr/bin/time -v.
#
# Usage: bash bench/storage/run.sh [SMALL_FILES (10000)] [SMALL_BYTES (8192)] [BIG_MIB (1024)]
# Needs the stack with S3 (scripts/stack.sh start); starts the second project
# (LIFEBOAT_TARGET_STACK_DIR, default .lifeboat-target, on the LIFEBOAT_TARGET_*_PORT ports as
# scripts/test.sh does, else ports +6000) when it is not running.
# Both projects are reached as users reach them: through their gateways (/storage/v1) with
# their secret keys; LIFEBOAT_STORAGE_DIRECT=1 calls the Storage servers directly instead.
# Restarts both Storage servers with a 2 GiB file size limit. Prints a Markdown block.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${LIFEBOAT_STACK_DIR:-$ROOT/.lifeboat}"
set -a; . "$STACK_DIR/stack.env"; set +a
DENO="$ROOT/tools/node_modules/.bin/deno"
SMALL="${1:-10000}" SIZE="${2:-8192}" BIG_MB="${3:-1024}"
WORK=$(mktemp -d /tmp/lifeboat-bench-files.XXXXXX)
RUN=$(date +%s)
PLAIN="s3://$LIFEBOAT_S3_BUCKET/bench-files-plain-$RUN"
LB="s3://$LIFEBOAT_S3_BUCKET/bench-files-lb-$RUN"
export LIFEBOAT_STORAGE_FILE_SIZE_LIMIT=$((2 * 1024 * 1024 * 1024))

shift_port() { local p="$1"; if [ $((p + 6000)) -le 65535 ]; then echo $((p + 6000)); else echo $((p - 6000)); fi; }
T_DB="${LIFEBOAT_TARGET_DB_PORT:-$(shift_port "${LIFEBOAT_DB_PORT:-54322}")}"
T_API="${LIFEBOAT_TARGET_API_PORT:-$(shift_port "${LIFEBOAT_API_PORT:-54321}")}"
T_FN="${LIFEBOAT_TARGET_FN_PORT_BASE:-$(shift_port "${LIFEBOAT_FN_PORT_BASE:-54340}")}"
T_STORAGE="${LIFEBOAT_TARGET_STORAGE_PORT:-$(shift_port "${LIFEBOAT_STORAGE_PORT:-54350}")}"
T_DIR="${LIFEBOAT_TARGET_STACK_DIR:-$ROOT/.lifeboat-target}"
target() {
  LIFEBOAT_STACK_DIR="$T_DIR" LIFEBOAT_DB_PORT="$T_DB" LIFEBOAT_API_PORT="$T_API" \
  LIFEBOAT_FN_PORT_BASE="$T_FN" LIFEBOAT_STORAGE_PORT="$T_STORAGE" \
  bash "$ROOT/scripts/stack.sh" "$@"
}
secret_of() { (set -a; . "$1"; printf '%s' "$SUPABASE_SECRET_KEYS") | python3 -c 'import json,sys; print(json.load(sys.stdin)["default"], end="")'; }
if [ "${LIFEBOAT_STORAGE_DIRECT:-0}" = 1 ]; then
  # The Storage servers directly, with their service_role JWTs.
  export LIFEBOAT_STORAGE_URL="http://127.0.0.1:$LIFEBOAT_STORAGE_PORT" LIFEBOAT_STORAGE_KEY="$SUPABASE_SERVICE_ROLE_KEY"
  TARGET_URL="http://127.0.0.1:$T_STORAGE"
else
  # Through each project's gateway with its secret key, as a user's Lifeboat reaches Supabase.
  export LIFEBOAT_STORAGE_URL="http://127.0.0.1:$LIFEBOAT_API_PORT" LIFEBOAT_STORAGE_KEY="$(secret_of "$STACK_DIR/stack.env")"
  TARGET_URL="http://127.0.0.1:$T_API"
fi

echo "bench: Storage servers with a 2 GiB file limit" >&2
bash "$ROOT/scripts/stack.sh" storage-stop >/dev/null 2>&1; bash "$ROOT/scripts/stack.sh" storage-start >/dev/null 2>&1
target status >/dev/null 2>&1 || target start --no-s3 --no-azure --no-seed >/dev/null 2>&1
target storage-stop >/dev/null 2>&1; target storage-start >/dev/null 2>&1
if [ "${LIFEBOAT_STORAGE_DIRECT:-0}" = 1 ]; then
  TARGET_KEY=$(set -a; . "$T_DIR/stack.env"; printf '%s' "$SUPABASE_SERVICE_ROLE_KEY")
else
  TARGET_KEY=$(secret_of "$T_DIR/stack.env")
fi
tool() { "$DENO" run -A "$ROOT/bench/storage/tool.ts" "$@"; }
cleanup() {
  tool drop "$TARGET_URL" "$TARGET_KEY" bench-small bench-big plain-small plain-big >/dev/null 2>&1 || true
  # The source's bench buckets go too (set KEEP_FILES=1 to keep them for the next run).
  [ "${KEEP_FILES:-0}" = 1 ] || tool drop "$LIFEBOAT_STORAGE_URL" "$LIFEBOAT_STORAGE_KEY" bench-small bench-big >/dev/null 2>&1 || true
  tool empty "$PLAIN" >/dev/null 2>&1 || true
  tool empty "$LB" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# A target left with the bench's buckets (an interrupted run, a test that restored every bucket
# of the source) would make the restore refuse the same names: start from empty buckets there.
tool drop "$TARGET_URL" "$TARGET_KEY" bench-small bench-big plain-small plain-big >/dev/null 2>&1 || true

t0=$(date +%s.%N)
tool generate "$SMALL" "$SIZE" "$BIG_MB"
echo "bench: files in place in $(echo "$(date +%s.%N) - $t0" | bc -l | xargs printf '%.0f') s" >&2
BYTES=$((SMALL * SIZE + BIG_MB * 1024 * 1024))
FILES=$((SMALL + 1))

measure() {
  local name="$1"; shift
  /usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || { tail -n 20 "$WORK/$name.err" >&2; exit 1; }
  awk -F': ' '
    /Elapsed \(wall clock\)/ { n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i] }
    /User time/ { u = $2 } /System time/ { s = $2 } /Maximum resident/ { r = $2 }
    END { printf "%.2f %.2f %d\n", w, u + s, r }' "$WORK/$name.time"
}
# /usr/bin/time reports the peak RSS in KiB; the table gives MB (10^6 bytes), as the goal does.
mb() { echo "$1 * 1024 / 1000000" | bc -l; }
row() { # name wall cpu rss
  printf '| %s | %.1f | %.1f | %.0f | %.1f | %.0f |\n' "$1" "$2" "$(echo "$BYTES / 1000000 / $2" | bc -l)" "$(echo "$FILES / $2" | bc -l)" "$3" "$(mb "$4")"
}

# Keys as 'lifeboat keygen' makes them: an age identity and the signing key pair; backups are
# signed and read back trusting the public half, as users run them.
"$DENO" run -A "$ROOT/scripts/lifeboat.ts" keygen --output "$WORK/key.txt" >/dev/null
RECIPIENT=$(grep -o 'age1[0-9a-z]*' "$WORK/key.txt" | head -n 1)
export LIFEBOAT_SIGNING_KEY_FILE="$WORK/key.txt.signing" LIFEBOAT_TRUSTED_KEYS="$WORK/key.txt.signing.pub"
# The CLI as users run it: scripts/lifeboat, with its memory settings (V8 flags, malloc threshold).
LB_CLI="$ROOT/scripts/lifeboat"
LBB=(backup --store "$LB" --recipient "$RECIPIENT" --files --bucket bench-small --bucket bench-big --table public.notes --json)

echo "bench: plain copy Storage → S3" >&2
read -r pw pc pr < <(measure plain_backup "$DENO" run -A "$ROOT/bench/storage/tool.ts" plain-backup "$PLAIN")
echo "bench: lifeboat backup --files" >&2
read -r lw lc lr < <(measure lb_backup "$LB_CLI" "${LBB[@]}")
echo "bench: lifeboat backup --files, nothing changed" >&2
read -r nw nc nr < <(measure lb_backup2 "$LB_CLI" "${LBB[@]}")
READ2=$(grep -o '"fileBytesRead":[0-9]*' "$WORK/lb_backup2.out" | cut -d: -f2)
echo "bench: plain copy S3 → Storage (second project)" >&2
read -r qw qc qr < <(measure plain_restore "$DENO" run -A "$ROOT/bench/storage/tool.ts" plain-restore "$PLAIN" "$TARGET_URL" "$TARGET_KEY")
echo "bench: lifeboat restore --storage-target (second project)" >&2
read -r rw rc rr < <(LIFEBOAT_STORAGE_TARGET_KEY="$TARGET_KEY" measure lb_restore "$LB_CLI" restore --store "$LB" --latest --identity "$WORK/key.txt" --storage-target "$TARGET_URL")

echo
echo "$SMALL files of $SIZE bytes + one file of $BIG_MB MiB ($(echo "$BYTES / 1000000" | bc) MB, random bytes), pool of 8 on both sides:"
echo
echo "| step | wall s | MB/s | files/s | CPU s | peak RSS MB |"
echo "|---|---|---|---|---|---|"
row "plain copy Storage → S3 (no compression, no encryption)" "$pw" "$pc" "$pr"
row "lifeboat backup --files (zstd + age, sha256)" "$lw" "$lc" "$lr"
row "lifeboat backup --files, no change (read $READ2 file bytes)" "$nw" "$nc" "$nr"
row "plain copy S3 → Storage" "$qw" "$qc" "$qr"
row "lifeboat restore --storage-target (decrypt, upload + sha256, ETag check)" "$rw" "$rc" "$rr"
echo
printf -- '- backup / plain copy throughput: **%.2f** (goal ≥ 0.8)\n' "$(echo "$pw / $lw" | bc -l)"
printf -- '- restore / plain copy throughput: **%.2f**\n' "$(echo "$qw / $rw" | bc -l)"
echo "- reached through: $([ "${LIFEBOAT_STORAGE_DIRECT:-0}" = 1 ] && echo "the Storage servers directly" || echo "each project's gateway (/storage/v1, secret key)")"
grep -o 'files: [0-9]* of [0-9]* file(s) uploaded[^;]*' "$WORK/lb_restore.out" | head -n 1 | sed 's/^/- restore said: /' || true
printf -- '- no-change backup of %s files: **%.1f s** (goal < 5 s)\n' "$FILES" "$nw"
printf -- '- peak RSS of the backup: **%.0f MB** (goal < 200 MB), restore %.0f MB\n' "$(mb "$lr")" "$(mb "$rr")"
