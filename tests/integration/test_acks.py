"""Acknowledgements end to end. SMS replies come through the real Kannel (the fake SMSC
injects them; smsbox calls heraldd's MO URL), so this heraldd listens where
scripts/services points Kannel's get-url (port 18080, gateway "kannel-local", as in the
example config the demo runs). Then: a reply
from an unknown number, a reply without a code, an ambiguous one answered with help, the
reminder to those who have not acknowledged and the escalation to their superiors after
the deadline; and separately, the signed ack link in an email and a Zalo reply."""
import datetime
import json
import os
import re
import secrets
import subprocess
import time
import unittest
import urllib.parse
import urllib.request

import kannel
from fake_zalo import FakeZalo
from harness import REPO, SEED, STATE_ENV, DaemonTestCase, load_directory, wait_until
from maildir import MAILDIR, messages_for

MO_PORT = 18080  # scripts/services: HERALD_MO_URL http://127.0.0.1:18080/hooks/sms/kannel-local/mo (+ /<mo token>)
SERVICES = os.path.join(REPO, "scripts", "services")
SMTP_PORT = int(STATE_ENV.get("HERALD_SMTP_PORT", "2525"))
DIRECTORY = load_directory()
PEOPLE = {p["id"]: p for p in DIRECTORY["people"]}
OPERATORS = sorted(pid for pid, p in PEOPLE.items() if "truyen-thanh-co-so" in p.get("groups", []))
ICT = datetime.timezone(datetime.timedelta(hours=7))


def phone(pid):
    return PEOPLE[pid]["contacts"]["phone"]


def e164(pid):
    raw = re.sub(r"[^0-9+]", "", phone(pid))
    return "+84" + raw[1:] if raw.startswith("0") else raw


def directive(id_, number, deadline, **extra):
    with open(SEED, encoding="utf-8") as f:
        d = json.load(f)
    d.update(id=id_, number=number, channels=["sms"], recipients=[{"group": "truyen-thanh-co-so"}],
             ack={"required": True, "deadline": deadline.isoformat(timespec="seconds")})
    d.update(extra)
    return d


