"""Big operations on a single event loop. A cancel of a directive of a million deliveries is
marked at once (nothing of it is claimed for sending from then on) and its deliveries are
cancelled in bounded batches: /healthz answers throughout, and a SIGKILL in the middle
leaves nothing to send once heraldd is back, which finishes the cancel by itself. An API
publish of 100,000 recipients killed half-way is finished at the next start, each delivery
once. Listings come a page at a time (at most 1,000 rows) with filters on the server.

The million deliveries are written into the store directly (SQL, while heraldd is
stopped): planning them through intake would take minutes and prove nothing more here."""
import json
import os
import statistics
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from fake_counting_gateway import CountingGateway
from harness import Daemon, DaemonTestCase, Vhost, wait_until

BIG = 1_000_000
PUBLISHED = 100_000


class Prober:
    """GETs /healthz every 20 ms on a thread of its own; keeps each answer's latency, and
    every failure (no answer within 5 s, or not 200)."""

    def __init__(self, port):
        self.url = f"http://127.0.0.1:{port}/healthz"
        self.latencies = []
        self.failures = []
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            start = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    r.read()
                    if r.status != 200:
                        self.failures.append(f"status {r.status}")
            except (urllib.error.URLError, OSError) as e:
                self.failures.append(str(e))
            self.latencies.append(time.monotonic() - start)
            time.sleep(0.02)

    def stop(self):
        self.running = False
        self.thread.join()
        return self

    def p99(self):
        return statistics.quantiles(self.latencies, n=100)[98] if len(self.latencies) >= 2 else 0.0


def bulk_deliveries(daemon, directive_id, n):
    """Adds n queued SMS deliveries to directive_id, due now, as intake would have."""
    now = int(time.time() * 1000)
    with daemon.db(readonly=False) as db:
        if daemon.store == "postgres":
            db.execute(
                "INSERT INTO deliveries(directive_id, recipient_kind, recipient_id, recipient_name, channel, address,"
                " state, urgency_rank, next_attempt_ms, token, created_at_ms, updated_at_ms)"
                " SELECT ?, 'person', 'bulk-' || i, 'Cán bộ ' || i, 'sms', '+849' || (20000000 + i), 'queued', 0, 0,"
                " md5(random()::text || i::text), ?, ? FROM generate_series(1, ?) AS i",
                (directive_id, now, now, n))
        else:
            db.execute(
                "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)"
                " INSERT INTO deliveries(directive_id, recipient_kind, recipient_id, recipient_name, channel, address,"
                " state, urgency_rank, next_attempt_ms, token, created_at_ms, updated_at_ms)"
                " SELECT ?, 'person', 'bulk-' || i, 'Cán bộ ' || i, 'sms', '+849' || (20000000 + i), 'queued', 0, 0,"
                " lower(hex(randomblob(16))), ?, ? FROM seq",
                (n, directive_id, now, now))
        db.commit()


