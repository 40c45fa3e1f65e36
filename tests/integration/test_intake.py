"""Directive intake against the real RabbitMQ: the seed directive, malformed directives,
repeats, and what heraldctl shows."""
import json
import os
import tempfile
import unittest

from harness import (SEED, DaemonTestCase, expected_deliveries, load_directory,
                     small_directive, wait_until)


class SeedDirective(DaemonTestCase):
    def test_seed_yields_exactly_the_expected_deliveries(self):
        r = self.daemon.ctl("publish", SEED)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("confirmed", r.stdout)
        with open(SEED) as f:
            seed = json.load(f)
        d = wait_until(lambda: self.daemon.directive(seed["id"]), what="seed directive in the store")
        self.assertEqual(d["number"], "158-CV/HU")
        self.assertEqual(d["issuer"]["name"], "Huyện ủy Châu Thành")
        self.assertEqual(d["urgency"], "khan")

        expected = expected_deliveries(seed, load_directory())
        with self.daemon.db() as db:
            rows = db.execute(
                "SELECT recipient_id, channel, address, state FROM deliveries WHERE directive_id = ?",
                (seed["id"],)).fetchall()
        got = {(r[0], r[1]) for r in rows}
        self.assertEqual(len(rows), len(got), "a (recipient, channel) pair appears twice")
        self.assertEqual(got, expected)
        self.assertTrue(all(r[3] == "queued" for r in rows))
        self.assertGreater(len(rows), 50)
        # A commune chairman's phone, written "0912.000.1xx" style in the directory,
        # is stored in E.164.
        phones = {r[2] for r in rows if r[1] == "sms"}
        self.assertTrue(all(p.startswith("+84912000") and len(p) == 12 for p in phones), phones)
        # The API's counts agree with the store.
        total = sum(sum(c.values()) for c in d["counts"].values())
        self.assertEqual(total, len(rows))
        self.assertEqual(d["deliveries"], len(rows))

        # Every delivery has its "queued" event, and the directive its "received" event.
        with self.daemon.db() as db:
            events = db.execute("SELECT COUNT(*) FROM events WHERE directive_id = ? AND to_state = 'queued'",
                                (seed["id"],)).fetchone()[0]
        self.assertEqual(events, len(rows))

        # heraldctl status shows the table by channel and state, and JSON with --json.
        r = self.daemon.ctl("status", seed["id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("158-CV/HU", r.stdout)
        self.assertIn("CHANNEL", r.stdout)
        self.assertIn("queued", r.stdout)
        r = self.daemon.ctl("--json", "status", seed["id"])
        self.assertEqual(json.loads(r.stdout)["deliveries"], len(rows))
        r = self.daemon.ctl("status")
        self.assertIn(seed["id"], r.stdout)
        r = self.daemon.ctl("deliveries", seed["id"], "--channel", "email")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.strip().splitlines()) - 1,
                         sum(1 for x in expected if x[1] == "email"))


class MalformedDirectives(DaemonTestCase):
    CASES = {
        "not-json": (b'{"schema": "herald.directive/v1", "id": "x",', "not valid JSON"),
        "wrong-schema": (json.dumps(dict(small_directive("ws"), schema="herald.directive/v0")).encode(),
                         'schema: is "herald.directive/v0"'),
        "missing-id": (json.dumps({k: v for k, v in small_directive("mi").items() if k != "id"}).encode(),
                       "id: is required"),
        "unknown-group": (json.dumps(small_directive("ug", [{"group": "ubnd-xa-khong-co"}])).encode(),
                          'recipients[0].group: unknown group "ubnd-xa-khong-co"'),
        "bad-date": (json.dumps(small_directive("bd", issued_at="2021-02-30T08:00:00+07:00")).encode(),
                     'issued_at: "2021-02-30T08:00:00+07:00" is not an RFC 3339 date-time'),
    }

    def test_each_lands_in_the_dead_letter_queue_with_its_reason(self):
        with tempfile.TemporaryDirectory() as tmp:
            for name, (body, _) in self.CASES.items():
                path = os.path.join(tmp, name + ".json")
                with open(path, "wb") as f:
                    f.write(body)
                # Without --force heraldctl refuses to publish an invalid directive...
                if name != "unknown-group":  # (heraldctl cannot know the directory)
                    r = self.daemon.ctl("publish", path)
                    self.assertEqual(r.returncode, 1, name)
                # ...with it, heraldd gets it and must dead-letter it.
                r = self.daemon.ctl("publish", "--force", path)
                self.assertEqual(r.returncode, 0, r.stderr)
        # The consumer keeps going: a good directive after them is taken in.
        good = small_directive("after-malformed")
        r = self.daemon.ctl("publish", "-", input=json.dumps(good))
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_until(lambda: self.daemon.directive(good["id"]), what="the good directive")

        dead = self.vhost.drain("herald.directives.dead", expect=len(self.CASES))
        self.assertEqual(len(dead), len(self.CASES))
        bodies = {body: props for props, body in dead}
        for name, (body, reason) in self.CASES.items():
            self.assertIn(body, bodies, f"{name}: original body not in the DLQ byte for byte")
            header = bodies[body].headers.get("x-herald-error")
            if isinstance(header, bytes):
                header = header.decode()
            self.assertIn(reason, header, name)
        self.assertEqual(self.daemon.metric("herald_directives_rejected_total"), len(self.CASES))
        with self.daemon.db() as db:
            self.assertEqual(db.execute("SELECT COUNT(*) FROM directives").fetchone()[0], 1)
        self.assertIsNone(self.daemon.proc.poll())


class RepeatedDirective(DaemonTestCase):
    def test_same_directive_three_times_yields_one_set(self):
        d = small_directive("repeat", [{"group": "ubnd-xa-thi-tran"}])
        for _ in range(3):
            r = self.daemon.ctl("publish", "-", input=json.dumps(d))
            self.assertEqual(r.returncode, 0, r.stderr)
        wait_until(lambda: self.daemon.metric("herald_directives_duplicate_total") == 2,
                   what="two duplicates seen")
        expected = expected_deliveries(d, load_directory())
        with self.daemon.db() as db:
            self.assertEqual(db.execute("SELECT COUNT(*) FROM directives").fetchone()[0], 1)
            n = db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
        self.assertEqual(n, len(expected))
        self.assertEqual(self.daemon.metric("herald_directives_created_total"), 1)
        # Nothing left unacked or dead-lettered.
        self.assertEqual(self.vhost.drain("herald.directives.dead"), [])


class HeraldctlUsage(DaemonTestCase):
    def test_exit_codes(self):
        self.assertEqual(self.daemon.ctl().returncode, 2)
        self.assertEqual(self.daemon.ctl("frobnicate").returncode, 2)
        self.assertEqual(self.daemon.ctl("status", "no/such/id").returncode, 1)
        r = self.daemon.ctl("--token", "wrong-token-wrong-token", "status")
        self.assertEqual(r.returncode, 1)
        self.assertIn("401", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
