# The stack's loopback ports. The defaults (5432x-5436x, and 544xx for the tests' second
# project) lie inside Linux's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999),
# so on a busy machine the kernel can lend one of them to an outbound connection as its local
# port (the Storage server's pool to Postgres, Ceph's daemons, a test's client), and a server
# started on it afterwards fails with "Address already in use". A CI run was lost that way:
# the second project's Postgres could not bind 54422. Two defences:
# - ports_reserve: as root, the ports go into net.ipv4.ip_local_reserved_ports, which the
#   kernel never lends (binding them on purpose still works);
# - port_await: before a server starts, a lent port is waited for, and a port another program
#   listens on stops the start with the setting to change.
#
# Sourced by scripts/stack.sh (say, die, function_names, the *_PORT variables).

# stack_ports [--no-s3] [--no-azure]: the ports this stack listens on, one per line (with the
# start options that leave RGW or Azurite out, as the tests' second project does).
stack_ports() {
  local i=0 name a s3=1 azure=1
  for a in "$@"; do case "$a" in --no-s3) s3=0 ;; --no-azure) azure=0 ;; esac; done
  printf '%s\n' "$DB_PORT" "$API_PORT" "$STORAGE_PORT"
  [ "$s3" = 0 ] || echo "$S3_PORT"
  [ "$azure" = 0 ] || echo "$AZURITE_PORT"
  for name in $(function_names); do echo $((FN_PORT_BASE + i)); i=$((i + 1)); done
}

# ports_state PORT...: "PORT free|listening|lent" for each, as a server binding 127.0.0.1
# with SO_REUSEADDR (PostgreSQL, Node, RGW, Deno) would find it: "lent" is a port bound by a
# socket that does not listen, which is what an outbound connection's local port is.
ports_state() {
  node -e '
    const net = require("node:net");
    const probe = (port) => new Promise((resolve) => {
      const server = net.createServer();
      server.once("error", () => {
        const client = net.connect({ port, host: "127.0.0.1" });
        client.once("connect", () => { client.destroy(); resolve("listening"); });
        client.once("error", () => resolve("lent"));
      });
      server.listen({ port, host: "127.0.0.1" }, () => server.close(() => resolve("free")));
    });
    (async () => {
      for (const p of process.argv.slice(1)) console.log(`${p} ${await probe(Number(p))}`);
    })();' "$@"
}

# ports_reserve PORT...: keep the kernel from lending these ports to outbound connections.
# Needs root and a writable /proc/sys; without them nothing changes and port_await remains.
ports_reserve() {
  local f=/proc/sys/net/ipv4/ip_local_reserved_ports before after want
  [ "$(id -u)" = 0 ] && [ -w "$f" ] || return 0
  before=$(cat "$f" 2>/dev/null) || return 0
  want=$(printf '%s,' "$@"); want="${want%,}"
  # The file is a bitmap: writing replaces it, reading prints it back as ranges.
  printf '%s\n' "${before:+$before,}$want" >"$f" 2>/dev/null || return 0
  after=$(cat "$f" 2>/dev/null) || return 0
  [ "$before" = "$after" ] || say "reserved ports $want from the kernel's ephemeral range (net.ipv4.ip_local_reserved_ports)"
}

# port_await PORT WHAT SETTING: returns once PORT can be bound. A port lent to an outbound
# connection is waited for (up to 30 s); a port another program listens on stops the start.
port_await() {
  local port="$1" what="$2" setting="$3" state i
  for i in $(seq 1 30); do
    state=$(ports_state "$port") || die "could not probe port $port (needs node on PATH)"
    case "${state#* }" in
      free) return 0 ;;
      listening) die "port $port ($what) is in use by another program: stop it, or set $setting to a free port" ;;
    esac
    [ "$i" = 1 ] && say "port $port ($what) is the local port of an outbound connection; waiting up to 30 s for it"
    sleep 1
  done
  die "port $port ($what) stayed taken by an outbound connection for 30 s: set $setting to another port"
}

# ports_check [--no-s3] [--no-azure]: prints the stack's ports that cannot be bound now; fails
# if there is one.
ports_check() {
  local taken
  taken=$(ports_state $(stack_ports "$@") | grep -v ' free$') || true
  [ -z "$taken" ] || { printf '%s\n' "$taken"; return 1; }
}
