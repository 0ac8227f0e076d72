# shellcheck shell=bash
# Lifeboat's local S3: a single-node Ceph cluster (mon + one bluestore OSD on a
# sparse file + radosgw) that lives entirely under "$STACK_DIR/ceph".
#
# Sourced by scripts/stack.sh. Expects:
#   STACK_DIR  absolute path of a git-ignored state dir (e.g. <repo>/.lifeboat)
#   S3_PORT    port radosgw listens on, on 127.0.0.1 only (default 54330)
# Optional:
#   S3_MON_PORT     msgr2 port of the monitor (default S3_PORT+10000); fixed at
#                   cluster creation because it is baked into the monmap.
#   S3_OSD_SIZE_GB  size of the sparse OSD file (default 10), only at creation.
#   S3_START_TIMEOUT  seconds to wait for radosgw to serve (default 180).
#
# Defines: s3_install, s3_start, s3_stop, s3_status.
# Writes:  $STACK_DIR/s3.env (LIFEBOAT_S3_* variables, sourceable by bash)
#          $STACK_DIR/pids/{ceph-mon,ceph-osd,radosgw}.pid
#          buckets `lifeboat` and `lifeboat-locked` (S3 Object Lock on), and the storage classes
#          STANDARD_IA, GLACIER_IR, GLACIER, DEEP_ARCHIVE in the default placement
#
# Never touches /etc/ceph, /var/lib/ceph or systemd: every ceph command gets
# our own ceph.conf via -c, and every path ceph would default to is overridden.

: "${S3_PORT:=54330}"

_S3_DAEMONS=(radosgw ceph-osd ceph-mon) # stop order; start order is reversed
_S3_RGW_NAME=client.rgw.lifeboat
_S3_BUCKET=lifeboat
_S3_REGION=us-east-1

_s3_say() { printf 's3: %s\n' "$*" >&2; }
_s3_now() { date +%s.%N; }
_s3_since() { awk -v a="$1" -v b="$(_s3_now)" 'BEGIN { printf "%.1f", b - a }'; }

