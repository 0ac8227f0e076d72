# shellcheck shell=bash
# The database of the local stack, set up the way the Supabase image sets up a new project:
# a PostgreSQL 15 cluster whose bootstrap superuser is supabase_admin, with supautils, pg_cron,
# pg_net, pg_stat_statements and supabase_vault preloaded and the hosted supautils settings;
# then supabase/postgres's init scripts and migrations (which end with `postgres` demoted from
# superuser), the pieces the Docker image adds, and GoTrue's auth migrations as
# supabase_auth_admin. Every deviation from upstream is listed in docs/supabase-compat.md.
#
# Sourced by scripts/stack.sh (which defines ROOT, STACK_DIR, LOGS, PIDS, DB_PORT, say, die).
# Defines: pg_start, pg_running, pg_platform, pg_project, admin_psql, owner_url.

PG_BIN=/usr/lib/postgresql/15/bin
PG_DIR="$STACK_DIR/pg"
PG_DATA="$PG_DIR/data"
PG_SOCK="$PG_DIR/run"
# Marks a cluster whose Supabase setup (init scripts, migrations, auth) finished.
PG_SETUP_DONE="$PG_DIR/.supabase-setup-done"

owner_url() { printf 'postgresql://postgres:postgres@127.0.0.1:%s/postgres' "$DB_PORT"; }

as_postgres() { runuser -u postgres -- "$@"; }
# psql over the private socket as ROLE (supabase_admin unless -U is given first).
_socket_psql() {
  local role="$1"; shift
  PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
    -h "$PG_SOCK" -p "$DB_PORT" -U "$role" -d postgres "$@"
}
admin_psql() { _socket_psql supabase_admin "$@"; }

pg_running() { pid_alive postgres; }

# The part of a dbmate migration above `-- migrate:down`.
_migrate_up() { sed '/^-- migrate:down/,$d' "$1"; }

# The hosted supautils settings, read from upstream's supautils.conf.j2; only the folder of the
# extension custom scripts differs (see _pg_custom_scripts). supautils 3.x renamed that setting
# and defines the new name after the deprecated one, which leaves the old name without effect,
# so the new name is set too. Written at every start: the stack folder may have moved.
_pg_supautils_conf() {
  local pgsrc="$1" scripts="$STACK_DIR/extension-custom-scripts"
  {
    grep -v '^supautils.privileged_extensions_custom_scripts_path' \
      "$pgsrc/ansible/files/postgresql_config/supautils.conf.j2"
    printf "supautils.extension_custom_scripts_path = '%s'\n" "$scripts"
  } >"$PG_DATA/supautils.conf"
  chown postgres:postgres "$PG_DATA/supautils.conf"
}

