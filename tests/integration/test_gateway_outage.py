"""A gateway that fails in each way providers fail, one after another, in the middle of a
300-delivery fan-out: 503s, then 429s with Retry-After, then requests that never answer,
then recovery. The breaker stops the hammering, a 429 pauses the whole gateway for as long
as the provider asked, timeouts count as failures, and at the end every delivery is
delivered and was accepted exactly once."""
import json
import os
import tempfile
import time
import unittest

import pika

from chaos import CountingGateway
from harness import Daemon, Vhost, wait_until

PEOPLE = 300
RETRY_AFTER = 2


class GatewayOutage(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="herald-it-")
        self.vhost = Vhost(f"it-gw-outage-{os.getpid()}").__enter__()
        self.gw = CountingGateway(retry_after=RETRY_AFTER, hang_s=2.5)
        with open(os.path.join(self.tmp.name, "people.csv"), "w") as f:
            f.write("id,name,groups,phone\n")
            for i in range(PEOPLE):
                f.write(f"p{i:04d},Cán bộ {i},all,+849{20000000 + i}\n")
        directory = os.path.join(self.tmp.name, "directory.yaml")
        with open(directory, "w") as f:
            f.write('groups:\n  - {id: all, name: "Toàn huyện"}\npeople_csv: people.csv\n')
        self.daemon = Daemon(self.vhost, self.tmp.name, {
            "directory": directory,
            "gateways": {"flaky-sms": {
                "type": "http_json", "url": f"http://127.0.0.1:{self.gw.port}/send",
                "body": '{"Phone": "{{to}}", "Content": "{{text}}", "RequestId": "{{token}}",'
                        ' "ReceiptUrl": "{{receipt_url}}"}',
                "response": {"success_pointer": "/status", "success_value": "ok", "id_pointer": "/id"},
                "receipt": {"status": "/status", "map": {"DELIVRD": "delivered"}},
                "rate": 100, "concurrency": 4, "timeout": "1s",
                "breaker": {"failures": 3, "cooldown": "2s"}}},
            "channels": {"sms": {"enabled": True, "gateway": "flaky-sms"}, "zalo": {"enabled": False},
                         "email": {"enabled": False}, "loudspeaker": {"enabled": False}},
            "dispatch": {"poll_interval": "100ms", "backoff_initial": "200ms", "backoff_max": "3s",
                         "max_attempts": 100},
        })

    def tearDown(self):
        self.daemon.stop()
        self.daemon.cleanup()
        self.gw.close()
        self.vhost.__exit__(None, None, None)
        self.tmp.cleanup()

    def phase(self, mode, seconds):
        """Runs the gateway in `mode` for `seconds`; returns the requests it got meanwhile
        and the highest values of the breaker and throttle gauges seen."""
        self.gw.mode = mode
        start = time.monotonic()
        breaker = throttled = 0.0
        while time.monotonic() - start < seconds:
            breaker = max(breaker, self.daemon.metric("herald_gateway_breaker_open") or 0)
            throttled = max(throttled, self.daemon.metric("herald_gateway_throttled") or 0)
            time.sleep(0.1)
        end = time.monotonic()
        with self.gw.lock:
            got = [r for r in self.gw.requests if start <= r[0] < end]
        return got, breaker, throttled

    def test_503_then_429_then_timeouts_then_recovery(self):
        self.gw.mode = "503"
        self.daemon.start()
        d = {"schema": "herald.directive/v1", "id": "ubnd-huyen/7-TB/2026", "number": "7-TB/UBND",
             "issuer": {"code": "UBND-HUYEN", "name": "Ủy ban nhân dân huyện"},
             "issued_at": "2026-11-29T08:00:00+07:00", "subject": "Thông báo lịch cắt điện",
             "urgency": "khan", "recipients": [{"group": "all"}], "channels": ["sms"]}
        conn = self.vhost.connection()
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("herald.directives", "huyen", json.dumps(d).encode(),
                         properties=pika.BasicProperties(content_type="application/json",
                                                         message_id=d["id"], delivery_mode=2))
        conn.close()

        # 503: three failures open the breaker; then one probe per 2 s cooldown. At the
        # gateway's rate (100/s) 6 s would have been 600 requests.
        got, breaker, _ = self.phase("503", 6)
        self.assertGreaterEqual(len(got), 3)
        self.assertLessEqual(len(got), 3 + 4 + 4, f"{len(got)} requests while answering 503")
        self.assertEqual(breaker, 1)
        self.assertIn("circuit breaker open", self.daemon.logs())

        # 429 with Retry-After: 2. After each 429 the whole gateway is quiet for 2 s
        # (a request already in flight may still arrive just after).
        got, _, throttled = self.phase("429", 7)
        self.assertGreaterEqual(len(got), 1)
        self.assertEqual(throttled, 1)
        times = [t for t, _, _ in got]
        for t in times:
            early = [u for u in times if t + 0.3 < u < t + RETRY_AFTER - 0.1]
            self.assertEqual(early, [], f"requests {[round(u - t, 2) for u in early]} s after a 429")
        self.assertIn("throttled by the provider", self.daemon.logs())

        # No answer at all: each request times out after 1 s and counts as a failure.
        got, breaker, _ = self.phase("hang", 6)
        self.assertLessEqual(len(got), 4 + 4, f"{len(got)} requests while the gateway hung")
        self.assertEqual(breaker, 1)

        # Recovery: everything goes, each accepted once.
        self.gw.mode = "ok"

        def states():
            with self.daemon.db() as db:
                return dict(db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall())
        wait_until(lambda: states().get("delivered", 0) == PEOPLE, timeout=120, interval=0.2,
                   what=f"all {PEOPLE} delivered")
        counts = self.gw.snapshot()
        self.assertEqual(len(counts), PEOPLE)
        self.assertEqual([t for t, n in counts.items() if n != 1], [])
        self.assertEqual(self.daemon.metric("herald_gateway_breaker_open"), 0)
        self.assertEqual(self.daemon.metric("herald_gateway_throttled"), 0)
        self.assertIsNone(self.daemon.proc.poll())


if __name__ == "__main__":
    unittest.main()
