# Process bookkeeping for the local stack: every daemon is started with its PID recorded in
# $PIDS/<name>.pid and stopped by that PID. Nothing is ever killed by name, because PID 1 on
# these machines does not reap orphans and a name can match someone else's process.

# pid_alive NAME: true if the recorded process exists and is not a zombie.
pid_alive() {
  local f="$PIDS/$1.pid" pid state
  [ -f "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  state=$(sed 's/^.*) //' "/proc/$pid/stat" | cut -d' ' -f1)
  [ "$state" != Z ]
}

# start_daemon NAME LOG CMD...: run CMD in the background with the stack's environment,
# output appended to LOG, and record its PID. Does nothing if NAME is already running.
start_daemon() {
  local name="$1" log="$2"; shift 2
  pid_alive "$name" && return 0
  (
    set -a
    # shellcheck disable=SC1091
    [ -f "$STACK_DIR/stack.env" ] && . "$STACK_DIR/stack.env"
    set +a
    # setsid execs in place (this subshell is no group leader), so $! stays the daemon's PID.
    exec setsid "$@" >>"$log" 2>&1 </dev/null
  ) &
  echo $! >"$PIDS/$name.pid"
}

# stop_daemon NAME [SIGNAL]: signal the recorded PID, wait up to 20 s, then SIGKILL.
stop_daemon() {
  local name="$1" sig="${2:-TERM}" pid i
  if pid_alive "$name"; then
    pid=$(cat "$PIDS/$name.pid")
    kill -s "$sig" "$pid" 2>/dev/null || true
    for i in $(seq 1 200); do pid_alive "$name" || break; sleep 0.1; done
    if pid_alive "$name"; then
      printf 'stack: %s (pid %s) ignored SIG%s; sending SIGKILL\n' "$name" "$pid" "$sig" >&2
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
  fi
  rm -f "$PIDS/$name.pid"
}
