"""The web dashboard in Debian's headless Chromium, driven over WebDriver (chromedriver;
the protocol is plain HTTP, so only the standard library is needed): a directive's
counts on the page equal the API's, the failed send and who has not acknowledged are
listed, a viewer's replay is refused, the operator's replay works and sends the fixed
number once. A screenshot is kept in the build folder (test-artifacts/dashboard.png)."""
import base64
import json
import os
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import kannel
from harness import free_port, wait_until
from wrong_number import WrongNumberCase

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
VIEWER_TOKEN = "viewer-token-77aa01c3d9e2"
ARTIFACTS = os.path.join(os.environ.get("HERALD_BUILD_DIR", tempfile.gettempdir()), "test-artifacts")


class WebDriver:
    """The few W3C WebDriver commands the test needs."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen([CHROMEDRIVER, f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_until(lambda: self.call("GET", "/status", quiet=True), timeout=30, what="chromedriver")
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--lang=vi-VN"]}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None, quiet=False):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())["value"]
        except (urllib.error.URLError, ConnectionError):
            if quiet:
                return None
            raise

    def s(self, path, body=None, method="POST"):
        return self.call(method, f"/session/{self.session}{path}", body)

    def go(self, url):
        self.s("/url", {"url": "about:blank"})  # a fresh page even if only the fragment differs
        self.s("/url", {"url": url})

    def script(self, code):
        return self.s("/execute/sync", {"script": code, "args": []})

    def click(self, css):
        el = self.s("/element", {"using": "css selector", "value": css})
        self.s(f"/element/{list(el.values())[0]}/click", {})

    def screenshot(self, path):
        png = base64.b64decode(self.s("/screenshot", method="GET"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(png)
        return len(png)

    def quit(self):
        try:
            self.s("", method="DELETE")
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@unittest.skipUnless(os.path.exists(CHROMEDRIVER) and os.path.exists(CHROMIUM),
                     "chromium and chromium-driver are not installed (scripts/setup)")
class Dashboard(WrongNumberCase):
    wrong_person = "dtt-phu-tan"
    viewer_token = VIEWER_TOKEN

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.browser = WebDriver()

    @classmethod
    def tearDownClass(cls):
        cls.browser.quit()
        super().tearDownClass()

    def dom_counts(self):
        return self.browser.script(
            "const out = {}; for (const td of document.querySelectorAll('#counts td[data-state]')) {"
            " out[td.dataset.channel + '/' + td.dataset.state] = Number(td.textContent); } return out;")

    def api_counts(self, did):
        d = self.daemon.api("/api/v1/directives/" + urllib.parse.quote(did, safe=""))
        return {f"{ch}/{st}": n for ch, states in d["counts"].items() for st, n in states.items()}

    def test_counts_match_the_api_and_replay_works(self):
        smsc = kannel.SmscLog(coding="gsm7")
        d = {"schema": "herald.directive/v1", "id": "it-dashboard/43-TB/HU/2026", "number": "43-TB/HU",
             "issuer": {"code": "HU-CHAUTHANH", "name": "Huyện ủy Châu Thành"},
             "issued_at": "2026-11-29T08:00:00+07:00", "subject": "V/v kiểm tra loa truyền thanh",
             "body": "Đề nghị kiểm tra loa.", "urgency": "khan", "confidentiality": "normal",
             "recipients": [{"group": "truyen-thanh-co-so"}], "channels": ["sms"],
             "ack": {"required": True, "deadline": "2099-12-31T17:00:00+07:00"}}
        r = self.daemon.ctl("publish", "-", input=json.dumps(d, ensure_ascii=False))
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_until(lambda: self.daemon.directive(d["id"]), what="the directive taken in")
        wait_until(lambda: self.api_counts(d["id"]).get("sms/failed") == 1 and
                   self.api_counts(d["id"]).get("sms/delivered") == 7, what="7 delivered, 1 failed")

        base = f"http://127.0.0.1:{self.daemon.port}/dashboard/"
        # The list shows the directive, with a link to its page.
        self.browser.go(base + "#token=" + urllib.parse.quote(self.daemon.token))
        wait_until(lambda: self.browser.script("return document.querySelector('#directives tbody a') !== null"),
                   what="the directive list")
        self.assertIn("43-TB/HU", self.browser.script("return document.querySelector('#directives').textContent"))
        self.browser.click("#directives tbody a")
        wait_until(lambda: self.dom_counts(), what="the progress table")
        self.assertEqual(self.dom_counts(), self.api_counts(d["id"]))
        page = self.browser.script("return document.body.innerText")
        self.assertIn("Gửi không thành công (1)", page)
        self.assertIn("kannel_denied", page)
        self.assertIn("Chưa xác nhận đã nhận (8)", page)
        self.assertIn("Tiến độ theo kênh", page)

        # The number is fixed in the directory and reloaded; a viewer cannot replay.
        self.set_phone("0912 000 997")
        self.write_directory()
        r = self.daemon.ctl("directory", "reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        viewer_url = base + "?id=" + urllib.parse.quote(d["id"], safe="") + "#token=" + VIEWER_TOKEN
        self.browser.go(viewer_url)
        wait_until(lambda: self.dom_counts(), what="the viewer's page")
        self.browser.click("#replay")
        wait_until(lambda: "chỉ có quyền xem" in self.browser.script(
            "return document.getElementById('replay-result').textContent"), what="the viewer refused")
        self.assertEqual(self.api_counts(d["id"]).get("sms/failed"), 1)

        # The operator's replay sends it once, to the new number; the page follows live.
        self.browser.go(base + "?id=" + urllib.parse.quote(d["id"], safe="") + "#token=" +
                        urllib.parse.quote(self.daemon.token))
        wait_until(lambda: self.dom_counts(), what="the operator's page")
        self.browser.click("#replay")
        wait_until(lambda: "Đã gửi lại 1 tin" in self.browser.script(
            "return document.getElementById('replay-result').textContent"), what="the replay answer")
        wait_until(lambda: self.dom_counts().get("sms/delivered") == 8, timeout=30,
                   what="the page showing all 8 delivered")
        self.assertEqual(self.dom_counts(), self.api_counts(d["id"]))
        wait_until(lambda: any(k.endswith("912000997") for k in smsc.count_by_number()), what="the SMS")
        self.assertEqual(sum(n for k, n in smsc.count_by_number().items() if k.endswith("912000997")), 1)
        time.sleep(0.5)  # let the 2 s refresh settle before the picture
        size = self.browser.screenshot(os.path.join(ARTIFACTS, "dashboard.png"))
        self.assertGreater(size, 10000)
        print(f"\nscreenshot: {os.path.join(ARTIFACTS, 'dashboard.png')} ({size} bytes)")


if __name__ == "__main__":
    unittest.main()
