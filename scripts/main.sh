#!/usr/bin/env bash
# Lifeboat's main job on the embedded defaults: start the local stack (no S3 needed: backups
# go to a local directory store), apply the migrations and demo seed, and print health.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/stack.sh start --no-s3
set -a
# shellcheck disable=SC1091
. "${LIFEBOAT_STACK_DIR:-$ROOT/.lifeboat}/stack.env"
set +a
secret=$(node -e 'process.stdout.write(JSON.parse(process.env.SUPABASE_SECRET_KEYS).default)')
echo "== health (service view): $SUPABASE_URL/functions/v1/health"
curl -sS -H "apikey: $secret" "$SUPABASE_URL/functions/v1/health"
echo
echo "The stack keeps running; stop it with: bash scripts/stack.sh stop"
