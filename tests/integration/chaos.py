#!/usr/bin/env python3
"""The crash suite: SIGKILL heraldd at random moments of a fan-out, restart it, and count.

One directive to N people goes to a real RabbitMQ. The gateway is an http_json provider on
loopback that counts every request it receives per delivery token and, like Kannel, posts a
delivery receipt back to heraldd's receipt URL, retrying while heraldd is down. Each round
starts heraldd, lets it run for a random time (the first rounds fall inside startup and the
intake) and kills it with SIGKILL: no shutdown path runs. After the last round heraldd runs
to the end. Then:

  lost        deliveries planned for the directive that are not `delivered` (`sent` with
              --no-receipts), plus people the
              directive names who have no delivery at all: must be 0;
  duplicates  requests beyond the first for one delivery: must be within what
              docs/dispatch.md promises, at most twice `concurrency` per crash;
  the broker  the directive's message is acked (the queue is empty).

Run by tests/integration/test_chaos.py (CTest label `chaos`) and by scripts/chaos, which
takes --rounds, --deliveries, --seed and prints the figures docs/reliability.md reports.
"""
import argparse
import collections
import http.client
import json
import os
import queue
import random
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pika  # noqa: E402

from fake_http import JsonHandler, serve  # noqa: E402
from harness import Daemon, Vhost, wait_until  # noqa: E402

CONCURRENCY = 16


