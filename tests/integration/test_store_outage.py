"""The store's disk fills up, or another process locks the store, in the middle of a
fan-out. heraldd says so clearly, keeps running (health, reads), refuses what it cannot
record (receipts get 503, so the gateway retries; a directive goes back to the broker), and
when the disk has room again or the lock goes, it carries on: every delivery delivered,
each accepted by the gateway exactly once, the directive published meanwhile taken in, and
the database intact (PRAGMA integrity_check).

The disk is a 24 MB tmpfs mounted for the test (tests run as root in CI, as scripts/test
does); it is filled with a file until the kernel says ENOSPC."""
import errno
import json
import os
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest

import pika

from chaos import CountingGateway
from harness import STORE, Daemon, Vhost, wait_until

PEOPLE = 2000


def directive(did, recipients):
    return {"schema": "herald.directive/v1", "id": did, "number": did.split("/")[1],
            "issuer": {"code": "UBND-HUYEN", "name": "Ủy ban nhân dân huyện"},
            "issued_at": "2026-11-29T08:00:00+07:00", "subject": "Thông báo khẩn",
            "urgency": "khan", "recipients": recipients, "channels": ["sms"]}


@unittest.skipIf(STORE == "postgres", "SQLite only: fills a tmpfs under the SQLite file and takes SQLite's "
                 "write lock (a PostgreSQL store's disk and locks are the database server's)")
