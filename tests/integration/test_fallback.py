"""A fallback chain zalo -> sms: a ZNS reply of -118 (no Zalo account) for one recipient
sends that recipient an SMS instead, once; the recipient Zalo reached gets no SMS."""
import json
import os
import unittest

from fake_sms_gateway import FakeSmsGateway
from fake_zalo import FakeZalo
from harness import DaemonTestCase, small_directive, wait_until

APP_ID = "4318129834957199999"
SECRET = "zalo-app-secret-fb-1a2b"
OA_SECRET = "zalo-oa-secret-fb-3c4d"
SMS_KEY = "esms-fallback-key-5e6f"

DIRECTORY = {
    "groups": [{"id": "xa-thu", "name": "Xã thử nghiệm",
                "fallback": {"chain": ["zalo", "sms"], "after": "10m"}}],
    "people": [
        {"id": "co-zalo", "name": "Có Zalo (giả định)", "groups": ["xa-thu"],
         "contacts": {"phone": "0912 000 126"}, "channels": ["zalo", "sms"]},
        {"id": "khong-zalo", "name": "Không có Zalo (giả định)", "groups": ["xa-thu"],
         "contacts": {"phone": "0912 000 127"}, "channels": ["zalo", "sms"]},
    ],
}


class ZaloThenSms(DaemonTestCase):
    directory = DIRECTORY

    @classmethod
    def setUpClass(cls):
        cls.zalo = FakeZalo(APP_ID, SECRET, OA_SECRET, "access-fb", "refresh-fb", no_account={"84912000127"},
                            template_id="314159", template_params={"so", "trich_yeu"})
        cls.sms = FakeSmsGateway(SMS_KEY)
        os.environ.update(HERALD_TEST_FB_ZALO_SECRET=SECRET, HERALD_TEST_FB_ZALO_OA=OA_SECRET,
                          HERALD_TEST_FB_ZALO_ACCESS="access-fb", HERALD_TEST_FB_SMS_KEY=SMS_KEY)
        cls.extra_config = {
            "gateways": {
                "zalo-zns": {"type": "zalo_zns", "base_url": cls.zalo.url, "oauth_url": cls.zalo.url,
                             "app_id": APP_ID, "secret_key": "env:HERALD_TEST_FB_ZALO_SECRET",
                             "oa_secret_key": "env:HERALD_TEST_FB_ZALO_OA",
                             "access_token": "env:HERALD_TEST_FB_ZALO_ACCESS", "template_id": "314159",
                             "template_data": {"so": "number", "trich_yeu": "subject"}},
                "esms": cls.sms.gateway_config("HERALD_TEST_FB_SMS_KEY"),
            },
            "channels": {"zalo": {"enabled": True, "gateway": "zalo-zns"},
                         "sms": {"enabled": True, "gateway": "esms"}},
            "dispatch": {"poll_interval": "100ms", "backoff_initial": "100ms", "backoff_max": "1s"},
        }
        super().setUpClass()
        for k in ("HERALD_TEST_FB_ZALO_SECRET", "HERALD_TEST_FB_ZALO_OA", "HERALD_TEST_FB_ZALO_ACCESS",
                  "HERALD_TEST_FB_SMS_KEY"):
            cls.daemon.env[k] = os.environ[k]

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.zalo.close()
        cls.sms.close()

    def test_minus_118_falls_back_to_one_sms(self):
        d = small_directive("fallback", [{"group": "xa-thu"}])
        r = self.daemon.ctl("publish", "-", input=json.dumps(d, ensure_ascii=False))
        self.assertEqual(r.returncode, 0, r.stderr)

        def rows():
            with self.daemon.db() as db:
                return db.execute("SELECT recipient_id, channel, state, error_code, fallback_of FROM deliveries"
                                  " WHERE directive_id = ? ORDER BY id", (d["id"],)).fetchall()
        wait_until(lambda: any(x[1] == "sms" and x[2] == "delivered" for x in rows()), timeout=60,
                   what="the fallback SMS delivered")
        got = rows()
        by = {(x[0], x[1]): x for x in got}
        # One delivery per person at intake: the chain's first channel, zalo.
        self.assertEqual(by[("khong-zalo", "zalo")][2:4], ("failed", "zalo_-118"))
        sms = by[("khong-zalo", "sms")]
        self.assertEqual(sms[2], "delivered")
        self.assertIsNotNone(sms[4], "the SMS names the zalo delivery it replaces")
        self.assertEqual(by[("co-zalo", "zalo")][2], "sent")
        self.assertNotIn(("co-zalo", "sms"), by, "never in addition to a success")
        self.assertEqual(len(got), 3)
        phones = [req["Phone"] for req in self.sms.requests]
        self.assertEqual(phones, ["0912000127"], "exactly one SMS, to the one without Zalo")
        with self.daemon.db() as db:
            why = db.execute("SELECT detail FROM events WHERE source = 'fallback' AND directive_id = ?",
                             (d["id"],)).fetchall()
        self.assertEqual(len(why), 1)
        self.assertIn("zalo_-118", why[0][0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