class CountingGateway:
    """Counts every send it accepts per token; answers 200 at once and posts the receipt
    later. `mode` makes it misbehave: "503", "429" (Retry-After: retry_after seconds) or
    "hang" (never answers; the connection closes after hang_s). `requests` logs every
    request as (monotonic time it arrived, mode, token); `accepted` every send it took, as
    (monotonic time it arrived, token, sender), where sender is the port of the heraldd that
    sent it (read from the body's ReceiptUrl; None without one).

    Receipts go back to the URL heraldd gave, unless `receipt_targets` lists heraldd base
    URLs ("http://127.0.0.1:PORT"): then each receipt, and each retry of it, goes to one of
    them chosen at random, another than the instance that sent when there is another, as a
    gateway behind a load balancer would call back (set_receipt_targets changes the list
    while it runs). `receipts_to_sender` counts receipts posted to the sender all the same,
    `receipts_by_target` the receipts answered 200 per target."""

    def __init__(self, receipt_posters=4, retry_after=2, hang_s=2.5, receipt_targets=None, seed=None):
        self.mode = "ok"
        self.requests = []
        self.accepted = []
        self.counts = collections.Counter()
        self.lock = threading.Lock()
        self.receipts = queue.Queue()
        self.receipts_posted = 0
        self.receipt_retries = 0
        self.receipts_to_sender = 0
        self.receipts_by_target = collections.Counter()
        self.receipt_targets = None
        self.set_receipt_targets(receipt_targets)
        self.rng = random.Random(seed)
        self.stopping = threading.Event()
        outer = self

        class Handler(JsonHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                mode = outer.mode
                arrived = time.monotonic()
                with outer.lock:
                    outer.requests.append((arrived, mode, body["RequestId"]))
                if mode == "503":
                    return self.send_json(503, {"status": "unavailable"})
                if mode == "429":
                    self.send_response(429)
                    self.send_header("Retry-After", str(retry_after))
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
                if mode == "hang":
                    time.sleep(hang_s)
                    self.close_connection = True
                    return
                sender = urllib.parse.urlsplit(body["ReceiptUrl"]).port if "ReceiptUrl" in body else None
                with outer.lock:
                    outer.counts[body["RequestId"]] += 1
                    outer.accepted.append((arrived, body["RequestId"], sender))
                outer.receipts.put(body["ReceiptUrl"])
                self.send_json(200, {"status": "ok", "id": "m-" + body["RequestId"][:12]})

        self.server, self.port = serve(Handler)
        # heraldd killed mid-request resets its connections: expected here, not worth a trace.
        self.server.handle_error = lambda request, address: None
        self.posters = [threading.Thread(target=self._post_receipts, daemon=True) for _ in range(receipt_posters)]
        for t in self.posters:
            t.start()

    def set_receipt_targets(self, targets):
        """None: each receipt goes where heraldd said. A list of base URLs: see the class."""
        targets = None if targets is None else [urllib.parse.urlsplit(t).netloc for t in targets]
        with self.lock:
            self.receipt_targets = targets

    def _receipt_target(self, sender):
        """The host:port a receipt for a send from `sender` (host:port) goes to now."""
        with self.lock:
            targets = self.receipt_targets
        if not targets:
            return sender
        others = [t for t in targets if t != sender]
        return self.rng.choice(others or targets)

    def _post_receipts(self):
        conns = {}  # host:port -> a kept-alive connection
        while not self.stopping.is_set():
            try:
                url = self.receipts.get(timeout=0.2)
            except queue.Empty:
                continue
            u = urllib.parse.urlsplit(url)
            body = b'{"status": "DELIVRD"}'
            while not self.stopping.is_set():
                target = self._receipt_target(u.netloc)
                conn = conns.get(target)
                try:
                    if conn is None:
                        host, port = target.rsplit(":", 1)
                        conn = conns[target] = http.client.HTTPConnection(host, int(port), timeout=5)
                    conn.request("POST", u.path, body, {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    r.read()
                    if r.status == 200:
                        with self.lock:
                            self.receipts_posted += 1
                            self.receipts_by_target[target] += 1
                            if self.receipt_targets is not None and target == u.netloc:
                                self.receipts_to_sender += 1
                        break
                    raise OSError(f"receipt answered {r.status}")
                except (OSError, http.client.HTTPException):
                    # heraldd is down (or restarting): retry, as Kannel retries its dlr-url.
                    conns.pop(target, None)
                    if conn is not None:
                        conn.close()
                    with self.lock:
                        self.receipt_retries += 1
                    time.sleep(0.1)
        for conn in conns.values():
            conn.close()

    def total(self):
        with self.lock:
            return sum(self.counts.values())

    def snapshot(self):
        with self.lock:
            return collections.Counter(self.counts)

    def close(self):
        self.stopping.set()
        self.server.shutdown()


def directive(directive_id="ubnd-tinh/chaos/2026"):
    """One directive to the whole generated directory (group `all`), by SMS."""
    return {
        "schema": "herald.directive/v1", "id": directive_id, "number": "99-CV/UBND",
        "issuer": {"code": "UBND-TINH", "name": "Ủy ban nhân dân tỉnh"},
        "issued_at": "2026-11-29T08:00:00+07:00", "subject": "Kiểm tra khả năng chịu lỗi",
        "urgency": "khan", "recipients": [{"group": "all"}], "channels": ["sms"],
    }


def write_directory(folder, people):
    """A directory of `people` people with a phone each, all in group `all`, written to
    `folder` as directory.yaml and its people.csv; returns directory.yaml's path."""
    with open(os.path.join(folder, "people.csv"), "w") as f:
        f.write("id,name,groups,phone\n")
        for i in range(people):
            f.write(f"p{i:06d},Cán bộ {i},all,+849{10000000 + i}\n")
    path = os.path.join(folder, "directory.yaml")
    with open(path, "w") as f:
        f.write('groups:\n  - {id: all, name: "Toàn tỉnh"}\npeople_csv: people.csv\n')
    return path


def sms_config(gw, rate, concurrency=CONCURRENCY, name="chaos-sms"):
    """heraldd config (gateways, channels) sending SMS only, through the CountingGateway
    `gw` as an http_json gateway `name` limited to `rate` msg/s (0: unlimited)."""
    return {
        "gateways": {name: {
            "type": "http_json", "url": f"http://127.0.0.1:{gw.port}/send",
            "body": '{"Phone": "{{to}}", "Content": "{{text}}", "RequestId": "{{token}}",'
                    ' "ReceiptUrl": "{{receipt_url}}"}',
            "response": {"success_pointer": "/status", "success_value": "ok", "id_pointer": "/id"},
            "receipt": {"status": "/status", "map": {"DELIVRD": "delivered"}},
            "rate": rate, "concurrency": concurrency}},
        "channels": {"sms": {"enabled": True, "gateway": name}, "zalo": {"enabled": False},
                     "email": {"enabled": False}, "loudspeaker": {"enabled": False}},
    }


def publish(vhost, d):
    """Publishes directive `d` to herald.directives, persistent, with publisher confirms."""
    conn = vhost.connection()
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("herald.directives", "tinh", json.dumps(d).encode(),
                         properties=pika.BasicProperties(content_type="application/json",
                                                         message_id=d["id"], delivery_mode=2))
    finally:
        conn.close()


def queue_depths(vhost, queues=("herald.directives", "herald.directives.dead")):
    """{queue: messages ready in it} for heraldd's directive queue and its dead letters."""
    conn = vhost.connection()
    try:
        ch = conn.channel()
        return {q: ch.queue_declare(q, passive=True).method.message_count for q in queues}
    finally:
        conn.close()


def run(rounds=20, deliveries=10_000, seed=None, rate=500, log=print, receipts=True):
    """Runs the suite and returns its figures as a dict. Raises on a setup failure only:
    the caller judges the figures."""
    seed = seed if seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    tmp = tempfile.TemporaryDirectory(prefix="herald-chaos-")
    vhost = Vhost(f"it-chaos-{os.getpid()}").__enter__()
    # Without receipts nothing settles a send that was accepted in the instant before a
    # crash: the restart rule resends it after the grace, and the duplicates show the bound.
    gw = CountingGateway(receipt_posters=4 if receipts else 0)
    final = "delivered" if receipts else "sent"
    daemon = None
    try:
        daemon = Daemon(vhost, tmp.name, {
            "directory": write_directory(tmp.name, deliveries),
            **sms_config(gw, rate),
            "dispatch": {"poll_interval": "100ms", "resume_grace": "1s"},
        })
        # heraldd declares the exchange and queues; the directive is published while it runs,
        # and the first round's clock starts at the publish.
        daemon.start()
        publish(vhost, directive())

        started = time.monotonic()
        kills = []
        for r in range(rounds):
            # Early rounds land in startup and the intake; later ones anywhere in the sending.
            uptime = rng.uniform(0.05, 0.4) if r < 3 else rng.uniform(0.2, 1.6)
            if r > 0:
                daemon.start(wait_ready=False)
            time.sleep(uptime)
            seen = gw.total()
            daemon.kill()
            kills.append({"round": r + 1, "uptime_s": round(uptime, 3), "gateway_seen": seen})
            log(f"round {r + 1:2d}: SIGKILL after {uptime:.2f} s; gateway has seen {seen} requests")
        killed_at = gw.total()
        daemon.start()
        states = {}

        def done():
            nonlocal states
            with daemon.db() as db:
                states = dict(db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall())
            return states.get(final, 0) == deliveries

        wait_until(done, timeout=300, interval=0.25, what=f"all {deliveries} {final} (states now {states})")
        elapsed = time.monotonic() - started
        counts = gw.snapshot()
        with daemon.db() as db:
            tokens = [r[0] for r in db.execute("SELECT token FROM deliveries")]
            intake = db.execute("SELECT COUNT(*), MIN(intake_complete) FROM directives").fetchone()
            max_attempts = db.execute("SELECT MAX(attempts) FROM deliveries").fetchone()[0]
            recoveries = db.execute("SELECT COUNT(*) FROM events WHERE source = 'recovery'").fetchone()[0]
        # Let the broker settle the ack of the last run, then look at the queue.
        depth = queue_depths(vhost, ("herald.directives",))["herald.directives"]
        daemon.stop()
        never_sent = [t for t in tokens if counts.get(t, 0) == 0]
        duplicates = sum(n - 1 for n in counts.values() if n > 1)
        figures = {
            "seed": seed, "rounds": rounds, "deliveries": deliveries, "gateway_rate": rate,
            "concurrency": CONCURRENCY,
            "deliveries_in_store": len(tokens), "directives_in_store": intake[0],
            "intake_complete": bool(intake[1]),
            "receipts": receipts,
            "states": states, "lost": deliveries - states.get(final, 0) + (deliveries - len(tokens)),
            "never_sent": len(never_sent),
            "unknown_tokens": len(set(counts) - set(tokens)),
            "requests": sum(counts.values()), "duplicates": duplicates,
            "duplicate_bound": rounds * 2 * CONCURRENCY,
            "max_attempts": max_attempts, "recovery_events": recoveries,
            "sent_before_last_start": killed_at,
            "receipts_posted": gw.receipts_posted, "receipt_retries_while_down": gw.receipt_retries,
            "queue_depth_after": depth, "elapsed_s": round(elapsed, 1), "kills": kills,
        }
        return figures
    finally:
        if daemon is not None:
            daemon.stop()
        gw.close()
        vhost.__exit__(None, None, None)
        tmp.cleanup()


def verdict(f):
    """The suite's pass rule, shared by the test and the script: a list of failures."""
    bad = []
    if f["lost"] != 0:
        bad.append(f"lost {f['lost']} (states {f['states']})")
    if f["never_sent"] != 0:
        bad.append(f"{f['never_sent']} deliveries the gateway never received")
    if f["unknown_tokens"] != 0:
        bad.append(f"{f['unknown_tokens']} requests for tokens not in the store")
    if f["directives_in_store"] != 1 or not f["intake_complete"]:
        bad.append(f"directive taken in {f['directives_in_store']} times, complete={f['intake_complete']}")
    if f["duplicates"] > f["duplicate_bound"]:
        bad.append(f"{f['duplicates']} duplicates, more than the {f['duplicate_bound']} docs/dispatch.md allows")
    if f["queue_depth_after"] != 0:
        bad.append(f"{f['queue_depth_after']} messages left on herald.directives")
    return bad


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--deliveries", type=int, default=10_000)
    p.add_argument("--rate", type=int, default=500, help="the gateway's rate limit in heraldd (msg/s)")
    p.add_argument("--seed", type=int)
    p.add_argument("--no-receipts", action="store_true",
                   help="the gateway posts no receipts: final state `sent`, and the restart rule's resends show")
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args()
    f = run(a.rounds, a.deliveries, a.seed, a.rate, receipts=not a.no_receipts)
    summary = {k: v for k, v in f.items() if k != "kills"}
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if a.json:
        with open(a.json, "w") as out:
            json.dump(f, out, indent=2, ensure_ascii=False)
    bad = verdict(f)
    for b in bad:
        print("FAIL:", b, file=sys.stderr)
    print("chaos: " + ("FAILED" if bad else "passed") + f" (seed {f['seed']}: rerun with --seed {f['seed']})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
