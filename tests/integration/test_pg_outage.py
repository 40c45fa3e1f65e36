"""PostgreSQL goes away in the middle of a fan-out, as in a failover or a server restart:
the server ends heraldd's sessions and refuses new ones for a while. heraldd stays up, says
it is not ready, answers receipts with 503 (the gateway posts them again), leaves a
directive published meanwhile on the broker, reconnects by itself, and in the end every
delivery is sent once and delivered. PostgreSQL only: it runs on that store whatever
HERALD_TEST_STORE says, and fails (not skips) when the server is not running."""
import os
import tempfile
import time
import unittest

from chaos import CountingGateway, directive, publish, queue_depths, sms_config, write_directory
from harness import Daemon, Vhost, _pg_connect, wait_until

PEOPLE = 3000
OUTAGE_S = 8
CONCURRENCY = 16


class PgOutage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="herald-pg-outage-")
        cls.vhost = Vhost(f"it-pg-outage-{os.getpid()}").__enter__()
        cls.gw = CountingGateway(receipt_posters=4)
        cls.daemon = Daemon(cls.vhost, cls.tmp.name, {
            "directory": write_directory(cls.tmp.name, PEOPLE),
            **sms_config(cls.gw, 300, concurrency=CONCURRENCY),
            "dispatch": {"poll_interval": "100ms", "resume_grace": "1s"},
        }, store="postgres").start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        cls.daemon.cleanup()
        cls.gw.close()
        cls.vhost.__exit__(None, None, None)
        cls.tmp.cleanup()

    def set_connections(self, allowed):
        """ALTER DATABASE ... ALLOW_CONNECTIONS, and (when refusing) ends heraldd's sessions."""
        admin = _pg_connect("postgres")
        try:
            cur = admin.cursor()
            cur.execute(f'ALTER DATABASE "{self.daemon.database}" ALLOW_CONNECTIONS {"true" if allowed else "false"}')
            if not allowed:
                cur.execute("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                            (self.daemon.database,))
                return cur.fetchone()[0]
        finally:
            admin.close()
        return 0

    def test_heraldd_rides_out_a_lost_database(self):
        publish(self.vhost, directive("ubnd-tinh/pg-outage/1"))
        wait_until(lambda: self.gw.total() >= 500, timeout=60, what="the fan-out under way")
        ended = self.set_connections(False)
        self.assertGreaterEqual(ended, 1, "heraldd had no session to end")
        try:
            # Not ready while the store is gone; a directive published now waits.
            wait_until(lambda: not self.daemon.ready(), timeout=15, what="/readyz to say 503")
            publish(self.vhost, directive("ubnd-tinh/pg-outage/2"))
            seen = self.gw.total()
            time.sleep(OUTAGE_S)
            self.assertIsNotNone(self.daemon.http("/healthz", token=False)[0], "heraldd stopped answering")
            self.assertIsNone(self.daemon.proc.poll(), "heraldd exited")
            self.assertFalse(self.daemon.ready())
            # At most what was claimed ahead went out: nothing new could be claimed.
            during = self.gw.total() - seen
        finally:
            self.set_connections(True)
        wait_until(self.daemon.ready, timeout=30, what="/readyz back once the database takes sessions")

        def all_delivered():
            with self.daemon.db() as db:
                return db.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'").fetchone()[0] \
                    == 2 * PEOPLE
        wait_until(all_delivered, timeout=180, interval=0.5, what=f"all {2 * PEOPLE} delivered")
        counts = self.gw.snapshot()
        with self.daemon.db() as db:
            tokens = [r[0] for r in db.execute("SELECT token FROM deliveries")]
            directives = db.execute("SELECT COUNT(*), MIN(intake_complete) FROM directives").fetchone()
        duplicates = sum(n - 1 for n in counts.values() if n > 1)
        print(f"\npg outage figures: sessions ended {ended}, sent during the outage {during},"
              f" receipt retries {self.gw.receipt_retries}, duplicates {duplicates}")
        self.assertEqual(len(tokens), 2 * PEOPLE)
        self.assertEqual([t for t in tokens if counts.get(t, 0) == 0], [], "deliveries never sent")
        self.assertEqual(duplicates, 0, "a send repeated although heraldd never stopped")
        self.assertEqual(tuple(directives), (2, 1))
        self.assertLessEqual(during, 8 * CONCURRENCY, "sends went on although nothing could be recorded")
        self.assertGreater(self.gw.receipt_retries, 0, "no receipt met the outage: the test proved nothing")
        self.assertEqual(queue_depths(self.vhost), {"herald.directives": 0, "herald.directives.dead": 0})


if __name__ == "__main__":
    unittest.main()
