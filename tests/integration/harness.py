"""Shared fixtures for Herald's integration tests: a private vhost on the RabbitMQ that
scripts/services runs (or on a node of the test's own, for a test that stops it), a heraldd with its own store and port, and heraldctl.

The store is SQLite (a file in the test's folder) unless HERALD_TEST_STORE=postgres: then
each Daemon gets a database of its own, made on the PostgreSQL that scripts/services runs
(`scripts/services start postgres`; HERALD_PG_CONNINFO in <state>/env) and dropped when the
test is done, and Daemon.db() reads it through the same calls the tests make on SQLite.
STORE says which; a test that only makes sense on one skips on the other."""
import atexit
import hashlib
import json
import os
import re
import resource
import secrets
import socket
import sqlite3
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import pika
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("HERALD_BUILD_DIR", os.path.join(REPO, "build"))
HERALDD = os.path.join(BUILD, "bin", "heraldd")
HERALDCTL = os.path.join(BUILD, "bin", "heraldctl")
SERVICES = os.path.join(REPO, "scripts", "services")
DIRECTORY = os.path.join(REPO, "config", "directory.example.yaml")
SEED = os.path.join(REPO, "tests", "data", "seed-158-CV-HU.json")


def _state_env():
    env = {}
    state = os.environ.get("HERALD_STATE_DIR", os.path.join(REPO, ".state"))
    try:
        with open(os.path.join(state, "env")) as f:
            for line in f:
                if "=" in line:
                    k, v = line.strip().split("=", 1)
                    env[k] = v.strip("'\"")
    except FileNotFoundError:
        pass
    return env


_ENV = _state_env()
AMQP_HOST = os.environ.get("HERALD_AMQP_HOST", _ENV.get("HERALD_AMQP_HOST", "127.0.0.1"))
AMQP_PORT = int(os.environ.get("HERALD_AMQP_PORT", _ENV.get("HERALD_AMQP_PORT", "5679")))

# Which store every Daemon uses: "sqlite" (the default) or "postgres".
STORE = os.environ.get("HERALD_TEST_STORE", "").strip().lower() or "sqlite"
if STORE not in ("sqlite", "postgres"):
    raise RuntimeError(f"HERALD_TEST_STORE must be sqlite or postgres, not {STORE!r}")
# libpq keywords for the PostgreSQL that scripts/services runs, without dbname.
PG_CONNINFO = os.environ.get("HERALD_PG_CONNINFO", _ENV.get("HERALD_PG_CONNINFO", ""))


def _pg():
    global PG_CONNINFO
    try:
        import psycopg2
    except ImportError:
        raise RuntimeError("a PostgreSQL store needs python3-psycopg2 (run scripts/setup)") from None
    if not PG_CONNINFO:  # <state>/env again: the service may have been started since
        PG_CONNINFO = _state_env().get("HERALD_PG_CONNINFO", "")
    if not PG_CONNINFO:
        raise RuntimeError("a PostgreSQL store needs HERALD_PG_CONNINFO, in the environment or in <state>/env:"
                           " run scripts/services start postgres")
    return psycopg2


def pg_conninfo(database):
    """HERALD_PG_CONNINFO with dbname=database (libpq keyword form)."""
    return _pg().extensions.make_dsn(PG_CONNINFO, dbname=database)


def _pg_connect(database, readonly=False):
    psycopg2 = _pg()
    try:
        conn = psycopg2.connect(pg_conninfo(database), connect_timeout=10)
    except psycopg2.OperationalError as e:
        raise RuntimeError(f"cannot connect to PostgreSQL ({PG_CONNINFO} dbname={database}): {e}".strip()
                           + "\n(is it running? scripts/services start postgres)") from None
    conn.set_session(readonly=readonly, autocommit=True)
    return conn


_OWNED_DATABASES = set()  # made here and not dropped yet: atexit drops them


