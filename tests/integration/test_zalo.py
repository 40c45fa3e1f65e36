"""Zalo through a faithful local fake: the seed directive over the OA gateway (an expired
access token refreshed exactly once on the way, its rotated refresh token kept in the
store), signed webhook events moving deliveries to delivered and read, and forged,
unsigned, stale and repeated events changing nothing; ZNS by phone with its tracking id."""
import json
import os
import time
import unittest

from fake_zalo import FakeZalo
from harness import SEED, DaemonTestCase, small_directive, wait_until

APP_ID = "4318129834957112345"
SECRET = "zalo-app-secret-it-77c1"
OA_SECRET = "zalo-oa-secret-it-4b20"
NO_ACCOUNT = "1000000000000007"


class ZaloDaemon(DaemonTestCase):
    """Helpers over a heraldd whose zalo channel goes through `gateway_config`."""

    def rows(self, directive_id):
        with self.daemon.db() as db:
            return {r[0]: {"id": r[1], "state": r[2], "error": r[3], "ref": r[4], "attempts": r[5]}
                    for r in db.execute("SELECT address, id, state, error_code, provider_ref, attempts"
                                        " FROM deliveries WHERE directive_id = ? AND channel = 'zalo'",
                                        (directive_id,))}

    def state(self, delivery_id):
        with self.daemon.db() as db:
            return db.execute("SELECT state FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()[0]

    def receipt_events(self, delivery_id):
        with self.daemon.db() as db:
            return db.execute("SELECT COUNT(*) FROM events WHERE delivery_id = ? AND source LIKE 'receipt:%'",
                              (delivery_id,)).fetchone()[0]

    def all_events(self):
        with self.daemon.db() as db:
            return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def hook_url(self):
        return f"http://127.0.0.1:{self.daemon.port}"


class ZaloOa(ZaloDaemon):
    @classmethod
    def setUpClass(cls):
        # The token expires after three sends: the fourth answer is -216.
        cls.zalo = FakeZalo(APP_ID, SECRET, OA_SECRET, "access-0", "refresh-0", no_account={NO_ACCOUNT}, expire_after=3)
        os.environ.update(HERALD_TEST_ZALO_SECRET=SECRET, HERALD_TEST_ZALO_OA_SECRET=OA_SECRET, HERALD_TEST_ZALO_ACCESS="access-0",
                          HERALD_TEST_ZALO_REFRESH="refresh-0")
        cls.extra_config = {
            "gateways": {"zalo-oa": {
                "type": "zalo_oa", "base_url": cls.zalo.url, "oauth_url": cls.zalo.url, "app_id": APP_ID,
                "secret_key": "env:HERALD_TEST_ZALO_SECRET",
                "oa_secret_key": "env:HERALD_TEST_ZALO_OA_SECRET", "access_token": "env:HERALD_TEST_ZALO_ACCESS",
                "refresh_token": "env:HERALD_TEST_ZALO_REFRESH", "concurrency": 4, "rate": 200,
                "webhook_tolerance": "5m"}},
            "channels": {"zalo": {"enabled": True, "gateway": "zalo-oa"}},
            "dispatch": {"poll_interval": "100ms", "backoff_initial": "100ms", "backoff_max": "1s"},
        }
        super().setUpClass()
        with open(SEED) as f:
            cls.seed = json.load(f)
        cls.seed["channels"] = ["zalo"]
        # The seed's 2021 deadline would expire every retry (the refreshed send included).
        cls.seed["ack"] = {"required": True, "deadline": "2099-12-31T17:00:00+07:00"}
        r = cls.daemon.ctl("publish", "-", input=json.dumps(cls.seed, ensure_ascii=False))
        assert r.returncode == 0, r.stderr

        def settled():
            rows = cls.rows(cls, cls.seed["id"])
            return rows if rows and all(v["state"] in ("sent", "failed") for v in rows.values()) else None
        try:
            cls.settled = wait_until(settled, timeout=60, what="every Zalo delivery sent or failed")
        except AssertionError:
            print(cls.daemon.logs()[-6000:], cls.rows(cls, cls.seed["id"]), cls.zalo.problems)
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.zalo.close()

    def sent(self):
        return {a: v for a, v in self.settled.items() if v["state"] == "sent"}

    def test_seed_reaches_zalo_users_and_token_is_refreshed_once(self):
        rows = self.settled
        by_user = {a: v for a, v in rows.items() if not a.startswith("+")}
        by_phone = {a: v for a, v in rows.items() if a.startswith("+")}
        self.assertEqual(len(by_user), 25)
        self.assertEqual(len(by_phone), 19)
        for addr, v in by_phone.items():
            self.assertEqual((v["state"], v["error"], v["attempts"]), ("failed", "no_user_id", 1), addr)
        self.assertEqual(by_user[NO_ACCOUNT]["state"], "failed")
        self.assertEqual(by_user[NO_ACCOUNT]["error"], "zalo_-118")
        for addr, v in by_user.items():
            if addr != NO_ACCOUNT:
                self.assertEqual(v["state"], "sent", addr)
                self.assertIn(v["ref"], self.zalo.sent, "provider_ref is Zalo's message_id")
                self.assertEqual(self.zalo.sent[v["ref"]][1]["recipient"]["user_id"], addr)
        self.assertEqual(self.zalo.problems, [])
        # The shape of what went out.
        path, req = next(iter(self.zalo.sent.values()))
        self.assertEqual(path, "/v3.0/oa/message/cs")
        text = req["message"]["text"]
        self.assertEqual(text.split("\n")[0],
                         f"[KHẨN] {self.seed['issuer']['name']} - văn bản số {self.seed['number']} ngày 12/07/2021")
        self.assertIn(self.seed["summary"], text, "the body is too long: the summary instead")
        self.assertNotIn(self.seed["body"][:200], text)
        # It says how to acknowledge: the code, and the recipient's own signed link.
        self.assertRegex(text, r"Trả lời OK 158 để xác nhận\.\nHoặc bấm: http://127\.0\.0\.1:\d+/ack/[A-Za-z0-9_-]+$")
        self.assertIn(self.seed["subject"], text)
        self.assertLessEqual(len(text), 2000)
        # Expired token: refreshed exactly once, the send then succeeded, and the rotated
        # refresh token is what the store keeps (config's is spent).
        self.assertGreaterEqual(self.zalo.expired_answers, 1)
        self.assertEqual(self.zalo.refresh_calls, 1)
        self.assertEqual(self.zalo.spent_refresh_tokens, ["refresh-0"])
        with self.daemon.db() as db:
            state = dict(db.execute("SELECT key, value FROM gateway_state WHERE gateway = 'zalo-oa'"))
        self.assertEqual(state.get("refresh_token"), self.zalo.refresh_token)
        self.assertEqual(state.get("access_token"), self.zalo.access_token)
        self.assertEqual(self.daemon.metric("herald_gateway_breaker_open"), 0)
        logs = self.daemon.logs()
        for secret in (SECRET, OA_SECRET, "access-0", "refresh-0", self.zalo.refresh_token, self.zalo.access_token):
            self.assertNotIn(secret, logs)

    def test_received_then_seen_both_forms(self):
        a, b, c = sorted(self.sent())[0:3]
        ra, rb, rc = (self.settled[x] for x in (a, b, c))
        status, ans = self.zalo.event(self.hook_url(), "user_received_message", msg_id=ra["ref"], user_id=a)
        self.assertEqual(status, 200, ans)
        self.assertEqual(ans["results"], [{"msg_id": ra["ref"], "delivery": ra["id"], "applied": True,
                                           "state": "delivered"}])
        self.assertEqual(self.state(ra["id"]), "delivered")
        # Seen, as the msg_ids array: one event, two messages.
        status, ans = self.zalo.event(self.hook_url(), "user_seen_message", msg_ids=[ra["ref"], rb["ref"]])
        self.assertEqual(status, 200, ans)
        self.assertEqual([r["state"] for r in ans["results"]], ["read", "read"])
        self.assertEqual((self.state(ra["id"]), self.state(rb["id"])), ("read", "read"))
        # Seen, as a single msg_id.
        status, ans = self.zalo.event(self.hook_url(), "user_seen_message", msg_id=rc["ref"], user_id=c)
        self.assertEqual(status, 200, ans)
        self.assertEqual(self.state(rc["id"]), "read")
        # A late "received" after "read" changes nothing and writes nothing.
        status, ans = self.zalo.event(self.hook_url(), "user_received_message", msg_id=rb["ref"])
        self.assertEqual(ans["results"][0]["applied"], False)
        self.assertEqual(self.state(rb["id"]), "read")
        self.assertEqual(self.receipt_events(rb["id"]), 1)

    def test_same_event_twice_changes_state_once(self):
        d = sorted(self.sent())[5]
        row = self.settled[d]
        body, ts = self.zalo.event_body("user_received_message", msg_id=row["ref"], user_id=d)
        sig = self.zalo.signature(body, ts)
        first = self.zalo.post_event(self.hook_url(), body, sig)
        again = self.zalo.post_event(self.hook_url(), body, sig)
        self.assertEqual(first[0], 200)
        self.assertEqual(first[1]["results"][0]["applied"], True)
        self.assertEqual(again[0], 200, "answered, so Zalo stops retrying")
        self.assertEqual(again[1]["results"][0].get("duplicate"), True)
        self.assertEqual(self.state(row["id"]), "delivered")
        self.assertEqual(self.receipt_events(row["id"]), 1)

    def test_forged_unsigned_and_stale_events_get_401_and_change_nothing(self):
        d = sorted(self.sent())[8]
        row = self.settled[d]
        before = self.all_events()
        body, ts = self.zalo.event_body("user_seen_message", msg_id=row["ref"], user_id=d)
        cases = {
            "forged": (body, self.zalo.signature(body, ts, secret_key="guessed-secret")),
            "signed with the app secret": (body, self.zalo.signature(body, ts, secret_key=SECRET)),
            "unsigned": (body, None),
            "tampered": (body.replace("user_seen_message", "user_received_message"), self.zalo.signature(body, ts)),
        }
        old_body, old_ts = self.zalo.event_body("user_seen_message", msg_id=row["ref"], user_id=d,
                                                timestamp_ms=int(time.time() * 1000) - 10 * 60 * 1000)
        cases["replayed (10 min old)"] = (old_body, self.zalo.signature(old_body, old_ts))
        future_body, future_ts = self.zalo.event_body("user_seen_message", msg_id=row["ref"], user_id=d,
                                                      timestamp_ms=int(time.time() * 1000) + 10 * 60 * 1000)
        cases["from the future"] = (future_body, self.zalo.signature(future_body, future_ts))
        for what, (b, sig) in cases.items():
            status, ans = self.zalo.post_event(self.hook_url(), b, sig)
            self.assertEqual(status, 401, f"{what}: {ans}")
        self.assertEqual(self.state(row["id"]), "sent")
        self.assertEqual(self.all_events(), before)
        # The refused events did not burn the dedupe key: the genuine one still applies.
        status, ans = self.zalo.post_event(self.hook_url(), body, self.zalo.signature(body, ts))
        self.assertEqual((status, self.state(row["id"])), (200, "read"))

    def test_unknown_message_and_other_events_are_acknowledged(self):
        status, ans = self.zalo.event(self.hook_url(), "user_seen_message", msg_id="no-such-message")
        self.assertEqual((status, ans["results"]), (200, [{"msg_id": "no-such-message", "unknown": True}]))
        status, ans = self.zalo.event(self.hook_url(), "follow")
        self.assertEqual((status, ans.get("ignored")), (200, True))

    def test_z_after_a_restart_the_stored_refresh_token_is_used(self):
        # Runs last (it restarts heraldd). Config still names refresh-0, which is spent:
        # only the token kept in the store can refresh now.
        with self.daemon.db() as db:
            kept = dict(db.execute("SELECT key, value FROM gateway_state WHERE gateway = 'zalo-oa'"))["refresh_token"]
        self.daemon.stop()
        self.zalo.access_token = "replaced-while-down"  # heraldd's access token no longer works
        self.daemon.start()
        d = small_directive("zalo-restart", [{"group": "ban-thuong-vu"}], channels=["zalo"])
        r = self.daemon.ctl("publish", "-", input=json.dumps(d, ensure_ascii=False))
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = wait_until(lambda: (x := self.rows(d["id"])) and all(v["state"] in ("sent", "failed")
                                                                    for v in x.values()) and x,
                          timeout=60, what="the directive's Zalo deliveries settled")
        self.assertTrue(any(v["state"] == "sent" for v in rows.values()), rows)
        for addr, v in rows.items():
            if not addr.startswith("+"):
                self.assertEqual(v["state"], "sent", (addr, v))
        self.assertEqual(self.zalo.refresh_calls, 2)
        self.assertEqual(self.zalo.spent_refresh_tokens, ["refresh-0", kept])
        with self.daemon.db() as db:
            state = dict(db.execute("SELECT key, value FROM gateway_state WHERE gateway = 'zalo-oa'"))
        self.assertEqual(state["refresh_token"], self.zalo.refresh_token)
        self.assertEqual(self.zalo.problems, [])


class ZaloZns(ZaloDaemon):
    """ZNS by phone: a person without a Zalo user id is addressed by phone (the planner),
    the template carries the directive's fields, and the delivery event names it by
    tracking_id as well as msg_id."""

    @classmethod
    def setUpClass(cls):
        cls.zalo = FakeZalo(APP_ID, SECRET, OA_SECRET, "access-z0", "refresh-z0", no_account={"84912000127"},
                            template_id="271828", template_params={"so", "co_quan", "trich_yeu", "ngay", "ho_ten"})
        os.environ.update(HERALD_TEST_ZALO_SECRET=SECRET, HERALD_TEST_ZALO_OA_SECRET=OA_SECRET, HERALD_TEST_ZALO_ACCESS="access-z0")
        cls.extra_config = {
            "gateways": {"zalo-zns": {
                "type": "zalo_zns", "base_url": cls.zalo.url, "oauth_url": cls.zalo.url, "app_id": APP_ID,
                "secret_key": "env:HERALD_TEST_ZALO_SECRET",
                "oa_secret_key": "env:HERALD_TEST_ZALO_OA_SECRET", "access_token": "env:HERALD_TEST_ZALO_ACCESS",
                "template_id": "271828",
                "template_data": {"so": "number", "co_quan": "issuer", "trich_yeu": "subject",
                                  "ngay": "issued_date", "ho_ten": "recipient_name"}}},
            "channels": {"zalo": {"enabled": True, "gateway": "zalo-zns"}},
            "dispatch": {"poll_interval": "100ms", "backoff_initial": "100ms", "backoff_max": "1s"},
        }
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.zalo.close()

    def test_template_by_phone_and_tracking_id(self):
        d = small_directive("zns", [{"group": "ubnd-an-hiep"}, {"group": "ubnd-an-ninh"}], channels=["zalo"])
        r = self.daemon.ctl("publish", "-", input=json.dumps(d, ensure_ascii=False))
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_until(lambda: (rows := self.rows(d["id"])) and all(v["state"] in ("sent", "failed")
                                                                for v in rows.values()),
                   timeout=60, what="every ZNS delivery settled")
        rows = self.rows(d["id"])
        self.assertEqual(self.zalo.problems, [])
        phones = {a: v for a, v in rows.items() if a.startswith("+")}
        for addr, v in rows.items():
            if not addr.startswith("+"):
                self.assertEqual((v["state"], v["error"]), ("failed", "not_a_phone"), addr)
        self.assertTrue(phones, rows)
        if "+84912000127" in phones:
            self.assertEqual((phones["+84912000127"]["state"], phones["+84912000127"]["error"]),
                             ("failed", "zalo_-118"))
        sent = {a: v for a, v in phones.items() if v["state"] == "sent"}
        self.assertTrue(sent, rows)
        addr, row = sorted(sent.items())[0]
        path, req = self.zalo.sent[row["ref"]]
        self.assertEqual(path, "/message/template")
        self.assertEqual(req["phone"], addr[1:])
        self.assertEqual(req["template_data"]["so"], d["number"])
        self.assertEqual(req["template_data"]["ngay"], "12/07/2021")
        with self.daemon.db() as db:
            token, name = db.execute("SELECT token, recipient_name FROM deliveries WHERE id = ?",
                                     (row["id"],)).fetchone()
        self.assertEqual(req["tracking_id"], token)
        self.assertEqual(req["template_data"]["ho_ten"], name)
        # Delivered, named by tracking id alone (as when the event beats the send's answer).
        status, ans = self.zalo.event(self.hook_url(), "user_received_message", tracking_id=token)
        self.assertEqual(status, 200, ans)
        self.assertEqual(ans["results"][0]["state"], "delivered")
        status, ans = self.zalo.event(self.hook_url(), "user_seen_message", msg_id=row["ref"])
        self.assertEqual(self.state(row["id"]), "read")


if __name__ == "__main__":
    unittest.main(verbosity=2)
