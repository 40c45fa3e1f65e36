"""heraldd and systemd's notify protocol (Type=notify, WatchdogSec= in
systemd/heraldd.service), with this test in systemd's place: it owns the datagram socket
named by NOTIFY_SOCKET and sets WATCHDOG_USEC and WATCHDOG_PID as systemd does.

READY=1 comes once the store is migrated and the HTTP listener answers; WATCHDOG=1 every
half interval; RELOADING=1 then READY=1 around a directory reload (SIGHUP), refused or
not; STOPPING=1 first on SIGTERM. The keep-alives stop while the store writer is stuck in
one batch (here: another process holds the store's write lock; on PostgreSQL, an EXCLUSIVE
lock on every table, which lets reads through as SQLite's does), though the event loop still
answers, and start again when it is free."""
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest

from harness import DIRECTORY, HERALDD, STORE, Daemon, Vhost, wait_until

WATCHDOG_USEC = 1_000_000  # keep-alives every 0.5 s


class NotifySocket:
    """The service manager's end: every datagram heraldd sends, with when it arrived."""

    def __init__(self, address):
        self.address = address  # a path, or "@name" for the abstract namespace
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(0.2)
        self.messages = []  # (monotonic time, {field: value})
        self.lock = threading.Lock()
        self.stopped = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.stopped:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self.lock:
                self.messages.append((time.monotonic(), fields))

    def close(self):
        self.stopped = True
        self.thread.join()
        self.sock.close()

    def got(self, key, value="1", since=0.0):
        """Arrival times of the messages carrying key=value, after `since`."""
        with self.lock:
            return [t for t, f in self.messages if f.get(key) == value and t >= since]

    def first(self, key, value="1", since=0.0, timeout=30):
        return wait_until(lambda: (self.got(key, value, since) or [None])[0], timeout=timeout,
                          interval=0.01, what=f"{key}={value}")

    def fields(self, key, value="1"):
        with self.lock:
            return [f for _, f in self.messages if f.get(key) == value]

    def keys_in_order(self):
        with self.lock:
            return [k for _, f in self.messages for k in f if k in ("READY", "RELOADING", "STOPPING", "WATCHDOG")]


