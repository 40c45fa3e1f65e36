# shellcheck shell=bash
# RabbitMQ, for scripts/services (which sources common.sh first and sets STATE_DIR and
# LOOPBACK): settings, start_rabbitmq, stop_rabbitmq, status_rabbitmq, env_rabbitmq, and
# ctl_rabbitmq for `scripts/services ctl`.
#
# A private node (herald@localhost) with its own epmd on a private port, so it never
# meets a system broker or another checkout's broker. The Debian package's scripts in
# /usr/lib/rabbitmq/bin are used directly (the /usr/sbin wrappers force
# /var/lib/rabbitmq and /var/log/rabbitmq); every path they would default to under /etc
# or /var is overridden below.
#
# Settings (environment): HERALD_AMQP_PORT (5679), HERALD_EPMD_PORT (4399),
# HERALD_RABBITMQ_DIST_PORT (AMQP port + 20000), HERALD_RABBITMQ_NODE (herald@localhost),
# HERALD_RABBITMQ_START_TIMEOUT (90s), HERALD_RABBITMQ_STOP_TIMEOUT (60s).

RMQ_USER=rabbitmq
RMQ_BIN=/usr/lib/rabbitmq/bin
RMQ_NODE=${HERALD_RABBITMQ_NODE:-herald@localhost}
AMQP_PORT=${HERALD_AMQP_PORT:-5679}
EPMD_PORT=${HERALD_EPMD_PORT:-4399}
# Erlang distribution (node <-> rabbitmqctl) port; RabbitMQ's own default is AMQP+20000.
RMQ_DIST_PORT=${HERALD_RABBITMQ_DIST_PORT:-$((AMQP_PORT + 20000))}
RMQ_START_TIMEOUT=${HERALD_RABBITMQ_START_TIMEOUT:-90}
RMQ_STOP_TIMEOUT=${HERALD_RABBITMQ_STOP_TIMEOUT:-60}

RMQ_DIR=$STATE_DIR/rabbitmq
RMQ_HOME=$RMQ_DIR/home # HOME of node and CLI: holds the Erlang cookie
RMQ_LOG_DIR=$RMQ_DIR/log
RMQ_RUN_DIR=$RMQ_DIR/run
RMQ_PID=$RMQ_RUN_DIR/rabbitmq.pid      # written by the broker itself: beam.smp's pid
RMQ_LAUNCHER_PID=$RMQ_RUN_DIR/launcher.pid # the rabbitmq-server shell wrapper (beam's parent)
EPMD_PID=$RMQ_RUN_DIR/epmd.pid
RMQ_CONSOLE_LOG=$RMQ_LOG_DIR/console.log # stdout/stderr of rabbitmq-server
EPMD_LOG=$RMQ_LOG_DIR/epmd.log

# The complete environment of the node, of epmd and of rabbitmqctl (passed via env -i,
# so nothing from the caller's environment or /etc/rabbitmq leaks in).
rmq_env() {
  local loopback_erl="{${LOOPBACK//./,}}" # 127.0.0.1 -> {127,0,0,1}
  RMQ_ENV=(
    PATH=/usr/sbin:/usr/bin:/sbin:/bin
    HOME="$RMQ_HOME"
    LANG=C.UTF-8 LC_ALL=C.UTF-8 # the Elixir CLI warns without a UTF-8 locale
    ERL_EPMD_PORT="$EPMD_PORT"
    ERL_EPMD_ADDRESS="$LOOPBACK"
    ERL_CRASH_DUMP="$RMQ_LOG_DIR/erl_crash.dump"
    # Erlang (node, rabbitmqctl and the helper VMs they spawn) would otherwise launch an
    # untracked `epmd -daemon` whenever ours is not running, e.g. on `ctl` while stopped.
    ERL_AFLAGS="-start_epmd false"
    RABBITMQ_NODENAME="$RMQ_NODE"
    RABBITMQ_USE_LONGNAME=false
    RABBITMQ_NODE_IP_ADDRESS="$LOOPBACK"
    RABBITMQ_NODE_PORT="$AMQP_PORT"
    RABBITMQ_DIST_PORT="$RMQ_DIST_PORT"
    # An empty env file instead of /etc/rabbitmq/rabbitmq-env.conf, and no conf.d or
    # advanced.config from /etc: the node sees only our configuration.
    RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf"
    RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf"
    RABBITMQ_CONFIG_FILES="$RMQ_DIR/conf.d"
    RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_DIR/advanced.config"
    RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins"
    RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia"
    RABBITMQ_LOG_BASE="$RMQ_LOG_DIR"
    RABBITMQ_PID_FILE="$RMQ_PID"
    # Distribution listeners (the node's and each rabbitmqctl's) on loopback only.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface $loopback_erl"
    RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface $loopback_erl"
  )
}
rmq_env

