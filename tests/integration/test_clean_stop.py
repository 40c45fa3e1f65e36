"""A clean stop in the middle of a fan-out (SIGTERM: systemctl stop, restart, an upgrade)
sends nothing twice: sends on the wire get their answers recorded, deliveries claimed
ahead go back to `retrying`, and a large directive is committed in parts that the restart
finishes. The gateway counts every request it receives, per delivery token."""
import json
import os
import signal
import tempfile
import threading
import unittest

import pika

from fake_counting_gateway import CountingGateway
from harness import Daemon, Vhost, wait_until

PEOPLE = 3000


class CleanStop(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="herald-it-")
        self.vhost = Vhost(f"it-clean-stop-{os.getpid()}").__enter__()
        self.gw = CountingGateway()
        table = os.path.join(self.tmp.name, "people.csv")
        with open(table, "w") as f:
            f.write("id,name,groups,phone\n")
            for i in range(PEOPLE):
                f.write(f"p{i:05d},Cán bộ {i},all,+849{10000000 + i}\n")
        directory = os.path.join(self.tmp.name, "directory.yaml")
        with open(directory, "w") as f:
            f.write('groups:\n  - {id: all, name: "Toàn tỉnh"}\npeople_csv: people.csv\n')
        self.daemon = Daemon(self.vhost, self.tmp.name, {
            "directory": directory,
            "gateways": {"province-sms": self.gw.gateway_config()},
            "channels": {"sms": {"enabled": True, "gateway": "province-sms"}, "zalo": {"enabled": False},
                         "email": {"enabled": False}, "loudspeaker": {"enabled": False}},
            "dispatch": {"poll_interval": "100ms", "resume_grace": "60s"},
        })

    def tearDown(self):
        self.daemon.stop()
        self.daemon.cleanup()
        self.gw.server.shutdown()
        self.vhost.__exit__(None, None, None)
        self.tmp.cleanup()

    def states(self):
        with self.daemon.db() as db:
            return dict(db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall())

    def test_sigterm_mid_fan_out_then_restart_sends_each_once(self):
        self.daemon.start()
        directive = {
            "schema": "herald.directive/v1", "id": "ubnd-tinh/12-TB/2026", "number": "12-TB/UBND",
            "issuer": {"code": "UBND-TINH", "name": "Ủy ban nhân dân tỉnh"},
            "issued_at": "2026-11-29T08:00:00+07:00", "subject": "Thông báo khẩn về bão số 9",
            "urgency": "thuong_khan", "recipients": [{"group": "all"}], "channels": ["sms"],
        }
        conn = self.vhost.connection()
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("herald.directives", "tinh", json.dumps(directive).encode(),
                         properties=pika.BasicProperties(content_type="application/json",
                                                         message_id=directive["id"], delivery_mode=2))
        conn.close()
        # Stop while it is sending (the gateway has seen some, not all).
        wait_until(lambda: self.gw.total() >= 300, timeout=60, interval=0.005, what="sending under way")
        self.daemon.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.daemon.proc.wait(timeout=30), 0)
        self.daemon.log.close()
        seen_before_restart = self.gw.total()
        self.assertLess(seen_before_restart, PEOPLE, "the stop came too late to show anything")
        states = self.states()
        # Nothing is left `sending`: each send on the wire got its answer recorded, and what
        # was only claimed went back to `retrying`.
        self.assertNotIn("sending", states, states)
        self.assertEqual(states.get("sent", 0), seen_before_restart, states)
        self.assertIn("claimed but not sent before shutdown", self.daemon.logs() + self.events_text())

        # The restart sends the rest at once (no 60 s grace: nothing was in flight), each once.
        self.daemon.start()
        wait_until(lambda: self.states().get("sent", 0) == PEOPLE, timeout=60, interval=0.1,
                   what="every delivery sent")
        self.assertEqual(self.gw.total(), PEOPLE)
        self.assertEqual(self.gw.twice(), [])
        with self.daemon.db() as db:
            self.assertEqual(db.execute("SELECT MAX(attempts) FROM deliveries").fetchone()[0], 1)
            self.assertEqual(db.execute("SELECT intake_complete FROM directives").fetchone()[0], 1)

    def events_text(self):
        with self.daemon.db() as db:
            return " ".join(r[0] for r in db.execute("SELECT detail FROM events WHERE source = 'dispatcher'"))


if __name__ == "__main__":
    unittest.main()