def post(daemon, path, body, timeout=60):
    req = urllib.request.Request(f"http://127.0.0.1:{daemon.port}{path}", data=json.dumps(body).encode(),
                                 method="POST", headers={"Authorization": f"Bearer {daemon.token}",
                                                         "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class HostileCancel(DaemonTestCase):
    directory = {
        "groups": [{"id": "xa-thu", "name": "Xã thử nghiệm"}],
        "people": [{"id": "chu-tich", "name": "Chủ tịch (giả định)", "groups": ["xa-thu"],
                    "contacts": {"phone": "0912 000 301"}, "channels": ["sms"]}],
    }

    @classmethod
    def setUpClass(cls):
        # Sends trickle out (20 a second): the million are far from sent when the cancel comes.
        cls.gw = CountingGateway()
        cls.extra_config = {
            "gateways": {"slow-sms": cls.gw.gateway_config(rate=20, concurrency=4)},
            "channels": {"sms": {"enabled": True, "gateway": "slow-sms"}, "zalo": {"enabled": False},
                         "email": {"enabled": False}, "loudspeaker": {"enabled": False}},
        }
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.gw.close()

    def count(self, sql, *params):
        with self.daemon.db() as db:
            return db.execute(sql, params).fetchone()[0]

    def test_cancel_a_million_with_a_kill_in_the_middle(self):
        d = {"schema": "herald.directive/v1", "id": "ubnd-tinh/99-TB/2026", "number": "99-TB/UBND",
             "issuer": {"code": "UBND-TINH", "name": "Ủy ban nhân dân tỉnh"},
             "issued_at": "2026-12-07T08:00:00+07:00", "subject": "Thông báo gửi nhầm đối tượng",
             "urgency": "thuong_khan", "recipients": [{"group": "xa-thu"}], "channels": ["sms"]}
        r = self.daemon.ctl("publish", "-", input=json.dumps(d, ensure_ascii=False))
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_until(lambda: self.gw.total() >= 1, what="the first send")
        self.assertEqual(self.daemon.stop(), 0)
        started = time.monotonic()
        bulk_deliveries(self.daemon, d["id"], BIG - 1)
        print(f"\n{BIG - 1} deliveries written in {time.monotonic() - started:.1f} s", flush=True)
        self.daemon.start()
        wait_until(lambda: self.gw.total() >= 20, timeout=60, what="the fan-out under way")

        # The cancel answers once the directive is marked and its first batch done.
        probe = Prober(self.daemon.port)
        quiet = time.monotonic()
        status, out = post(self.daemon, "/api/v1/directives/" + urllib.parse.quote(d["id"], safe="") + "/cancel",
                           {"reason": "gửi nhầm đối tượng"})
        answered_in = time.monotonic() - quiet
        self.assertEqual(status, 200, out)
        self.assertTrue(out["pending"], out)
        self.assertLess(out["cancelled_deliveries"], BIG)
        with self.daemon.db() as db:
            cancelled_at = db.execute("SELECT cancelled_at_ms FROM directives WHERE id = ?", (d["id"],)).fetchone()[0]
        self.assertIsNotNone(cancelled_at)

        # Mid-way: a SIGKILL.
        wait_until(lambda: self.count("SELECT COUNT(*) FROM deliveries WHERE state = 'cancelled'") >= 50_000,
                   timeout=120, interval=0.05, what="cancel batches under way")
        probe.stop()
        self.daemon.kill()
        left = self.count("SELECT COUNT(*) FROM deliveries WHERE state IN ('queued', 'retrying')")
        self.assertGreater(left, 0, "the kill came after the cancel had finished: nothing shown")
        sent_at_kill = self.gw.total()

        # Nothing was claimed for sending after the cancel was marked.
        self.assertEqual(self.count("SELECT COUNT(*) FROM events WHERE to_state = 'sending' AND at_ms > ?",
                                    cancelled_at), 0)

        # Back: the cancel finishes by itself, /healthz answering all along; nothing is sent.
        self.daemon.start()
        probe2 = Prober(self.daemon.port)
        wait_until(lambda: self.count("SELECT COUNT(*) FROM deliveries WHERE state IN ('queued', 'retrying')") == 0,
                   timeout=300, interval=0.2, what="the cancel finished after the restart")
        wait_until(lambda: self.daemon.metric("herald_operations_running") == 0, what="no batch left to run")
        time.sleep(1)
        probe2.stop()
        self.assertEqual(self.gw.total(), sent_at_kill, "something was sent after the cancel")
        self.assertEqual(self.count("SELECT COUNT(*) FROM events WHERE to_state = 'sending' AND at_ms > ?",
                                    cancelled_at), 0)
        sent = self.count("SELECT COUNT(*) FROM deliveries WHERE state NOT IN ('cancelled', 'queued', 'retrying')")
        self.assertEqual(self.count("SELECT COUNT(*) FROM deliveries WHERE state = 'cancelled'"), BIG - sent)
        self.assertIn("finishing a cancel a stop cut short", self.daemon.logs())
        for p in (probe, probe2):
            self.assertEqual(p.failures, [], "/healthz did not answer")
        print(f"cancel of {BIG}: answered in {answered_in:.2f} s; {left} left at the kill, finished after the "
              f"restart; /healthz p99 {probe.p99() * 1000:.1f} ms / {probe2.p99() * 1000:.1f} ms, max "
              f"{max(probe.latencies) * 1000:.0f} ms / {max(probe2.latencies) * 1000:.0f} ms over "
              f"{len(probe.latencies) + len(probe2.latencies)} probes", flush=True)

        # Listings page: at most 1,000 rows, filtered on the server, a cursor to the next.
        base = "/api/v1/directives/" + urllib.parse.quote(d["id"], safe="")
        page = self.daemon.api(base + "/deliveries?state=cancelled&limit=5000")
        self.assertEqual(len(page["deliveries"]), 1000)
        self.assertTrue(all(x["state"] == "cancelled" for x in page["deliveries"]))
        after = self.daemon.api(base + "/deliveries?state=cancelled&after=" + page["next"])
        self.assertGreater(after["deliveries"][0]["id"], page["deliveries"][-1]["id"])
        one = self.daemon.api(base + "/deliveries?recipient=bulk-777")
        self.assertEqual([x["recipient"]["id"] for x in one["deliveries"]], ["bulk-777"])
        self.assertIsNone(one["next"])
        events = self.daemon.api(base + "/events?limit=10")
        self.assertEqual(len(events["events"]), 10)
        self.assertEqual(self.daemon.http(base + "/deliveries?after=x")[0], 400)


class HostilePublish(unittest.TestCase):
    """SIGKILL while POST /api/v1/directives plans 100,000 deliveries."""

    def setUp(self):
        import tempfile
        self.tmp = tempfile.TemporaryDirectory(prefix="herald-it-")
        self.vhost = Vhost(f"it-hostile-publish-{os.getpid()}").__enter__()
        self.gw = CountingGateway()
        with open(os.path.join(self.tmp.name, "people.csv"), "w") as f:
            f.write("id,name,groups,phone\n")
            for i in range(PUBLISHED):
                f.write(f"p{i:06d},Cán bộ {i},all,+849{30000000 + i}\n")
        directory = os.path.join(self.tmp.name, "directory.yaml")
        with open(directory, "w") as f:
            f.write('groups:\n  - {id: all, name: "Toàn tỉnh"}\npeople_csv: people.csv\n')
        self.daemon = Daemon(self.vhost, self.tmp.name, {
            "directory": directory,
            "gateways": {"province-sms": self.gw.gateway_config(rate=50, concurrency=4)},
            "channels": {"sms": {"enabled": True, "gateway": "province-sms"}, "zalo": {"enabled": False},
                         "email": {"enabled": False}, "loudspeaker": {"enabled": False}},
            "dispatch": {"poll_interval": "100ms"},
        })

    def tearDown(self):
        rc = self.daemon.stop()
        self.daemon.cleanup()
        self.gw.close()
        self.vhost.__exit__(None, None, None)
        self.tmp.cleanup()
        self.assertIn(rc, (0, None))

    def count(self, sql, *params):
        with self.daemon.db() as db:
            return db.execute(sql, params).fetchone()[0]

    def test_kill_mid_publish_then_restart_finishes_it_once(self):
        self.daemon.start()
        d = {"schema": "herald.directive/v1", "id": "ubnd-tinh/100-TB/2026", "number": "100-TB/UBND",
             "issuer": {"code": "UBND-TINH", "name": "Ủy ban nhân dân tỉnh"},
             "issued_at": "2026-12-07T09:00:00+07:00", "subject": "Thông báo khẩn toàn tỉnh",
             "urgency": "thuong_khan", "recipients": [{"group": "all"}], "channels": ["sms"]}
        answer = {}
        t = threading.Thread(target=lambda: answer.update(r=post(self.daemon, "/api/v1/directives", d, timeout=120)),
                             daemon=True)
        t.start()
        # Killed once the first parts are in and before the last.
        wait_until(lambda: self.count("SELECT COUNT(*) FROM deliveries") >= 1000, timeout=120, interval=0.01,
                   what="the first part committed")
        self.daemon.kill()
        t.join(timeout=30)
        planned = self.count("SELECT COUNT(*) FROM deliveries")
        self.assertLess(planned, PUBLISHED, "the kill came after the intake had finished: nothing shown")
        self.assertEqual(self.count("SELECT intake_complete FROM directives WHERE id = ?", d["id"]), 0)
        self.assertNotIn("r", answer, "the publish was answered before its intake was committed")

        # Back: heraldd finishes the intake by itself; each delivery once, each sent once.
        self.daemon.start()
        wait_until(lambda: self.count("SELECT intake_complete FROM directives WHERE id = ?", d["id"]) == 1,
                   timeout=120, interval=0.2, what="the intake finished after the restart")
        self.assertEqual(self.count("SELECT COUNT(*) FROM deliveries"), PUBLISHED)
        self.assertEqual(self.count("SELECT COUNT(DISTINCT recipient_id) FROM deliveries"), PUBLISHED)
        self.assertEqual(self.count("SELECT COUNT(*) FROM events WHERE delivery_id IS NOT NULL AND to_state = 'queued'"),
                         PUBLISHED)
        self.assertIn("finishing an intake a stop cut short", self.daemon.logs())
        # Published again (an operator retrying what looked lost): nothing is added.
        status, again = post(self.daemon, "/api/v1/directives", d)
        self.assertEqual((status, again.get("created")), (200, False), again)
        wait_until(lambda: self.gw.total() >= 200, timeout=60, what="sending")
        self.assertEqual(self.gw.twice(), [])
        print(f"\npublish of {PUBLISHED}: {planned} planned at the kill; finished after the restart, "
              f"each once", flush=True)


if __name__ == "__main__":
    unittest.main()
