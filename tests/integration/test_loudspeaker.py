"""Commune loudspeakers end to end: the seed directive to three zones becomes three jobs at
a local controller, each with its priority and a playable MP3 that heraldd rendered with
espeak-ng; playback reports settle the deliveries; the CAP 1.2 feed and its Atom index
validate against the official schema, and a cancellation publishes a Cancel."""
import copy
import hashlib
import json
import os
import subprocess
import tempfile
import unittest
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

from fake_loudspeaker import FakeController
from harness import SEED, DaemonTestCase, wait_until

API_KEY = "loa-test-key-5d21"
VIEWER_TOKEN = "viewer-token-0c55e2b19d7a"
ZONES = ["an-hiep", "an-ninh", "ho-dac-kien"]
XSD = os.path.join(os.path.dirname(__file__), "..", "data", "standards", "CAP-v1.2.xsd")
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
ATOM = "{http://www.w3.org/2005/Atom}"
SENDER = "vanphong@huyenuy.chauthanh.example"


def seed(**changes):
    with open(SEED, encoding="utf-8") as f:
        d = json.load(f)
    d["channels"] = ["loudspeaker"]
    d["loudspeaker"] = {"zones": ZONES, "repeat": 2}
    d.update(changes)
    return d


def xmllint(data, schema=True):
    """xmllint's verdict on `data`: (exit status, its messages)."""
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        f.write(data)
        f.flush()
        cmd = ["xmllint", "--noout"] + (["--schema", XSD] if schema else []) + [f.name]
        r = subprocess.run(cmd, capture_output=True, text=True)
        return r.returncode, r.stderr