def create_database(prefix="it"):
    """A new, empty database on the test PostgreSQL; returns its name. It is dropped by
    drop_database, or when the test process exits."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    conn = _pg_connect("postgres")
    try:
        conn.cursor().execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    _OWNED_DATABASES.add(name)
    return name


def drop_database(name):
    """Drops a database (ending its sessions: heraldd may still be connected). Best
    effort: a failure is printed, not raised."""
    _OWNED_DATABASES.discard(name)
    try:
        conn = _pg_connect("postgres")
        try:
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()
    except Exception as e:  # cleanup must not hide the test's own outcome
        print(f"harness: could not drop database {name}: {e}")


@atexit.register
def _drop_owned_databases():
    for name in sorted(_OWNED_DATABASES):
        drop_database(name)


# A string literal, a quoted name, a comment (kept, but for their %), or a ? or a %.
_PLACEHOLDER_SKIP = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\?|%""", re.S)


def qmark_to_pyformat(sql):
    """sqlite3's `?` placeholders as psycopg2's `%s` (and a literal `%` as `%%`), leaving
    string literals, quoted names and comments alone except for doubling their `%`. (So
    PostgreSQL's own `?` operators cannot be used in a query with parameters.)"""
    def one(m):
        t = m.group(0)
        return "%s" if t == "?" else t.replace("%", "%%")
    return _PLACEHOLDER_SKIP.sub(one, sql)


def _text(value):
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("latin-1")
    return str(value)


