"""A local HTTP JSON SMS gateway that counts every request it receives per delivery token
(RequestId): what a test needs to prove nothing was sent twice, or nothing at all after a
point. It answers each send at once and reports nothing."""
import collections
import json
import threading

from fake_http import JsonHandler, serve


class CountingGateway:
    def __init__(self):
        self.counts = collections.Counter()
        self.lock = threading.Lock()
        outer = self

        class Handler(JsonHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.counts[body["RequestId"]] += 1
                self.send_json(200, {"status": "ok", "id": "m-" + body["RequestId"][:8]})

        self.server, self.port = serve(Handler)

    def gateway_config(self, rate=0, concurrency=16):
        """The http_json gateway that sends through this fake."""
        return {"type": "http_json", "url": f"http://127.0.0.1:{self.port}/send",
                "body": '{"Phone": "{{to}}", "Content": "{{text}}", "RequestId": "{{token}}"}',
                "response": {"success_pointer": "/status", "success_value": "ok", "id_pointer": "/id"},
                "receipt": {"status": "/status", "map": {"DELIVRD": "delivered"}},
                "rate": rate, "concurrency": concurrency}

    def total(self):
        with self.lock:
            return sum(self.counts.values())

    def twice(self):
        with self.lock:
            return [t for t, n in self.counts.items() if n > 1]

    def close(self):
        self.server.shutdown()