_pg_conf() {
  cat >>"$PG_DATA/postgresql.conf" <<EOF

# --- Lifeboat local stack: hosted Supabase's settings (see docs/supabase-compat.md) ---
listen_addresses = '127.0.0.1'
port = $DB_PORT
unix_socket_directories = '$PG_SOCK'
shared_preload_libraries = 'supautils, pg_cron, pg_net, pg_stat_statements, supabase_vault'
include = 'supautils.conf'
cron.database_name = 'postgres'
# pg_cron connects to run jobs; over TCP it would need a password, so use the private socket.
cron.host = '$PG_SOCK'
# Supabase's vault key comes from a script; here it prints a key made once per cluster.
vault.getkey_script = '$PG_DIR/vault-getkey.sh'
wal_level = logical
max_wal_senders = 10
max_replication_slots = 5
max_slot_wal_keep_size = 4096
# Debian's 15.19+ only (hosted 15.8 has no such setting): wal2json slots need it listed.
output_plugin_libraries = 'pgoutput, test_decoding, wal2json'
max_connections = 100
pg_stat_statements.track = all
password_encryption = 'scram-sha-256'
row_security = on
timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

# The extension custom scripts supautils runs around `create extension`: upstream's folder,
# plus the after-create grants of supabase_vault 0.3.1, which the pinned scripts (written for
# vault 0.2.8) lack and newer upstream has.
_pg_custom_scripts() {
  local pgsrc="$1" dest="$STACK_DIR/extension-custom-scripts"
  rm -rf "$dest" && mkdir -p "$dest"
  cp -a "$pgsrc/ansible/files/postgresql_extension_custom_scripts/." "$dest/"
  mkdir -p "$dest/supabase_vault"
  cp "$ROOT/scripts/stack/sql/vault-after-create.sql" "$dest/supabase_vault/after-create.sql"
  chown -R postgres:postgres "$dest"
}

_pg_vault_key() {
  local key="$PG_DIR/vault.key" script="$PG_DIR/vault-getkey.sh"
  [ -f "$key" ] || { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$key"; }
  printf '#!/bin/sh\ncat %s\n' "$key" >"$script"
  chown postgres:postgres "$key" "$script"
  chmod 600 "$key"; chmod 700 "$script"
}

pg_init() {
  [ -f "$PG_DATA/PG_VERSION" ] && return 0
  say "creating the PostgreSQL 15 cluster in $PG_DATA"
  mkdir -p "$PG_DATA" "$PG_SOCK"
  chown -R postgres:postgres "$PG_DIR"
  chmod 700 "$PG_DATA" "$PG_SOCK"
  # The bootstrap superuser is supabase_admin, as in the Supabase image; it can only log in
  # over the private socket, which only the postgres OS user and root can reach.
  as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U supabase_admin --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$LOGS/initdb.log" 2>&1 \
    || die "initdb failed; see $LOGS/initdb.log"
  _pg_conf
  # Loopback only, passwords required; the private socket is trusted (see above).
  cat >"$PG_DATA/pg_hba.conf" <<'EOF'
local   all   all                 trust
host    all   all   127.0.0.1/32  scram-sha-256
EOF
}

# TLS as on hosted Supabase, which accepts TLS connections: a self-signed certificate made
# once per cluster, so clients that ask for TLS (sslmode=require) are tested against the real
# server. Clients that do not ask keep plain TCP.
pg_tls() {
  [ -f "$PG_DATA/server.crt" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=lifeboat-local-stack" \
    -keyout "$PG_DATA/server.key" -out "$PG_DATA/server.crt" >"$LOGS/tls.log" 2>&1 \
    || die "could not make the TLS certificate; see $LOGS/tls.log"
  chown postgres:postgres "$PG_DATA/server.key" "$PG_DATA/server.crt"
  chmod 600 "$PG_DATA/server.key"
  grep -q "^ssl = on" "$PG_DATA/postgresql.conf" || echo "ssl = on" >>"$PG_DATA/postgresql.conf"
}

# Restarts a running cluster whose server package was upgraded under it (installing
# postgresql-server-dev-15 can do that), so it runs the binaries the extensions were built for.
pg_restart_if_upgraded() {
  local before="$1" now
  now=$(dpkg-query -W -f='${Version}' postgresql-15 2>/dev/null || true)
  if [ "$before" != "$now" ] && pg_running; then
    say "postgresql-15 was upgraded ($before -> $now): restarting the cluster"
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$LOGS/postgres.log" -w -t 60 -m fast restart >/dev/null \
      || die "PostgreSQL did not restart"
    head -n 1 "$PG_DATA/postmaster.pid" >"$PIDS/postgres.pid"
  fi
}

pg_start() {
  local pgsrc
  pgsrc=$(vendor_dir postgres) || die "the supabase/postgres sources are not available"
  pg_init
  pg_tls
  _pg_custom_scripts "$pgsrc"
  _pg_supautils_conf "$pgsrc"
  _pg_vault_key
  sed -i "s/^port = .*/port = $DB_PORT/" "$PG_DATA/postgresql.conf"
  if pg_running; then
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" reload >/dev/null
    return 0
  fi
  rm -f "$PIDS/postgres.pid"
  port_await "$DB_PORT" PostgreSQL LIFEBOAT_DB_PORT
  say "starting PostgreSQL on 127.0.0.1:$DB_PORT"
  touch "$LOGS/postgres.log" && chown postgres "$LOGS/postgres.log"
  as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$LOGS/postgres.log" -c -w -t 60 start >/dev/null \
    || { tail -n 20 "$LOGS/postgres.log" >&2; die "PostgreSQL did not start"; }
  head -n 1 "$PG_DATA/postmaster.pid" >"$PIDS/postgres.pid"
}

# supabase/postgres's setup, in upstream's order (migrations/db/migrate.sh): role postgres as a
# superuser, init scripts as postgres, then the migrations as supabase_admin, the last of which
# demote postgres. Runs once per cluster.
_pg_supabase_setup() {
  local pgsrc="$1" db="$1/migrations/db" f
  say "setting the database up as the Supabase image does (supabase/postgres $(basename "$pgsrc"))"
  admin_psql -c "do \$\$ begin
      if not exists (select from pg_roles where rolname = 'postgres') then
        create role postgres superuser login password 'postgres';
        alter database postgres owner to postgres;
      end if; end \$\$" >>"$LOGS/supabase-setup.log" 2>&1 || return 1
  for f in "$db"/init-scripts/*.sql; do
    echo "-- ${f##*/}" >>"$LOGS/supabase-setup.log"
    _migrate_up "$f" | _socket_psql postgres >>"$LOGS/supabase-setup.log" 2>&1 \
      || { echo "stack: ${f##*/} failed" >&2; return 1; }
  done
  # What the Docker image adds that the archive lacks: the pgbouncer auth schema (its
  # definition is read from upstream's schema-15.sql) and pg_stat_statements in extensions.
  {
    echo "create schema if not exists pgbouncer;"
    awk '/^CREATE FUNCTION pgbouncer\.get_auth/{p=1} p{print} p&&/^\$\$;/{exit}' "$pgsrc/migrations/schema-15.sql" \
      | sed 's/^CREATE FUNCTION/CREATE OR REPLACE FUNCTION/'
    echo "create extension if not exists pg_stat_statements with schema extensions;"
  } | admin_psql >>"$LOGS/supabase-setup.log" 2>&1 || return 1
  for f in "$db"/migrations/*.sql; do
    echo "-- ${f##*/}" >>"$LOGS/supabase-setup.log"
    case "${f##*/}" in
      20231020085357_*)
        # The pinned migrations predate supautils 3.x, which requires superuser-owned event
        # trigger functions; upstream made supabase_admin their owner later (20250402065937).
        admin_psql -c "alter function extensions.grant_pg_cron_access() owner to supabase_admin;
                       alter function extensions.grant_pg_net_access() owner to supabase_admin;" \
          >>"$LOGS/supabase-setup.log" 2>&1 || return 1 ;;
    esac
    # pgsodium is not available here: the one line that names its role has to go.
    _migrate_up "$f" | grep -v '^GRANT pgsodium_keyholder to service_role;$' \
      | admin_psql >>"$LOGS/supabase-setup.log" 2>&1 || { echo "stack: ${f##*/} failed" >&2; return 1; }
  done
}

