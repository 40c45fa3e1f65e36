"""A local JSON email API of the SendGrid / Mailgun kind, for tests: checks each request's
shape and key, answers like the provider, then posts a "delivered" webhook to the URL it
was given, or "bounced" for the addresses in `bounce`; with `report=False` it posts none
(the test posts its own). With `sign_key`, every webhook carries X-Mail-Signature: the
hex HMAC-SHA256 of its body, as providers that sign their webhooks do."""
import hashlib
import hmac
import json
import threading
import urllib.request
from fake_http import JsonHandler, serve


class FakeEmailApi:
    def __init__(self, api_key, bounce=(), report=True, sign_key=None):
        self.api_key = api_key
        self.bounce = set(bounce)
        self.sign_key = sign_key
        self.auto_report = report
        self.requests = []    # parsed JSON bodies, in arrival order
        self.problems = []    # shape errors seen
        self.callbacks = []   # (url, event, HTTP status of Herald's answer)
        self.lock = threading.Lock()
        api = self

        class Handler(JsonHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Authorization") != "Bearer " + api.api_key:
                    return self.answer(401, {"status": "error", "error": "invalid api key"})
                try:
                    req = json.loads(body)
                except ValueError:
                    api.problems.append(f"not JSON: {body[:80]!r}")
                    return self.answer(400, {"status": "error", "error": "bad json"})
                for field in ("from", "to", "subject", "text", "html", "message_id", "webhook_url"):
                    if not req.get(field):
                        api.problems.append("missing " + field)
                with api.lock:
                    api.requests.append(req)
                    msg_id = f"em-{len(api.requests)}"
                self.answer(202, {"status": "queued", "id": msg_id})
                if api.auto_report:
                    event = "bounced" if req.get("to") in api.bounce else "delivered"
                    threading.Timer(0.05, api.report, (req["webhook_url"], msg_id, event)).start()

            def answer(self, status, obj):
                self.send_json(status, obj)

        self.server, self.port = serve(Handler)

    def gateway_config(self, key_env, sign_env=None):
        """The http_email gateway that sends through this fake, its API key read from the
        environment variable `key_env`; with `sign_env`, it checks the webhooks' signature
        with the key in that variable."""
        receipt = {"status": "/event", "id": "/id", "map": {"delivered": "delivered", "bounced": "failed"}}
        if sign_env:
            receipt["signature"] = {"header": "X-Mail-Signature", "key": f"env:{sign_env}"}
        return {"type": "http_email",
                "url": f"http://127.0.0.1:{self.port}/v1/send",
                "headers": {"Authorization": "Bearer {{secret.api_key}}"},
                "secrets": {"api_key": f"env:{key_env}"},
                "from": "vanphong@huyenuy.chauthanh.example",
                "from_name": "Văn phòng Huyện ủy Châu Thành",
                "message_id_domain": "herald.test",
                "body": '{"from": "{{from}}", "from_name": "{{from_name}}", "to": "{{to}}",'
                        ' "subject": "{{subject}}", "text": "{{text}}", "html": "{{html}}",'
                        ' "message_id": "{{message_id}}", "webhook_url": "{{receipt_url}}"}',
                "response": {"success_pointer": "/status", "success_value": "queued",
                             "id_pointer": "/id", "error_pointer": "/error"},
                "receipt": receipt}

    @staticmethod
    def webhook_body(event, msg_id):
        return json.dumps({"event": event, "id": msg_id,
                           "reason": "550 5.1.1 mailbox unavailable" if event == "bounced" else ""}).encode()

    def signature(self, body):
        return hmac.new(self.sign_key.encode(), body, hashlib.sha256).hexdigest()

    def report(self, url, msg_id, event):
        data = self.webhook_body(event, msg_id)
        headers = {"Content-Type": "application/json"}
        if self.sign_key:
            headers["X-Mail-Signature"] = self.signature(data)
        req = urllib.request.Request(url, data=data, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        with self.lock:
            self.callbacks.append((url, event, status))

    def close(self):
        self.server.shutdown()
        self.server.server_close()
