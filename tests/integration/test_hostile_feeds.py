"""The public feeds under load. Anyone may poll /feeds/cap.atom, the CAP documents and the
spoken audio: hammered while a fan-out runs, heraldd's /healthz latency and its send rate
stay where a quiet run has them; the Atom index is rendered once per change and a client
whose copy is current gets 304; audio is sent from its file a slice at a time, so 900
clients that ask for it and never read grow heraldd's memory by little; one address has at
most http.downloads_per_address downloads under way."""
import json
import multiprocessing
import os
import socket
import statistics
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from fake_counting_gateway import CountingGateway
from fake_loudspeaker import FakeController
from harness import SEED, DaemonTestCase, wait_until

PEOPLE = 1500   # SMS per fan-out
RATE = 150      # the gateway's rate: a fan-out takes 10 s
STALLED = 900   # audio clients that never read
API_KEY = "loa-hostile-key-3e7f"
ZONES = ["an-hiep", "an-ninh"]
PER_ADDRESS = 4  # http.downloads_per_address


def stalled_download(path, port, source):
    """A socket from `source` (an address of 127/8) that asks for `path` and never reads."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return s


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def hammer(port, paths, stop, counts):
    """Another process (no GIL shared with the prober): GETs the feed paths round and round,
    on four keep-alive connections, until `stop` is set."""
    import http.client

    def loop(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        while not stop.is_set():
            for path, headers in paths:
                try:
                    conn.request("GET", path, headers=headers)
                    r = conn.getresponse()
                    r.read()
                    n += 1
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        counts[k] = n

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


class HostileFeeds(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = CountingGateway()
        cls.controller = FakeController(API_KEY)
        os.environ["HERALD_TEST_HOSTILE_LOA_KEY"] = API_KEY
        cls.tmp_dir = __import__("tempfile").TemporaryDirectory(prefix="herald-feeds-")
        with open(os.path.join(cls.tmp_dir.name, "people.csv"), "w") as f:
            f.write("id,name,groups,phone\n")
            for i in range(PEOPLE):
                f.write(f"p{i:05d},Cán bộ {i},all,+849{40000000 + i}\n")
        directory = os.path.join(cls.tmp_dir.name, "directory.yaml")
        with open(directory, "w") as f:
            f.write('zones:\n'
                    '  - {id: an-hiep, name: "Xã An Hiệp", voice: southern, geocode: "31474"}\n'
                    '  - {id: an-ninh, name: "Xã An Ninh", voice: southern, geocode: "31477"}\n'
                    'groups:\n  - {id: all, name: "Toàn huyện"}\n  - {id: vp, name: "Văn phòng"}\n'
                    'people:\n  - {id: chanh-van-phong, name: "Chánh Văn phòng (giả định)", groups: [vp],'
                    ' contacts: {phone: "0912 000 401"}}\n'
                    'people_csv: people.csv\n')
        cls.extra_config = {
            "directory": directory,
            "http": {"downloads_per_address": PER_ADDRESS},
            "gateways": {"sms": cls.gw.gateway_config(rate=RATE, concurrency=8),
                         "loa": {"type": "loudspeaker_http", "url": f"http://127.0.0.1:{cls.controller.port}/api/jobs",
                                 "headers": {"Authorization": "Bearer {{secret.key}}"},
                                 "secrets": {"key": "env:HERALD_TEST_HOSTILE_LOA_KEY"}}},
            "channels": {"sms": {"enabled": True, "gateway": "sms"}, "zalo": {"enabled": False},
                         "email": {"enabled": False}, "loudspeaker": {"enabled": True, "gateway": "loa"}},
        }
        super().setUpClass()
        # A public alert with its audio rendered: what the feeds serve.
        with open(SEED, encoding="utf-8") as f:
            d = json.load(f)
        # A long text: minutes of speech, an MP3 larger than a socket's buffers.
        d.update(id="hu-chauthanh/200-TB/HU/2026", channels=["loudspeaker"],
                 loudspeaker={"zones": ZONES, "repeat": 1, "text": " ".join([d["subject"]] * 40)})
        d["recipients"] = [{"group": "vp"}]
        cls.alert = d
        r = cls.daemon.ctl("publish", "-", input=json.dumps(d, ensure_ascii=False))
        assert r.returncode == 0, r.stderr
        wait_until(lambda: cls.controller.jobs, timeout=180, what="a controller job with audio")
        cls.audio_path = urllib.parse.urlparse(cls.controller.jobs[0]["audio"]["url"]).path

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.gw.close()
        cls.controller.close()
        cls.tmp_dir.cleanup()

    def get(self, path, headers=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.daemon.port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def fan_out(self, n, hammered):
        """Publishes an SMS directive to everyone; probes /healthz every 10 ms until the
        gateway has seen every send. Returns (healthz p99 in s, sends per second, probes)."""
        start_total = self.gw.total()
        d = {"schema": "herald.directive/v1", "id": f"ubnd-huyen/{n}-TB/2026", "number": f"{n}-TB/UBND",
             "issuer": {"code": "UBND-HUYEN", "name": "Ủy ban nhân dân huyện"},
             "issued_at": "2026-12-07T10:00:00+07:00", "subject": "Thông báo lịch tiếp dân",
             "urgency": "normal", "recipients": [{"group": "all"}], "channels": ["sms"]}
        stop = None
        procs = []
        if hammered:
            quoted = urllib.parse.quote(self.alert["id"], safe="")
            paths = [("/feeds/cap.atom", {}), (f"/feeds/cap/{quoted}.xml", {}),
                     (self.audio_path, {"Range": "bytes=0-4095"}), (self.audio_path, {}),
                     ("/feeds/cap.atom", {"If-None-Match": self.atom_etag})]
            stop = multiprocessing.Event()
            counts = multiprocessing.Manager().dict()
            procs = [multiprocessing.Process(target=hammer, args=(self.daemon.port, paths, stop, counts))]
            for p in procs:
                p.start()
            time.sleep(0.5)
        r = self.daemon.ctl("publish", "-", input=json.dumps(d, ensure_ascii=False))
        self.assertEqual(r.returncode, 0, r.stderr)
        latencies = []
        first = last = None
        while self.gw.total() - start_total < PEOPLE:
            t = time.monotonic()
            with urllib.request.urlopen(f"http://127.0.0.1:{self.daemon.port}/healthz", timeout=5) as resp:
                resp.read()
            latencies.append(time.monotonic() - t)
            sent = self.gw.total() - start_total
            if sent > 0 and first is None:
                first = (time.monotonic(), sent)
            last = (time.monotonic(), sent)
            time.sleep(0.01)
            self.assertLess(len(latencies), 20000, "the fan-out never finished")
        served = 0
        if hammered:
            stop.set()
            for p in procs:
                p.join(timeout=30)
            served = sum(counts.values())
        rate = (last[1] - first[1]) / (last[0] - first[0])
        return statistics.quantiles(latencies, n=100)[98], rate, len(latencies), served

    def test_1_conditional_and_cached(self):
        status, headers, atom = self.get("/feeds/cap.atom")
        self.assertEqual(status, 200)
        etag, modified = headers["ETag"], headers["Last-Modified"]
        self.assertIn(b"200-TB", atom)
        self.assertEqual(self.get("/feeds/cap.atom", {"If-None-Match": etag})[0], 304)
        self.assertEqual(self.get("/feeds/cap.atom", {"If-Modified-Since": modified})[0], 304)
        self.assertEqual(self.get("/feeds/cap.atom", {"If-None-Match": '"0000"'})[0], 200)
        quoted = urllib.parse.quote(self.alert["id"], safe="")
        status, headers, doc = self.get(f"/feeds/cap/{quoted}.xml")
        self.assertEqual(status, 200)
        self.assertEqual(self.get(f"/feeds/cap/{quoted}.xml", {"If-None-Match": headers["ETag"]})[0], 304)
        # Ranges of the audio come from the file.
        status, headers, whole = self.get(self.audio_path)
        self.assertEqual(status, 200)
        status, headers, part = self.get(self.audio_path, {"Range": "bytes=100-199"})
        self.assertEqual((status, part), (206, whole[100:200]))
        self.assertEqual(headers["Content-Range"], f"bytes 100-199/{len(whole)}")
        status, _, tail = self.get(self.audio_path, {"Range": "bytes=-50"})
        self.assertEqual((status, tail), (206, whole[-50:]))
        self.assertEqual(self.get(self.audio_path, {"Range": f"bytes={len(whole)}-"})[0], 416)
        type(self).atom_etag = etag

    def test_2_hammered_feeds_leave_health_and_sending_alone(self):
        quiet_p99, quiet_rate, quiet_n, _ = self.fan_out(1, hammered=False)
        busy_p99, busy_rate, busy_n, served = self.fan_out(2, hammered=True)
        print(f"\nquiet: /healthz p99 {quiet_p99 * 1000:.1f} ms, {quiet_rate:.0f} SMS/s ({quiet_n} probes); "
              f"hammered ({served} feed requests answered): p99 {busy_p99 * 1000:.1f} ms, {busy_rate:.0f} SMS/s "
              f"({busy_n} probes); ratios {busy_p99 / quiet_p99:.2f}, {busy_rate / quiet_rate:.2f}", flush=True)
        self.assertGreater(served, 1000, "the feeds were not hammered")
        # Within 20% of the quiet run. Latencies of a few milliseconds on a shared 2-core
        # machine (CI runs other tests beside this one) move by more than 20% with nothing
        # at all going on: a p99 within 10 ms of the quiet one counts as unchanged. The
        # loop that answers /healthz is the one that would stall if feeds ran on it (before
        # 4c84325 a CAP document counted every delivery of its directive there).
        self.assertLessEqual(busy_p99, max(1.2 * quiet_p99, quiet_p99 + 0.010))
        self.assertGreaterEqual(busy_rate, 0.8 * quiet_rate)

    def test_3_stalled_audio_clients_cost_little_memory(self):
        # From as many addresses (127/8 is all loopback): each within its own cap.
        pid = self.daemon.proc.pid
        before = rss_kib(pid)
        socks = [stalled_download(self.audio_path, self.daemon.port, f"127.0.{1 + i // 250}.{1 + i % 250}")
                 for i in range(STALLED)]
        time.sleep(3)  # every answer under way, none read
        after = rss_kib(pid)
        status, _, _ = self.get("/healthz")
        for s in socks:
            s.close()
        print(f"\n{STALLED} stalled audio downloads: RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB "
              f"(+{(after - before) / 1024:.1f})", flush=True)
        self.assertEqual(status, 200)
        self.assertLess(after - before, 50 * 1024)

    def test_4_one_address_has_a_few_downloads_at_once(self):
        socks = [stalled_download(self.audio_path, self.daemon.port, "127.0.0.1") for _ in range(PER_ADDRESS)]
        try:
            time.sleep(1)
            status, headers, _ = self.get(self.audio_path)
            self.assertEqual(status, 429)
            self.assertEqual(headers.get("Retry-After"), "5")
            # Another address is not held back by this one.
            other = stalled_download(self.audio_path, self.daemon.port, "127.0.9.9")
            other.settimeout(5)
            self.assertTrue(other.recv(64).startswith(b"HTTP/1.1 200"))
            other.close()
        finally:
            for s in socks:
                s.close()
        wait_until(lambda: self.get(self.audio_path)[0] == 200, timeout=30, what="the slots free again")


if __name__ == "__main__":
    unittest.main()
