# shellcheck shell=bash
# SMTP (aiosmtpd), for scripts/services (which sources common.sh first and sets STATE_DIR,
# REPO_DIR and LOOPBACK): settings, start_smtp, stop_smtp, status_smtp, env_smtp.
#
# Debian's python3-aiosmtpd on $LOOPBACK:${HERALD_SMTP_PORT:-2525}, run by
# scripts/smtp_sink.py: every message it accepts is kept raw, one file per message, in
# the Maildir <state>/smtp/maildir (complete messages in new/; Return-Path and one
# Delivered-To line per envelope recipient come first). No TLS, no AUTH. A recipient
# whose local part starts with "nobody" is refused at RCPT with 550.
#
# Settings (environment): HERALD_SMTP_PORT (2525), HERALD_SMTP_START_TIMEOUT (15s).
# As root it runs as nobody, which must be able to enter the state folder's parents.

if ((EUID == 0)); then SMTP_USER=nobody; else SMTP_USER=$(id -un); fi
SMTP_PORT=${HERALD_SMTP_PORT:-2525}
SMTP_START_TIMEOUT=${HERALD_SMTP_START_TIMEOUT:-15}
SMTP_DIR=$STATE_DIR/smtp
SMTP_MAILDIR=$SMTP_DIR/maildir
SMTP_PID=$SMTP_DIR/smtp.pid
SMTP_LOG=$SMTP_DIR/smtp.log
SMTP_SINK=$REPO_DIR/scripts/smtp_sink.py
SMTP_ENV=(PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$SMTP_DIR" LANG=C.UTF-8 LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1)

env_smtp() {
  printf '%s=%q\n' \
    HERALD_SMTP_HOST "$LOOPBACK" \
    HERALD_SMTP_PORT "$SMTP_PORT" \
    HERALD_SMTP_MAILDIR "$SMTP_MAILDIR"
}

smtp_pid() {
  local pid
  pid=$(read_pid "$SMTP_PID") && is_ours "$pid" smtp && echo "$pid"
}

start_smtp() {
  local t0 pid deadline
  t0=$(now_ms)
  if pid=$(smtp_pid) && port_accepts "$LOOPBACK" "$SMTP_PORT"; then
    say "smtp: already running on $LOOPBACK:$SMTP_PORT (pid $pid, maildir $SMTP_MAILDIR)"
    return 0
  fi
  /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null ||
    die "smtp: python3-aiosmtpd is not installed (run scripts/setup)"
  if pid=$(smtp_pid); then
    terminate "$pid" 5 || die "smtp: could not stop the unresponsive pid $pid"
  fi
  rm -f -- "$SMTP_PID"
  port_listening "$SMTP_PORT" &&
    die "smtp: port $SMTP_PORT is already in use; stop it or set HERALD_SMTP_PORT"
  mkdir -p -- "$SMTP_MAILDIR/tmp" "$SMTP_MAILDIR/new" "$SMTP_MAILDIR/cur"
  own_dir "$SMTP_USER" "$SMTP_DIR"
  run_as "$SMTP_USER" test -w "$SMTP_MAILDIR/new" ||
    die "user $SMTP_USER cannot write $SMTP_MAILDIR; choose a HERALD_STATE_DIR whose parent folders it can enter"
  launch_daemon smtp "$SMTP_USER" "$SMTP_PID" "$SMTP_LOG" "$SMTP_DIR" "${SMTP_ENV[@]}" -- \
    /usr/bin/python3 "$SMTP_SINK" "$LOOPBACK" "$SMTP_PORT" "$SMTP_MAILDIR"
  pid=$LAUNCHED_PID
  deadline=$(($(now_ms) + SMTP_START_TIMEOUT * 1000))
  until port_accepts "$LOOPBACK" "$SMTP_PORT"; do
    if ! pid_alive "$pid" || (($(now_ms) > deadline)); then
      tail_logs "$SMTP_LOG"
      stop_smtp >&2 || true
      die "smtp: aiosmtpd did not start on $LOOPBACK:$SMTP_PORT"
    fi
    sleep 0.1
  done
  say "smtp: started on $LOOPBACK:$SMTP_PORT (pid $pid, maildir $SMTP_MAILDIR) in $(elapsed_since "$t0")"
}

stop_smtp() {
  local pid
  if ! pid=$(smtp_pid); then
    rm -f -- "$SMTP_PID"
    say "smtp: not running"
    return 0
  fi
  terminate "$pid" 10 || die "smtp: could not stop pid $pid"
  rm -f -- "$SMTP_PID"
  say "smtp: stopped (pid $pid)"
}

status_smtp() {
  local pid
  if pid=$(smtp_pid); then
    if port_accepts "$LOOPBACK" "$SMTP_PORT"; then
      say "smtp: running on $LOOPBACK:$SMTP_PORT (pid $pid, maildir $SMTP_MAILDIR)"
      return 0
    fi
    say "smtp: not ready (pid $pid alive, port $SMTP_PORT not answering)"
    return 3
  fi
  if port_listening "$SMTP_PORT"; then
    say "smtp: stopped (but port $SMTP_PORT is in use by a process this script did not start)"
    return 3
  fi
  say "smtp: stopped"
  return 3
}
