"""The broker stops and starts in the middle of 200 directives: every one is committed
exactly once and heraldd never exits."""
import json
import threading
import time
import unittest

import pika

from harness import DaemonTestCase, services, small_directive, wait_until

TOTAL = 200


class Publisher(threading.Thread):
    """Publishes TOTAL directives with confirms, reconnecting and republishing anything
    unconfirmed, as a careful producer would."""

    def __init__(self, vhost):
        super().__init__(daemon=True)
        self.vhost = vhost
        self.confirmed = 0
        self.reconnects = 0
        self.error = None

    def run(self):
        try:
            n = 0
            while n < TOTAL:
                try:
                    conn = self.vhost.connection()
                    ch = conn.channel()
                    ch.confirm_delivery()
                    while n < TOTAL:
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
    def test_stop_and_start_mid_stream(self):
        pub = Publisher(self.vhost)
        pub.start()
        wait_until(lambda: pub.confirmed >= 60, what="60 directives published")
        services("stop", "rabbitmq")
        wait_until(lambda: self.daemon.metric("herald_broker_connected") == 0, timeout=30,
                   what="heraldd to notice the broker is gone")
        status, _ = self.daemon.http("/readyz", token=False)
        self.assertEqual(status, 503)
        self.assertEqual(self.daemon.http("/healthz", token=False)[0], 200)
        time.sleep(2)
        services("start", "rabbitmq")
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