class StoreOutage(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="herald-it-")
        self.mount = None
        self.vhost = Vhost(f"it-store-outage-{os.getpid()}").__enter__()
        self.gw = CountingGateway()
        with open(os.path.join(self.tmp.name, "people.csv"), "w") as f:
            f.write("id,name,groups,phone\n")
            for i in range(PEOPLE):
                f.write(f"p{i:04d},Cán bộ {i},all,+849{30000000 + i}\n")
        self.directory = os.path.join(self.tmp.name, "directory.yaml")
        with open(self.directory, "w") as f:
            f.write('groups:\n  - {id: all, name: "Toàn huyện"}\npeople_csv: people.csv\n')
        self.daemon = None

    def tearDown(self):
        if self.daemon:
            self.daemon.stop()
        self.gw.close()
        self.vhost.__exit__(None, None, None)
        if self.mount:
            subprocess.run(["umount", "-l", self.mount], check=False)
        self.tmp.cleanup()

    def start(self, store_dir, busy_timeout="5s"):
        self.daemon = Daemon(self.vhost, self.tmp.name, {
            "directory": self.directory,
            "store": {"path": os.path.join(store_dir, "herald.db"), "busy_timeout": busy_timeout},
            "gateways": {"sms": {
                "type": "http_json", "url": f"http://127.0.0.1:{self.gw.port}/send",
                "body": '{"Phone": "{{to}}", "Content": "{{text}}", "RequestId": "{{token}}",'
                        ' "ReceiptUrl": "{{receipt_url}}"}',
                "response": {"success_pointer": "/status", "success_value": "ok", "id_pointer": "/id"},
                "receipt": {"status": "/status", "map": {"DELIVRD": "delivered"}},
                "rate": 200, "concurrency": 8}},
            "channels": {"sms": {"enabled": True, "gateway": "sms"}, "zalo": {"enabled": False},
                         "email": {"enabled": False}, "loudspeaker": {"enabled": False}},
            "dispatch": {"poll_interval": "100ms", "backoff_initial": "200ms", "backoff_max": "2s"},
        })
        self.daemon.store_path = os.path.join(store_dir, "herald.db")
        self.daemon.start()

    def publish(self, d):
        conn = self.vhost.connection()
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("herald.directives", "huyen", json.dumps(d).encode(),
                         properties=pika.BasicProperties(content_type="application/json",
                                                         message_id=d["id"], delivery_mode=2))
        conn.close()

    def states(self):
        with self.daemon.db() as db:
            return dict(db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall())

    def during_outage(self, error_text):
        """What must hold while the store refuses writes."""
        wait_until(lambda: error_text in self.daemon.logs(), timeout=30, what=f"'{error_text}' in the log")
        self.assertIsNone(self.daemon.proc.poll(), "heraldd exited")
        self.assertEqual(self.daemon.http("/healthz", token=False)[0], 200)
        # Reads go on: the API lists the directive.
        listed = self.daemon.api("/api/v1/directives")
        self.assertTrue(any(d["id"] == "ubnd-huyen/21-TB" for d in listed["directives"]), listed)
        # A directive published now waits on the broker (nacked, requeued), not lost.
        self.publish(directive("ubnd-huyen/22-TB", [{"person": "p0001"}, {"person": "p0002"}]))
        # Sending stops with the store: only what was claimed before goes out.
        before = self.gw.total()
        time.sleep(3)
        self.assertLessEqual(self.gw.total() - before, 50 + 8, "sending went on without the store")

    def after_outage(self):
        total = PEOPLE + 2
        wait_until(lambda: self.states().get("delivered", 0) == total, timeout=120, interval=0.25,
                   what=f"all {total} delivered (now {self.states()})")
        counts = self.gw.snapshot()
        self.assertEqual(len(counts), total)
        self.assertEqual([t for t, n in counts.items() if n != 1], [], "a delivery accepted twice")
        wait_until(self.daemon.ready, timeout=30, what="/readyz after the outage")
        with self.daemon.db() as db:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            self.assertEqual(db.execute("SELECT COUNT(*) FROM directives").fetchone()[0], 2)
        self.assertIsNone(self.daemon.proc.poll())

    def mount_disk(self):
        self.mount = os.path.join(self.tmp.name, "disk")
        os.mkdir(self.mount)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", self.mount], check=True)

    def fill_disk(self):
        """Big blocks, then small ones, until the kernel refuses; returns the filler."""
        filler = os.path.join(self.mount, "filler")
        with open(filler, "wb", buffering=0) as f:
            for size in (1 << 20, 4096, 64):
                try:
                    while True:
                        f.write(b"\0" * size)
                except OSError as e:
                    self.assertEqual(e.errno, errno.ENOSPC)
        return filler

    def test_disk_full_at_intake_alone(self):
        # Nothing is being sent: only the intake meets the full disk, and /readyz still
        # tells.
        self.mount_disk()
        self.start(self.mount)
        filler = self.fill_disk()
        self.publish(directive("ubnd-huyen/21-TB", [{"group": "all"}]))
        wait_until(lambda: "store failed for directive ubnd-huyen/21-TB" in self.daemon.logs(), timeout=30,
                   what="the intake's store error")
        wait_until(lambda: self.daemon.http("/readyz", token=False)[0] == 503, timeout=10, what="/readyz 503")
        self.assertEqual(self.daemon.metric("herald_store_writable"), 0)
        os.unlink(filler)
        wait_until(lambda: self.states().get("delivered", 0) == PEOPLE, timeout=120, interval=0.25,
                   what=f"all {PEOPLE} delivered")
        wait_until(self.daemon.ready, timeout=30, what="/readyz after the outage")
        self.assertEqual(self.daemon.metric("herald_store_writable"), 1)
        self.assertEqual([t for t, n in self.gw.snapshot().items() if n != 1], [])

    def test_disk_full_then_room_again(self):
        self.mount_disk()
        self.start(self.mount)
        self.publish(directive("ubnd-huyen/21-TB", [{"group": "all"}]))
        wait_until(lambda: self.gw.total() >= 300, timeout=60, interval=0.05, what="sending under way")
        filler = self.fill_disk()
        self.during_outage("database or disk is full")
        status, body = self.daemon.http("/readyz", token=False)
        self.assertEqual(status, 503, body)
        self.assertFalse(json.loads(body)["store"], body)
        # A receipt cannot be recorded: 503, so the gateway retries it.
        self.assertGreater(self.gw.receipt_retries, 0)

        os.unlink(filler)
        self.after_outage()
        self.assertIn("the store takes outcomes again", self.daemon.logs())

    def test_store_locked_by_another_process(self):
        store_dir = os.path.join(self.tmp.name, "store")
        os.mkdir(store_dir)
        self.start(store_dir, busy_timeout="500ms")
        self.publish(directive("ubnd-huyen/21-TB", [{"group": "all"}]))
        wait_until(lambda: self.gw.total() >= 300, timeout=60, interval=0.05, what="sending under way")

        # Another process (a careless backup script, an operator's sqlite3 shell) takes the
        # write lock and holds it for 8 s, far past heraldd's busy_timeout.
        locked = threading.Event()
        release = threading.Event()

        def hold():
            db = sqlite3.connect(self.daemon.store_path, timeout=30, isolation_level=None)
            db.execute("BEGIN IMMEDIATE")
            locked.set()
            release.wait(30)
            db.execute("ROLLBACK")
            db.close()
        t = threading.Thread(target=hold, daemon=True)
        t.start()
        self.assertTrue(locked.wait(30))
        try:
            self.during_outage("database is locked")
            status, body = self.daemon.http("/readyz", token=False)
            self.assertEqual(status, 503, body)
        finally:
            time.sleep(2)
            release.set()
            t.join()
        self.after_outage()


if __name__ == "__main__":
    unittest.main()
