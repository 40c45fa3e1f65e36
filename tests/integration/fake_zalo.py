"""A local Zalo for tests: the OA message API (/v3.0/oa/message/cs), ZNS
(/message/template) and the OAuth refresh (/v4/oa/access_token), with Zalo's request
shapes checked and its answers (HTTP 200 with {"error": <int>, ...}); and the OA webhook
side: events signed like Zalo's (X-ZEvent-Signature: mac=sha256(app_id + body +
timestamp + oa_secret_key)) posted to heraldd."""
import hashlib
import json
import re
import threading
import time
import urllib.parse
import urllib.request
from fake_http import JsonHandler, serve


class FakeZalo:
    def __init__(self, app_id, secret_key, oa_secret_key, access_token, refresh_token, no_account=(),
                 expire_after=None, template_id=None, template_params=()):
        self.app_id = app_id
        self.secret_key = secret_key          # App Secret Key: the refresh's secret_key header
        self.oa_secret_key = oa_secret_key    # OA Secret Key: signs webhook events
        self.access_token = access_token      # the one valid access token
        self.refresh_token = refresh_token    # the one valid refresh token (rotates)
        self.spent_refresh_tokens = []        # used once, refused ever after
        self.no_account = set(no_account)     # user ids / phones answered -118
        self.expire_after = expire_after      # accepted sends before the token expires (once)
        self.template_id = template_id
        self.template_params = set(template_params)
        self.requests = []                    # (path, parsed JSON) of accepted-shape sends
        self.sent = {}                        # message id -> (path, request)
        self.problems = []                    # shape errors seen
        self.refresh_calls = 0
        self.expired_answers = 0              # -216 answers given
        self.lock = threading.Lock()
        self._accepted = 0
        self._n = 0
        fake = self

        class Handler(JsonHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = urllib.parse.urlparse(self.path).path
                if path == "/v4/oa/access_token":
                    return self.answer(fake.oauth(self.headers, body))
                if path in ("/v3.0/oa/message/cs", "/message/template"):
                    return self.answer(fake.send(path, self.headers, body))
                fake.problems.append(f"unexpected path {self.path}")
                self.answer({"error": -201, "message": "Invalid path"}, status=404)

            def answer(self, obj, status=200):
                self.send_json(status, obj)

        self.server, self.port = serve(Handler)
        self.url = f"http://127.0.0.1:{self.port}"

    # ---- provider side ------------------------------------------------------------------

    def problem(self, text):
        with self.lock:
            self.problems.append(text)

    def send(self, path, headers, body):
        if not headers.get("Content-Type", "").startswith("application/json"):
            self.problem("content type " + headers.get("Content-Type", ""))
        try:
            req = json.loads(body)
        except ValueError:
            self.problem(f"not JSON: {body[:80]!r}")
            return {"error": -201, "message": "Body is not JSON"}
        if "access_token" in urllib.parse.urlparse(path).query:
            self.problem("access token in the URL")
        token = headers.get("access_token")
        with self.lock:
            if not token:
                self.problems.append("no access_token header")
                return {"error": -124, "message": "Access token is empty"}
            if token != self.access_token:
                self.expired_answers += 1
                return {"error": -216, "message": "Access token is invalid"}
        if path == "/v3.0/oa/message/cs":
            who, error = self.check_oa(req)
        else:
            who, error = self.check_zns(req)
        if error:
            self.problem(error)
            return {"error": -201, "message": error}
        with self.lock:
            if self.expire_after is not None and self._accepted >= self.expire_after:
                # The token expires now, once: the client must refresh it.
                self.expire_after = None
                self.access_token = "expired:" + self.access_token
                self.expired_answers += 1
                return {"error": -216, "message": "Access token is invalid"}
            self.requests.append((path, req))
            if who in self.no_account:
                return {"error": -118, "message": "Zalo account not existed"}
            self._accepted += 1
            self._n += 1
            if path == "/v3.0/oa/message/cs":
                mid = f"oa{self._n:04d}{who[-4:]}"
                self.sent[mid] = (path, req)
                return {"error": 0, "message": "Success", "data": {"message_id": mid, "user_id": who}}
            mid = f"zns{self._n:04d}{who[-4:]}"
            self.sent[mid] = (path, req)
            return {"error": 0, "message": "Success",
                    "data": {"msg_id": mid, "sent_time": str(int(time.time() * 1000)),
                             "quota": {"dailyQuota": "500", "remainingQuota": str(500 - self._n)}}}

    @staticmethod
    def check_oa(req):
        if set(req) != {"recipient", "message"}:
            return None, f"OA body keys {sorted(req)}"
        uid = (req.get("recipient") or {}).get("user_id")
        text = (req.get("message") or {}).get("text")
        if not isinstance(uid, str) or not uid.isdigit():
            return None, f"recipient.user_id {uid!r}"
        if not isinstance(text, str) or not text.strip():
            return None, "message.text missing"
        if len(text) > 2000:
            return None, f"message.text has {len(text)} characters (max 2000)"
        return uid, None

    def check_zns(self, req):
        if set(req) != {"phone", "template_id", "template_data", "tracking_id"}:
            return None, f"ZNS body keys {sorted(req)}"
        phone = req["phone"]
        if not isinstance(phone, str) or not re.fullmatch(r"84[1-9][0-9]{8}", phone):
            return None, f"phone {phone!r} is not 84xxxxxxxxx"
        if self.template_id is not None and req["template_id"] != self.template_id:
            return None, f"template_id {req['template_id']!r}"
        data = req["template_data"]
        if not isinstance(data, dict) or (self.template_params and set(data) != self.template_params):
            return None, f"template_data keys {sorted(data) if isinstance(data, dict) else data!r}"
        if not all(isinstance(v, str) for v in data.values()):
            return None, "template_data values must be strings"
        tid = req["tracking_id"]
        if not isinstance(tid, str) or not tid or len(tid) > 48:
            return None, f"tracking_id {tid!r}"
        return phone, None

    def oauth(self, headers, body):
        form = dict(urllib.parse.parse_qsl(body.decode()))
        with self.lock:
            self.refresh_calls += 1
            if headers.get("secret_key") != self.secret_key:
                return {"error": -14002, "error_name": "Invalid secret key"}
            if not headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                self.problems.append("refresh content type " + headers.get("Content-Type", ""))
            if form.get("app_id") != self.app_id or form.get("grant_type") != "refresh_token":
                self.problems.append(f"refresh form {sorted(form)}")
                return {"error": -14003, "error_name": "Invalid parameters"}
            if form.get("refresh_token") != self.refresh_token:
                return {"error": -14014, "error_name": "Invalid refresh token",
                        "error_description": "Refresh token is invalid or already used"}
            self.spent_refresh_tokens.append(self.refresh_token)
            self.access_token = f"access-{self.refresh_calls}-{time.monotonic_ns() % 100000}"
            self.refresh_token = f"refresh-{self.refresh_calls}-{time.monotonic_ns() % 100000}"
            return {"access_token": self.access_token, "refresh_token": self.refresh_token, "expires_in": "90000"}

    # ---- webhook side -------------------------------------------------------------------

    def event_body(self, event_name, msg_id=None, msg_ids=None, tracking_id=None, timestamp_ms=None,
                   user_id="1000000000000001"):
        message = {}
        if msg_id is not None:
            message["msg_id"] = msg_id
        if msg_ids is not None:
            message["msg_ids"] = msg_ids
        if tracking_id is not None:
            message["tracking_id"] = tracking_id
        ts = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
        event = {"app_id": self.app_id, "user_id_by_app": "5521772797175877" + user_id[-3:],
                 "event_name": event_name, "sender": {"id": "579745863508352884"},
                 "recipient": {"id": user_id}, "message": message, "timestamp": ts}
        return json.dumps(event, separators=(",", ":")), ts

    def signature(self, body, timestamp, secret_key=None):
        text = self.app_id + body + timestamp + (self.oa_secret_key if secret_key is None else secret_key)
        return "mac=" + hashlib.sha256(text.encode()).hexdigest()

    def post_event(self, heraldd_url, body, signature):
        """POSTs an event body to heraldd's /hooks/zalo; (status, parsed answer)."""
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-ZEvent-Signature"] = signature
        req = urllib.request.Request(heraldd_url + "/hooks/zalo", data=body.encode(), headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def event(self, heraldd_url, event_name, **fields):
        """A genuine, fresh, signed event."""
        body, ts = self.event_body(event_name, **fields)
        return self.post_event(heraldd_url, body, self.signature(body, ts))

    def close(self):
        self.server.shutdown()
        self.server.server_close()
