# shellcheck shell=bash
# Kannel, for scripts/services (which sources common.sh first and sets STATE_DIR and
# LOOPBACK): settings, start_kannel, stop_kannel, status_kannel, env_kannel, and inject_mo
# for `scripts/services inject-mo`.
#
# Debian's bearerbox and smsbox (package kannel) plus the fake SMSC client fakesmsc
# (package kannel-extras), every listener on loopback:
#   sendsms    http://127.0.0.1:13013/cgi-bin/sendsms, sendsms-user `herald` with the
#              password in <state>/kannel/sendsms-password (random, made once); numbers
#              matching KANNEL_BLACKLIST_REGEX are refused (a permanent failure for tests).
#   admin      http://127.0.0.1:13000/ (status.txt needs no password; the admin password
#              is in <state>/kannel/admin-password).
#   box link   bearerbox <-> smsbox on 13001.
#   smsc fake  port 13010: the long-running fakesmsc takes every MT message and logs it as
#              "Got message N: <from to text|ucs-2|data|udh ...>", one line per SMS part,
#              to <state>/kannel/log/fakesmsc.log (appended across restarts; N restarts
#              at 1 with fakesmsc). "text" lines hold the text as is, so a newline in a
#              coding=0 text splits it over two lines; the other kinds are url-encoded.
#              bearerbox's fake SMSC driver itself produces the DLRs: 8 (accepted by the
#              SMSC) when it hands a message to fakesmsc, then 1 (delivered).
#   smsc fake-mo  port 13011: only for `inject-mo`. A fake SMSC serves one client at a
#              time, so a second fakesmsc on 13010 would not be read while the first is
#              connected; allowed-smsc-id keeps MT traffic off this one.
# MO messages (replies) go to the default sms-service get-url, HERALD_MO_URL followed by
# /<mo token> (a random token kept in the state folder and written to <state>/env as
# HERALD_KANNEL_MO_TOKEN: heraldd's gateway takes replies only with it); a non-empty
# answer body is sent back to the phone (max-messages = 1, omit-empty). smsbox retries a dlr-url or get-url
# call that fails (no answer, or any status but 200/202) http-request-retry times,
# http-queue-delay seconds apart.
#
# Settings (environment): HERALD_KANNEL_ADMIN_PORT (13000), HERALD_KANNEL_SMSBOX_PORT
# (13001), HERALD_KANNEL_SENDSMS_PORT (13013), HERALD_FAKESMSC_PORT (13010),
# HERALD_FAKESMSC_MO_PORT (13011), HERALD_MO_URL
# (http://127.0.0.1:18080/hooks/sms/kannel-local/mo), HERALD_KANNEL_START_TIMEOUT (30s),
# HERALD_KANNEL_STOP_TIMEOUT (30s), HERALD_KANNEL_LOG_LEVEL (see kannel_log).

