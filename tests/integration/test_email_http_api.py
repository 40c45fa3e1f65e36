"""Email through the http_email gateway to a local JSON email API: Herald's rendered email
in the provider's request, then the provider's delivered and bounced webhooks through
/hooks/email/<gateway>/<token>."""
import json
import os
import unittest

from fake_email_api import FakeEmailApi
from harness import SEED, DaemonTestCase, expected_deliveries, load_directory, message_ref, wait_until

API_KEY = "mail-api-test-key-0b7e"
BOUNCE = "ubnd.an-hiep@chauthanh.example"


class EmailOverHttpApi(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        cls.api = FakeEmailApi(API_KEY, bounce={BOUNCE})
        os.environ["HERALD_TEST_MAIL_API_KEY"] = API_KEY
        cls.extra_config = {
            "gateways": {"mail-api": cls.api.gateway_config("HERALD_TEST_MAIL_API_KEY")},
            "channels": {"email": {"enabled": True, "gateway": "mail-api"}},
            "dispatch": {"poll_interval": "100ms", "backoff_initial": "100ms", "backoff_max": "1s"},
        }
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.api.close()

    def test_rendered_email_then_delivered_and_bounced_webhooks(self):
        with open(SEED, encoding="utf-8") as f:
            seed = json.load(f)
        seed["channels"] = ["email"]
        r = self.daemon.ctl("publish", "-", input=json.dumps(seed, ensure_ascii=False))
        self.assertEqual(r.returncode, 0, r.stderr)
        directory = load_directory()
        people = {p["id"]: p for p in directory["people"]}
        expected = {people[pid]["contacts"]["email"] for pid, _ in expected_deliveries(seed, directory)}
        self.assertIn(BOUNCE, expected)

        def rows():
            with self.daemon.db() as db:
                return {x[0]: x[1:] for x in db.execute(
                    "SELECT address, token, state, error_code, provider_ref FROM deliveries"
                    " WHERE directive_id = ? AND channel = 'email' AND address != ''", (seed["id"],))}
        wait_until(lambda: set(rows()) == expected and all(v[1] in ("delivered", "failed") for v in rows().values()),
                   timeout=60, what="every email settled by its webhook")
        got = rows()
        for address, (token, state, error, ref) in got.items():
            if address == BOUNCE:
                self.assertEqual((state, error), ("failed", "provider_bounced"))
            else:
                self.assertEqual((state, error), ("delivered", ""), address)
            self.assertTrue(ref.startswith("em-"), "the provider's id is kept")

        self.assertEqual(self.api.problems, [])
        self.assertEqual(len(self.api.requests), len(expected), "one request per recipient")
        by_to = {req["to"]: req for req in self.api.requests}
        for address, (token, *_rest) in got.items():
            req = by_to[address]
            self.assertEqual(req["subject"], "[158-CV/HU] " + seed["subject"])
            self.assertIn(seed["body"], req["text"])
            self.assertEqual(req["message_id"], f"<{message_ref(token)}@herald.test>")
            self.assertTrue(req["webhook_url"].endswith(f"/hooks/email/mail-api/{token}"))
        self.assertTrue(all(status == 200 for _, _, status in self.api.callbacks), self.api.callbacks)
        self.assertNotIn(API_KEY, self.daemon.logs())


if __name__ == "__main__":
    unittest.main(verbosity=2)