def inject(from_pid_or_number, text):
    sender = e164(from_pid_or_number) if from_pid_or_number in PEOPLE else from_pid_or_number
    r = subprocess.run([SERVICES, "inject-mo", sender, "8088", text], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


class SmsReplies(DaemonTestCase):
    port = MO_PORT

    @classmethod
    def setUpClass(cls):
        os.environ["HERALD_TEST_KANNEL_PASSWORD"] = kannel.password()
        cls.extra_config = {
            "gateways": {"kannel-local": kannel.gateway_config(dlr_mask=31)},
            "channels": {"sms": {"enabled": True, "gateway": "kannel-local", "template": {"unaccented": True}},
                         "zalo": {"enabled": True}, "email": {"enabled": True}},
            "dispatch": {"poll_interval": "100ms", "backoff_initial": "100ms", "backoff_max": "1s"},
            "acks": {"check_interval": "200ms",
                     "follow_up": {"default": {"remind_before": ["20s"], "escalate_after": "0s",
                                               "escalate_to": ["superior"]}}},
        }
        super().setUpClass()

    def api(self, path):
        return self.daemon.api(path)

    def acks(self, did, missing=False):
        return self.api("/api/v1/directives/" + urllib.parse.quote(did, safe="") + "/acks" +
                        ("?missing=1" if missing else ""))

    def rows(self, did, purpose):
        with self.daemon.db() as db:
            return db.execute("SELECT recipient_id, channel, address, state, note FROM deliveries"
                              " WHERE directive_id = ? AND purpose = ?", (did, purpose)).fetchall()

    def test_replies_reminders_and_escalation(self):
        smsc = kannel.SmscLog(coding="gsm7")
        deadline = datetime.datetime.now(ICT) + datetime.timedelta(seconds=40)
        d1 = directive(f"it-acks/{secrets.token_hex(3)}/158", "158-CV/HU", deadline)
        r = self.daemon.ctl("publish", "-", input=json.dumps(d1, ensure_ascii=False))
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_until(lambda: len(smsc.messages()) >= len(OPERATORS), timeout=30, what="the directive by SMS")
        code = self.api("/api/v1/directives/" + urllib.parse.quote(d1["id"], safe=""))["ack_code"]
        self.assertEqual(code, "158")
        for to, text in smsc.messages():
            self.assertIn("Tra loi OK 158 de xac nhan", text)

        # "Da nhan 158" from one operator's phone: that one is acknowledged, nobody else.
        acker = "dtt-an-hiep"
        inject(acker, "Da nhan 158")
        wait_until(lambda: self.acks(d1["id"])["acknowledged"] == 1, timeout=30, what="the SMS acknowledgement")
        status = {r["recipient"]["id"]: r for r in self.acks(d1["id"])["recipients"]}
        self.assertTrue(status[acker]["acknowledged"])
        self.assertEqual((status[acker]["ack"]["channel"], status[acker]["ack"]["text"]), ("sms", "Da nhan 158"))
        self.assertEqual(sorted(p for p, r in status.items() if not r["acknowledged"]),
                         sorted(set(OPERATORS) - {acker}))
        self.assertEqual({x["channel"]: x["state"] for x in status[acker]["deliveries"]}, {"sms": "acknowledged"})

        # A reply from a number nobody in the directory has: recorded, unmatched.
        inject("+84912999888", "OK 158")
        # "da nhan" without a code from someone with exactly this one directive open.
        no_code = "dtt-phu-tam"
        inject(no_code, "da nhan")
        wait_until(lambda: self.acks(d1["id"])["acknowledged"] == 2, timeout=30, what="the reply without a code")
        replies = self.api("/api/v1/replies")["replies"]
        unknown = [x for x in replies if x["sender"].endswith("912999888")]
        self.assertEqual([x["outcome"] for x in unknown], ["unknown_sender"])
        self.assertIsNone(unknown[0]["directive_id"])

        # With two directives open, "ok" alone is ambiguous: recorded, answered with help.
        d2 = directive(f"it-acks/{secrets.token_hex(3)}/160", "160-TB/HU",
                       datetime.datetime(2099, 12, 31, 17, tzinfo=ICT))
        help_log = kannel.SmscLog(coding="gsm7")
        r = self.daemon.ctl("publish", "-", input=json.dumps(d2, ensure_ascii=False))
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_until(lambda: len(help_log.messages()) >= len(OPERATORS), timeout=30, what="the second directive")
        unsure = "dtt-thien-my"
        inject(unsure, "ok")
        def helped():
            return [text for to, text in help_log.messages()
                    if to.lstrip("+") == e164(unsure).lstrip("+") and "xac nhan" in text and "158" in text]
        try:
            wait_until(helped, timeout=30, what="the help text back to the sender")
        except AssertionError:
            print(help_log.messages()[-3:], self.api("/api/v1/replies")["replies"][:2])
            raise
        self.assertIn("160", helped()[0])
        self.assertEqual(self.acks(d1["id"])["acknowledged"], 2)
        ambiguous = [x for x in self.api("/api/v1/replies")["replies"] if x["recipient_id"] == unsure]
        self.assertEqual(ambiguous[0]["outcome"], "ambiguous")
        inject(unsure, "OK 160")
        wait_until(lambda: self.acks(d2["id"])["acknowledged"] == 1, timeout=30, what="the acknowledgement of 160")
        self.assertEqual(self.acks(d1["id"])["acknowledged"], 2)  # 158 still open for them

        # Reminder 20 s before the deadline: to the six who have not acknowledged 158 only.
        acked = {acker, no_code}
        try:
            wait_until(lambda: len(self.rows(d1["id"], "reminder")) > 0, timeout=60, what="the reminders")
        except AssertionError:
            print(self.daemon.logs()[-3000:])
            with self.daemon.db() as db:
                print(db.execute("SELECT id, ack_code, ack_deadline_ms, received_at_ms, cancelled_at_ms FROM directives").fetchall())
                print(db.execute("SELECT * FROM ack_timers").fetchall())
            raise
        reminded = self.rows(d1["id"], "reminder")
        self.assertEqual(sorted(r[0] for r in reminded), sorted(set(OPERATORS) - acked))
        wait_until(lambda: all(r[3] == "delivered" for r in self.rows(d1["id"], "reminder")), timeout=60,
                   what="the reminders delivered")
        reminder_sms = [(to, text) for to, text in smsc.messages() if "Nhac lai" in text]
        self.assertEqual(sorted(to.lstrip("+") for to, _ in reminder_sms),
                         sorted(e164(p).lstrip("+") for p in set(OPERATORS) - acked))

        # Escalation at the deadline: each non-acknowledging operator's superior is told.
        wait_until(lambda: len(self.rows(d1["id"], "escalation")) > 0, timeout=60, what="the escalation")
        escalated = self.rows(d1["id"], "escalation")
        expected = {PEOPLE[p]["superior"]: PEOPLE[p]["name"] for p in set(OPERATORS) - acked}
        self.assertEqual(sorted(r[0] for r in escalated), sorted(expected))
        for recipient, _channel, _address, _state, note in escalated:
            self.assertEqual(note, expected[recipient])
        names_acked = {PEOPLE[p]["name"] for p in acked}
        self.assertFalse(any(r[4] in names_acked for r in escalated))
        # Nothing more went to those who acknowledged after they did.
        for p in acked:
            self.assertFalse([1 for to, text in smsc.messages() if to.lstrip("+") == e164(p).lstrip("+")
                              and "Nhac lai" in text])


@unittest.skipUnless(MAILDIR, "the smtp service is not running (scripts/services start smtp)")
class LinksAndZalo(DaemonTestCase):
    APP_ID = "4318129834957112345"

    @classmethod
    def setUpClass(cls):
        cls.domain = f"it-{secrets.token_hex(4)}.herald.test"
        cls.zalo = FakeZalo(cls.APP_ID, "zalo-secret-acks", "zalo-oa-secret-acks", "access-0", "refresh-0")
        os.environ.update(HERALD_TEST_ZALO_SECRET="zalo-secret-acks", HERALD_TEST_ZALO_OA_SECRET="zalo-oa-secret-acks",
                          HERALD_TEST_ZALO_ACCESS="access-0", HERALD_TEST_ZALO_REFRESH="refresh-0")
        cls.extra_config = {
            "gateways": {
                "mail": {"type": "smtp", "url": f"smtp://127.0.0.1:{SMTP_PORT}", "starttls": "off",
                         "from": "vanphong@huyenuy.chauthanh.example", "message_id_domain": cls.domain},
                "zalo-oa": {"type": "zalo_oa", "base_url": cls.zalo.url, "oauth_url": cls.zalo.url,
                            "app_id": cls.APP_ID, "secret_key": "env:HERALD_TEST_ZALO_SECRET",
                            "oa_secret_key": "env:HERALD_TEST_ZALO_OA_SECRET",
                            "access_token": "env:HERALD_TEST_ZALO_ACCESS",
                            "refresh_token": "env:HERALD_TEST_ZALO_REFRESH", "webhook_tolerance": "5m"}},
            "channels": {"email": {"enabled": True, "gateway": "mail"},
                         "zalo": {"enabled": True, "gateway": "zalo-oa"}, "sms": {"enabled": False}},
            "dispatch": {"poll_interval": "100ms", "backoff_initial": "100ms", "backoff_max": "1s"},
            "acks": {"link_ttl": "1h"},
        }
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.zalo.close()
        messages_for(cls.domain, remove=True)  # the sink's maildir does not grow run after run

    def mails(self):
        """{address: plain-text body} of this run's mail."""
        return {m["To"].addresses[0].addr_spec: m.get_body(("plain",)).get_content()
                for msgs in messages_for(self.domain).values() for m in msgs}

    def link_for(self, person, number):
        """The ack link in the mail `person` got about directive `number` (waits for it)."""
        address = PEOPLE[person]["contacts"]["email"]

        def link():
            for to, text in self.mails().items():
                m = re.search(r"http://\S+/ack/[A-Za-z0-9_-]+", text) if to == address and number in text else None
                if m:
                    return m.group(0)
            return None
        return wait_until(link, timeout=60, what="the email with its link")

    def acks(self, did, missing_ok=False):
        """{recipient id: row}; with missing_ok, {} while the directive is not taken in yet."""
        path = "/api/v1/directives/" + urllib.parse.quote(did, safe="") + "/acks"
        if missing_ok and self.daemon.http(path)[0] == 404:
            return {}
        return {r["recipient"]["id"]: r for r in self.daemon.api(path)["recipients"]}

    def open(self, url, post=False):
        req = urllib.request.Request(url, data=b"" if post else None, method="POST" if post else "GET")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def publish(self, d):
        r = self.daemon.ctl("publish", "-", input=json.dumps(d, ensure_ascii=False))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_ack_link_and_zalo_reply(self):
        future = datetime.datetime(2099, 12, 31, 17, tzinfo=ICT)
        d = directive(f"it-links/{secrets.token_hex(3)}/158", "158-CV/HU", future,
                      channels=["email", "zalo"], recipients=[{"group": "ban-thuong-vu"}])
        self.publish(d)
        # ban-thuong-vu: three people with email and Zalo.
        members = sorted(p for p, x in PEOPLE.items() if "ban-thuong-vu" in x.get("groups", []))
        wait_until(lambda: len(self.mails()) == len(members), timeout=60, what="the emails")
        # And the Zalo messages sent too: an acknowledgement holds back what has not left yet
        # (a loaded machine may still be sending them when the emails are in).
        path = "/api/v1/directives/" + urllib.parse.quote(d["id"], safe="") + "/deliveries"
        wait_until(lambda: all(x["state"] not in ("queued", "retrying", "sending")
                               for x in self.daemon.api(path)["deliveries"]), timeout=60, what="every send made")
        mails = self.mails()
        by_person = {p: mails[PEOPLE[p]["contacts"]["email"]] for p in members}
        links = {p: re.search(r"http://\S+/ack/[A-Za-z0-9_-]+", text).group(0) for p, text in by_person.items()}
        for text in by_person.values():
            self.assertIn("Trả lời OK 158 để xác nhận", text)

        clicker, tamperer, replier = members[0], members[1], members[2]
        status, page = self.open(links[clicker])  # opening shows a button; it records nothing
        self.assertEqual(status, 200)
        self.assertIn("Xác nhận", page)
        self.assertFalse(self.acks(d["id"])[clicker]["acknowledged"])
        status, page = self.open(links[clicker], post=True)
        self.assertEqual(status, 200, page)
        self.assertTrue(self.acks(d["id"])[clicker]["acknowledged"])
        self.assertEqual(self.acks(d["id"])[clicker]["ack"]["source"], "link:email")

        # A tampered link (one character changed) acknowledges nothing.
        link = links[tamperer]
        last = link[-1]
        tampered = link[:-1] + ("A" if last != "A" else "B")
        self.assertEqual(self.open(tampered, post=True)[0], 404)
        self.assertEqual(self.open(link[:-6] + "xxxxxx", post=True)[0], 404)
        self.assertFalse(self.acks(d["id"])[tamperer]["acknowledged"])

        # A Zalo reply from a follower acknowledges (the OA's signed user_send_text event).
        user_id = PEOPLE[replier]["contacts"]["zalo_user_id"]
        ts = str(int(time.time() * 1000))
        body = json.dumps({"app_id": self.APP_ID, "event_name": "user_send_text", "sender": {"id": user_id},
                           "recipient": {"id": "579745863508352884"},
                           "message": {"msg_id": "reply-" + secrets.token_hex(4), "text": "Đã nhận 158"},
                           "timestamp": ts}, separators=(",", ":"))
        status, answer = self.zalo.post_event(f"http://127.0.0.1:{self.daemon.port}", body,
                                              self.zalo.signature(body, ts))
        self.assertEqual((status, answer["outcome"]), (200, "acknowledged"))
        row = self.acks(d["id"])[replier]
        self.assertTrue(row["acknowledged"])
        self.assertEqual((row["ack"]["channel"], row["ack"]["text"]), ("zalo", "Đã nhận 158"))
        # Zalo deliveries of those who acknowledged are acknowledged too (on every channel).
        self.assertTrue(all(x["state"] in ("acknowledged", "failed") for x in row["deliveries"]), row)

        # With two directives open, a bare "ok" on Zalo is ambiguous: recorded, and the help
        # goes back as an OA message.
        d2 = directive(f"it-links/{secrets.token_hex(3)}/160", "160-TB/HU", future,
                       channels=["zalo"], recipients=[{"group": "ban-thuong-vu"}])
        self.publish(d2)
        # Published just now: it may not be taken in yet (404) when first asked.
        def second_sent():
            rows = self.acks(d2["id"], missing_ok=True)
            return rows and all(r["deliveries"] and r["deliveries"][0]["state"] == "sent" for r in rows.values())
        wait_until(second_sent, timeout=30, what="the second directive")
        unsure_id = PEOPLE[tamperer]["contacts"]["zalo_user_id"]
        ts = str(int(time.time() * 1000))
        body = json.dumps({"app_id": self.APP_ID, "event_name": "user_send_text", "sender": {"id": unsure_id},
                           "recipient": {"id": "579745863508352884"},
                           "message": {"msg_id": "reply-" + secrets.token_hex(4), "text": "ok"},
                           "timestamp": ts}, separators=(",", ":"))
        status, answer = self.zalo.post_event(f"http://127.0.0.1:{self.daemon.port}", body,
                                              self.zalo.signature(body, ts))
        self.assertEqual((status, answer["outcome"], answer["help"]), (200, "ambiguous", True))

        def help_sent():
            return [req["message"]["text"] for path, req in list(self.zalo.sent.values())
                    if req.get("recipient", {}).get("user_id") == unsure_id and "160" in req["message"]["text"]
                    and "158" in req["message"]["text"] and "Trả lời OK" not in req["message"]["text"]]
        texts = wait_until(help_sent, timeout=30, what="the help message on Zalo")
        self.assertIn("xác nhận", texts[0])
        # The same signed post replayed within Zalo's 5-minute window: taken once; no second
        # reply recorded, no second help message.
        for _ in range(5):
            status, answer = self.zalo.post_event(f"http://127.0.0.1:{self.daemon.port}", body,
                                                  self.zalo.signature(body, ts))
            self.assertEqual((status, answer["outcome"], answer["help"]), (200, "duplicate", False))
        time.sleep(1.0)  # a second help would be queued at once and sent within poll_interval
        self.assertEqual(len(help_sent()), 1, "one help message, however often the post is replayed")
        self.assertFalse(self.acks(d["id"])[tamperer]["acknowledged"])

    def test_expired_link_does_not_acknowledge(self):
        # Deadline long past and links valid 1 h after it: already expired when sent.
        past = datetime.datetime(2021, 7, 13, 17, tzinfo=ICT)
        d = directive(f"it-links/{secrets.token_hex(3)}/159", "159-CV/HU", past,
                      channels=["email"], recipients=[{"person": "cvp-huyen-uy"}])
        self.publish(d)
        url = self.link_for("cvp-huyen-uy", "159")
        self.assertEqual(self.open(url, post=True)[0], 410)
        self.assertFalse(self.acks(d["id"])["cvp-huyen-uy"]["acknowledged"])

    def test_cancelled_directives_link_is_gone(self):
        future = datetime.datetime(2099, 12, 31, 17, tzinfo=ICT)
        d = directive(f"it-links/{secrets.token_hex(3)}/162", "162-CV/HU", future,
                      channels=["email"], recipients=[{"person": "vt-huyen-uy"}])
        self.publish(d)
        url = self.link_for("vt-huyen-uy", "162")
        self.assertEqual(self.open(url)[0], 200)
        r = self.daemon.ctl("cancel", d["id"], "--reason", "Ban hành nhầm")
        self.assertEqual(r.returncode, 0, r.stderr)
        for post in (False, True):
            status, page = self.open(url, post=post)
            self.assertEqual(status, 410, page[:300])
            self.assertIn("đã bị hủy", page)
        self.assertFalse(self.acks(d["id"])["vt-huyen-uy"]["acknowledged"])


if __name__ == "__main__":
    unittest.main()
