"""Connections against the descriptor limit. heraldd under `ulimit -n 1024` with 1,000 idle
sockets held open against it, then a fan-out: every SMS goes out and every delivery report
comes back (no EMFILE; the cap leaves room for sends). And with every connection slot held
by keep-alive clients that keep pinging, a gateway's receipt, retried the way Kannel
retries a dlr-url for up to 70 s, still lands."""
import json
import os
import resource
import socket
import time
import unittest
import urllib.request

from fake_sms_gateway import FakeSmsGateway
from harness import SEED, DaemonTestCase, wait_until

SMS_KEY = "esms-connections-key-9d2c"


def own_descriptors(n):
    """This test process needs more descriptors than the daemon it starves."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))


class ConnectionsCase(DaemonTestCase):
    max_connections = None

    @classmethod
    def setUpClass(cls):
        own_descriptors(4096)
        cls.sms = FakeSmsGateway(SMS_KEY)
        os.environ["HERALD_TEST_CONN_SMS_KEY"] = SMS_KEY
        http = {"read_timeout": "10s", "idle_timeout": "60s"}
        if cls.max_connections:
            http["max_connections"] = cls.max_connections
        cls.extra_config = {"gateways": {"esms": cls.sms.gateway_config("HERALD_TEST_CONN_SMS_KEY")},
                            "channels": {"sms": {"enabled": True, "gateway": "esms"}},
                            "http": http,
                            "dispatch": {"poll_interval": "100ms", "backoff_initial": "100ms", "backoff_max": "1s"}}
        super().setUpClass()
        cls.daemon.env["HERALD_TEST_CONN_SMS_KEY"] = SMS_KEY

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.sms.close()

    def publish_seed(self, suffix):
        with open(SEED, encoding="utf-8") as f:
            seed = json.load(f)
        seed["id"] += suffix
        seed["channels"] = ["sms"]
        r = self.daemon.ctl("publish", "-", input=json.dumps(seed, ensure_ascii=False))
        self.assertEqual(r.returncode, 0, r.stderr)
        return seed["id"]

    def states(self, directive_id):
        with self.daemon.db() as db:
            return [x[0] for x in db.execute("SELECT state FROM deliveries WHERE directive_id = ? AND channel = 'sms'"
                                             " AND address <> ''", (directive_id,))]

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.daemon.port), timeout=10)


class AThousandIdleSocketsUnderUlimit1024(ConnectionsCase):
    nofile = 1024

    def test_a_fan_out_goes_out_whole(self):
        idle = []
        try:
            for _ in range(1000):
                idle.append(self.connect())
            time.sleep(0.5)
            directive_id = self.publish_seed("/conn-1000")
            wait_until(lambda: (lambda s: s and all(x in ("delivered", "failed") for x in s))(self.states(directive_id)),
                       timeout=120, what="every SMS sent and its report back")
            states = self.states(directive_id)
            self.assertEqual(set(states), {"delivered"}, "no send failed, every report landed")
            self.assertGreaterEqual(len(states), 40)  # the seed's SMS recipients
            self.assertTrue(all(code == 200 for _, code in self.sms.callbacks), self.sms.callbacks[:5])
            self.assertEqual(self.daemon.http("/healthz", token=False)[0], 200)
            logs = self.daemon.logs()
            self.assertNotIn("Too many open files", logs)
            self.assertIn("at most", logs, "the cap derived from the descriptor limit is logged")
        finally:
            for s in idle:
                s.close()


class EverySlotHeldByKeepAliveClients(ConnectionsCase):
    max_connections = 100

    def test_a_retried_receipt_lands(self):
        directive_id = self.publish_seed("/conn-held")
        wait_until(lambda: (lambda s: s and all(x == "delivered" for x in s))(self.states(directive_id)),
                   timeout=60, what="the fan-out")
        with self.daemon.db() as db:
            token = db.execute("SELECT token FROM deliveries WHERE directive_id = ? AND channel = 'sms'"
                               " AND address <> '' LIMIT 1", (directive_id,)).fetchone()[0]
        # Every slot taken by clients that ping /healthz on a kept-alive connection.
        holders = []
        for _ in range(self.max_connections):
            s = self.connect()
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            holders.append(s)
        for s in holders:
            s.recv(4096)
        # The gateway posts its report; like Kannel with a dlr-url, it tries again every
        # 10 s for 70 s when the connection is refused or closed unanswered.
        url = f"http://127.0.0.1:{self.daemon.port}/hooks/sms/esms/{token}"
        body = json.dumps({"SMSID": "sms-1", "SendStatus": "2"}).encode()
        attempts, status, deadline = 0, None, time.monotonic() + 70
        while status is None and time.monotonic() < deadline:
            attempts += 1
            for s in holders:  # the holders keep pinging meanwhile, and wait for the next ping
                try:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                except OSError:
                    pass
            time.sleep(0.5)
            try:
                req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=10) as r:
                    status = r.status
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                time.sleep(10)
        for s in holders:
            s.close()
        self.assertEqual(status, 200, f"the receipt never landed in {attempts} attempts")
        self.assertEqual(attempts, 1, "it landed at the first try: a holder made room")


if __name__ == "__main__":
    unittest.main(verbosity=2)
