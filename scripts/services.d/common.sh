# shellcheck shell=bash
# Generic helpers of scripts/services, sourced by it before the services' own files
# (services.d/<service>.sh). Uses STATE_DIR, set by scripts/services.

say() { printf '%s\n' "$*"; }
warn() { printf 'services: %s\n' "$*" >&2; }
die() {
  warn "$*"
  exit 1
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# elapsed_since START_MS -> "6.4s"
elapsed_since() {
  local ms=$(($(now_ms) - $1))
  printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
}

# Services run unprivileged. As root they run as the Debian package's service user
# (e.g. rabbitmq, kannel) with that user's login group (kannel's is nogroup, there is no
# kannel group), so the folders they write must belong to that user; as a normal user
# they simply run as that user.
# as_user_cmd USER: set AS_USER to the command prefix that runs a command as USER
# (empty unless we are root and USER is not root).
as_user_cmd() {
  AS_USER=()
  if ((EUID == 0)) && [[ $1 != root ]]; then
    AS_USER=(setpriv --reuid="$1" --regid="$(id -g "$1")" --init-groups --)
  fi
}
run_as() { # run_as USER CMD... (USER ignored unless we are root)
  local user=$1
  shift
  as_user_cmd "$user"
  "${AS_USER[@]}" "$@"
}
own_dir() { # own_dir USER DIR...: make DIRs (recursively) belong to USER when root
  local user=$1
  shift
  if ((EUID == 0)); then chown -R "$user:" -- "$@"; fi # "user:" = user's login group
}

# Every process we launch carries this variable in its environment. /proc/PID/environ
# is fixed at exec time, so a pid from one of our pid files is only treated as ours if
# the process there still has the tag: a pid recycled after a crash or reboot, or an
# unrelated broker, is never signalled.
service_tag() { echo "HERALD_SERVICE_TAG=$STATE_DIR/$1"; }

# read_pid FILE: print the pid stored in FILE; fail if there is no usable pid.
read_pid() {
  local pid=
  [[ -r $1 ]] || return 1
  read -r pid <"$1" || [[ -n $pid ]] || return 1 # pid files may lack a final newline
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  echo "$pid"
}

# pid_alive PID: the process exists and is not a zombie (a zombie still answers kill -0).
pid_alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $st != Z* ]]
}

# is_ours PID SERVICE [COMM]: PID is alive, carries SERVICE's tag and (if given) runs COMM.
is_ours() {
  local pid=$1 tag comm environ
  tag=$(service_tag "$2")
  comm=${3:-}
  [[ -n $pid ]] && pid_alive "$pid" || return 1
  if [[ -n $comm ]]; then
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]] || return 1
  fi
  environ=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null) || return 1
  grep -qxF -- "$tag" <<<"$environ"
}

# wait_gone PID SECONDS: wait for PID to exit; fail if it is still alive after SECONDS.
wait_gone() {
  local pid=$1 deadline=$(($(now_ms) + $2 * 1000))
  while pid_alive "$pid"; do
    (($(now_ms) < deadline)) || return 1
    sleep 0.2
  done
}

# terminate PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL. Only call on a pid
# that passed is_ours.
terminate() {
  local pid=$1 grace=$2
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$pid" "$grace" && return 0
  warn "pid $pid ignored SIGTERM for ${grace}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid" 5
}

# port_listening PORT: something listens on TCP PORT (any address).
port_listening() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }
# port_accepts HOST PORT: a TCP connect succeeds.
# shellcheck disable=SC2016 # $1/$2 expand in the inner bash, on purpose
port_accepts() { timeout 2 bash -c ': <>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null; }

# launch_daemon SERVICE USER PIDFILE LOGFILE DIR VAR=VALUE... -- CMD...
# Starts CMD in the background in DIR as USER, in its own session (so a closing
# terminal or Ctrl-C on this script does not reach it), with a clean environment made
# of exactly the given VAR=VALUEs plus the service tag, output appended to LOGFILE.
# Records the pid in PIDFILE and in LAUNCHED_PID. CMD must stay in the foreground (no
# self-daemonising) so that the recorded pid is the real process.
launch_daemon() {
  local service=$1 user=$2 pidfile=$3 logfile=$4 dir=$5
  shift 5
  local envs=()
  while (($#)) && [[ $1 != -- ]]; do
    envs+=("$1")
    shift
  done
  shift # the --
  as_user_cmd "$user"
  # No job control in this script, so the subshell is not a process-group leader and
  # setsid(1) calls setsid() and execs instead of forking: $! is the daemon itself.
  # fd 9 is our lock file: the daemon must not inherit (and hold) the lock.
  (
    # shellcheck disable=SC2164 # set -e (scripts/services) ends the subshell if cd fails
    cd "$dir"
    exec setsid "${AS_USER[@]}" env -i "${envs[@]}" "$(service_tag "$service")" "$@"
  ) </dev/null >>"$logfile" 2>&1 9>&- &
  LAUNCHED_PID=$!
  echo "$LAUNCHED_PID" >"$pidfile"
  # $! runs setsid, setpriv and env before the daemon; until env has exec'd, the pid does
  # not carry the service's tag and is_ours would take it for a stranger, so a caller
  # that checks at once (on a busy machine) would think the daemon died at birth. Wait
  # for the tag, or for the process to end, which the caller then sees.
  local deadline=$(($(now_ms) + 10000))
  while pid_alive "$LAUNCHED_PID" && ! is_ours "$LAUNCHED_PID" "$service" && (($(now_ms) < deadline)); do
    sleep 0.02
  done
}

# tail_logs FILE...: show the end of log files after a failure.
tail_logs() {
  local f
  for f in "$@"; do
    [[ -s $f ]] || continue
    warn "---- last lines of $f ----"
    tail -n 25 -- "$f" >&2 || true
  done
}