class PgDb:
    """A PostgreSQL database through what the tests use of a sqlite3 connection:
    `with daemon.db() as db: db.execute(sql, params).fetchall()` (also fetchone() and
    iterating over the result), with `?` placeholders. Autocommit, so each statement sees
    what is committed when it runs, as with sqlite3 outside a transaction; read-only unless
    asked otherwise. Leaving the `with` block closes the connection (sqlite3's only ends a
    transaction): take what you need inside it."""

    def __init__(self, database, readonly=True):
        self.database = database
        self.conn = _pg_connect(database, readonly=readonly)

    def execute(self, sql, params=None):
        cur = self.conn.cursor()
        if params is None:
            cur.execute(sql)
        else:
            cur.execute(qmark_to_pyformat(sql), tuple(params))
        return cur

    def executemany(self, sql, seq):
        cur = self.conn.cursor()
        cur.executemany(qmark_to_pyformat(sql), [tuple(p) for p in seq])
        return cur

    def commit(self):
        pass  # autocommit

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def wait_until(predicate, timeout=60.0, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def services(*args, check=True, env=None):
    return subprocess.run([SERVICES, *args], check=check, capture_output=True, text=True,
                          env=None if env is None else {**os.environ, **env})


class SharedBroker:
    """The RabbitMQ scripts/services runs, which every test shares (each in its own vhost)."""

    host, port, env = AMQP_HOST, AMQP_PORT, None

    def services(self, *args, check=True):
        return services(*args, check=check, env=self.env)


class PrivateBroker(SharedBroker):
    """A RabbitMQ node of the test's own, started by scripts/services in a state folder of
    its own on free loopback ports: a test that stops the broker stops only this one, and
    the others go on using theirs. close() stops it and removes its folder."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="herald-broker-")
        os.chmod(self.tmp.name, 0o755)  # as root, the node runs as rabbitmq and must reach it
        self.port = free_port()
        self.env = {"HERALD_STATE_DIR": self.tmp.name, "HERALD_AMQP_PORT": str(self.port),
                    "HERALD_EPMD_PORT": str(free_port()), "HERALD_RABBITMQ_DIST_PORT": str(free_port()),
                    "HERALD_RABBITMQ_NODE": f"herald-{secrets.token_hex(3)}@localhost"}
        started = self.services("start", "rabbitmq", check=False)
        if started.returncode != 0:
            self.tmp.cleanup()
            raise RuntimeError(f"private broker did not start: {started.stdout}{started.stderr}")

    def close(self):
        self.services("stop", "rabbitmq", check=False)
        self.tmp.cleanup()


SHARED_BROKER = SharedBroker()


class Vhost:
    """A RabbitMQ vhost of its own, so tests never see each other's queues; on the shared
    broker unless given another."""

    def __init__(self, name, broker=SHARED_BROKER):
        self.name = name
        self.broker = broker

    def __enter__(self):
        self.broker.services("ctl", "add_vhost", self.name)
        self.broker.services("ctl", "set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")
        return self

    def __exit__(self, *exc):
        self.broker.services("ctl", "delete_vhost", self.name, check=False)

    def url(self):
        return (f"amqp://guest:guest@{self.broker.host}:{self.broker.port}/"
                f"{urllib.parse.quote(self.name, safe='')}")

    def connection(self):
        params = pika.ConnectionParameters(
            host=self.broker.host, port=self.broker.port, virtual_host=self.name,
            credentials=pika.PlainCredentials("guest", "guest"),
            connection_attempts=3, retry_delay=1, blocked_connection_timeout=30)
        return pika.BlockingConnection(params)

    def drain(self, queue, timeout=30.0, expect=None):
        """All messages now in `queue` (acked): list of (properties, body)."""
        got = []
        conn = self.connection()
        try:
            ch = conn.channel()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                method, props, body = ch.basic_get(queue, auto_ack=False)
                if method is None:
                    if expect is None or len(got) >= expect:
                        break
                    time.sleep(0.2)
                    continue
                got.append((props, body))
                ch.basic_ack(method.delivery_tag)
        finally:
            conn.close()
        return got


class Daemon:
    """One heraldd with its own config, store and HTTP port.

    `store` is "sqlite" or "postgres" (default: STORE, from HERALD_TEST_STORE).
    SQLite: the store is workdir/herald.db (store_path).
    PostgreSQL: a new database (`database`, dropped by cleanup() or at exit) unless
    database= names one to join, which its owner drops: several Daemons on one database are
    instances sharing one store. `instance` names this heraldd among them (default: unique
    to this Daemon, the same across its restarts). store_path is None."""

    def __init__(self, vhost, workdir, extra_config=None, port=None, database=None, instance=None, store=None,
                 nofile=None):
        self.nofile = nofile  # RLIMIT_NOFILE for heraldd (as `ulimit -n` would set it); None: inherited
        self.vhost = vhost
        self.workdir = workdir
        self.port = port or free_port()
        self.token = secrets.token_hex(16)
        self.config_path = os.path.join(workdir, "herald.yaml")
        self.log_path = os.path.join(workdir, "heraldd.log")
        self.store = store or STORE
        if self.store == "postgres":
            self.store_path = None
            self.owns_database = database is None
            self.database = database or create_database()
            self.instance = instance or f"it-{secrets.token_hex(4)}"
            store_cfg = {"backend": "postgres", "conninfo": pg_conninfo(self.database), "instance": self.instance}
        elif self.store == "sqlite":
            if database is not None or instance is not None:
                raise ValueError("database= and instance= are for a PostgreSQL store")
            self.store_path = os.path.join(workdir, "herald.db")
            self.owns_database = False
            self.database = self.instance = None
            store_cfg = {"path": self.store_path}
        else:
            raise ValueError(f"store must be sqlite or postgres, not {self.store!r}")
        cfg = {
            "broker": {"host": vhost.broker.host, "port": vhost.broker.port, "vhost": vhost.name,
                        "user": "guest", "password": "env:HERALD_TEST_AMQP_PASSWORD",
                        "heartbeat": "5s", "reconnect_initial": "200ms", "reconnect_max": "2s"},
            "store": store_cfg,
            "http": {"listen": f"127.0.0.1:{self.port}",
                     "admin_tokens": [{"name": "test", "role": "operator", "token": "env:HERALD_TEST_ADMIN_TOKEN"}]},
            "directory": DIRECTORY,
            "channels": {"sms": {"enabled": True}, "zalo": {"enabled": True},
                         "email": {"enabled": True}, "loudspeaker": {"enabled": True}},
        }
        for k, v in (extra_config or {}).items():
            if isinstance(v, dict) and isinstance(cfg.get(k), dict):
                cfg[k] = dict(cfg[k], **v)
            else:
                cfg[k] = v
        loudspeaker = (cfg.get("channels") or {}).get("loudspeaker")
        if self.store == "postgres" and isinstance(loudspeaker, dict):
            # Audio goes next to the store by default; a PostgreSQL store has no folder, so
            # it goes where SQLite's would: workdir/audio.
            audio = dict(loudspeaker.get("audio") or {})
            audio.setdefault("dir", os.path.join(workdir, "audio"))
            cfg["channels"] = dict(cfg["channels"], loudspeaker=dict(loudspeaker, audio=audio))
        with open(self.config_path, "w") as f:
            yaml.safe_dump(cfg, f, allow_unicode=True)
        self.env = dict(os.environ, HERALD_TEST_AMQP_PASSWORD="guest", HERALD_TEST_ADMIN_TOKEN=self.token)
        self.proc = None

    def start(self, wait_ready=True):
        self.killed = False
        self.log = open(self.log_path, "ab")
        limit = self.nofile
        self.proc = subprocess.Popen([HERALDD, "--config", self.config_path], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=self.env,
                                     preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)))
                                     if limit else None)
        if wait_ready:
            wait_until(lambda: self.ready(), timeout=30, what="heraldd /readyz")
        return self

    def kill(self):
        """SIGKILL: no shutdown path runs, as in a crash."""
        self.killed = True
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def stop(self):
        """SIGTERM and wait. Returns heraldd's exit status: 0 for a clean stop; None when it
        never ran or the test SIGKILLed it on purpose (kill()); anything else is a crash, an
        exit on its own with an error, or a stop that took more than 15 s (SIGKILLed here)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and not self.log.closed:
            self.log.close()
        self.check_sanitizers()
        if not self.proc or getattr(self, "killed", False):
            return None
        return self.proc.returncode

    SANITIZER_REPORTS = ("WARNING: ThreadSanitizer:", "ERROR: AddressSanitizer:", "ERROR: LeakSanitizer:",
                         ": runtime error: ")

    def check_sanitizers(self):
        """A sanitizer build (build-asan, build-tsan) reports into heraldd's log: any report
        fails the test that ran it, even when heraldd itself carried on."""
        if not os.path.exists(self.log_path):
            return
        text = self.logs()
        for marker in self.SANITIZER_REPORTS:
            at = text.find(marker)
            if at >= 0:
                raise AssertionError(f"sanitizer report in {self.log_path}:\n{text[max(0, at - 200):at + 4000]}")

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def http(self, path, token=True):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if token:
            req.add_header("Authorization", f"Bearer {self.token if token is True else token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (urllib.error.URLError, ConnectionError):
            return None, ""

    def ready(self):
        status, _ = self.http("/readyz", token=False)
        return status == 200

    def api(self, path):
        status, body = self.http(path)
        if status != 200:
            raise AssertionError(f"GET {path}: {status} {body}")
        return json.loads(body)

    def directive(self, directive_id):
        status, body = self.http("/api/v1/directives/" + urllib.parse.quote(directive_id, safe=""))
        return json.loads(body) if status == 200 else None

    def metric(self, name):
        _, body = self.http("/metrics", token=False)
        total = 0
        found = False
        for line in body.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
                found = True
        return total if found else None

    def db(self, readonly=True):
        """The store, for `with daemon.db() as db: db.execute(sql, params)`: a sqlite3
        connection, or on PostgreSQL a PgDb that takes the same calls. Write SQL both take."""
        if self.store == "postgres":
            return PgDb(self.database, readonly=readonly)
        mode = "ro" if readonly else "rw"
        return sqlite3.connect(f"file:{self.store_path}?mode={mode}", uri=True, timeout=10)

    def store_text(self):
        """Everything the store holds, as text to search: the SQLite file's bytes (read as
        Latin-1), or every row of every table of the PostgreSQL database."""
        if self.store != "postgres":
            with open(self.store_path, "rb") as f:
                return f.read().decode("latin-1")
        out = []
        with self.db() as db:
            tables = db.execute("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables"
                                " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
                                " ORDER BY 1").fetchall()
            for (table,) in tables:
                out.append(f"-- {table}")
                out.extend("|".join(_text(v) for v in row) for row in db.execute(f"SELECT * FROM {table}"))
        return "\n".join(out)

    def cleanup(self):
        """Drops the database this Daemon made (PostgreSQL; a joined one is its owner's to
        drop). Call after stop(); what is not dropped by then is dropped at exit."""
        if self.owns_database and self.database in _OWNED_DATABASES:
            drop_database(self.database)

    def ctl(self, *args, input=None):
        """heraldctl against this heraldd, with its admin token in HERALD_TOKEN (as an operator
        should pass it: never on the command line); `--token` in args overrides it."""
        cmd = [HERALDCTL, "--broker", self.vhost.url(), "--api", f"http://127.0.0.1:{self.port}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=60,
                              env=dict(os.environ, HERALD_TOKEN=self.token))


class DaemonTestCase(unittest.TestCase):
    """Each test class gets a vhost and a heraldd; tests add directives to it."""

    extra_config = None
    port = None  # a fixed HTTP port (Kannel's MO get-url names one); default: a free one
    private_broker = False  # True: a RabbitMQ node of its own (cls.broker), for outages
    nofile = None  # heraldd's descriptor limit (`ulimit -n`); default: inherited
    directory = None  # a directory of the test's own (a dict, written as its YAML); default: the example

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="herald-it-")
        if cls.directory is not None:
            path = os.path.join(cls.tmp.name, "directory.yaml")
            with open(path, "w") as f:
                yaml.safe_dump(cls.directory, f, allow_unicode=True)
            cls.extra_config = dict(cls.extra_config or {}, directory=path)
        cls.broker = PrivateBroker() if cls.private_broker else SHARED_BROKER
        cls.vhost = Vhost(f"it-{cls.__name__}-{secrets.token_hex(3)}", cls.broker).__enter__()
        cls.daemon = Daemon(cls.vhost, cls.tmp.name, cls.extra_config, cls.port, nofile=cls.nofile).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.daemon.stop()
        logs = cls.daemon.logs() if rc not in (0, None) else ""
        cls.daemon.cleanup()
        cls.vhost.__exit__(None, None, None)
        if cls.broker is not SHARED_BROKER:
            cls.broker.close()
        cls.tmp.cleanup()
        # A heraldd that crashed, exited with an error or would not stop fails the test,
        # even when every assertion before passed.
        if rc not in (0, None):
            raise AssertionError(f"heraldd exited with status {rc}:\n{logs[-4000:]}")


def message_ref(token):
    """What an email shows of its delivery (Message-ID, X-Herald-Delivery): SHA-256 of the
    token, never the token itself (adapters/email/email_content.hpp)."""
    return hashlib.sha256(b"herald message reference v1:" + token.encode()).hexdigest()[:32]


def load_directory(path=DIRECTORY):
    with open(path) as f:
        return yaml.safe_load(f)


STATE_ENV = _ENV


def expected_deliveries(directive, directory):
    """The planner's rules, written again independently: groups expand transitively,
    each person once, channels are the person's preferences (or the directive's)."""
    groups = {g["id"]: g for g in directory["groups"]}
    people = {p["id"]: p for p in directory["people"]}
    direct = {}
    for p in directory["people"]:
        for g in p.get("groups", []):
            direct.setdefault(g, set()).add(p["id"])

    def members(gid, seen=None):
        seen = seen or set()
        if gid in seen:
            return set()
        seen.add(gid)
        out = set(direct.get(gid, set()))
        for inc in groups[gid].get("includes", []):
            out |= members(inc, seen)
        return out

    who = set()
    for r in directive["recipients"]:
        who |= members(r["group"]) if "group" in r else {r["person"]}
    out = set()
    for pid in who:
        p = people[pid]
        c = p.get("contacts", {})
        chans = directive.get("channels") or p.get("channels")
        for ch in chans:
            if ch == "sms" and c.get("phone"):
                out.add((pid, "sms"))
            elif ch == "zalo" and (c.get("zalo_user_id") or c.get("phone")):
                out.add((pid, "zalo"))
            elif ch == "email" and c.get("email"):
                out.add((pid, "email"))
    return out


def small_directive(n, recipients=None, **extra):
    d = {
        "schema": "herald.directive/v1",
        "id": f"test/{n}",
        "number": f"{n}-TB/HU",
        "issuer": {"code": "HU-CHAUTHANH", "name": "Huyện ủy Châu Thành"},
        "issued_at": "2021-07-12T08:00:00+07:00",
        "subject": f"Thông báo số {n} về lịch họp Ban Thường vụ",
        "recipients": recipients or [{"group": "ban-thuong-vu"}],
    }
    d.update(extra)
    return d
