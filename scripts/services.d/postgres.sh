# shellcheck shell=bash
# PostgreSQL, for scripts/services (which sources common.sh first and sets STATE_DIR and
# LOOPBACK): settings, start_postgres, stop_postgres, status_postgres, env_postgres, and
# psql_postgres for `scripts/services psql`.
#
# A private cluster of Debian's PostgreSQL server (package postgresql; the newest
# /usr/lib/postgresql/*/bin, or HERALD_PG_BIN) for heraldd's PostgreSQL store and the
# integration tests' HERALD_TEST_STORE=postgres mode. Everything lives in <state>/postgres:
#   data/        the cluster, made once by initdb (-E UTF8 --locale=C, superuser postgres).
#                postgresql.conf includes herald.conf, and herald.conf and pg_hba.conf are
#                rewritten on every start: edit the script, not those files.
#   run/         the unix socket folder (owner only: the service user and root reach it).
#   log/postgres.log   the server's stderr (it has no log collector).
# It listens on $LOOPBACK:${HERALD_PG_PORT:-5433} only. Role `herald` (LOGIN CREATEDB, and a
# database `herald` it owns, so a conninfo without dbname connects) logs in without a password
# over loopback TCP (trust: a test instance); the superuser `postgres` only through the
# socket: `scripts/services psql -U postgres`. fsync stays on. max_connections is 300: tests
# run many heraldd at once, each with a few connections.
#
# Settings (environment): HERALD_PG_PORT (5433), HERALD_PG_BIN, HERALD_PG_MAX_CONNECTIONS
# (300), HERALD_PG_SHARED_BUFFERS (128MB), HERALD_PG_START_TIMEOUT (60s: crash recovery
# counts), HERALD_PG_STOP_TIMEOUT (60s). As root the server runs as the Debian user postgres
# (initdb and postgres refuse root), which must be able to enter the state folder's parents.

if ((EUID == 0)); then PG_USER=postgres; else PG_USER=$(id -un); fi
if [[ -n ${HERALD_PG_BIN:-} ]]; then
  PG_BIN=$HERALD_PG_BIN
else
  PG_BIN=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