# As root, run as the package's kannel user; without that user, as whoever runs this.
if id -u kannel >/dev/null 2>&1; then KANNEL_USER=kannel; else KANNEL_USER=$(id -un); fi
KANNEL_ADMIN_PORT=${HERALD_KANNEL_ADMIN_PORT:-13000}
KANNEL_SMSBOX_PORT=${HERALD_KANNEL_SMSBOX_PORT:-13001}
KANNEL_SENDSMS_PORT=${HERALD_KANNEL_SENDSMS_PORT:-13013}
FAKESMSC_PORT=${HERALD_FAKESMSC_PORT:-13010}
FAKESMSC_MO_PORT=${HERALD_FAKESMSC_MO_PORT:-13011}
KANNEL_MO_URL=${HERALD_MO_URL:-http://127.0.0.1:18080/hooks/sms/kannel-local/mo}
KANNEL_START_TIMEOUT=${HERALD_KANNEL_START_TIMEOUT:-30}
KANNEL_STOP_TIMEOUT=${HERALD_KANNEL_STOP_TIMEOUT:-30}
KANNEL_SMS_USER=herald
# +84912000999 in the forms a caller may write it: +84..., 84..., 0084..., 0912000999.
KANNEL_BLACKLIST_REGEX='^([+]|00)?84912000999$|^0912000999$'
FAKESMSC=/usr/lib/kannel/test/fakesmsc

KANNEL_DIR=$STATE_DIR/kannel
KANNEL_CONF=$KANNEL_DIR/kannel.conf
KANNEL_LOG_DIR=$KANNEL_DIR/log
KANNEL_RUN_DIR=$KANNEL_DIR/run
KANNEL_ADMIN_PW_FILE=$KANNEL_DIR/admin-password
KANNEL_SENDSMS_PW_FILE=$KANNEL_DIR/sendsms-password
KANNEL_MO_TOKEN_FILE=$KANNEL_DIR/mo-token # heraldd's gateway mo_token: the get-url's last segment
KANNEL_ACCESS_LOG=$KANNEL_LOG_DIR/access.log # bearerbox: one line per SMS and DLR
FAKESMSC_LOG=$KANNEL_LOG_DIR/fakesmsc.log
INJECT_MO_LOG=$KANNEL_LOG_DIR/inject-mo.log
KANNEL_SENDSMS_URL=http://$LOOPBACK:$KANNEL_SENDSMS_PORT/cgi-bin/sendsms
KANNEL_BOXES=(bearerbox fakesmsc smsbox) # start order: sendsms opens once the SMSC is up
# stdout/stderr of each box. bearerbox and smsbox have no log-file and log there: bearerbox
# at info (1: startup, connections; nothing per message), smsbox at warning (2: its info
# level adds ~300 bytes per sendsms; failed dlr-url/get-url calls are errors and still
# show). HERALD_KANNEL_LOG_LEVEL (0 debug .. 4 panic) sets both. One line per SMS and
# DLR goes to the access log.
KANNEL_LOG_LEVEL=${HERALD_KANNEL_LOG_LEVEL:-}
kannel_log() { echo "$KANNEL_LOG_DIR/$1.log"; }
kannel_pidfile() { echo "$KANNEL_RUN_DIR/$1.pid"; }

KANNEL_ENV=(PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$KANNEL_DIR" LANG=C.UTF-8 LC_ALL=C.UTF-8)

# kannel_secret FILE: print the secret kept in FILE, making a random one the first time.
kannel_secret() {
  local file=$1 secret=
  if [[ ! -s $file ]]; then
    mkdir -p -- "$KANNEL_DIR"
    secret=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
    (
      umask 077
      printf '%s\n' "${secret:0:24}" >"$file.tmp.$$"
    )
    mv -f -- "$file.tmp.$$" "$file"
  fi
  read -r secret <"$file" || [[ -n $secret ]]
  [[ $secret =~ ^[A-Za-z0-9]+$ ]] || die "kannel: $file must hold one line of letters and digits"
  echo "$secret"
}

env_kannel() {
  printf '%s=%q\n' \
    HERALD_KANNEL_USER "$KANNEL_SMS_USER" \
    HERALD_KANNEL_PASSWORD "$(kannel_secret "$KANNEL_SENDSMS_PW_FILE")" \
    HERALD_KANNEL_MO_TOKEN "$(kannel_secret "$KANNEL_MO_TOKEN_FILE")" \
    HERALD_KANNEL_SENDSMS_URL "$KANNEL_SENDSMS_URL" \
    HERALD_KANNEL_ADMIN_URL "http://$LOOPBACK:$KANNEL_ADMIN_PORT" \
    HERALD_FAKESMSC_LOG "$FAKESMSC_LOG"
}

# kannel_pid BOX: the pid of our running bearerbox|smsbox|fakesmsc.
kannel_pid() {
  local pid
  pid=$(read_pid "$(kannel_pidfile "$1")") && is_ours "$pid" kannel "$1" && echo "$pid"
}

# sendsms answers HTTP at all (any status; without credentials it is 403).
sendsms_answers() {
  local code
  code=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "$KANNEL_SENDSMS_URL" 2>/dev/null) || true
  [[ $code =~ ^[1-5][0-9][0-9]$ ]]
}

# A client (our fakesmsc: ports are loopback-only) holds the fake SMSC connection.
fakesmsc_connected() { [[ -n $(ss -Htn state established "( dport = :$FAKESMSC_PORT )" 2>/dev/null) ]]; }

kannel_prepare() {
  local admin_pw sms_pw mo_token
  [[ -x /usr/sbin/bearerbox && -x /usr/sbin/smsbox ]] || die "kannel is not installed (run scripts/setup)"
  [[ -x $FAKESMSC ]] || die "$FAKESMSC is missing (package kannel-extras; run scripts/setup)"
  [[ $KANNEL_MO_URL =~ ^https?://[^[:space:]\"]+$ && $KANNEL_MO_URL != *'?'* ]] ||
    die "HERALD_MO_URL must be an http(s) URL without spaces, quotes or a query: $KANNEL_MO_URL"
  [[ $KANNEL_DIR != *[\"[:cntrl:]]* ]] || die "kannel: the state folder path must not contain quotes: $KANNEL_DIR"
  [[ -z $KANNEL_LOG_LEVEL || $KANNEL_LOG_LEVEL =~ ^[0-4]$ ]] ||
    die "HERALD_KANNEL_LOG_LEVEL must be 0 (debug) to 4 (panic): $KANNEL_LOG_LEVEL"
  mkdir -p -- "$KANNEL_LOG_DIR" "$KANNEL_RUN_DIR"
  admin_pw=$(kannel_secret "$KANNEL_ADMIN_PW_FILE")
  sms_pw=$(kannel_secret "$KANNEL_SENDSMS_PW_FILE")
  mo_token=$(kannel_secret "$KANNEL_MO_TOKEN_FILE")
  (
    umask 077 # it holds the passwords
    cat >"$KANNEL_CONF" <<CONF
# Generated by scripts/services on every start; edit the script, not this file.

group = core
admin-port = $KANNEL_ADMIN_PORT
admin-interface = "$LOOPBACK"
admin-password = "$admin_pw"
admin-allow-ip = "$LOOPBACK"
admin-deny-ip = "*.*.*.*"
smsbox-port = $KANNEL_SMSBOX_PORT
smsbox-interface = "$LOOPBACK"
box-allow-ip = "$LOOPBACK"
box-deny-ip = "*.*.*.*"
access-log = "$KANNEL_ACCESS_LOG"
dlr-storage = internal

# The fake SMSC that the long-running fakesmsc connects to: every MT message goes here.
group = smsc
smsc = fake
smsc-id = fake
port = $FAKESMSC_PORT
our-host = "$LOOPBACK"
connect-allow-ip = "$LOOPBACK"

# MO injection only (scripts/services inject-mo); no MT message carries this smsc-id.
group = smsc
smsc = fake
smsc-id = fake-mo
port = $FAKESMSC_MO_PORT
our-host = "$LOOPBACK"
connect-allow-ip = "$LOOPBACK"
allowed-smsc-id = "herald-mo-injection-only"

group = smsbox
bearerbox-host = "$LOOPBACK"
bearerbox-port = $KANNEL_SMSBOX_PORT
sendsms-port = $KANNEL_SENDSMS_PORT
sendsms-interface = "$LOOPBACK"
# dlr-url and get-url calls that fail (no connection, or a status other than 200/202)
# are retried 12 times, 5 s apart: about a minute.
http-request-retry = 12
http-queue-delay = 5
http-timeout = 20
# A UCS-2 reply reaches get-url as UTF-8 (without it %a is raw UTF-16BE, split on 0x20 bytes).
mo-recode = true

group = sendsms-user
username = "$KANNEL_SMS_USER"
password = "$sms_pw"
concatenation = true
max-messages = 10
black-list-regex = "$KANNEL_BLACKLIST_REGEX"

# Replies: passed to Herald; the body of its answer goes back to the phone (help for a
# reply it could not place), an empty answer sends nothing.
group = sms-service
keyword = default
catch-all = true
get-url = "$KANNEL_MO_URL/$mo_token?from=%p&to=%P&text=%a&time=%t"
max-messages = 1
omit-empty = true
CONF
  )
  own_dir "$KANNEL_USER" "$KANNEL_DIR"
  run_as "$KANNEL_USER" test -r "$KANNEL_CONF" -a -w "$KANNEL_LOG_DIR" ||
    die "user $KANNEL_USER cannot use $KANNEL_DIR; choose a HERALD_STATE_DIR whose parent folders it can enter"
}

# kannel_launch BOX: start one box in the background (pid in its pid file).
kannel_launch() {
  local box=$1 argv
  case $box in
  bearerbox) argv=(/usr/sbin/bearerbox -v "${KANNEL_LOG_LEVEL:-1}" "$KANNEL_CONF") ;;
  smsbox) argv=(/usr/sbin/smsbox -v "${KANNEL_LOG_LEVEL:-2}" "$KANNEL_CONF") ;;
  # -m 0: inject no MO message, just read MT messages until bearerbox goes away. The
  # message argument is required (without one fakesmsc reads messages from stdin) but
  # unused. "Got message N" lines are debug output: no -v.
  fakesmsc) argv=("$FAKESMSC" -H "$LOOPBACK" -r "$FAKESMSC_PORT" -m 0 "0 0 text unused") ;;
  esac
  rm -f -- "$(kannel_pidfile "$box")"
  launch_daemon kannel "$KANNEL_USER" "$(kannel_pidfile "$box")" "$(kannel_log "$box")" \
    "$KANNEL_DIR" "${KANNEL_ENV[@]}" -- "${argv[@]}"
}

# kannel_wait BOX DEADLINE_MS CHECK...: wait until CHECK succeeds while BOX stays alive.
kannel_wait() {
  local box=$1 deadline=$2
  shift 2
  until "$@"; do
    kannel_pid "$box" >/dev/null || kannel_start_failed "$box exited during startup"
    (($(now_ms) < deadline)) || kannel_start_failed "$box not ready after ${KANNEL_START_TIMEOUT}s"
    sleep 0.1
  done
}

# Its four listeners are open (checked with ss: a test connection to the box or fake SMSC
# ports would be taken for a box or an SMSC client). The ports were free before launch.
bearerbox_ready() {
  local port
  for port in "$KANNEL_ADMIN_PORT" "$KANNEL_SMSBOX_PORT" "$FAKESMSC_PORT" "$FAKESMSC_MO_PORT"; do
    port_listening "$port" || return 1
  done
}

kannel_start_failed() {
  local box
  for box in "${KANNEL_BOXES[@]}"; do tail_logs "$(kannel_log "$box")"; done
  warn "kannel: $1; stopping what was started (logs in $KANNEL_LOG_DIR)"
  stop_kannel >&2 || true
  exit 1
}

start_kannel() {
  local t0 deadline box port pids=()
  t0=$(now_ms)
  deadline=$((t0 + KANNEL_START_TIMEOUT * 1000))
  if kannel_pid bearerbox >/dev/null && kannel_pid smsbox >/dev/null &&
    kannel_pid fakesmsc >/dev/null && sendsms_answers; then
    say "kannel: already running (sendsms $KANNEL_SENDSMS_URL, fake SMSC port $FAKESMSC_PORT)"
    return 0
  fi
  kannel_prepare

  if ! kannel_pid bearerbox >/dev/null; then
    # smsbox and fakesmsc belong to a bearerbox; without it, start all three afresh.
    kannel_stop_box smsbox 10
    kannel_stop_box fakesmsc 5
    for port in "$KANNEL_ADMIN_PORT" "$KANNEL_SMSBOX_PORT" "$FAKESMSC_PORT" \
      "$FAKESMSC_MO_PORT" "$KANNEL_SENDSMS_PORT"; do
      if port_listening "$port"; then
        die "kannel: port $port is already in use (another Kannel?); stop it or set the HERALD_KANNEL_*/HERALD_FAKESMSC_* ports"
      fi
    done
    kannel_launch bearerbox
    kannel_wait bearerbox "$deadline" bearerbox_ready
  fi
  # fakesmsc exits when bearerbox goes away, so it may be the one box to restart. It
  # connects before smsbox opens sendsms: until then sendsms would answer "3: Queued for
  # later delivery" instead of "0: Accepted for delivery".
  kannel_pid fakesmsc >/dev/null || kannel_launch fakesmsc
  kannel_wait fakesmsc "$deadline" fakesmsc_connected
  if ! kannel_pid smsbox >/dev/null; then
    port_listening "$KANNEL_SENDSMS_PORT" &&
      die "kannel: port $KANNEL_SENDSMS_PORT is already in use; stop it or set HERALD_KANNEL_SENDSMS_PORT"
    kannel_launch smsbox
  fi
  kannel_wait smsbox "$deadline" sendsms_answers
  for box in "${KANNEL_BOXES[@]}"; do pids+=("$box $(kannel_pid "$box")"); done
  say "kannel: started (sendsms $KANNEL_SENDSMS_URL, fake SMSC port $FAKESMSC_PORT; $(
    IFS=,
    echo "${pids[*]}"
  )) in $(elapsed_since "$t0")"
}

# kannel_stop_box BOX GRACE: SIGTERM our BOX (fakesmsc: SIGINT, its clean exit) and wait.
# Appends BOX to KANNEL_STOPPED if it was running.
KANNEL_STOPPED=()
kannel_stop_box() {
  local box=$1 grace=$2 pid
  pid=$(kannel_pid "$box") || return 0
  KANNEL_STOPPED+=("$box")
  if [[ $box == fakesmsc ]]; then
    # It leaves by itself when bearerbox closes the connection; else SIGINT makes it
    # print its totals and exit.
    wait_gone "$pid" 2 && return 0
    kill -INT "$pid" 2>/dev/null || true
    wait_gone "$pid" 3 && return 0
  fi
  terminate "$pid" "$grace" || die "kannel: could not stop $box (pid $pid)"
}

stop_kannel() {
  local t0 box
  t0=$(now_ms)
  KANNEL_STOPPED=()
  # smsbox first (no new sendsms), then bearerbox (hands what is queued to fakesmsc),
  # then fakesmsc (normally gone by then: it exits when bearerbox closes its connection).
  kannel_stop_box smsbox "$KANNEL_STOP_TIMEOUT"
  kannel_stop_box bearerbox "$KANNEL_STOP_TIMEOUT"
  kannel_stop_box fakesmsc 5
  for box in "${KANNEL_BOXES[@]}"; do rm -f -- "$(kannel_pidfile "$box")"; done
  if ((${#KANNEL_STOPPED[@]})); then
    say "kannel: stopped (${KANNEL_STOPPED[*]}) in $(elapsed_since "$t0")"
  else
    say "kannel: not running"
  fi
}

status_kannel() {
  local box pid up=() down=() port
  for box in "${KANNEL_BOXES[@]}"; do
    if pid=$(kannel_pid "$box"); then up+=("$box $pid"); else down+=("$box"); fi
  done
  if ((${#down[@]} == 0)); then
    if sendsms_answers; then
      say "kannel: running (sendsms $KANNEL_SENDSMS_URL, fake SMSC port $FAKESMSC_PORT; $(
        IFS=,
        echo "${up[*]}"
      ))"
      return 0
    fi
    say "kannel: not ready (processes alive, sendsms on port $KANNEL_SENDSMS_PORT not answering)"
    return 3
  fi
  if ((${#up[@]})); then
    say "kannel: not running (${down[*]} down; still alive: $(
      IFS=,
      echo "${up[*]}"
    ))"
    return 3
  fi
  for port in "$KANNEL_SENDSMS_PORT" "$KANNEL_ADMIN_PORT" "$FAKESMSC_PORT"; do
    if port_listening "$port"; then
      say "kannel: stopped (but port $port is in use by a process this script did not start)"
      return 3
    fi
  done
  say "kannel: stopped"
  return 3
}

# `scripts/services inject-mo FROM TO TEXT`: one reply from FROM to TO enters bearerbox
# through the fake-mo SMSC, as if a phone had sent it; smsbox passes it to HERALD_MO_URL.
# A one-shot fakesmsc sends it and is stopped once it has been written. ASCII text goes
# as fakesmsc "text"; anything else as "ucs2" (UTF-16BE, url-encoded), like a phone would.
inject_mo() {
  if (($# != 3)); then
    warn "usage: ${0##*/} inject-mo FROM TO TEXT"
    exit 2
  fi
  local from=$1 to=$2 text=$3 line hex pid out rc=0 deadline
  if [[ ! $from =~ ^[+]?[A-Za-z0-9]+$ || ! $to =~ ^[+]?[A-Za-z0-9]+$ ]]; then
    warn "inject-mo: FROM and TO must be numbers (or alphanumeric), without spaces"
    exit 2
  fi
  if [[ -z $text || $text == *[$'\r\n']* ]]; then
    warn "inject-mo: TEXT must be one non-empty line"
    exit 2
  fi
  if ! kannel_pid bearerbox >/dev/null || ! kannel_pid smsbox >/dev/null; then
    warn "kannel is not running; start it with: scripts/services start kannel"
    exit 3
  fi
  if LC_ALL=C grep -q '^[ -~]*$' <<<"$text"; then
    line="$from $to text $text"
  else
    hex=$(printf '%s' "$text" | iconv -f UTF-8 -t UTF-16BE | od -An -v -tx1 | tr -d ' \n') ||
      die "inject-mo: TEXT is not valid UTF-8"
    # shellcheck disable=SC2001 # every byte as %XX
    line="$from $to ucs2 $(sed 's/../%&/g' <<<"$hex")"
  fi
  # One injection at a time: the fake-mo SMSC reads one client at a time anyway.
  mkdir -p -- "$KANNEL_RUN_DIR"
  exec 8>>"$KANNEL_RUN_DIR/.inject-mo.lock"
  flock -w 60 8 || die "inject-mo: timed out waiting for another inject-mo"
  out=$(mktemp)
  as_user_cmd "$KANNEL_USER"
  "${AS_USER[@]}" env -i "${KANNEL_ENV[@]}" "$FAKESMSC" -H "$LOOPBACK" -r "$FAKESMSC_MO_PORT" \
    -m 1 "$line" </dev/null >"$out" 2>&1 8>&- &
  pid=$!
  # It writes the message, logs "sent message 1", then would wait for replies forever.
  deadline=$(($(now_ms) + 10000))
  until grep -q 'fakesmsc: sent message 1' "$out"; do
    if ! pid_alive "$pid" || (($(now_ms) > deadline)); then
      rc=1
      break
    fi
    sleep 0.05
  done
  kill -INT "$pid" 2>/dev/null || true
  wait_gone "$pid" 3 || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  cat "$out" >>"$INJECT_MO_LOG" 2>/dev/null || true
  if ((rc)); then
    cat "$out" >&2
    rm -f -- "$out"
    die "inject-mo: fakesmsc could not send the message to bearerbox (port $FAKESMSC_MO_PORT)"
  fi
  rm -f -- "$out"
  say "inject-mo: $from -> $to injected"
}
