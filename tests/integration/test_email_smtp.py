"""Email through the smtp gateway to the real SMTP server of scripts/services (Debian's
aiosmtpd, keeping each message raw in a Maildir): one message per email recipient of the
seed directive, a Vietnamese subject and body that survive byte for byte, a Message-ID
Herald can match to its delivery, and a mailbox refused with 550 failing for good."""
import json
import os
import secrets
import unittest

from harness import SEED, STATE_ENV, DaemonTestCase, expected_deliveries, load_directory, message_ref, wait_until
from maildir import MAILDIR, messages_for

SMTP_PORT = int(os.environ.get("HERALD_SMTP_PORT", STATE_ENV.get("HERALD_SMTP_PORT", "2525")))
FROM = "vanphong@huyenuy.chauthanh.example"
# The sink refuses this mailbox at RCPT with 550: a permanent failure, never retried.
REFUSED = "nobody.ubnd-an-hiep@chauthanh.example"


def directory_with_refused_mailbox():
    directory = load_directory()
    for p in directory["people"]:
        if p.get("contacts", {}).get("email") == "ubnd.an-hiep@chauthanh.example":
            p["contacts"]["email"] = REFUSED
            return directory
    raise AssertionError("the example directory changed: no ubnd.an-hiep@chauthanh.example")


@unittest.skipUnless(MAILDIR, "the smtp service is not running (scripts/services start smtp)")
class EmailOverSmtp(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        # A Message-ID domain of this run's own, so earlier runs' mail in the sink is ignored.
        cls.domain = f"it-{secrets.token_hex(4)}.herald.test"
        cls.directory = directory_with_refused_mailbox()
        cls.extra_config = {
            "directory": cls.directory,
            "gateways": {"mail": {
                "type": "smtp",
                "url": f"smtp://127.0.0.1:{SMTP_PORT}",
                "starttls": "off",
                "from": FROM,
                "from_name": "Văn phòng Huyện ủy Châu Thành",
                "message_id_domain": cls.domain,
                "concurrency": 4,
            }},
            "channels": {"email": {"enabled": True, "gateway": "mail"}},
            "dispatch": {"poll_interval": "100ms", "backoff_initial": "100ms", "backoff_max": "1s"},
        }
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        messages_for(cls.domain, remove=True)  # the sink's maildir does not grow run after run

    def test_seed_directive_reaches_every_email_recipient_once(self):
        with open(SEED, encoding="utf-8") as f:
            seed = json.load(f)
        seed["channels"] = ["email"]
        r = self.daemon.ctl("publish", "-", input=json.dumps(seed, ensure_ascii=False))
        self.assertEqual(r.returncode, 0, r.stderr)

        directory = self.directory
        people = {p["id"]: p for p in directory["people"]}
        expected = {people[pid]["contacts"]["email"] for pid, ch in expected_deliveries(seed, directory)}
        self.assertIn(REFUSED, expected)
        expected.discard(REFUSED)
        self.assertGreater(len(expected), 5)

        def rows():
            with self.daemon.db() as db:
                return db.execute("SELECT address, token, state, attempts, error_code FROM deliveries"
                                  " WHERE directive_id = ? AND channel = 'email'", (seed["id"],)).fetchall()
        wait_until(lambda: rows() and all(x[2] in ("sent", "failed", "expired") for x in rows()),
                   timeout=60, what="every email delivery settled")
        # People with no email address get a delivery that failed at planning, never a send.
        no_address = [x for x in rows() if x[0] == ""]
        for _, _, state, attempts, error in no_address:
            self.assertEqual((state, attempts, error), ("failed", 0, "no_contact"))
        refused = [x for x in rows() if x[0] == REFUSED]
        self.assertEqual([x[2:] for x in refused], [("failed", 1, "smtp_550")], "550 is permanent")
        got = [x for x in rows() if x[0] not in ("", REFUSED)]
        self.assertEqual({x[0] for x in got}, expected)
        self.assertEqual(len(got), len(expected))
        for address, token, state, attempts, error in got:
            self.assertEqual((state, error), ("sent", ""), address)
            self.assertEqual(attempts, 1, address)
        token_of = {x[0]: x[1] for x in got}

        by_id = wait_until(lambda: (lambda m: m if sum(map(len, m.values())) >= len(expected) else None)(
            messages_for(self.domain)), timeout=30, what="every message in the maildir")
        self.assertEqual(sum(map(len, by_id.values())), len(expected), "exactly one message per recipient")

        subject = "[158-CV/HU] " + seed["subject"]
        for address in expected:
            ref = message_ref(token_of[address])
            mid = f"<{ref}@{self.domain}>"
            self.assertIn(mid, by_id, f"a Message-ID Herald can match, for {address}")
            self.assertEqual(len(by_id[mid]), 1)
            msg = by_id[mid][0]
            self.assertEqual(msg["Delivered-To"], address, "envelope recipient")
            self.assertEqual(msg["Return-Path"], f"<{FROM}>")
            self.assertEqual(msg["To"].addresses[0].addr_spec, address)
            self.assertEqual(msg["From"].addresses[0].addr_spec, FROM)
            self.assertEqual(msg["From"].addresses[0].display_name, "Văn phòng Huyện ủy Châu Thành")
            self.assertEqual(str(msg["Subject"]), subject)
            self.assertEqual(msg.get_content_type(), "multipart/alternative")
            self.assertEqual(msg.defects, [])
            self.assertEqual(msg["X-Herald-Delivery"], ref)
            self.assertNotIn(token_of[address], msg.as_string(), "the receipt token is nowhere in the mail")
            plain = msg.get_body(("plain",))
            self.assertEqual(plain.get_content_charset(), "utf-8")
            # MIME text is CRLF on the wire (RFC 2046 canonical form); compare as lines.
            text = plain.get_content().replace("\r\n", "\n")
            self.assertIn(seed["body"], text)
            self.assertIn("Trích yếu: " + seed["subject"], text)
            self.assertIn("Số: 158-CV/HU", text)
            self.assertIn("Cơ quan ban hành: " + seed["issuer"]["name"], text)
            self.assertIn("Ngày ban hành: 12/07/2021", text)
            html = msg.get_body(("html",)).get_content()
            self.assertIn("Phạm Anh Minh", html)

        # Settled as `sent` (SMTP has no receipts), each with an event from the gateway.
        with self.daemon.db() as db:
            n = db.execute("SELECT COUNT(*) FROM deliveries WHERE directive_id = ? AND channel = 'email'"
                           " AND state = 'sent'", (seed["id"],)).fetchone()[0]
        self.assertEqual(n, len(expected))


if __name__ == "__main__":
    unittest.main(verbosity=2)