# GoTrue's migrations, as GoTrue runs them at start-up: as supabase_auth_admin with
# search_path auth, each file in one transaction, each version recorded in
# auth.schema_migrations; the files are Go templates whose only parameter is the namespace.
_pg_auth_migrations() {
  local authsrc f version done_versions
  authsrc=$(vendor_dir auth) || return 1
  done_versions=$(admin_psql -At -c "select version from auth.schema_migrations") || return 1
  for f in "$authsrc"/migrations/*.up.sql; do
    version="${f##*/}"; version="${version%%_*}"
    grep -qx "$version" <<<"$done_versions" && continue
    echo "-- auth ${f##*/}" >>"$LOGS/supabase-setup.log"
    { echo "begin; set local search_path = auth;"
      sed -E 's/\{\{ ?index \.Options "Namespace" ?\}\}/auth/g' "$f"
      echo ";"
      echo "insert into auth.schema_migrations (version) values ('$version');"
      echo "commit;"
    } | _socket_psql supabase_auth_admin >>"$LOGS/supabase-setup.log" 2>&1 \
      || { echo "stack: GoTrue migration ${f##*/} failed" >&2; return 1; }
  done
}

# The platform: everything a new hosted project has before its owner does anything.
pg_platform() {
  local pgsrc
  pgsrc=$(vendor_dir postgres) || return 1
  if [ ! -f "$PG_SETUP_DONE" ]; then
    # The upstream scripts are not idempotent: a cluster they failed on is made anew.
    : >"$LOGS/supabase-setup.log"
    _pg_supabase_setup "$pgsrc" || die "the Supabase database setup failed; see $LOGS/supabase-setup.log
  (remove $PG_DIR after fixing the cause: the upstream scripts run once, on a new cluster)"
    admin_psql -f "$ROOT/scripts/stack/sql/platform.sql" >>"$LOGS/supabase-setup.log" 2>&1 \
      || die "the platform setup failed; see $LOGS/supabase-setup.log"
  fi
  _pg_auth_migrations || die "GoTrue's migrations failed; see $LOGS/supabase-setup.log"
  touch "$PG_SETUP_DONE"
}

# What the project's owner does in the dashboard, as postgres (a non-superuser under
# supautils): enable the extensions Lifeboat and its tests use, store the project URL and
# a secret key in Vault so that pg_cron reaches the functions through pg_net, and the signing
# key backup-export signs with (write_signing_key in scripts/stack.sh made it).
pg_project() {
  local secret
  # shellcheck disable=SC1091
  secret=$(. "$STACK_DIR/keys.env" && node -e 'process.stdout.write(JSON.parse(process.argv[1]).default)' "$SUPABASE_SECRET_KEYS")
  PGPASSWORD=postgres psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$DB_PORT" -U postgres -d postgres \
    -v url="http://127.0.0.1:$API_PORT" -v key="$secret" -v signing_key="$(cat "$STACK_DIR/signing.key.signing")" \
    -f "$ROOT/scripts/stack/sql/project.sql" \
    >"$LOGS/project.log" 2>&1 || { tail -n 20 "$LOGS/project.log" >&2; die "project setup failed; see $LOGS/project.log"; }
}
