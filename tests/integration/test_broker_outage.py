"""The broker stops for 60 s in the middle of 200 directives (a RabbitMQ node of this
test's own, so that the other tests go on meanwhile). Meanwhile heraldd stays up,
says it is not ready, answers the API and takes delivery receipts; afterwards it
reconnects and every directive is committed exactly once."""
import json
import queue
import threading
import time
import unittest
import urllib.request

import pika

from chaos import CountingGateway
from harness import DaemonTestCase, small_directive, wait_until

TOTAL = 200
OUTAGE_S = 60


class Publisher(threading.Thread):
    """Publishes TOTAL directives with confirms, reconnecting and republishing anything
    unconfirmed, as a careful producer would. It waits after the first PAUSE_AT until
    `go_on` is set, so that the rest meets the outage however long stopping the broker
    takes."""

    PAUSE_AT = 60

    def __init__(self, vhost):
        super().__init__(daemon=True)
        self.vhost = vhost
        self.confirmed = 0
        self.reconnects = 0
        self.error = None
        self.go_on = threading.Event()

    def run(self):
        try:
            n = 0
            while n < TOTAL:
                try:
                    conn = self.vhost.connection()
                    ch = conn.channel()
                    ch.confirm_delivery()
                    while n < TOTAL:
                        if n == self.PAUSE_AT:
                            self.go_on.wait(timeout=300)
                        body = json.dumps(small_directive(f"outage-{n}", [{"person": "bt-huyen-uy"}]))
                        ch.basic_publish("herald.directives", "HU-CHAUTHANH.normal", body,
                                         pika.BasicProperties(delivery_mode=2, message_id=f"test/outage-{n}",
                                                              content_type="application/json"),
                                         mandatory=True)
                        n += 1
                        self.confirmed = n
                        time.sleep(0.01)
                    conn.close()
                except (pika.exceptions.AMQPError, OSError):
                    self.reconnects += 1
                    time.sleep(1)
        except Exception as e:  # surfaced by the test
            self.error = e


class BrokerOutage(DaemonTestCase):
    private_broker = True

    @classmethod
    def setUpClass(cls):
        # SMS to a gateway that keeps its receipts for the test to post (no posters).
        cls.gw = CountingGateway(receipt_posters=0)
        cls.extra_config = {
            "gateways": {"outage-sms": {
                "type": "http_json", "url": f"http://127.0.0.1:{cls.gw.port}/send",
                "body": '{"Phone": "{{to}}", "Content": "{{text}}", "RequestId": "{{token}}",'
                        ' "ReceiptUrl": "{{receipt_url}}"}',
                "response": {"success_pointer": "/status", "success_value": "ok", "id_pointer": "/id"},
                "receipt": {"status": "/status", "map": {"DELIVRD": "delivered"}}}},
            "channels": {"sms": {"enabled": True, "gateway": "outage-sms"}},
        }
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.gw.close()

    def post_receipts(self):
        """Posts every receipt the gateway holds; returns how many heraldd answered 200."""
        ok = 0
        while True:
            try:
                url = self.gw.receipts.get_nowait()
            except queue.Empty:
                return ok
            req = urllib.request.Request(url, data=b'{"status": "DELIVRD"}', method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                ok += r.status == 200

    def delivered(self):
        with self.daemon.db() as db:
            return db.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'").fetchone()[0]

    def test_stop_and_start_mid_stream(self):
        pub = Publisher(self.vhost)
        pub.start()
        wait_until(lambda: pub.confirmed >= Publisher.PAUSE_AT, what="60 directives published")
        self.broker.services("stop", "rabbitmq")
        outage_began = time.monotonic()
        pub.go_on.set()
        wait_until(lambda: self.daemon.metric("herald_broker_connected") == 0, timeout=30,
                   what="heraldd to notice the broker is gone")
        status, _ = self.daemon.http("/readyz", token=False)
        self.assertEqual(status, 503)
        self.assertEqual(self.daemon.http("/healthz", token=False)[0], 200)
        # What was taken in before the outage is sent, and its receipts are taken, while
        # the broker is away; the API answers.
        wait_until(lambda: self.gw.total() >= 60, timeout=30, what="the first 60 directives' SMS sent")
        before = self.delivered()
        receipts = self.post_receipts()
        self.assertGreaterEqual(receipts, 60)
        self.assertEqual(self.delivered(), before + receipts)
        listed = self.daemon.api("/api/v1/directives?limit=500")
        self.assertGreaterEqual(len(listed["directives"]), 60)
        # The rest of the minute, checking that heraldd stays up and stays not ready.
        while time.monotonic() - outage_began < OUTAGE_S:
            self.assertIsNone(self.daemon.proc.poll(), "heraldd exited during the outage")
            self.assertEqual(self.daemon.http("/readyz", token=False)[0], 503)
            time.sleep(2)
        self.broker.services("start", "rabbitmq")
        pub.join(timeout=180)
        self.assertFalse(pub.is_alive(), "publisher did not finish")
        self.assertIsNone(pub.error)
        self.assertGreaterEqual(pub.reconnects, 1)

        def committed():
            with self.daemon.db() as db:
                return db.execute("SELECT COUNT(*) FROM directives WHERE id LIKE 'test/outage-%'").fetchone()[0]
        wait_until(lambda: committed() == TOTAL, timeout=120, interval=0.5, what=f"{TOTAL} directives")
        with self.daemon.db() as db:
            per = db.execute("SELECT directive_id, COUNT(*) FROM deliveries GROUP BY directive_id").fetchall()
            events = db.execute("SELECT COUNT(*) FROM events WHERE to_state = 'received'").fetchone()[0]
        self.assertEqual(len(per), TOTAL)
        self.assertTrue(all(n == 2 for _, n in per), "bt-huyen-uy prefers zalo and sms")
        self.assertEqual(events, TOTAL, "each directive committed exactly once")
        self.assertIsNone(self.daemon.proc.poll(), "heraldd exited")
        wait_until(self.daemon.ready, timeout=30, what="/readyz after reconnect")
        self.assertGreaterEqual(self.daemon.metric("herald_broker_connects_total"), 2)
        # Anything redelivered after the outage was recognised, not doubled.
        created = self.daemon.metric("herald_directives_created_total")
        self.assertEqual(created, TOTAL)
        self.assertEqual(self.vhost.drain("herald.directives.dead"), [])
        # Everything sent once, and the later receipts taken too.
        wait_until(lambda: self.gw.total() >= TOTAL, timeout=60, what="every directive's SMS sent")
        self.post_receipts()
        self.assertEqual(len(self.gw.snapshot()), TOTAL)
        self.assertEqual([t for t, n in self.gw.snapshot().items() if n != 1], [])
        self.assertEqual(self.delivered(), TOTAL)


if __name__ == "__main__":
    unittest.main(verbosity=2)