fi
PG_PORT=${HERALD_PG_PORT:-5433}
PG_MAX_CONNECTIONS=${HERALD_PG_MAX_CONNECTIONS:-300}
PG_SHARED_BUFFERS=${HERALD_PG_SHARED_BUFFERS:-128MB}
PG_START_TIMEOUT=${HERALD_PG_START_TIMEOUT:-60}
PG_STOP_TIMEOUT=${HERALD_PG_STOP_TIMEOUT:-60}
PG_ROLE=herald
PG_DIR=$STATE_DIR/postgres
PG_DATA=$PG_DIR/data
PG_SOCKET_DIR=$PG_DIR/run
PG_LOG_DIR=$PG_DIR/log
PG_LOG=$PG_LOG_DIR/postgres.log
PG_PID=$PG_SOCKET_DIR/postgres.pid # the postmaster (it stays in the foreground)
PG_ENV=(PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$PG_DIR" LANG=C LC_ALL=C)
# Clients (psql, pg_isready) read no ~/.pgpass, ~/.psqlrc or PG* variables of the caller.
PG_CLIENT_ENV=("${PG_ENV[@]}" PGCONNECT_TIMEOUT=5)

# shell_quote VALUE: VALUE in single quotes, for a line of <state>/env that both a shell
# and a KEY=VALUE reader (which strips the outer quotes) take as is.
shell_quote() {
  local q="'\\''"
  printf "'%s'" "${1//\'/$q}"
}

env_postgres() {
  printf '%s=%q\n' \
    HERALD_PG_HOST "$LOOPBACK" \
    HERALD_PG_PORT "$PG_PORT" \
    HERALD_PG_USER "$PG_ROLE"
  printf 'HERALD_PG_CONNINFO=%s\n' "$(shell_quote "host=$LOOPBACK port=$PG_PORT user=$PG_ROLE")"
}

# The postmaster's pid, if it runs and is ours: from our pid file or, if that was lost,
# from the cluster's own postmaster.pid.
pg_pid() {
  local pid
  if pid=$(read_pid "$PG_PID") && is_ours "$pid" postgres postgres; then
    echo "$pid"
    return 0
  fi
  pid=$(read_pid "$PG_DATA/postmaster.pid" 2>/dev/null) && is_ours "$pid" postgres postgres && echo "$pid"
}

# It accepts connections on the loopback port (an authentication failure counts as up).
pg_ready() {
  env -i "${PG_CLIENT_ENV[@]}" "$PG_BIN/pg_isready" -q -h "$LOOPBACK" -p "$PG_PORT" -U "$PG_ROLE" \
    -d postgres -t 3 >/dev/null 2>&1
}

# psql through the socket, as the superuser, reading SQL from stdin: the set-up statements.
pg_admin_psql() {
  env -i "${PG_CLIENT_ENV[@]}" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" \
    -p "$PG_PORT" -U postgres -d postgres
}

# Folders and, the first time, the cluster (made aside, then moved into place, so an
# interrupted initdb leaves no half-made data folder behind).
pg_prepare() {
  local b sock
  for b in initdb postgres psql pg_isready; do
    [[ -x $PG_BIN/$b ]] || die "postgres: $PG_BIN/$b is missing (package postgresql; run scripts/setup)"
  done
  if ((EUID == 0)) && ! id -u "$PG_USER" >/dev/null 2>&1; then
    die "user $PG_USER does not exist (is the postgresql package installed?)"
  fi
  [[ $PG_PORT =~ ^[0-9]+$ ]] || die "HERALD_PG_PORT must be a port number: $PG_PORT"
  [[ $PG_DIR != *[\'[:cntrl:]]* ]] || die "postgres: the state folder path must not contain quotes: $PG_DIR"
  sock="$PG_SOCKET_DIR/.s.PGSQL.$PG_PORT"
  ((${#sock} < 108)) || die "postgres: the socket path $sock is too long for a unix socket; choose a shorter HERALD_STATE_DIR"
  mkdir -p -- "$PG_DIR" "$PG_SOCKET_DIR" "$PG_LOG_DIR"
  chmod 700 "$PG_SOCKET_DIR"
  own_dir "$PG_USER" "$PG_SOCKET_DIR" "$PG_LOG_DIR"
  if ((EUID == 0)); then chown "$PG_USER:" -- "$PG_DIR"; fi
  run_as "$PG_USER" test -w "$PG_SOCKET_DIR" ||
    die "user $PG_USER cannot write $PG_DIR; choose a HERALD_STATE_DIR whose parent folders it can enter"

  if [[ ! -s $PG_DATA/PG_VERSION ]]; then
    [[ ! -e $PG_DATA ]] || die "postgres: $PG_DATA exists but holds no cluster (no PG_VERSION); remove it to start afresh"
    local init=$PG_DIR/data.init t0
    t0=$(now_ms)
    rm -rf -- "$init"
    say "postgres: initdb $PG_DATA"
    if ! (cd "$PG_DIR" && run_as "$PG_USER" env -i "${PG_ENV[@]}" "$PG_BIN/initdb" -D "$init" -U postgres \
      -E UTF8 --locale=C --auth=trust --no-instructions) >>"$PG_LOG" 2>&1; then
      tail_logs "$PG_LOG"
      rm -rf -- "$init"
      die "postgres: initdb failed (log $PG_LOG)"
    fi
    printf '\n# Added by scripts/services: the settings it manages, rewritten on every start.\ninclude '\''herald.conf'\''\n' \
      >>"$init/postgresql.conf"
    mv -- "$init" "$PG_DATA"
    say "postgres: cluster made in $(elapsed_since "$t0")"
  fi

  cat >"$PG_DATA/herald.conf" <<EOC
# Generated by scripts/services on every start; edit the script, not this file.
listen_addresses = '$LOOPBACK'
port = $PG_PORT
unix_socket_directories = '$PG_SOCKET_DIR'
unix_socket_permissions = 0700
max_connections = $PG_MAX_CONNECTIONS
shared_buffers = $PG_SHARED_BUFFERS
# Tests: no parallel workers (one query never needs them here; fewer processes).
max_parallel_workers_per_gather = 0
log_line_prefix = '%m [%p] %q%u@%d '
EOC
  cat >"$PG_DATA/pg_hba.conf" <<'EOC'
# Generated by scripts/services on every start; edit the script, not this file.
# The socket folder is reachable by the service user and root only; over TCP (loopback
# only, see listen_addresses) only the role herald, without a password: a test instance.
# TYPE  DATABASE  USER    ADDRESS        METHOD
local   all       all                    trust
host    all       herald  127.0.0.1/32   trust
EOC
  own_dir "$PG_USER" "$PG_DATA/herald.conf" "$PG_DATA/pg_hba.conf"
  chmod 600 "$PG_DATA/herald.conf" "$PG_DATA/pg_hba.conf"
}

# Before a start: the cluster's postmaster.pid may name a server that crashed (or was
# killed). The server clears a stale lock file itself, but takes a zombie (killed, not yet
# reaped by init) for a live postmaster: wait for it, and for the children it leaves,
# which exit on their own. A live postgres there that is not ours is another server on
# this cluster.
pg_clear_crashed() {
  local other p deadline
  other=$(read_pid "$PG_DATA/postmaster.pid" 2>/dev/null) || return 0
  if pid_alive "$other" && [[ $(cat "/proc/$other/comm" 2>/dev/null) == postgres ]]; then
    die "postgres: pid $other, not started by this script, runs the cluster $PG_DATA"
  fi
  for p in $(pgrep -u "$PG_USER" -x postgres 2>/dev/null); do
    if is_ours "$p" postgres; then
      wait_gone "$p" 10 || die "postgres: pid $p of a crashed server is still alive"
    fi
  done
  deadline=$(($(now_ms) + 10000))
  while [[ -e /proc/$other ]] && ! pid_alive "$other" && (($(now_ms) < deadline)); do
    sleep 0.1
  done
  if [[ -e /proc/$other ]] && ! pid_alive "$other"; then
    # Still a zombie, and nothing of ours is alive: the lock file is stale.
    warn "postgres: removing the stale lock file of pid $other (a zombie)"
    rm -f -- "$PG_DATA/postmaster.pid"
  fi
}

pg_start_failed() {
  tail_logs "$PG_LOG"
  warn "postgres: $1; stopping what was started (log $PG_LOG)"
  stop_postgres >&2 || true
  exit 1
}

start_postgres() {
  local t0 pid other deadline
  t0=$(now_ms)
  if pid=$(pg_pid) && pg_ready; then
    say "postgres: already running on $LOOPBACK:$PG_PORT (pid $pid, data $PG_DATA)"
    return 0
  fi
  pg_prepare
  if pid=$(pg_pid); then
    say "postgres: pid $pid is starting, waiting for it"
  else
    rm -f -- "$PG_PID"
    pg_clear_crashed
    port_listening "$PG_PORT" &&
      die "postgres: port $PG_PORT is already in use; stop it or set HERALD_PG_PORT"
    launch_daemon postgres "$PG_USER" "$PG_PID" "$PG_LOG" "$PG_DIR" "${PG_ENV[@]}" -- \
      "$PG_BIN/postgres" -D "$PG_DATA"
    pid=$LAUNCHED_PID
  fi
  deadline=$((t0 + PG_START_TIMEOUT * 1000))
  until pg_ready; do
    pg_pid >/dev/null || pg_start_failed "the server exited during startup"
    (($(now_ms) < deadline)) || pg_start_failed "not accepting connections after ${PG_START_TIMEOUT}s"
    sleep 0.1
  done
  # The role and its database, on every start (a no-op once they exist).
  pg_admin_psql <<EOS || pg_start_failed "could not create the role $PG_ROLE"
SELECT 'CREATE ROLE $PG_ROLE' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') \gexec
ALTER ROLE $PG_ROLE LOGIN CREATEDB;
SELECT 'CREATE DATABASE $PG_ROLE OWNER $PG_ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_ROLE') \gexec
EOS
  pid=$(pg_pid) || pg_start_failed "started, but its pid is gone"
  say "postgres: started on $LOOPBACK:$PG_PORT (pid $pid, data $PG_DATA) in $(elapsed_since "$t0")"
}

stop_postgres() {
  local t0 pid p left=()
  t0=$(now_ms)
  if ! pid=$(pg_pid); then
    rm -f -- "$PG_PID"
    say "postgres: not running"
    return 0
  fi
  # SIGINT is the fast shutdown: sessions are ended, a checkpoint written, then it exits
  # once every child has. SIGQUIT (immediate) only if that does not finish.
  kill -INT "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$PG_STOP_TIMEOUT"; then
    warn "postgres: no fast shutdown after ${PG_STOP_TIMEOUT}s, sending SIGQUIT (immediate shutdown)"
    kill -QUIT "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 10; then
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 5 || die "postgres: could not stop pid $pid"
    fi
  fi
  # After a clean shutdown no child is left; after SIGQUIT/SIGKILL they leave on their own.
  for p in $(pgrep -u "$PG_USER" -x postgres 2>/dev/null); do
    is_ours "$p" postgres && left+=("$p")
  done
  for p in "${left[@]}"; do
    wait_gone "$p" 5 || kill -KILL "$p" 2>/dev/null || true
  done
  rm -f -- "$PG_PID"
  say "postgres: stopped (pid $pid) in $(elapsed_since "$t0")"
}

status_postgres() {
  local pid
  if pid=$(pg_pid); then
    if pg_ready; then
      say "postgres: running on $LOOPBACK:$PG_PORT (pid $pid, data $PG_DATA)"
      return 0
    fi
    say "postgres: not ready (pid $pid alive, port $PG_PORT not accepting connections)"
    return 3
  fi
  if port_listening "$PG_PORT"; then
    say "postgres: stopped (but port $PG_PORT is in use by a process this script did not start)"
    return 3
  fi
  say "postgres: stopped"
  return 3
}

# `scripts/services psql ARGS...`: psql through the socket, as herald on the database
# postgres unless ARGS name others (-U postgres for the superuser, -d DB or a DB argument).
psql_postgres() {
  if ! pg_pid >/dev/null; then
    warn "postgres is not running; start it with: scripts/services start postgres"
    exit 3
  fi
  exec env -i "${PG_CLIENT_ENV[@]}" TERM="${TERM:-dumb}" PGHOST="$PG_SOCKET_DIR" PGPORT="$PG_PORT" \
    PGUSER="$PG_ROLE" PGDATABASE=postgres "$PG_BIN/psql" -X "$@"
}