_s3_require_env() {
  if [[ -z "${STACK_DIR:-}" || "${STACK_DIR}" != /* ]]; then
    _s3_say "STACK_DIR must be set to an absolute path before sourcing scripts/stack/s3.sh"
    return 1
  fi
}

_s3_root() { printf '%s/ceph' "$STACK_DIR"; }
_s3_conf() { printf '%s/ceph/ceph.conf' "$STACK_DIR"; }
_s3_pidfile() { printf '%s/pids/%s.pid' "$STACK_DIR" "$1"; }

# ---------------------------------------------------------------- install

# Install whatever is missing of the Ceph packages (and curl, used for the
# signed S3 requests during start). Debian/Ubuntu only.
s3_install() {
  local pkgs=(ceph-mon ceph-osd radosgw ceph-common curl) missing=() p
  for p in "${pkgs[@]}"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]]; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]} == 0)); then
    _s3_say "ceph packages already installed"
    return 0
  fi
  _s3_say "installing: ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
    ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    _s3_say "apt-get install ${missing[*]} failed: check access to the Debian mirror, then re-run"
    return 1
  fi
}

# ---------------------------------------------------------------- processes

# True if $1 is a live (non-zombie) process whose command line mentions our
# ceph.conf. PID 1 here does not reap orphans, so a dead daemon can linger as a
# zombie; and a recycled PID must not be mistaken for our daemon.
_s3_pid_alive() {
  local pid=$1 state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/stat" ]] || return 1
  state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ "$state" != Z && "$state" != X ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(_s3_conf)"
}

_s3_daemon_pid() {
  local f pid
  f=$(_s3_pidfile "$1")
  [[ -f "$f" ]] || return 1
  pid=$(<"$f")
  _s3_pid_alive "$pid" || return 1
  printf '%s' "$pid"
}

# _s3_spawn NAME CMD... : run CMD in its own session (so the caller's Ctrl-C or
# process-group kill does not take it down) and record its PID. The inner bash
# writes its own PID and then execs, so the PID is right even if setsid forks.
_s3_spawn() {
  local name=$1 pidfile out i
  shift
  pidfile=$(_s3_pidfile "$name")
  out="$(_s3_root)/log/$name.out"
  rm -f "$pidfile"
  [[ -f "$out" ]] && mv -f "$out" "$out.prev"
  # shellcheck disable=SC2016 # $$ and $0 are for the inner bash
  setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$out" 2>&1 &
  for ((i = 0; i < 100; i++)); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.05
  done
  _s3_say "could not start $name (no pid file after 5s); see $out"
  return 1
}

_s3_stop_one() {
  local name=$1 pid i f grace
  f=$(_s3_pidfile "$name")
  # Seconds to wait after SIGTERM. The OSD flushes and tells the mon it is
  # going down, so it gets longest; radosgw keeps no state of its own and
  # hangs in shutdown when the OSD is already gone, so it gets little.
  case "$name" in radosgw) grace=5 ;; ceph-osd) grace=30 ;; *) grace=10 ;; esac
  if pid=$(_s3_daemon_pid "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      _s3_pid_alive "$pid" || break
      sleep 0.1
    done
    if _s3_pid_alive "$pid"; then
      _s3_say "$name (pid $pid) still running ${grace}s after SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        _s3_pid_alive "$pid" || break
        sleep 0.1
      done
    fi
    _s3_pid_alive "$pid" && { _s3_say "$name (pid $pid) would not die"; return 1; }
    _s3_say "stopped $name (pid $pid)"
  fi
  rm -f "$f"
}

# ---------------------------------------------------------------- config

_s3_write_conf() {
  local root fsid mon_port
  root=$(_s3_root)
  fsid=$1
  mon_port=$2
  # Paths contain no '$'-expansion from ceph except $name/$cluster/$id, which
  # ceph itself substitutes per daemon.
  cat >"$root/ceph.conf" <<EOF
# Generated by scripts/stack/s3.sh for Lifeboat's local S3. Single node, no auth,
# loopback only. Do not point production clients at this.
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
mon initial members = a
public network = 127.0.0.0/8
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false
ms bind msgr1 = false

auth cluster required = none
auth service required = none
auth client required = none
ms cluster mode = crc
ms service mode = crc
ms client mode = crc
ms mon cluster mode = crc
ms mon service mode = crc
ms mon client mode = crc

# Keep every default path inside our state dir.
keyring = $root/keyring
admin socket = $root/run/\$name.asok
pid file = $root/run/\$name.pid
run dir = $root/run
crash dir = $root/crash
log file = $root/log/\$name.log
log to stderr = false
err to stderr = true
mon cluster log file = $root/log/cluster.log
mon data = $root/mon/\$cluster-\$id
osd data = $root/osd/\$cluster-\$id

# One OSD: pools of size 1, few PGs, no autoscaler (there is no mgr).
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
osd max object name len = 1024

# Small footprint.
ms async op threads = 2

# Quiet logs (errors only; recent detail is still kept in memory for crash
# dumps): at the defaults, rgw logs every request and the OSD dumps rocksdb
# stats, which adds up over a long-lived dev stack.
debug rgw = 0/5
debug osd = 0/5
debug mon = 0/5
debug paxos = 0/5
debug ms = 0/0
debug bluestore = 0/5
debug bluefs = 0/5
debug bdev = 0/5
debug rocksdb = 0/5
mon cluster log file level = info

[mon]
# Paxos batches map changes for 1s by default; creating ~7 pools and booting
# the OSD are a dozen sequential map changes, so that second dominated start.
paxos propose interval = 0.02
paxos min wait = 0.001
mon warn on insecure global id reclaim allowed = false
mon rocksdb options = write_buffer_size=8388608,compression=kNoCompression
mon osd cache size = 50

[osd]
osd objectstore = bluestore
bluestore block create = true
bluestore block size = ${S3_OSD_SIZE_GB:-10}G
bluestore fsck on mkfs = false
bluestore cache autotune = false
bluestore cache size = 67108864
bluestore rocksdb options = compression=kNoCompression,max_write_buffer_number=2,min_write_buffer_number_to_merge=1,recycle_log_file_num=2,write_buffer_size=16777216,writable_file_max_buffer_size=0,compaction_readahead_size=2097152,max_background_compactions=1,max_total_wal_size=134217728
osd memory target = 268435456
osd op num shards = 1
osd op num threads per shard = 2
osd recovery max active = 1
osd scrub load threshold = 0.5
osd max backfills = 1

[client]
auth client required = none
# A client whose ops are parked (OSD not up yet) only asks the mon for a newer
# map on its objecter tick; the 5s default showed up directly in start time.
objecter tick interval = 0.5
ms mon client mode = crc
rgw data = $root/rgw
rgw thread pool size = 32
rgw max concurrent requests = 256
rgw enable usage log = false
rgw enable ops log = false
rgw dynamic resharding = false
rgw crypt require ssl = false
rgw data log num shards = 8
rgw md log max shards = 8
rgw gc max objs = 8
# RGW frees a deleted object's data only after "gc obj min wait" (2 h by default); the 10 GB
# OSD of a stack that runs the storage bench a few times (1.2 GB per backup, emptied after)
# filled up that way, and then every put hung. Reclaim within minutes instead.
rgw gc obj min wait = 120
rgw gc processor period = 60
rgw lc max objs = 8
rgw objexp hints num shards = 1
EOF
}

# ---------------------------------------------------------------- S3 helpers

_s3_endpoint() { printf 'http://127.0.0.1:%s' "$S3_PORT"; }

_s3_load_keys() {
  local f
  f="$(_s3_root)/s3.keys"
  [[ -f "$f" ]] || return 1
  # shellcheck disable=SC1090
  source "$f"
  [[ -n "${_S3_AK:-}" && -n "${_S3_SK:-}" ]]
}

# _s3_curl METHOD PATH [curl args...]: SigV4-signed request (curl's own
# signer), prints the HTTP status; body goes to $_S3_BODY, headers to $_S3_HDRS.
_s3_curl() {
  local method=$1 path=$2
  shift 2
  curl -sS --max-time 120 -o "$_S3_BODY" -D "$_S3_HDRS" -w '%{http_code}' \
    --aws-sigv4 "aws:amz:$_S3_REGION:s3" --user "$_S3_AK:$_S3_SK" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    -X "$method" "$(_s3_endpoint)$path" "$@"
}

_s3_http_ready() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$(_s3_endpoint)/" 2>/dev/null) || return 1
  [[ "$code" == 200 ]]
}

# Create the bucket and push one 2-part multipart upload through: on a new
# cluster the first bucket and first multipart upload each create pools, which
# takes seconds; better here than in someone's first backup.
_s3_warmup() {
  local tmp code upload_id etag1 etag2 key=.lifeboat-warmup
  tmp="$(_s3_root)/tmp"
  mkdir -p "$tmp"
  _S3_BODY="$tmp/body" _S3_HDRS="$tmp/hdrs"
  code=$(_s3_curl PUT "/$_S3_BUCKET") || return 1
  if [[ "$code" != 200 ]] && ! grep -q BucketAlreadyOwnedByYou "$_S3_BODY"; then
    _s3_say "creating bucket '$_S3_BUCKET' failed: HTTP $code $(head -c 300 "$_S3_BODY")"
    return 1
  fi
  head -c $((5 * 1024 * 1024)) /dev/zero >"$tmp/part"
  code=$(_s3_curl POST "/$_S3_BUCKET/$key?uploads=") || return 1
  upload_id=$(sed -n 's:.*<UploadId>\([^<]*\)</UploadId>.*:\1:p' "$_S3_BODY")
  if [[ "$code" != 200 || -z "$upload_id" ]]; then
    _s3_say "warm-up multipart initiate failed: HTTP $code $(head -c 300 "$_S3_BODY")"
    return 1
  fi
  code=$(_s3_curl PUT "/$_S3_BUCKET/$key?partNumber=1&uploadId=$upload_id" --data-binary "@$tmp/part") || return 1
  etag1=$(tr -d '\r' <"$_S3_HDRS" | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p')
  [[ "$code" == 200 ]] || { _s3_say "warm-up part 1 failed: HTTP $code"; return 1; }
  code=$(_s3_curl PUT "/$_S3_BUCKET/$key?partNumber=2&uploadId=$upload_id" --data-binary "@$tmp/part") || return 1
  etag2=$(tr -d '\r' <"$_S3_HDRS" | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p')
  [[ "$code" == 200 ]] || { _s3_say "warm-up part 2 failed: HTTP $code"; return 1; }
  code=$(_s3_curl POST "/$_S3_BUCKET/$key?uploadId=$upload_id" -H 'Content-Type: application/xml' \
    --data-binary "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>$etag1</ETag></Part><Part><PartNumber>2</PartNumber><ETag>$etag2</ETag></Part></CompleteMultipartUpload>") || return 1
  [[ "$code" == 200 ]] || { _s3_say "warm-up complete failed: HTTP $code $(head -c 300 "$_S3_BODY")"; return 1; }
  code=$(_s3_curl DELETE "/$_S3_BUCKET/$key") || return 1
  rm -rf "$tmp"
}

# The storage classes an S3 store may ask for (x-amz-storage-class): RGW knows only STANDARD
# until a placement lists more. All of them share the default data pool: on one OSD they
# differ only in name, which is what the tests need (the class is recorded and reported).
_S3_STORAGE_CLASSES=(STANDARD_IA GLACIER_IR GLACIER DEEP_ARCHIVE)
_s3_storage_classes() {
  local conf c have
  conf=$(_s3_conf)
  have=$(radosgw-admin -c "$conf" zonegroup get 2>>"$(_s3_root)/log/radosgw-admin.out") || return 1
  for c in "${_S3_STORAGE_CLASSES[@]}"; do
    grep -q "\"$c\"" <<<"$have" && continue
    radosgw-admin -c "$conf" zonegroup placement add --rgw-zonegroup default --placement-id default-placement \
      --storage-class "$c" >>"$(_s3_root)/log/radosgw-admin.out" 2>&1 || return 1
    radosgw-admin -c "$conf" zone placement add --rgw-zone default --placement-id default-placement \
      --storage-class "$c" --data-pool default.rgw.buckets.data >>"$(_s3_root)/log/radosgw-admin.out" 2>&1 || return 1
  done
}

# A second bucket created with S3 Object Lock enabled (which also turns versioning on; it
# cannot be added to an existing bucket), for stores whose backups must not be erasable.
_S3_LOCKED_BUCKET=lifeboat-locked
_s3_locked_bucket() {
  local tmp code
  tmp="$(_s3_root)/tmp"
  mkdir -p "$tmp"
  _S3_BODY="$tmp/body" _S3_HDRS="$tmp/hdrs"
  code=$(_s3_curl HEAD "/$_S3_LOCKED_BUCKET" -I) || code=000
  [[ "$code" == 200 ]] && return 0
  code=$(_s3_curl PUT "/$_S3_LOCKED_BUCKET" -H 'x-amz-bucket-object-lock-enabled: true') || return 1
  if [[ "$code" != 200 ]] && ! grep -q BucketAlreadyOwnedByYou "$_S3_BODY"; then
    _s3_say "creating the object-lock bucket '$_S3_LOCKED_BUCKET' failed: HTTP $code $(head -c 300 "$_S3_BODY")"
    return 1
  fi
}

_s3_write_env() {
  local f="$STACK_DIR/s3.env"
  cat >"$f.tmp" <<EOF
LIFEBOAT_S3_ENDPOINT=$(_s3_endpoint)
LIFEBOAT_S3_REGION=$_S3_REGION
LIFEBOAT_S3_BUCKET=$_S3_BUCKET
LIFEBOAT_S3_LOCKED_BUCKET=$_S3_LOCKED_BUCKET
LIFEBOAT_S3_ACCESS_KEY_ID=$_S3_AK
LIFEBOAT_S3_SECRET_ACCESS_KEY=$_S3_SK
EOF
  chmod 600 "$f.tmp"
  mv "$f.tmp" "$f"
}

# ---------------------------------------------------------------- lifecycle

# _s3_fail_with_logs MESSAGE WHO: report a failed start with the end of the
# relevant daemon's logs, then stop whatever we started (nothing reaps
# orphans here, so leftovers would linger until someone runs stop).
_s3_fail_with_logs() {
  local msg=$1 who=$2 lf
  _s3_say "$msg"
  for lf in "$(_s3_root)/log/$who.out" "$(_s3_root)/log/$(_s3_log_name "$who")"; do
    [[ -s "$lf" ]] || continue
    _s3_say "--- last lines of $lf"
    grep -v '^[[:space:]]*$' "$lf" | tail -n 12 >&2
  done
  s3_stop >/dev/null 2>&1 || true
  _s3_say "stopped the cluster; fix the cause above and run start again"
  return 1
}

_s3_log_name() {
  case "$1" in
  ceph-mon) echo mon.a.log ;;
  ceph-osd) echo "osd.$(cat "$(_s3_root)/osd-id" 2>/dev/null || echo 0).log" ;;
  radosgw) echo "$_S3_RGW_NAME.log" ;;
  *) echo "$1.log" ;;
  esac
}

_s3_running_all() {
  local d
  for d in "${_S3_DAEMONS[@]}"; do
    _s3_daemon_pid "$d" >/dev/null || return 1
  done
}

# Wait (bounded) until the OSD reports itself active over its admin socket, so
# radosgw's first ops find a mapped, peered OSD instead of parking.
_s3_wait_osd_active() {
  local asok i
  asok="$(_s3_root)/run/osd.$1.asok"
  for ((i = 0; i < 300; i++)); do
    if [[ -S "$asok" ]] && ceph --admin-daemon "$asok" status 2>/dev/null | grep -q '"state": "active"'; then
      return 0
    fi
    _s3_daemon_pid ceph-osd >/dev/null || { _s3_fail_with_logs "ceph-osd exited during start" ceph-osd; return 1; }
    sleep 0.1
  done
  _s3_say "osd.$1 not active after 30s+; continuing, radosgw may be slow to answer"
}

# First-time creation: monitor store, OSD, S3 user. Leaves mon and osd running.
_s3_create() {
  local root fsid mon_port osd_uuid osd_id
  root=$(_s3_root)
  # The monitor needs a port of its own; keep it inside the valid range whatever S3_PORT is.
  mon_port=${S3_MON_PORT:-$(( S3_PORT + 10000 > 65535 ? S3_PORT - 10000 : S3_PORT + 10000 ))}
  fsid=$(uuidgen)
  osd_uuid=$(uuidgen)
  _s3_say "creating cluster in $root (mon port $mon_port)"
  rm -rf "$root"
  mkdir -p "$root"/{mon,osd,rgw,log,run,crash,tmp}
  # Identity of the cluster; ceph.conf is regenerated from it on every start
  # so config changes in this file reach existing clusters.
  printf '_S3_FSID=%s\n_S3_MON_PORT=%s\n' "$fsid" "$mon_port" >"$root/cluster.vars"
  _s3_write_conf "$fsid" "$mon_port"
  : >"$root/keyring"
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$root/tmp/monmap" >/dev/null || return 1
  ceph-mon -c "$root/ceph.conf" --mkfs -i a --monmap "$root/tmp/monmap" >>"$root/log/ceph-mon.out" 2>&1 ||
    { _s3_fail_with_logs "ceph-mon --mkfs failed" ceph-mon; return 1; }
  _s3_spawn ceph-mon ceph-mon -c "$root/ceph.conf" -i a -f || return 1
  osd_id=$(ceph -c "$root/ceph.conf" --connect-timeout 30 osd new "$osd_uuid" 2>>"$root/log/ceph-cli.out") ||
    { _s3_fail_with_logs "monitor did not accept 'osd new'" ceph-mon; return 1; }
  mkdir -p "$root/osd/ceph-$osd_id"
  ceph-osd -c "$root/ceph.conf" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >>"$root/log/ceph-osd.out" 2>&1 ||
    { _s3_fail_with_logs "ceph-osd --mkfs failed" ceph-osd; return 1; }
  echo "$osd_id" >"$root/osd-id"
  _s3_spawn ceph-osd ceph-osd -c "$root/ceph.conf" -i "$osd_id" -f || return 1
  _s3_wait_osd_active "$osd_id" || return 1
  # The user is created before radosgw first starts: radosgw-admin initialises
  # the default zone, and doing that concurrently with radosgw can race.
  local ak sk
  ak=$(LC_ALL=C tr -dc 'A-Z0-9' </dev/urandom | head -c 20)
  sk=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40)
  _s3_say "creating S3 user (waits for the OSD to come up)"
  radosgw-admin -c "$root/ceph.conf" user create --uid=lifeboat --display-name=Lifeboat \
    --access-key="$ak" --secret-key="$sk" >>"$root/log/radosgw-admin.out" 2>&1 ||
    { _s3_fail_with_logs "radosgw-admin user create failed" radosgw-admin; return 1; }
  printf '_S3_AK=%s\n_S3_SK=%s\n' "$ak" "$sk" >"$root/s3.keys.tmp"
  chmod 600 "$root/s3.keys.tmp"
  mv "$root/s3.keys.tmp" "$root/s3.keys"
  rm -rf "$root/tmp"
}

# Start (creating on first use) the cluster; a no-op when already healthy.
s3_start() {
  _s3_require_env || return 1
  local t0 root d osd_id deadline timeout=${S3_START_TIMEOUT:-180} fresh=0
  t0=$(_s3_now)
  root=$(_s3_root)
  mkdir -p "$STACK_DIR/pids"
  if _s3_running_all && _s3_http_ready && [[ -f "$STACK_DIR/s3.env" ]]; then
    _s3_say "already running at $(_s3_endpoint)"
    return 0
  fi
  # Partly up (a daemon crashed, or a previous start was interrupted): restart
  # everything from a known state rather than guess which pieces are sane.
  for d in "${_S3_DAEMONS[@]}"; do
    if _s3_daemon_pid "$d" >/dev/null; then
      _s3_say "cluster is partly up or not answering; restarting all daemons"
      s3_stop || return 1
      break
    fi
  done
  rm -f "$STACK_DIR"/pids/{ceph-mon,ceph-osd,radosgw}.pid

  # s3.keys is written last by _s3_create: without it any cluster here is a
  # half-made one, safe to wipe. With it, never wipe: that is user data.
  if [[ ! -f "$root/s3.keys" ]]; then
    fresh=1
    _s3_create || return 1
  else
    _s3_say "starting existing cluster in $root"
    _S3_FSID='' _S3_MON_PORT=''
    if [[ ! -f "$root/cluster.vars" && -f "$root/ceph.conf" ]]; then
      # Clusters made before cluster.vars existed: recover it from ceph.conf.
      _S3_FSID=$(sed -n 's/^fsid = //p' "$root/ceph.conf")
      _S3_MON_PORT=$(sed -n 's/^mon host = \[v2:127\.0\.0\.1:\([0-9]*\)\]$/\1/p' "$root/ceph.conf")
      [[ -n "$_S3_FSID" && -n "$_S3_MON_PORT" ]] &&
        printf '_S3_FSID=%s\n_S3_MON_PORT=%s\n' "$_S3_FSID" "$_S3_MON_PORT" >"$root/cluster.vars"
    fi
    # shellcheck disable=SC1091
    [[ -f "$root/cluster.vars" && -f "$root/osd-id" ]] && source "$root/cluster.vars"
    if [[ -z "$_S3_FSID" || -z "$_S3_MON_PORT" ]]; then
      _s3_say "$root/cluster.vars or osd-id is missing: the cluster state is damaged; remove $root to recreate it (its objects are lost)"
      return 1
    fi
    _s3_write_conf "$_S3_FSID" "$_S3_MON_PORT"
    _s3_spawn ceph-mon ceph-mon -c "$root/ceph.conf" -i a -f || return 1
    osd_id=$(<"$root/osd-id")
    _s3_spawn ceph-osd ceph-osd -c "$root/ceph.conf" -i "$osd_id" -f || return 1
    _s3_wait_osd_active "$osd_id" || return 1
  fi
  _s3_load_keys || { _s3_say "$root/s3.keys is missing or empty: remove $root and start again"; return 1; }
  _s3_storage_classes || { _s3_fail_with_logs "radosgw-admin could not add the storage classes" radosgw-admin; return 1; }
  # The port is given here, not in ceph.conf, so S3_PORT can change between
  # runs of an existing cluster.
  port_await "$S3_PORT" "S3 (radosgw)" LIFEBOAT_S3_PORT
  _s3_spawn radosgw radosgw -c "$root/ceph.conf" -n "$_S3_RGW_NAME" -f \
    --rgw-frontends "beast endpoint=127.0.0.1:$S3_PORT" || return 1

  deadline=$(($(date +%s) + timeout))
  until _s3_http_ready; do
    for d in "${_S3_DAEMONS[@]}"; do
      _s3_daemon_pid "$d" >/dev/null ||
        { _s3_fail_with_logs "$d exited during start" "$d"; return 1; }
    done
    if (($(date +%s) >= deadline)); then
      _s3_fail_with_logs "radosgw did not answer on $(_s3_endpoint) within ${timeout}s (raise S3_START_TIMEOUT if the machine is slow)" radosgw
      return 1
    fi
    sleep 0.2
  done
  _s3_say "radosgw answering after $(_s3_since "$t0")s"
  if ((!fresh)); then
    # Cheap check that the data survived; recreate the bucket if someone
    # deleted it (the warm-up below does that).
    local code
    code=$(_S3_BODY=/dev/null _S3_HDRS=/dev/null _s3_curl HEAD "/$_S3_BUCKET" -I) || code=000
    [[ "$code" == 404 ]] && fresh=1
    [[ "$code" == 200 || "$code" == 404 ]] ||
      { _s3_fail_with_logs "radosgw answered HTTP $code for bucket '$_S3_BUCKET'" radosgw; return 1; }
  fi
  if ((fresh)); then
    _s3_warmup || { _s3_fail_with_logs "warm-up against $(_s3_endpoint) failed" radosgw; return 1; }
    _s3_say "bucket '$_S3_BUCKET' created and multipart warmed up after $(_s3_since "$t0")s"
  fi
  _s3_locked_bucket || { _s3_fail_with_logs "could not create the object-lock bucket" radosgw; return 1; }
  _s3_write_env
  _s3_say "ready at $(_s3_endpoint) in $(_s3_since "$t0")s (env: $STACK_DIR/s3.env)"
}

# Stop radosgw, then the OSD (it tells the mon it is going down), then the mon.
s3_stop() {
  _s3_require_env || return 1
  local d rc=0
  for d in "${_S3_DAEMONS[@]}"; do
    _s3_stop_one "$d" || rc=1
  done
  return "$rc"
}

# One line per daemon; exit status 0 only if all are running.
s3_status() {
  _s3_require_env || return 1
  local d pid rc=0
  for d in ceph-mon ceph-osd radosgw; do
    if pid=$(_s3_daemon_pid "$d"); then
      printf '%-9s running (pid %s)\n' "$d" "$pid"
    else
      printf '%-9s stopped\n' "$d"
      rc=1
    fi
  done
  return "$rc"
}