env_rabbitmq() {
  printf '%s=%q\n' \
    HERALD_AMQP_HOST "$LOOPBACK" \
    HERALD_AMQP_PORT "$AMQP_PORT" \
    HERALD_RABBITMQ_NODE "$RMQ_NODE"
}

# rabbitmqctl against our node. Runs as the invoking user: root can read the
# rabbitmq-owned 0400 cookie, and Erlang only checks the cookie file's mode.
rmq_ctl() {
  env -i "${RMQ_ENV[@]}" "$RMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" "$@"
}
rmq_ctl_timeout() { # rmq_ctl_timeout SECONDS ARGS...
  local secs=$1
  shift
  timeout "$secs" env -i "${RMQ_ENV[@]}" "$RMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" "$@"
}

# `scripts/services ctl ARGS...`. Needs the broker up: offline, rabbitmqctl has no
# node to talk to (and no epmd to register its own node with).
ctl_rabbitmq() {
  if ! rmq_beam_pid >/dev/null; then
    warn "rabbitmq is not running; start it with: scripts/services start rabbitmq"
    exit 3
  fi
  rmq_ctl "$@"
}

# The beam.smp pid of our node, if it is running: from the broker's pid file, or,
# early in startup before that file exists, the launcher's beam.smp child.
rmq_beam_pid() {
  local pid launcher
  if pid=$(read_pid "$RMQ_PID") && is_ours "$pid" rabbitmq beam.smp; then
    echo "$pid"
    return 0
  fi
  launcher=$(read_pid "$RMQ_LAUNCHER_PID") && is_ours "$launcher" rabbitmq || return 1
  for pid in $(pgrep -P "$launcher" -x beam.smp); do
    if is_ours "$pid" rabbitmq beam.smp; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

rmq_launcher_pid() {
  local pid
  pid=$(read_pid "$RMQ_LAUNCHER_PID") && is_ours "$pid" rabbitmq && echo "$pid"
}

epmd_pid() {
  local pid
  pid=$(read_pid "$EPMD_PID") && is_ours "$pid" rabbitmq epmd && echo "$pid"
}

epmd_answers() { env -i "${RMQ_ENV[@]}" epmd -port "$EPMD_PORT" -names >/dev/null 2>&1; }

# Folders, cookie and config files; safe to run repeatedly.
rmq_prepare() {
  [[ -x $RMQ_BIN/rabbitmq-server ]] || die "rabbitmq-server is not installed (run scripts/setup)"
  if ((EUID == 0)) && ! id -u "$RMQ_USER" >/dev/null 2>&1; then
    die "user $RMQ_USER does not exist (is the rabbitmq-server package installed?)"
  fi
  mkdir -p -- "$RMQ_HOME" "$RMQ_LOG_DIR" "$RMQ_RUN_DIR" "$RMQ_DIR/mnesia" "$RMQ_DIR/conf.d"

  if [[ ! -s $RMQ_HOME/.erlang.cookie ]]; then
    # Erlang insists on a cookie readable by its owner only.
    (
      umask 077
      head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$RMQ_HOME/.erlang.cookie"
    )
    chmod 400 "$RMQ_HOME/.erlang.cookie"
  fi
  : >"$RMQ_DIR/rabbitmq-env.conf"
  # No plugins: faster startup. Only written once so a manually enabled plugin sticks.
  [[ -e $RMQ_DIR/enabled_plugins ]] || echo '[].' >"$RMQ_DIR/enabled_plugins"
  cat >"$RMQ_DIR/rabbitmq.conf" <<EOF
# Generated by scripts/services on every start; edit the script, not this file.
# Listener address/port come from RABBITMQ_NODE_IP_ADDRESS/RABBITMQ_NODE_PORT.
# Low free-disk threshold so tests also run on small CI disks.
disk_free_limit.absolute = 50MB
# The default: guest/guest may log in, but only over loopback.
loopback_users.guest = true
EOF
  own_dir "$RMQ_USER" "$RMQ_DIR"
  # Every parent folder must be traversable by the service user.
  run_as "$RMQ_USER" test -w "$RMQ_DIR/mnesia" ||
    die "user $RMQ_USER cannot write $RMQ_DIR; choose a HERALD_STATE_DIR whose parent folders it can enter"
}

# Our epmd, on loopback and a private port. Reuses an epmd that already answers on that
# port (e.g. left over from a run whose pid files were deleted) without taking ownership.
rmq_start_epmd() {
  local pid deadline
  if pid=$(epmd_pid); then
    return 0
  fi
  rm -f -- "$EPMD_PID"
  if port_listening "$EPMD_PORT"; then
    epmd_answers || die "port $EPMD_PORT is in use by something that is not epmd; set HERALD_EPMD_PORT"
    warn "reusing an epmd on port $EPMD_PORT that this script did not start (it will not be stopped)"
    return 0
  fi
  launch_daemon rabbitmq "$RMQ_USER" "$EPMD_PID" "$EPMD_LOG" "$RMQ_DIR" "${RMQ_ENV[@]}" -- \
    epmd -address "$LOOPBACK" -port "$EPMD_PORT"
  pid=$LAUNCHED_PID
  deadline=$(($(now_ms) + 10000))
  until epmd_answers; do
    if ! pid_alive "$pid" || (($(now_ms) > deadline)); then
      tail_logs "$EPMD_LOG"
      die "epmd failed to start on $LOOPBACK:$EPMD_PORT"
    fi
    sleep 0.1
  done
}

# Show the logs, stop whatever this start left running (broker, epmd), fail.
rmq_start_failed() {
  tail_logs "$RMQ_CONSOLE_LOG" "$RMQ_LOG_DIR/$RMQ_NODE.log"
  warn "rabbitmq: $1; stopping what was started (logs in $RMQ_LOG_DIR)"
  stop_rabbitmq >&2 || true
  exit 1
}

start_rabbitmq() {
  local t0 pid deadline remaining
  t0=$(now_ms)
  if pid=$(rmq_beam_pid) && port_accepts "$LOOPBACK" "$AMQP_PORT"; then
    say "rabbitmq: already running on $LOOPBACK:$AMQP_PORT (node $RMQ_NODE, pid $pid)"
    return 0
  fi
  rmq_prepare

  if pid=$(rmq_beam_pid) || pid=$(rmq_launcher_pid); then
    # Alive but not accepting connections yet: a start in progress. Just wait for it.
    say "rabbitmq: pid $pid is starting, waiting for it"
  else
    # Leftovers of a killed run: pid files naming processes that are gone (or not ours).
    rm -f -- "$RMQ_PID" "$RMQ_LAUNCHER_PID"
    local port
    for port in "$AMQP_PORT" "$RMQ_DIST_PORT"; do
      if port_listening "$port"; then
        die "port $port is already in use (another broker?); stop it or set HERALD_AMQP_PORT/HERALD_RABBITMQ_DIST_PORT"
      fi
    done
    rmq_start_epmd
    if env -i "${RMQ_ENV[@]}" epmd -port "$EPMD_PORT" -names 2>/dev/null | grep -q "^name ${RMQ_NODE%@*} at"; then
      die "a node named $RMQ_NODE is already registered with epmd on port $EPMD_PORT but was not started by this script"
    fi
    launch_daemon rabbitmq "$RMQ_USER" "$RMQ_LAUNCHER_PID" "$RMQ_CONSOLE_LOG" "$RMQ_DIR" \
      "${RMQ_ENV[@]}" -- "$RMQ_BIN/rabbitmq-server"
  fi

  # Poll cheaply (process alive, AMQP port open) and only then ask the node itself:
  # each rabbitmqctl call costs ~1s of CPU to boot the Erlang CLI.
  deadline=$((t0 + RMQ_START_TIMEOUT * 1000))
  until port_accepts "$LOOPBACK" "$AMQP_PORT"; do
    if ! rmq_beam_pid >/dev/null && ! rmq_launcher_pid >/dev/null; then
      rmq_start_failed "the broker exited during startup"
    fi
    if (($(now_ms) > deadline)); then
      rmq_start_failed "not up after ${RMQ_START_TIMEOUT}s"
    fi
    sleep 0.25
  done
  remaining=$(((deadline - $(now_ms)) / 1000))
  ((remaining >= 5)) || remaining=5
  if ! rmq_ctl await_startup --timeout "$remaining" >/dev/null; then
    rmq_start_failed "port $AMQP_PORT is open but the node did not finish booting"
  fi
  pid=$(rmq_beam_pid) || die "rabbitmq: started, but cannot find its pid in $RMQ_PID"
  say "rabbitmq: started on $LOOPBACK:$AMQP_PORT (node $RMQ_NODE, pid $pid, epmd port $EPMD_PORT) in $(elapsed_since "$t0")"
}

stop_rabbitmq() {
  local t0 pid launcher epmd stopped_any=0
  t0=$(now_ms)
  if pid=$(rmq_beam_pid); then
    stopped_any=1
    # Graceful first: `rabbitmqctl stop PIDFILE` returns once that pid has exited. The
    # pid file can be missing this early in startup; then go straight to SIGTERM.
    if [[ -s $RMQ_PID ]]; then
      rmq_ctl_timeout "$RMQ_STOP_TIMEOUT" stop "$RMQ_PID" >/dev/null 2>&1 ||
        warn "rabbitmq: 'rabbitmqctl stop' failed or timed out"
    fi
    # The node traps SIGTERM and shuts down cleanly too.
    if pid_alive "$pid"; then
      terminate "$pid" 30 || die "rabbitmq: could not stop pid $pid"
    fi
  fi
  # The rabbitmq-server wrapper exits with its beam; this only matters after a failed start.
  if launcher=$(rmq_launcher_pid); then
    stopped_any=1
    wait_gone "$launcher" 5 || terminate "$launcher" 10 || die "rabbitmq: could not stop launcher pid $launcher"
  fi
  # epmd last: the node unregisters from it while shutting down.
  if epmd=$(epmd_pid); then
    stopped_any=1
    terminate "$epmd" 5 || die "rabbitmq: could not stop epmd pid $epmd"
  fi
  rm -f -- "$RMQ_PID" "$RMQ_LAUNCHER_PID" "$EPMD_PID"
  if ((stopped_any)); then
    say "rabbitmq: stopped in $(elapsed_since "$t0")"
  else
    say "rabbitmq: not running"
  fi
}

status_rabbitmq() {
  local pid
  if pid=$(rmq_beam_pid); then
    if port_accepts "$LOOPBACK" "$AMQP_PORT"; then
      say "rabbitmq: running on $LOOPBACK:$AMQP_PORT (node $RMQ_NODE, pid $pid)"
      return 0
    fi
    say "rabbitmq: not ready (pid $pid alive, port $AMQP_PORT not accepting connections)"
    return 3
  fi
  if port_listening "$AMQP_PORT"; then
    say "rabbitmq: stopped (but port $AMQP_PORT is in use by a process this script did not start)"
  else
    say "rabbitmq: stopped"
  fi
  return 3
}
