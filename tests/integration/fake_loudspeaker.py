"""A local loudspeaker controller (hệ thống truyền thanh cơ sở) for tests: takes Herald's
job per zone, checks its shape and token, downloads the audio it points to as a real
controller would before playing, and posts playback reports when the test says so."""
import hashlib
import json
import threading
import urllib.request

from fake_http import JsonHandler, serve

REQUIRED = ("job_id", "zones", "priority", "title", "text", "audio", "repeat", "schedule", "callback_url")


class FakeController:
    def __init__(self, api_key):
        self.api_key = api_key
        self.jobs = []       # parsed job bodies, in arrival order
        self.audio = {}      # job_id -> (HTTP status, content type, bytes) of the audio download
        self.problems = []   # shape errors seen
        self.lock = threading.Lock()
        ctl = self

        class Handler(JsonHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Authorization") != "Bearer " + ctl.api_key:
                    return self.send_json(401, {"error": "invalid token"})
                try:
                    job = json.loads(body)
                except ValueError:
                    ctl.problems.append(f"not JSON: {body[:80]!r}")
                    return self.send_json(400, {"error": "bad json"})
                missing = [f for f in REQUIRED if f not in job]
                if missing:
                    ctl.problems.append("missing " + ", ".join(missing))
                    return self.send_json(422, {"error": "missing " + ", ".join(missing)})
                ctl.fetch_audio(job)
                with ctl.lock:
                    ctl.jobs.append(job)
                self.send_json(201, {"job_id": job["job_id"], "status": "scheduled"})

        self.server, self.port = serve(Handler)

    def fetch_audio(self, job):
        url = job["audio"].get("url")
        if not url:
            self.problems.append(f"job {job['job_id']}: no audio url")
            return
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                data = r.read()
                self.audio[job["job_id"]] = (r.status, r.headers.get("Content-Type"), data)
        except urllib.error.HTTPError as e:
            self.audio[job["job_id"]] = (e.code, None, b"")
        if hashlib.sha256(self.audio[job["job_id"]][2]).hexdigest() != job["audio"].get("sha256"):
            self.problems.append(f"job {job['job_id']}: audio sha256 differs from the job's")

    def report(self, job, status, reason=""):
        """Posts a playback report for `job`; returns Herald's HTTP status and answer."""
        data = json.dumps({"job_id": job["job_id"], "status": status, "reason": reason}).encode()
        req = urllib.request.Request(job["callback_url"], data=data,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
