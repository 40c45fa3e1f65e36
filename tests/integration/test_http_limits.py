"""Hostile HTTP clients: oversized bodies and headers, a body that never ends, a client
that sends one byte a second, a flood of idle connections, JSON nested 100,000 deep.
Each is cut off by a limit or a deadline, and heraldd keeps answering everyone else."""
import json
import socket
import time
import unittest

from harness import DaemonTestCase, wait_until

READ_TIMEOUT_S = 2
MAX_CONNECTIONS = 20
BODY_LIMIT = 1 << 20


def recv_all(sock, timeout):
    """Everything the server sends until it closes (or `timeout`); (bytes, closed)."""
    sock.settimeout(timeout)
    out = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return out, True
            out += chunk
    except socket.timeout:
        return out, False
    except ConnectionResetError:
        return out, True


class HttpLimits(DaemonTestCase):
    extra_config = {"http": {"read_timeout": f"{READ_TIMEOUT_S}s", "idle_timeout": f"{READ_TIMEOUT_S}s",
                             "max_connections": MAX_CONNECTIONS,
                             "body_limit": BODY_LIMIT},
                    "gateways": {"json-sms": {
                        "type": "http_json", "url": "http://127.0.0.1:9/send",
                        "body": '{"to": "{{to}}", "text": "{{text}}"}',
                        "receipt": {"status": "/status", "map": {"DELIVRD": "delivered"}}}}}

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.daemon.port), timeout=5)

    def assert_serving(self):
        self.assertEqual(self.daemon.http("/healthz", token=False)[0], 200)

    def test_oversized_body_is_413_before_it_is_read(self):
        s = self.connect()
        head = (f"POST /api/v1/directives HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.daemon.token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {BODY_LIMIT * 16}\r\n\r\n")
        s.sendall(head.encode() + b"{" * 1024)
        out, closed = recv_all(s, 5)
        self.assertTrue(out.startswith(b"HTTP/1.1 413"), out[:100])
        self.assertTrue(closed)
        s.close()
        self.assert_serving()

    def test_endless_chunked_body_is_cut_at_the_limit(self):
        s = self.connect()
        s.sendall(b"POST /hooks/sms/none/0123456789abcdef0123456789abcdef HTTP/1.1\r\nHost: x\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"1000\r\n" + b"a" * 0x1000 + b"\r\n"
        sent = 0
        try:
            while sent < BODY_LIMIT * 2:
                s.sendall(chunk)
                sent += 0x1000
        except (BrokenPipeError, ConnectionResetError):
            pass
        out, _ = recv_all(s, 5)
        self.assertTrue(out.startswith(b"HTTP/1.1 413"), out[:100])
        s.close()
        self.assert_serving()

    def test_oversized_headers_are_refused(self):
        s = self.connect()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 32 * 1024 + b"\r\n\r\n")
        out, closed = recv_all(s, 5)
        self.assertTrue(out.startswith(b"HTTP/1.1 413"), out[:100])
        s.close()
        self.assert_serving()

    def test_a_client_sending_a_byte_a_second_is_cut_off(self):
        s = self.connect()
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 50 + b"\r\n\r\n"
        start = time.monotonic()
        cut = None
        for b in request:
            try:
                s.sendall(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                cut = time.monotonic() - start
                break
            s.settimeout(0.5)
            try:
                if s.recv(1) == b"":
                    cut = time.monotonic() - start
                    break
            except socket.timeout:
                pass
            except ConnectionResetError:
                cut = time.monotonic() - start
                break
            if time.monotonic() - start > READ_TIMEOUT_S * 5:
                break
        s.close()
        self.assertIsNotNone(cut, "the slow client was never cut off")
        # The whole request had READ_TIMEOUT_S to arrive; allow for the 0.5 s polling.
        self.assertLess(cut, READ_TIMEOUT_S + 1.5)
        self.assert_serving()

    def test_an_idle_keep_alive_connection_is_closed(self):
        s = self.connect()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        out, closed = recv_all(s, READ_TIMEOUT_S + 3)
        self.assertTrue(out.startswith(b"HTTP/1.1 200"), out[:100])
        self.assertTrue(closed, "an idle connection stayed open past read_timeout")
        s.close()

    def test_at_the_cap_the_longest_idle_connection_makes_room(self):
        flood = [self.connect() for _ in range(MAX_CONNECTIONS)]
        time.sleep(0.3)
        # At the cap, a new connection is served: the oldest idle one is closed for it.
        extra = self.connect()
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out, closed = recv_all(extra, 3)
        self.assertTrue(out.startswith(b"HTTP/1.1 200"), out[:100])
        extra.close()
        out, closed = recv_all(flood[0], 3)
        self.assertEqual((out, closed), (b"", True), "the longest idle connection was closed")
        wait_until(lambda: "closing the longest idle to make room" in self.daemon.logs(), timeout=5,
                   what="the eviction in the log")
        for s in flood:
            s.close()

    def test_a_flood_of_busy_connections_is_capped_and_then_drains(self):
        # Each has started a request and not finished it: none is idle, none can be closed
        # for a newcomer.
        flood = [self.connect() for _ in range(MAX_CONNECTIONS)]
        for s in flood:
            s.sendall(b"GET /healthz HTTP/1.1\r\n")
        time.sleep(0.3)
        extra = self.connect()
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        out, closed = recv_all(extra, 3)
        self.assertEqual(out, b"")
        self.assertTrue(closed)
        extra.close()
        wait_until(lambda: "all busy; closing new ones" in self.daemon.logs(), timeout=5, what="the cap in the log")
        # ...until they meet their read deadline.
        time.sleep(READ_TIMEOUT_S + 1)
        self.assert_serving()
        for s in flood:
            s.close()

    def test_json_nested_100000_deep_is_refused(self):
        for body in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
            status, answer = self.post("/api/v1/directives", body)
            self.assertEqual(status, 400, answer[:300])
            # The receipt parsers see it too: an http_json callback's body is JSON.
            status, answer = self.post("/hooks/sms/json-sms/0123456789abcdef0123456789abcdef", body)
            self.assertIn(status, (400, 404), answer[:300])
        self.assert_serving()
        self.assertIsNone(self.daemon.proc.poll())

    def post(self, path, body):
        s = self.connect()
        data = body.encode()
        s.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.daemon.token}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n")
                  .encode() + data)
        out, _ = recv_all(s, 10)
        s.close()
        head, _, rest = out.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1]) if head else None
        return status, rest.decode("utf-8", "replace")


if __name__ == "__main__":
    unittest.main()
