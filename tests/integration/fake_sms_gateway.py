"""A local HTTP JSON SMS gateway of the eSMS kind, for tests: checks each request's shape,
answers like the provider, and posts a delivery report to the callback URL it was given."""
import json
import threading
import urllib.request
from fake_http import JsonHandler, serve


class FakeSmsGateway:
    def __init__(self, api_key, refuse=(), throttle_once=()):
        self.api_key = api_key
        self.refuse = set(refuse)            # national numbers answered with code 99
        self.throttle_once = set(throttle_once)  # first request for these gets HTTP 429
        self.requests = []                   # parsed JSON bodies, in arrival order
        self.problems = []                   # shape errors seen
        self.callbacks = []                  # (url, status code) of reports posted
        self.lock = threading.Lock()
        gw = self

        class Handler(JsonHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    req = json.loads(body)
                except ValueError:
                    gw.problems.append(f"not JSON: {body[:80]!r}")
                    return self.answer(400, {"CodeResult": "104", "ErrorMessage": "bad json"})
                if not self.headers.get("Content-Type", "").startswith("application/json"):
                    gw.problems.append("content type " + self.headers.get("Content-Type", ""))
                for field in ("ApiKey", "Phone", "Content", "SmsType", "CallbackUrl", "RequestId"):
                    if field not in req:
                        gw.problems.append("missing " + field)
                if req.get("ApiKey") != gw.api_key:
                    return self.answer(200, {"CodeResult": "101", "ErrorMessage": "Sai ApiKey"})
                phone = req.get("Phone", "")
                with gw.lock:
                    gw.requests.append(req)
                    if phone in gw.throttle_once:
                        gw.throttle_once.discard(phone)
                        return self.answer(429, {"CodeResult": "429", "ErrorMessage": "Too many requests"})
                if phone in gw.refuse:
                    return self.answer(200, {"CodeResult": "99", "ErrorMessage": "So dien thoai khong hop le"})
                sms_id = f"sms-{len(gw.requests)}"
                self.answer(200, {"CodeResult": "100", "SMSID": sms_id})
                threading.Timer(0.05, gw.report, (req["CallbackUrl"], sms_id)).start()

            def answer(self, status, obj):
                self.send_json(status, obj)

        self.server, self.port = serve(Handler)

    def gateway_config(self, key_env):
        """The http_json gateway that sends through this fake, its API key read from the
        environment variable `key_env`."""
        return {"type": "http_json", "url": f"http://127.0.0.1:{self.port}/send",
                "secrets": {"api_key": f"env:{key_env}"},
                "body": '{"ApiKey": "{{secret.api_key}}", "Phone": "{{to_national}}", "Content": "{{text}}",'
                        ' "SmsType": "2", "CallbackUrl": "{{receipt_url}}", "RequestId": "{{token}}"}',
                "response": {"success_pointer": "/CodeResult", "success_value": "100", "id_pointer": "/SMSID"},
                "receipt": {"status": "/SendStatus", "map": {"2": "delivered", "3": "failed"}}}

    def report(self, url, sms_id):
        data = json.dumps({"SMSID": sms_id, "SendStatus": "2"}).encode()
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                self.callbacks.append((url, r.status))
        except urllib.error.HTTPError as e:
            self.callbacks.append((url, e.code))

    def close(self):
        self.server.shutdown()
        self.server.server_close()
