"""Operator tools against a running heraldd and the real Kannel: a wrong phone number fails;
the contact is fixed in the directory file, the directory reloaded (heraldctl, then
SIGHUP), and `heraldctl replay` sends it once to the new number; a second replay sends
nothing. A viewer token cannot replay (403), no token gets 401; cancel and export work."""
import csv
import io
import json
import signal
import unittest
import urllib.parse
import urllib.request

import kannel
from harness import wait_until
from wrong_number import DENIED, WrongNumberCase

FIXED = "0912 000 998"
VIEWER_TOKEN = "viewer-token-5e1f09aa2b7c"


class ReplayAfterAFix(WrongNumberCase):
    wrong_person = "dtt-an-hiep"
    viewer_token = VIEWER_TOKEN

    def rows(self, did):
        return {r["recipient"]["id"]: r for r in self.daemon.api(
            "/api/v1/directives/" + urllib.parse.quote(did, safe="") + "/deliveries")["deliveries"]}

    def test_fix_reload_replay_once(self):
        smsc = kannel.SmscLog(coding="gsm7")
        d = {"schema": "herald.directive/v1", "id": "it-operator/42-TB/HU/2026", "number": "42-TB/HU",
             "issuer": {"code": "HU-CHAUTHANH", "name": "Huyện ủy Châu Thành"},
             "issued_at": "2026-11-29T08:00:00+07:00", "subject": "V/v kiểm tra hệ thống truyền thanh",
             "body": "Đề nghị kiểm tra loa trước 17 giờ.", "urgency": "normal", "confidentiality": "normal",
             "recipients": [{"group": "truyen-thanh-co-so"}], "channels": ["sms"]}
        r = self.daemon.ctl("publish", "-", input=json.dumps(d, ensure_ascii=False))
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_until(lambda: self.daemon.directive(d["id"]), what="the directive taken in")
        wait_until(lambda: self.rows(d["id"]).get("dtt-an-hiep", {}).get("state") == "failed", what="the wrong number fails")
        self.assertEqual(self.rows(d["id"])["dtt-an-hiep"]["error"]["code"], "kannel_denied")

        # Viewer: 403; no token: 401; the dry run sends nothing.
        r = self.daemon.ctl("--token", VIEWER_TOKEN, "replay", d["id"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("HTTP 403", r.stderr)
        req = urllib.request.Request(f"http://127.0.0.1:{self.daemon.port}/api/v1/directives/"
                                     f"{urllib.parse.quote(d['id'], safe='')}/replay", data=b"{}", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(e.exception.code, 401)
        r = self.daemon.ctl("--json", "replay", d["id"], "--dry-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        dry = json.loads(r.stdout)
        self.assertEqual((dry["dry_run"], dry["would_replay"], dry["replayed"]), (True, 1, 0))
        self.assertEqual(dry["deliveries"][0]["address"], DENIED)
        self.assertEqual(self.rows(d["id"])["dtt-an-hiep"]["state"], "failed")

        # A broken directory file is refused and the one in use stays.
        self.write_directory("people: [\n")
        r = self.daemon.ctl("directory", "reload")
        self.assertEqual(r.returncode, 1)
        self.assertIn("HTTP 422", r.stderr)
        self.assertIn(self.dir_file + ":", r.stderr)
        r = self.daemon.ctl("directory", "check", self.dir_file)
        self.assertEqual(r.returncode, 1)

        # Fixed in the file, reloaded, replayed: once, to the new number.
        self.set_phone(FIXED)
        self.write_directory()
        r = self.daemon.ctl("directory", "check", self.dir_file)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.daemon.ctl("directory", "reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.daemon.ctl("--json", "replay", d["id"], "--reason", "sửa số điện thoại")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["replayed"], 1)
        self.assertEqual((out["deliveries"][0]["old_address"], out["deliveries"][0]["address"]), (DENIED, "+84912000998"))
        wait_until(lambda: self.rows(d["id"])["dtt-an-hiep"]["state"] == "delivered", what="the replay delivered")
        self.assertEqual(self.rows(d["id"])["dtt-an-hiep"]["address"], "+84912000998")
        # Replaying again sends nothing: nothing is failed any more.
        r = self.daemon.ctl("--json", "replay", d["id"])
        self.assertEqual(json.loads(r.stdout)["replayed"], 0)
        wait_until(lambda: any(k.endswith("912000998") for k in smsc.count_by_number()),
                   what="the fixed number's SMS at the fake SMSC")
        counts = smsc.count_by_number()
        self.assertEqual(sum(n for k, n in counts.items() if k.endswith("912000998")), 1)
        self.assertEqual(sum(n for k, n in counts.items() if k.endswith("912000999")), 0)
        # The audit trail names the operator and the reason.
        events = self.daemon.api("/api/v1/directives/" + urllib.parse.quote(d["id"], safe="") + "/events")["events"]
        replays = [e for e in events if e["source"] == "operator:test"]
        self.assertEqual(len(replays), 1)
        self.assertIn("sửa số điện thoại", replays[0]["detail"])
        self.assertIn("+84912000999 -> +84912000998", replays[0]["detail"])

        # Export: one CSV row per delivery.
        r = self.daemon.ctl("export", d["id"], "--csv")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        self.assertEqual(len(rows), len(self.rows(d["id"])))
        self.assertEqual({x["recipient_id"]: x["state"] for x in rows}["dtt-an-hiep"], "delivered")

        # SIGHUP reloads too.
        self.daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: self.daemon.logs().count("directory reloaded") >= 2, what="the SIGHUP reload")

        # Cancel: the viewer cannot, the operator can, once.
        r = self.daemon.ctl("--token", VIEWER_TOKEN, "cancel", d["id"])
        self.assertEqual(r.returncode, 1)
        r = self.daemon.ctl("cancel", d["id"], "--reason", "thử nghiệm")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("cancelled", r.stdout)
        r = self.daemon.ctl("--json", "replay", d["id"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("HTTP 409", r.stderr)


if __name__ == "__main__":
    unittest.main()