class Loudspeakers(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        cls.controller = FakeController(API_KEY)
        os.environ["HERALD_TEST_LOA_KEY"] = API_KEY
        os.environ["HERALD_TEST_VIEWER_TOKEN"] = VIEWER_TOKEN
        cls.extra_config = {
            "http": {"admin_tokens": [
                {"name": "test", "role": "operator", "token": "env:HERALD_TEST_ADMIN_TOKEN"},
                {"name": "watcher", "role": "viewer", "token": "env:HERALD_TEST_VIEWER_TOKEN"}]},
            "gateways": {"loa": {
                "type": "loudspeaker_http",
                "url": f"http://127.0.0.1:{cls.controller.port}/api/jobs",
                "headers": {"Authorization": "Bearer {{secret.key}}"},
                "secrets": {"key": "env:HERALD_TEST_LOA_KEY"},
            }},
            "channels": {"loudspeaker": {"enabled": True, "gateway": "loa", "confidential": "notice"}},
            "feeds": {"cap": {"sender": SENDER, "category": "Health"}},
            "dispatch": {"poll_interval": "100ms", "backoff_initial": "100ms", "backoff_max": "1s"},
        }
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.controller.close()

    def publish(self, directive):
        r = self.daemon.ctl("publish", "-", input=json.dumps(directive, ensure_ascii=False))
        self.assertEqual(r.returncode, 0, r.stderr)

    def jobs_for(self, directive_id, n):
        wait_until(lambda: len([j for j in self.controller.jobs if j["directive"]["id"] == directive_id]) >= n,
                   timeout=120, what=f"{n} controller jobs for {directive_id}")
        return [j for j in self.controller.jobs if j["directive"]["id"] == directive_id]

    def deliveries(self, directive_id):
        return self.daemon.api("/api/v1/directives/" + urllib.parse.quote(directive_id, safe="") +
                               "/deliveries")["deliveries"]

    def get(self, url):
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status, r.headers.get("Content-Type"), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read()

    def test_1_seed_to_three_zones_with_playable_audio_and_reports(self):
        d = seed()
        self.publish(d)
        jobs = self.jobs_for(d["id"], 3)
        self.assertEqual(self.controller.problems, [])
        self.assertEqual(sorted(j["zones"][0] for j in jobs), ZONES)
        for job in jobs:
            self.assertEqual(job["priority"], "priority")  # Khẩn
            self.assertEqual(job["repeat"], 2)
            self.assertEqual(job["schedule"]["mode"], "immediate")
            self.assertEqual(job["directive"]["number"], "158-CV/HU")
            self.assertIn("một trăm năm mươi tám", job["text"])  # 158 read as words
            self.assertNotIn("158", job["text"])
            self.assertIn("Ban Thường vụ", job["text"])  # "BTV" expanded for reading aloud
            self.assertNotIn("BTV", job["text"])
            status, ctype, audio = self.controller.audio[job["job_id"]]
            self.assertEqual((status, ctype), (200, "audio/mpeg"))
            self.assertEqual(len(audio), job["audio"]["bytes"])
            self.assertEqual(job["audio"]["voice"], "southern")  # the directory's zones
        # All three zones share the southern voice: one rendered file.
        self.assertEqual(len({j["audio"]["url"] for j in jobs}), 1)

        # It decodes, and lasts what the job says (sox, from Debian).
        with tempfile.NamedTemporaryFile(suffix=".mp3") as f:
            f.write(self.controller.audio[jobs[0]["job_id"]][2])
            f.flush()
            r = subprocess.run(["soxi", "-D", f.name], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            seconds = float(r.stdout)
            self.assertAlmostEqual(seconds, jobs[0]["audio"]["duration_s"], delta=0.1 * seconds + 0.2)
            words = len(jobs[0]["text"].split())
            self.assertTrue(1.0 <= words / seconds <= 5.0, f"{words} words in {seconds:.1f} s")

        # Every job was accepted: sent, waiting for its playback report.
        wait_until(lambda: all(x["state"] == "sent" for x in self.deliveries(d["id"])), what="jobs sent")
        by_zone = {j["zones"][0]: j for j in jobs}
        for zone in ("an-hiep", "an-ninh"):
            status, answer = self.controller.report(by_zone[zone], "played")
            self.assertEqual(status, 200, answer)
            self.assertEqual(answer["state"], "delivered")
        status, answer = self.controller.report(by_zone["ho-dac-kien"], "failed", "Mất điện trạm phát xã")
        self.assertEqual((status, answer["state"]), (200, "failed"))
        rows = {x["recipient"]["id"]: x for x in self.deliveries(d["id"])}
        self.assertEqual({z: rows[z]["state"] for z in ZONES},
                         {"an-hiep": "delivered", "an-ninh": "delivered", "ho-dac-kien": "failed"})
        self.assertEqual(rows["ho-dac-kien"]["error"], {"code": "provider_failed", "text": "Mất điện trạm phát xã"})
        # A late "playing" after "played" changes nothing; a forged token changes nothing.
        status, answer = self.controller.report(by_zone["an-hiep"], "playing")
        self.assertEqual((status, answer["applied"], answer["state"]), (200, False, "delivered"))
        forged = dict(by_zone["an-hiep"], callback_url=by_zone["an-hiep"]["callback_url"][:-4] + "0000")
        status, _ = self.controller.report(forged, "failed")
        self.assertEqual(status, 404)

    def test_2_cap_feed_validates_against_the_official_schema(self):
        d = seed()
        self.jobs_for(d["id"], 3)  # published by test 1 (tests run in name order)
        status, ctype, atom = self.get(f"http://127.0.0.1:{self.daemon.port}/feeds/cap.atom")
        self.assertEqual((status, ctype), (200, "application/atom+xml; charset=utf-8"))
        rc, err = xmllint(atom, schema=False)
        self.assertEqual(rc, 0, err)
        feed = ET.fromstring(atom)
        entries = feed.findall(ATOM + "entry")
        self.assertGreaterEqual(len(entries), 1)
        for entry in entries:
            href = entry.find(ATOM + "link").get("href")
            status, ctype, doc = self.get(href)
            self.assertEqual(ctype, "application/cap+xml; charset=utf-8")
            rc, err = xmllint(doc)
            self.assertEqual(rc, 0, f"{href}: {err}")
        # The seed's alert in detail.
        url = f"http://127.0.0.1:{self.daemon.port}/feeds/cap/{urllib.parse.quote(d['id'], safe='')}.xml"
        _, _, doc = self.get(url)
        alert = ET.fromstring(doc)
        self.assertEqual(alert.findtext(CAP + "identifier"), d["id"])
        self.assertEqual(alert.findtext(CAP + "sender"), SENDER)
        self.assertEqual(alert.findtext(CAP + "sent"), "2021-07-12T08:00:00+07:00")
        self.assertEqual(alert.findtext(CAP + "msgType"), "Alert")
        info = alert.find(CAP + "info")
        self.assertEqual(info.findtext(CAP + "language"), "vi-VN")
        self.assertEqual(info.findtext(CAP + "category"), "Health")
        self.assertEqual(info.findtext(CAP + "senderName"), "Huyện ủy Châu Thành")
        self.assertIn("phòng, chống dịch Covid-19", info.findtext(CAP + "headline"))
        areas = [a.findtext(CAP + "areaDesc") for a in info.findall(CAP + "area")]
        self.assertEqual(areas, ["Xã An Hiệp", "Xã An Ninh", "Xã Hồ Đắc Kiện"])
        geocodes = [a.find(CAP + "geocode").findtext(CAP + "value") for a in info.findall(CAP + "area")]
        self.assertTrue(all(geocodes), geocodes)
        resources = info.findall(CAP + "resource")
        self.assertEqual(len(resources), 1)  # one voice, one file
        res = resources[0]
        self.assertEqual(res.findtext(CAP + "mimeType"), "audio/mpeg")
        _, _, audio = self.get(res.findtext(CAP + "uri"))
        self.assertEqual(int(res.findtext(CAP + "size")), len(audio))
        self.assertEqual(res.findtext(CAP + "digest"), hashlib.sha1(audio).hexdigest())
        # The check can fail: the same document with a wrong urgency does not validate.
        rc, _ = xmllint(doc.replace(b"<urgency>Expected</urgency>", b"<urgency>Soon</urgency>"))
        self.assertNotEqual(rc, 0)

    def test_3_cancel_publishes_a_cancel_referencing_the_original(self):
        d = seed(id="hu-chauthanh/160-TB/HU/2021", number="160-TB/HU", urgency="hoa_toc",
                 subject="V/v sơ tán dân khỏi vùng sạt lở bờ sông",
                 summary="Khẩn cấp di dời các hộ dân ven sông ấp An Lợi trước 17 giờ ngày 13/7/2021.")
        self.publish(d)
        jobs = self.jobs_for(d["id"], 3)
        self.assertEqual({j["priority"] for j in jobs}, {"emergency"})
        url = f"http://127.0.0.1:{self.daemon.port}/feeds/cap/{urllib.parse.quote(d['id'], safe='')}"
        _, _, original = self.get(url + ".xml")
        original = ET.fromstring(original)

        def cancel(token):
            body = json.dumps({"reason": "Đã có thông báo thay thế"}).encode()
            headers = {"Content-Type": "application/json"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            req = urllib.request.Request(f"http://127.0.0.1:{self.daemon.port}/api/v1/directives/"
                                         f"{urllib.parse.quote(d['id'], safe='')}/cancel", data=body,
                                         method="POST", headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()

        # No token: 401; a viewer: 403; neither cancels anything.
        self.assertEqual(cancel(None)[0], 401)
        self.assertEqual(cancel(VIEWER_TOKEN)[0], 403)
        status, _, _ = self.get(url + ".xml")
        self.assertEqual(self.get(url + ".cancel.xml")[0], 404)
        status, answer = cancel(self.daemon.token)
        self.assertEqual(status, 200, answer)
        self.assertFalse(answer["already_cancelled"])
        self.assertEqual(cancel(self.daemon.token)[1]["already_cancelled"], True)

        status, _, cancel = self.get(url + ".cancel.xml")
        self.assertEqual(status, 200)
        rc, err = xmllint(cancel)
        self.assertEqual(rc, 0, err)
        c = ET.fromstring(cancel)
        self.assertEqual(c.findtext(CAP + "msgType"), "Cancel")
        self.assertEqual(c.findtext(CAP + "references"),
                         ",".join([SENDER, original.findtext(CAP + "identifier"), original.findtext(CAP + "sent")]))
        self.assertEqual(c.findtext(CAP + "note"), "Đã có thông báo thay thế")
        # The Atom index now lists the Cancel for it, not the original.
        _, _, atom = self.get(f"http://127.0.0.1:{self.daemon.port}/feeds/cap.atom")
        hrefs = [e.find(ATOM + "link").get("href") for e in ET.fromstring(atom).findall(ATOM + "entry")]
        self.assertIn(url + ".cancel.xml", hrefs)
        self.assertNotIn(url + ".xml", hrefs)
        rc, err = xmllint(atom, schema=False)
        self.assertEqual(rc, 0, err)

    def test_4_confidential_reaches_the_zones_as_a_notice_only(self):
        d = seed(id="hu-chauthanh/161-CV/HU/2021", number="161-CV/HU", confidentiality="mat",
                 subject="V/v công tác bảo vệ bí mật nhà nước", summary="Nội dung mật không được đọc.",
                 body="Nội dung mật không được đọc trên loa.")
        self.publish(d)
        jobs = self.jobs_for(d["id"], 3)
        for job in jobs:
            self.assertNotIn("bí mật nhà nước", job["text"] + job["title"])
            self.assertNotIn("không được đọc", job["text"])
            self.assertIn("Huyện ủy Châu Thành có văn bản", job["text"])
        # Nothing of it in the public feeds: no alert, no entry, not even its number.
        status, _, doc = self.get(f"http://127.0.0.1:{self.daemon.port}/feeds/cap/"
                                  f"{urllib.parse.quote(d['id'], safe='')}.xml")
        self.assertEqual(status, 404)
        _, _, missing = self.get(f"http://127.0.0.1:{self.daemon.port}/feeds/cap/"
                                 f"{urllib.parse.quote('hu-chauthanh/999-CV/HU/2021', safe='')}.xml")
        self.assertEqual(doc, missing, "a confidential alert answers as one that does not exist")
        _, _, atom = self.get(f"http://127.0.0.1:{self.daemon.port}/feeds/cap.atom")
        for shown in (doc, atom):
            self.assertNotIn(b"161-CV", shown)
            self.assertNotIn("bí mật nhà nước".encode(), shown)


if __name__ == "__main__":
    unittest.main()
