"""SMS through the generic HTTP JSON gateway, configured like an eSMS-style provider: the
request shape, receipts by callback, a refused number, and a 429 that is retried."""
import json
import os
import unittest

from fake_sms_gateway import FakeSmsGateway
from harness import DaemonTestCase, small_directive, wait_until

API_KEY = "esms-test-key-7f3a9c"


class HttpJsonGateway(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = FakeSmsGateway(API_KEY, refuse={"0912000127"}, throttle_once={"0912000126"})
        os.environ["HERALD_TEST_ESMS_KEY"] = API_KEY
        cls.extra_config = {
            "gateways": {"esms": {
                "type": "http_json",
                "url": f"http://127.0.0.1:{cls.gw.port}/MainService.svc/json/SendMultipleMessage_V4_post_json/",
                "secrets": {"api_key": "env:HERALD_TEST_ESMS_KEY"},
                "body": '{"ApiKey": "{{secret.api_key}}", "Phone": "{{to_national}}", "Content": "{{text}}",'
                        ' "SmsType": "2", "Brandname": "HUYENUY", "IsUnicode": "{{coding}}",'
                        ' "CallbackUrl": "{{receipt_url}}", "RequestId": "{{token}}"}',
                "response": {"success_pointer": "/CodeResult", "success_value": "100",
                             "id_pointer": "/SMSID", "error_pointer": "/ErrorMessage",
                             "permanent_pointer": "/CodeResult", "permanent_values": ["99"]},
                "receipt": {"status": "/SendStatus", "id": "/SMSID",
                            "map": {"2": "delivered", "3": "failed", "4": "expired"}},
                "unaccented": True,
                "rate": 50,
            }},
            "channels": {"sms": {"enabled": True, "gateway": "esms"}},
            "dispatch": {"poll_interval": "100ms", "backoff_initial": "100ms", "backoff_max": "1s"},
        }
        super().setUpClass()
        cls.daemon.env["HERALD_TEST_ESMS_KEY"] = API_KEY

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.gw.close()

    def test_provider_shapes_receipts_refusal_and_throttling(self):
        d = small_directive("esms", [{"group": "ubnd-an-hiep"}, {"group": "ubnd-an-ninh"}],
                            channels=["sms"], subject="Họp khẩn Ban Chỉ đạo phòng, chống dịch")
        r = self.daemon.ctl("publish", "-", input=json.dumps(d))
        self.assertEqual(r.returncode, 0, r.stderr)

        def rows():
            with self.daemon.db() as db:
                return {x[0]: x[1:] for x in db.execute(
                    "SELECT address, state, attempts, error_code, provider_ref FROM deliveries"
                    " WHERE directive_id = ?", (d["id"],))}
        wait_until(lambda: rows() and all(v[0] in ("delivered", "failed") for v in rows().values()),
                   timeout=60, what="every delivery settled")
        got = rows()
        self.assertEqual(got["+84912000127"][0], "failed")
        self.assertEqual(got["+84912000127"][2], "provider_99")
        self.assertEqual(got["+84912000127"][1], 1)
        self.assertEqual(got["+84912000126"][0], "delivered")
        self.assertEqual(got["+84912000126"][1], 2, "429 retried once")
        for phone in ("+84912000130", "+84912000131"):
            self.assertEqual(got[phone][0], "delivered")
            self.assertTrue(got[phone][3].startswith("sms-"), "provider id kept")
        self.assertEqual(self.gw.problems, [])
        # Unaccented (không dấu) text, and the secret reached only the provider.
        req = self.gw.requests[0]
        self.assertEqual(req["Content"], "Huyen uy Chau Thanh - CV esms-TB/HU: Hop khan Ban Chi dao phong, chong dich.")
        self.assertEqual(req["IsUnicode"], "gsm7")
        self.assertNotIn(API_KEY, self.daemon.logs())
        # The 429 opened no breaker: throttling is not a gateway failure.
        self.assertEqual(self.daemon.metric("herald_gateway_breaker_open"), 0)
        self.assertTrue(all(status == 200 for _, status in self.gw.callbacks), self.gw.callbacks)


if __name__ == "__main__":
    unittest.main(verbosity=2)
