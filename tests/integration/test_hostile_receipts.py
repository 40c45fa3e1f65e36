"""Hostile receipts. What a recipient sees of an email (Message-ID, X-Herald-Delivery, the
text) must not let anyone post a receipt for it: a bounce forged from it is refused and
starts no fallback SMS. A provider that signs its webhooks: an unsigned or wrongly signed
receipt is refused even at the real receipt URL. A valid receipt posted again and again
writes nothing: 50,000 of them leave the events table as it was."""
import hashlib
import hmac
import http.client
import json
import os
import threading
import time
import unittest
import urllib.parse

from fake_email_api import FakeEmailApi
from fake_sms_gateway import FakeSmsGateway
from harness import DaemonTestCase, message_ref, small_directive, wait_until

API_KEY = "mail-api-hostile-key-7c1d"
SIGN_KEY = "mail-webhook-signing-key-2f9a"
SMS_KEY = "esms-hostile-key-4b8e"
REPEATS = 50_000

DIRECTORY = {
    "groups": [{"id": "xa-thu", "name": "Xã thử nghiệm",
                "fallback": {"chain": ["email", "sms"], "after": "10m"}}],
    "people": [
        {"id": f"nguoi-{i}", "name": f"Người nhận {i} (giả định)", "groups": ["xa-thu"],
         "contacts": {"email": f"nguoi{i}@xa-thu.example", "phone": f"0912 000 {130 + i}"},
         "channels": ["email", "sms"]}
        for i in range(3)
    ],
}


