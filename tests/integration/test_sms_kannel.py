"""SMS through the real Kannel (bearerbox + smsbox + fake SMSC from scripts/services):
delivery receipts, an outage with retries and the breaker, a permanent rejection, a
SIGKILL mid-fan-out, and Vietnamese text byte for byte."""
import json
import os
import time
import unittest

import yaml

from harness import (DIRECTORY, SEED, DaemonTestCase, load_directory, services, small_directive,
                     wait_until)
import kannel

BLOCKED = "+84912000999"  # scripts/services makes Kannel deny this number


def test_directory(tmpdir):
    """The example directory plus one person whose number Kannel refuses."""
    d = load_directory()
    d["people"].append({"id": "test-so-bi-chan", "name": "Số bị chặn (giả định)",
                        "title": "Thử nghiệm", "groups": ["ubnd-an-hiep"],
                        "contacts": {"phone": "0912 000 999"}, "channels": ["sms"]})
    path = os.path.join(tmpdir, "directory.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(d, f, allow_unicode=True)
    return path


class KannelCase(DaemonTestCase):
    gateway = {}
    dispatch = {}

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls._dir_tmp = tempfile.TemporaryDirectory(prefix="herald-dir-")
        cls.extra_config = {
            "directory": test_directory(cls._dir_tmp.name),
            "gateways": {"kannel-local": kannel.gateway_config(**cls.gateway)},
            "channels": {"sms": {"enabled": True, "gateway": "kannel-local"},
                         "zalo": {"enabled": False}, "email": {"enabled": False},
                         "loudspeaker": {"enabled": False}},
            "dispatch": dict({"poll_interval": "100ms", "backoff_initial": "200ms",
                              "backoff_max": "2s", "max_attempts": 40, "resume_grace": "3s"},
                             **cls.dispatch),
        }
        os.environ["HERALD_TEST_KANNEL_PASSWORD"] = kannel.password()
        super().setUpClass()
        cls.daemon.env["HERALD_TEST_KANNEL_PASSWORD"] = kannel.password()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls._dir_tmp.cleanup()

    def publish(self, directive):
        r = self.daemon.ctl("publish", "-", input=json.dumps(directive, ensure_ascii=False))
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_until(lambda: self.daemon.directive(directive["id"]), what=f"{directive['id']} taken in")

    def rows(self, directive_id):
        with self.daemon.db() as db:
            return db.execute(
                "SELECT id, recipient_id, address, state, attempts, error_code, error_text"
                " FROM deliveries WHERE directive_id = ? AND channel = 'sms'", (directive_id,)).fetchall()

    def wait_final(self, directive_id, timeout=90):
        final = {"delivered", "failed", "expired"}
        wait_until(lambda: all(r[3] in final for r in self.rows(directive_id)), timeout=timeout,
                   interval=0.2, what=f"every SMS of {directive_id} final")
        return self.rows(directive_id)


class SeedThroughKannel(KannelCase):
    def test_every_sms_recipient_gets_it_once_and_it_ends_delivered(self):
        smsc = kannel.SmscLog()
        with open(SEED) as f:
            seed = json.load(f)
        seed["channels"] = ["sms"]
        self.publish(seed)
        rows = self.wait_final(seed["id"])
        phones = {r[2] for r in rows if r[2] and r[2] != BLOCKED}
        self.assertGreater(len(phones), 30)
        self.assertTrue(all(r[3] == "delivered" for r in rows if r[2] in phones), rows)
        wait_until(lambda: len(smsc.messages()) >= len(phones), what="fake SMSC log")
        counts = smsc.count_by_number()
        self.assertEqual({p: 1 for p in phones}, {p: counts.get(p, 0) for p in phones})
        # Every delivery's audit trail: queued -> sending -> sent (gateway or DLR 8) -> delivered (DLR 1).
        with self.daemon.db() as db:
            sources = db.execute(
                "SELECT source, to_state FROM events WHERE delivery_id = ? ORDER BY id", (rows[0][0],)).fetchall()
        self.assertEqual(sources[0], ("intake", "queued"))
        self.assertIn(("receipt:kannel-local", "delivered"), sources)
        self.assertGreaterEqual(self.daemon.metric("herald_receipts_total"), len(phones))
        # heraldctl shows counts and each delivery's state.
        r = self.daemon.ctl("deliveries", seed["id"], "--state", "delivered")
        self.assertEqual(len(r.stdout.strip().splitlines()) - 1, len(phones))


class PermanentRejection(KannelCase):
    def test_denied_number_fails_with_reason_others_unaffected(self):
        d = small_directive("reject", [{"group": "ubnd-an-hiep"}], channels=["sms"])
        self.publish(d)
        rows = self.wait_final(d["id"])
        by_phone = {r[2]: r for r in rows}
        blocked = by_phone[BLOCKED]
        self.assertEqual(blocked[3], "failed")
        self.assertEqual(blocked[4], 1, "a permanent failure is not retried")
        self.assertEqual(blocked[5], "kannel_denied")
        self.assertIn("denied", blocked[6])
        others = [r for p, r in by_phone.items() if p != BLOCKED]
        self.assertEqual(len(others), 2)
        self.assertTrue(all(r[3] == "delivered" for r in others), others)
        r = self.daemon.ctl("deliveries", d["id"], "--state", "failed")
        self.assertIn("kannel_denied", r.stdout)


class KannelOutage(KannelCase):
    gateway = {"breaker": {"failures": 3, "cooldown": "500ms"}}

    def test_retries_breaker_and_recovery_without_duplicates(self):
        smsc = kannel.SmscLog()
        services("stop", "kannel")
        try:
            d = small_directive("outage", [{"group": "ubnd-an-ninh"}, {"group": "ubnd-phu-tam"},
                                           {"group": "ubnd-thien-my"}], channels=["sms"])
            self.publish(d)
            wait_until(lambda: self.daemon.metric("herald_gateway_breaker_open") == 1, timeout=30,
                       what="the breaker to open")
            wait_until(lambda: any(r[4] >= 4 for r in self.rows(d["id"])), timeout=60,
                       what="a delivery retried three times")
            rows = self.rows(d["id"])
            self.assertTrue(all(r[3] in ("retrying", "sending", "failed") for r in rows), rows)
            self.assertTrue(all(r[5].startswith("connect") for r in rows if r[3] == "retrying"), rows)
        finally:
            services("start", "kannel")
        rows = self.wait_final(d["id"], timeout=120)
        rows = [r for r in rows if r[2] != BLOCKED]
        self.assertTrue(all(r[3] == "delivered" for r in rows), rows)
        # Growing delays: each retry of a delivery waits a random time under a ceiling that
        # doubles per attempt (200, 400, 800 ms ...) up to backoff_max (2 s).
        with self.daemon.db() as db:
            events = db.execute(
                "SELECT delivery_id, detail FROM events WHERE directive_id = ? AND to_state = 'retrying'"
                " ORDER BY id", (d["id"],)).fetchall()
        ceilings = {}
        for delivery, detail in events:
            delay = int(detail.split("retry in ")[1].split(" ms")[0])
            ceiling = int(detail.split("backoff ceiling ")[1].split(" ms")[0])
            self.assertLessEqual(delay, ceiling)
            ceilings.setdefault(delivery, []).append(ceiling)
        longest = max(ceilings.values(), key=len)
        self.assertGreaterEqual(len(longest), 3)
        self.assertEqual(longest[:3], [200, 400, 800])
        self.assertTrue(all(c <= 2000 for cs in ceilings.values() for c in cs), "backoff_max caps it")
        # Nothing sent twice: the fake SMSC got each number exactly once.
        phones = {r[2] for r in rows}
        wait_until(lambda: len(smsc.messages()) >= len(phones), what="fake SMSC log")
        self.assertEqual(smsc.count_by_number(), {p: 1 for p in phones})
        wait_until(lambda: self.daemon.metric("herald_gateway_breaker_open") == 0, what="breaker closed")


class CrashMidFanOut(KannelCase):
    # Slow enough that a kill lands in the middle of the fan-out.
    gateway = {"rate": 15, "concurrency": 4}

    def test_sigkill_then_restart_finishes_everything_within_the_promised_duplicates(self):
        smsc = kannel.SmscLog()
        with open(SEED) as f:
            seed = json.load(f)
        seed["id"] = "test/crash-seed"
        seed["channels"] = ["sms"]
        self.publish(seed)
        wait_until(lambda: sum(r[3] != "queued" for r in self.rows(seed["id"])) >= 8, what="fan-out under way")
        self.daemon.kill()
        rows = self.rows(seed["id"])
        in_flight = sum(r[3] == "sending" for r in rows)
        self.assertLess(sum(r[3] in ("delivered", "sent") for r in rows), len(rows), "killed too late")
        self.daemon.start()
        rows = self.wait_final(seed["id"], timeout=120)
        phones = [r[2] for r in rows if r[2] and r[2] != BLOCKED]
        self.assertTrue(all(r[3] == "delivered" for r in rows if r[2] in phones), rows)
        wait_until(lambda: len(smsc.messages()) >= len(phones), what="fake SMSC log")
        counts = smsc.count_by_number()
        self.assertTrue(all(counts.get(p, 0) >= 1 for p in phones), "lost a message")
        duplicates = sum(counts.get(p, 0) - 1 for p in phones)
        # docs/dispatch.md: at most one extra copy per delivery in flight at the crash.
        print(f"\ncrash figures: {len(phones)} SMS, {in_flight} in flight at SIGKILL, "
              f"{duplicates} received twice by the fake SMSC")
        self.assertLessEqual(duplicates, in_flight)
        with self.daemon.db() as db:
            recovered = db.execute("SELECT COUNT(*) FROM events WHERE source = 'recovery'").fetchone()[0]
        self.assertEqual(recovered, in_flight)


VIETNAMESE = ("Kính gửi UBND xã Hồ Đắc Kiện, Thuận Hòa: ă â đ ê ô ơ ư Ă Â Đ Ê Ô Ơ Ư "
              "à á ả ã ạ ằ ắ ẳ ẵ ặ ề ế ể ễ ệ ỳ ý ỷ ỹ ỵ. Đã nhận 158")


class VietnameseText(KannelCase):
    def test_ucs2_survives_byte_for_byte(self):
        smsc = kannel.SmscLog()
        d = small_directive("vi", [{"person": "ct-ubnd-ho-dac-kien"}], channels=["sms"],
                            subject="Họp khẩn", body=VIETNAMESE)
        self.publish(d)
        self.wait_final(d["id"])
        expected = f"Huyện ủy Châu Thành - CV {d['number']}: Họp khẩn. {VIETNAMESE}"
        wait_until(lambda: smsc.messages(), what="fake SMSC log")
        (to, text), = smsc.messages()
        self.assertEqual(to, "+84912000134")
        self.assertEqual(text.encode("utf-8"), expected.encode("utf-8"))


class UnaccentedText(KannelCase):
    gateway = {"unaccented": True}

    def test_khong_dau_when_the_gateway_asks_for_it(self):
        smsc = kannel.SmscLog(coding="gsm7")
        d = small_directive("vi-khong-dau", [{"person": "ct-ubnd-ho-dac-kien"}], channels=["sms"],
                            subject="Họp khẩn", body=VIETNAMESE)
        self.publish(d)
        self.wait_final(d["id"])
        wait_until(lambda: smsc.messages(), what="fake SMSC log")
        (_, text), = smsc.messages()
        self.assertEqual(text, "Huyen uy Chau Thanh - CV vi-khong-dau-TB/HU: Hop khan. Kinh gui UBND xa Ho Dac "
                               "Kien, Thuan Hoa: a a d e o o u A A D E O O U a a a a a a a a a a e e e e e "
                               "y y y y y. Da nhan 158")


if __name__ == "__main__":
    unittest.main(verbosity=2)
