"""heraldctl publish --from-text: the seed công văn, as its text, becomes the directive
(number, issuer, issued_at, the V/v subject, the Kính gửi and Nơi nhận groups matched
through the directory's aliases) and is published only with --yes; a document with a
recipient line no group matches says which line, and publishes nothing. A YAML directive
file is accepted like JSON."""
import json
import os
import tempfile
import unittest
import urllib.parse
import urllib.request

import yaml
from harness import DIRECTORY, REPO, SEED, DaemonTestCase, expected_deliveries, load_directory, wait_until

TEXT = os.path.join(REPO, "tests", "data", "seed-158-CV-HU.txt")


class PublishFromText(DaemonTestCase):
    def directive(self, did):
        return self.daemon.directive(did)

    def test_1_the_seed_text_becomes_the_directive(self):
        # Without --yes (and no terminal): shown, not published.
        r = self.daemon.ctl("publish", "--from-text", TEXT, "--directory", DIRECTORY)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("not published: run again with --yes", r.stderr)
        self.assertIn("number:     158-CV/HU", r.stderr)
        self.assertIn("line 19: Chi bộ, đảng bộ trực thuộc Huyện ủy -> group chi-bo-dang-bo-truc-thuoc", r.stderr)
        self.assertEqual(self.daemon.api("/api/v1/directives")["directives"], [])

        r = self.daemon.ctl("publish", "--from-text", TEXT, "--directory", DIRECTORY, "--yes")
        self.assertEqual(r.returncode, 0, r.stderr)
        did = "hu-chauthanh/158-CV/HU/2021"
        d = wait_until(lambda: self.directive(did), what="the directive taken in")
        self.assertEqual(d["number"], "158-CV/HU")
        self.assertEqual(d["issuer"], {"code": "HU-CHAUTHANH", "name": "Huyện ủy Châu Thành"})
        self.assertTrue(d["issued_at"].startswith("2021-07-12"), d["issued_at"])
        self.assertTrue(d["subject"].startswith("V/v tăng cường trách nhiệm lãnh đạo của các cấp ủy"), d["subject"])
        self.assertTrue(d["subject"].endswith("phòng, chống dịch Covid-19"), d["subject"])
        # The groups matched are the seed directive's own: the same people reached.
        with open(SEED, encoding="utf-8") as f:
            seed = json.load(f)
        self.assertEqual(d["deliveries"], len(expected_deliveries(seed, load_directory())))
        with self.daemon.db() as db:
            raw = json.loads(db.execute("SELECT raw FROM directives WHERE id = ?", (did,)).fetchone()[0])
        self.assertEqual(sorted(x["group"] for x in raw["recipients"]), sorted(x["group"] for x in seed["recipients"]))
        self.assertIn("4. Đề nghị các cấp ủy tổ chức quán triệt", raw["body"])

    def test_2_an_unknown_recipient_line_is_named(self):
        with open(TEXT, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("- Ủy ban nhân dân các xã, thị trấn,", text)
        text = text.replace("- Ủy ban nhân dân các xã, thị trấn,", "- Hội Người mù huyện,")
        with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as f:
            f.write(text.replace("Số 158- CV/HU", "Số 159- CV/HU"))
            path = f.name
        try:
            r = self.daemon.ctl("publish", "--from-text", path, "--directory", DIRECTORY, "--yes")
        finally:
            os.unlink(path)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{path}:20: no group matches \"Hội Người mù huyện\"", r.stderr)
        self.assertIn("line 20: Hội Người mù huyện -> NOT MATCHED", r.stderr)
        self.assertIsNone(self.directive("hu-chauthanh/159-CV/HU/2021"))

    def test_3_a_yaml_directive_file(self):
        with open(SEED, encoding="utf-8") as f:
            seed = json.load(f)
        seed["id"] = "hu-chauthanh/158-CV/HU/2021-yaml"
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", encoding="utf-8", delete=False) as f:
            yaml.safe_dump(seed, f, allow_unicode=True)
            path = f.name
        try:
            r = self.daemon.ctl("publish", path)
        finally:
            os.unlink(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        d = wait_until(lambda: self.directive(seed["id"]), what="the YAML directive taken in")
        self.assertEqual(d["number"], "158-CV/HU")
        self.assertIsNotNone(d["ack_code"])


    def test_4_publish_through_the_api(self):
        with open(SEED, encoding="utf-8") as f:
            seed = json.load(f)
        seed["id"] = "hu-chauthanh/158-CV/HU/2021-api"

        def post(body, token=True):
            headers = {"Content-Type": "application/json"}
            if token:
                headers["Authorization"] = f"Bearer {self.daemon.token}"
            req = urllib.request.Request(f"http://127.0.0.1:{self.daemon.port}/api/v1/directives",
                                         data=body.encode(), headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())
        body = json.dumps(seed, ensure_ascii=False)
        self.assertEqual(post(body, token=False)[0], 401)
        status, answer = post(body)
        self.assertEqual((status, answer["created"], answer["deliveries"]), (201, True, 92))
        status, answer = post(body)
        self.assertEqual((status, answer["created"]), (200, False))  # once by id
        events = self.daemon.api("/api/v1/directives/" + urllib.parse.quote(seed["id"], safe="") + "/events")["events"]
        self.assertIn(("published", "operator:test"), [(e["to"], e["source"]) for e in events])
        status, answer = post('{"schema": "herald.directive/v1"}')
        self.assertEqual(status, 400)
        self.assertIn("id", answer["error"])


if __name__ == "__main__":
    unittest.main()