class HostileReceipts(DaemonTestCase):
    directory = DIRECTORY

    @classmethod
    def setUpClass(cls):
        # The provider takes the mail and reports nothing by itself: the deliveries stay
        # `sent`, where a bounce would fail them and start the fallback SMS.
        cls.mail = FakeEmailApi(API_KEY, report=False, sign_key=SIGN_KEY)
        cls.sms = FakeSmsGateway(SMS_KEY)
        env = {"HERALD_TEST_HOSTILE_MAIL_KEY": API_KEY, "HERALD_TEST_HOSTILE_SIGN_KEY": SIGN_KEY,
               "HERALD_TEST_HOSTILE_SMS_KEY": SMS_KEY}
        os.environ.update(env)
        cls.extra_config = {
            "gateways": {
                "mail-api": cls.mail.gateway_config("HERALD_TEST_HOSTILE_MAIL_KEY", "HERALD_TEST_HOSTILE_SIGN_KEY"),
                "esms": cls.sms.gateway_config("HERALD_TEST_HOSTILE_SMS_KEY"),
            },
            "channels": {"email": {"enabled": True, "gateway": "mail-api"},
                         "sms": {"enabled": True, "gateway": "esms"}},
            "dispatch": {"poll_interval": "100ms", "backoff_initial": "100ms", "backoff_max": "1s"},
        }
        super().setUpClass()
        cls.daemon.env.update(env)
        d = small_directive("hostile", [{"group": "xa-thu"}])
        r = cls.daemon.ctl("publish", "-", input=json.dumps(d, ensure_ascii=False))
        assert r.returncode == 0, r.stderr
        cls.directive_id = d["id"]
        wait_until(lambda: len(cls.rows()) == 3 and all(x[3] == "sent" for x in cls.rows()), timeout=60,
                   what="three emails sent")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.mail.close()
        cls.sms.close()

    @classmethod
    def rows(cls):
        with cls.daemon.db() as db:
            return db.execute("SELECT id, address, token, state, channel FROM deliveries WHERE directive_id = ?"
                              " ORDER BY id", (cls.directive_id,)).fetchall()

    def events(self):
        with self.daemon.db() as db:
            return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def post(self, path, body, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=10)
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
            res = conn.getresponse()
            return res.status, res.read().decode()
        finally:
            conn.close()

    def assert_nothing_moved(self, before_rows):
        time.sleep(1.0)  # a fallback SMS would be planned at once and sent within poll_interval
        self.assertEqual(self.rows(), before_rows, "no delivery moved, none was added")
        self.assertEqual(self.sms.requests, [], "no fallback SMS")

    def test_1_a_bounce_forged_from_what_the_recipient_sees_is_refused(self):
        before = self.rows()
        tokens = {row[2] for row in before}
        self.assertEqual(len(self.mail.requests), 3)
        for req in self.mail.requests:
            seen = json.dumps(req, ensure_ascii=False)
            # The webhook URL goes to the provider, not into the mail; everything else does.
            shown = {k: v for k, v in req.items() if k != "webhook_url"}
            for token in tokens:
                self.assertNotIn(token, json.dumps(shown, ensure_ascii=False), "a token in the mail")
            ref = req["message_id"].strip("<>").split("@")[0]
            token = next(t for t in tokens if t in seen)
            self.assertEqual(ref, message_ref(token))
            # Whatever the mail shows, tried as the receipt credential, unsigned and "signed"
            # with it: refused, and nothing learnt about which exist.
            bounce = FakeEmailApi.webhook_body("bounced", "em-forged")
            for guess in (ref, urllib.parse.quote(req["message_id"], safe=""), ref[:16] * 2):
                for headers in ({}, {"X-Mail-Signature": hmac.new(ref.encode(), bounce, hashlib.sha256).hexdigest()}):
                    status, answer = self.post("/hooks/email/mail-api/" + guess, bounce, headers)
                    self.assertIn(status, (401, 404), answer)
        self.assert_nothing_moved(before)
        self.assertGreaterEqual(self.daemon.metric('herald_receipts_total{outcome="rejected"}'), 3)

    def test_2_the_real_receipt_url_without_the_providers_signature_is_refused(self):
        before = self.rows()
        token = before[0][2]
        bounce = FakeEmailApi.webhook_body("bounced", "em-1")
        wrong = hmac.new(b"not-the-key", bounce, hashlib.sha256).hexdigest()
        for headers in ({}, {"X-Mail-Signature": wrong}, {"X-Mail-Signature": ""},
                        {"X-Mail-Signature": self.mail.signature(b"{}")}):
            status, answer = self.post("/hooks/email/mail-api/" + token, bounce, headers)
            self.assertEqual(status, 401, answer)
        # The signature covers the body: a signed "delivered" cannot carry a "bounced".
        delivered = FakeEmailApi.webhook_body("delivered", "em-1")
        status, _ = self.post("/hooks/email/mail-api/" + token, bounce,
                              {"X-Mail-Signature": self.mail.signature(delivered)})
        self.assertEqual(status, 401)
        self.assert_nothing_moved(before)

    def test_3_repeated_receipts_write_no_rows(self):
        row = self.rows()[2]
        delivery_id, token = row[0], row[2]
        path = "/hooks/email/mail-api/" + token
        body = FakeEmailApi.webhook_body("delivered", "em-3")
        headers = {"Content-Type": "application/json", "X-Mail-Signature": self.mail.signature(body)}
        status, answer = self.post(path, body, headers)
        self.assertEqual(status, 200, answer)
        self.assertEqual(json.loads(answer)["applied"], True)
        events = self.events()
        unchanged = self.daemon.metric('herald_receipts_total{outcome="unchanged"}') or 0

        answers = {}
        lock = threading.Lock()

        def hammer(n):
            conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=30)
            got = {}
            for _ in range(n):
                conn.request("POST", path, body=body, headers=headers)
                res = conn.getresponse()
                res.read()
                got[res.status] = got.get(res.status, 0) + 1
                if res.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=30)
            conn.close()
            with lock:
                for k, v in got.items():
                    answers[k] = answers.get(k, 0) + v

        threads = [threading.Thread(target=hammer, args=(REPEATS // 4,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(answers, {200: REPEATS})
        self.assertEqual(self.events(), events, "no event row for a receipt that moves nothing")
        self.assertEqual(self.daemon.metric('herald_receipts_total{outcome="unchanged"}') - unchanged, REPEATS)
        with self.daemon.db() as db:
            state = db.execute("SELECT state FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()[0]
        self.assertEqual(state, "delivered")


if __name__ == "__main__":
    unittest.main(verbosity=2)