class NotifiedDaemon(Daemon):
    """A heraldd started as systemd starts a Type=notify service: NOTIFY_SOCKET, and
    WATCHDOG_USEC with WATCHDOG_PID naming the daemon's own pid (the shell's $$ is the pid
    heraldd runs under after exec)."""

    def __init__(self, vhost, workdir, notify_address, watchdog_usec=WATCHDOG_USEC, watchdog_pid=None,
                 extra_config=None):
        super().__init__(vhost, workdir, extra_config)
        self.env["NOTIFY_SOCKET"] = notify_address
        self.env["WATCHDOG_USEC"] = str(watchdog_usec)
        self.watchdog_pid = watchdog_pid

    def start(self, wait_ready=False):
        self.log = open(self.log_path, "ab")
        pid = "$$" if self.watchdog_pid is None else str(self.watchdog_pid)
        self.proc = subprocess.Popen(["/bin/sh", "-c", f'WATCHDOG_PID={pid} exec "$0" --config "$1"',
                                      HERALDD, self.config_path],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        return self


class SystemdNotify(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.vhost = Vhost(f"it-systemd-notify-{os.getpid()}").__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.vhost.__exit__(None, None, None)

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="herald-it-")
        self.addCleanup(self.tmp.cleanup)

    def start(self, address=None, **kwargs):
        notify = NotifySocket(address or os.path.join(self.tmp.name, "notify"))
        self.addCleanup(notify.close)
        daemon = NotifiedDaemon(self.vhost, self.tmp.name, notify.address, **kwargs)
        self.addCleanup(daemon.cleanup)
        self.addCleanup(daemon.stop)
        # Is the listener answering, at every moment from before the start?
        answered = []
        done = threading.Event()

        def probe():
            while not done.is_set():
                status, _ = daemon.http("/healthz", token=False)
                if status == 200:
                    answered.append(time.monotonic())
                    return
                time.sleep(0.005)

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        daemon.start()
        ready = notify.first("READY", timeout=30)
        # At READY the listener is bound: a request sent then is answered.
        self.assertEqual(daemon.http("/healthz", token=False)[0], 200)
        prober.join(timeout=5)
        done.set()
        self.assertTrue(answered, "/healthz never answered")
        return daemon, notify, ready, answered[0]

    def test_ready_once_the_store_is_migrated_and_the_listener_answers(self):
        daemon, notify, ready, answered = self.start()
        # The prober's request, in flight since before the start, was answered no earlier
        # than about when READY=1 was sent: nothing answers before heraldd is ready.
        self.assertLess(ready - answered, 0.2, "the listener answered well before READY=1")
        self.assertEqual(notify.fields("READY")[0].get("STATUS"), "taking in directives")
        if STORE == "postgres":
            with daemon.db() as db:  # herald_schema holds the last migration applied
                self.assertGreater(db.execute("SELECT MAX(version) FROM herald_schema").fetchone()[0], 0)
                self.assertEqual(db.execute("SELECT COUNT(*) FROM directives").fetchone()[0], 0)
        else:
            with sqlite3.connect(f"file:{daemon.store_path}?mode=ro", uri=True) as db:
                self.assertGreater(db.execute("PRAGMA user_version").fetchone()[0], 0)
        self.assertEqual(len(notify.got("READY")), 1)
        self.assertIn("store open", daemon.logs())

    def test_watchdog_every_half_interval(self):
        daemon, notify, ready, _ = self.start()
        time.sleep(4.2)
        pings = notify.got("WATCHDOG", since=ready)
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        self.assertTrue(7 <= len(pings) <= 10, f"{len(pings)} keep-alives in 4.2 s at 0.5 s")
        self.assertLess(max(gaps), 0.9, gaps)  # below the 1 s interval, with room for a busy host
        self.assertAlmostEqual(sum(gaps) / len(gaps), 0.5, delta=0.05)
        self.assertLess(pings[0] - ready, 0.25, "the first keep-alive comes with readiness")

    def test_no_watchdog_when_it_is_for_another_pid(self):
        _, notify, ready, _ = self.start(watchdog_pid=1)
        time.sleep(1.5)
        self.assertEqual(notify.got("WATCHDOG"), [])

    def test_abstract_socket(self):
        _, notify, _, _ = self.start(address=f"@herald-it-{os.getpid()}-{time.monotonic_ns()}")
        notify.first("WATCHDOG")

    def test_reloading_then_ready_around_sighup(self):
        directory = os.path.join(self.tmp.name, "directory.yaml")
        shutil.copy(DIRECTORY, directory)
        daemon, notify, ready, _ = self.start(extra_config={"directory": directory})
        sent = time.monotonic()
        daemon.proc.send_signal(signal.SIGHUP)
        reloading = notify.first("RELOADING", since=sent)
        again = notify.first("READY", since=reloading)
        self.assertLess(again - reloading, 5)
        # systemd 253's Type=notify-reload wants the moment of the reload with it.
        usec = int(notify.fields("RELOADING")[0]["MONOTONIC_USEC"])
        self.assertLess(abs(usec / 1e6 - time.clock_gettime(time.CLOCK_MONOTONIC)), 10)
        wait_until(lambda: "directory reloaded" in daemon.logs(), timeout=5, what="the reload logged")

        # A refused file leaves the directory in use, and heraldd is ready again all the same.
        with open(directory, "a") as f:
            f.write("  - [unclosed\n")
        sent = time.monotonic()
        daemon.proc.send_signal(signal.SIGHUP)
        reloading = notify.first("RELOADING", since=sent)
        notify.first("READY", since=reloading)
        wait_until(lambda: "directory reload refused" in daemon.logs(), timeout=5, what="the refusal logged")
        self.assertEqual(daemon.http("/healthz", token=False)[0], 200)

    def test_stopping_on_sigterm(self):
        daemon, notify, ready, _ = self.start()
        notify.first("WATCHDOG", since=ready + 0.1)
        daemon.proc.send_signal(signal.SIGTERM)
        self.assertEqual(daemon.proc.wait(timeout=20), 0)
        stopping = notify.first("STOPPING", timeout=1)
        self.assertEqual(notify.got("WATCHDOG", since=stopping), [], "keep-alives after STOPPING=1")
        self.assertEqual(notify.keys_in_order()[-1], "STOPPING")

    def lock_store(self, daemon):
        """Another client holds the store's write lock; returns a function releasing it.
        SQLite: BEGIN IMMEDIATE. PostgreSQL: every table locked IN EXCLUSIVE MODE, which
        blocks every write (and SELECT ... FOR UPDATE) but not plain reads."""
        if STORE == "postgres":
            db = daemon.db(readonly=False)
            self.addCleanup(db.close)
            db.execute("BEGIN")
            tables = [r[0] for r in db.execute(
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables"
                " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")]
            self.assertTrue(any(t.endswith(".deliveries") for t in tables), tables)
            db.execute(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE")
        else:
            db = sqlite3.connect(daemon.store_path, isolation_level=None, timeout=10)
            self.addCleanup(db.close)
            db.execute("BEGIN IMMEDIATE")
        return lambda: db.execute("ROLLBACK")

    def test_keep_alives_withheld_while_the_store_writer_is_stuck(self):
        # The writer waits up to busy_timeout for the store's write lock (SQLite; on
        # PostgreSQL, for the table locks). The ack follow-up pass, which uses the store from
        # the event loop, is kept out of the way so that the loop itself stays free (and
        # /healthz answers) while the writer is stuck.
        store = {} if STORE == "postgres" else {"busy_timeout": "30s"}
        daemon, notify, ready, _ = self.start(extra_config={"store": store, "acks": {"check_interval": "1h"}})
        notify.first("WATCHDOG", since=ready + 0.6)
        unlock = self.lock_store(daemon)
        locked = time.monotonic()
        # The dispatcher hands the writer its periodic work (receipts overdue for a
        # fallback) at least every second; that batch now waits for the lock.
        wait_until(lambda: "watchdog keep-alive withheld" in daemon.logs(), timeout=10,
                   what="the keep-alive withheld")
        self.assertEqual(daemon.http("/healthz", token=False)[0], 200, "the event loop is not stuck")
        time.sleep(1.5)
        released = time.monotonic()
        unlock()
        resumed = notify.first("WATCHDOG", since=released, timeout=5)
        held = [t for t in notify.got("WATCHDOG", since=locked) if t < released]
        # A keep-alive or two while the writer's batch had waited less than half the
        # interval, then none for the rest of the lock.
        self.assertLessEqual(len(held), 3, held)
        self.assertGreater(resumed - max(held + [locked]), 1.5)
        self.assertIn("store writer stuck in one batch", daemon.logs())
        self.assertEqual(daemon.proc.poll(), None)


if __name__ == "__main__":
    unittest.main()
