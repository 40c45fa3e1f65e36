"""Several heraldd on one RabbitMQ vhost and one PostgreSQL database (issue 10): instances
sharing one store, and what they must show.

  test_sigkill_one_of_three_mid_fan_out
      Three instances, one directive to a 30,000-person directory (chaos.py's generated
      directory and gateway). When about 40% of the sends have reached the gateway, the
      instance that was sending most is SIGKILLed. Every delivery ends `delivered`: each
      receipt went to a random live instance other than the sender, and was applied there;
      the gateway received every token at least once; duplicates stay within what
      docs/dispatch.md promises for a crash (2 x the gateway's concurrency per killed
      instance); the directive was taken in once (one row, 30,000 deliveries, nothing
      dead-lettered or left on the queue); and the killed instance's claims (`sending`
      rows with its name) were taken over by the others once its lease (3 s here) ran out
      (events with source 'takeover'), and no live instance's claims ever were: a live
      instance renews its lease whatever else it is doing (docs/scale-out.md, "Leases").

  test_rate_limit_holds_across_three_instances
      Three instances share a gateway limited to 100 msg/s, with about 21 s of work. The
      gateway timestamps every request: over the steady window (the first and the last
      second dropped) the rate is 100/s within 10%, no instance alone exceeds 100/s, each
      instance sent a share, and no delivery was sent twice.

It always runs on PostgreSQL, whatever HERALD_TEST_STORE says: sharing one store is the
point. It fails, not skips, when the PostgreSQL of scripts/services is not running (CI
starts it). Loopback only. Each test prints its figures (and, while it runs, samples how
old each live instance's lease heartbeat gets); HERALD_SCALE_KEEP_LOGS=DIR keeps the
instances' logs there."""
import collections
import os
import secrets
import shutil
import tempfile
import threading
import time
import unittest

import chaos
import harness
from harness import Daemon, Vhost, wait_until

NAMES = ("i1", "i2", "i3")
LEASE_S = 3
RESUME_GRACE_S = 2
CONCURRENCY = chaos.CONCURRENCY  # per gateway lane, in every instance

FAN_OUT = 30_000
KILL_AT = 12_000  # sends the gateway has seen when one instance is killed

RATE = 100        # msg/s for the gateway, shared by the three instances
RATE_PEOPLE = 2_100  # 21 s of sending at RATE


class ScaleOut(unittest.TestCase):
    def setUp(self):
        status = harness.services("status", "postgres", check=False)
        if status.returncode != 0:
            self.fail("test_scale_out needs the PostgreSQL of scripts/services (`scripts/services start "
                      f"postgres`; CI starts it): {(status.stdout + status.stderr).strip()}")
        self.tmp = tempfile.TemporaryDirectory(prefix="herald-scale-")
        self.vhost = Vhost(f"it-scale-out-{secrets.token_hex(3)}").__enter__()
        self.database = harness.create_database("it_scale")
        self.daemons = []
        self.gw = None
        self.watch_stop = threading.Event()
        self.lease_age = {}  # instance -> the oldest its heartbeat was seen while it ran (ms)

    def tearDown(self):
        try:
            self.watch_stop.set()
            for d in self.daemons:
                if d.proc is not None and d.proc.poll() is None:
                    d.stop()
        finally:
            if self.gw is not None:
                self.gw.close()
            harness.drop_database(self.database)
            self.vhost.__exit__(None, None, None)
            keep = os.environ.get("HERALD_SCALE_KEEP_LOGS")
            if keep:
                for d in self.daemons:
                    os.makedirs(keep, exist_ok=True)
                    shutil.copy(d.log_path, os.path.join(keep, f"{self._testMethodName}-{d.instance}.log"))
            self.tmp.cleanup()

    # -- set-up --------------------------------------------------------------------

    def start_instances(self, people, rate, receipts):
        """The gateway (self.gw) and three instances on one database, started together."""
        self.gw = chaos.CountingGateway(receipt_posters=8 if receipts else 0)
        directory = chaos.write_directory(self.tmp.name, people)
        for name in NAMES:
            workdir = os.path.join(self.tmp.name, name)
            os.mkdir(workdir)
            self.daemons.append(Daemon(self.vhost, workdir, {
                "directory": directory,
                **chaos.sms_config(self.gw, rate, CONCURRENCY),
                "store": {"lease": f"{LEASE_S}s"},
                "dispatch": {"poll_interval": "100ms", "resume_grace": f"{RESUME_GRACE_S}s"},
            }, database=self.database, instance=name, store="postgres"))
        # Started at once: they migrate the new database one at a time among themselves.
        for d in self.daemons:
            d.start(wait_ready=False)
        try:
            wait_until(lambda: all(d.ready() for d in self.daemons), timeout=60, what="three heraldd /readyz")
        except AssertionError:
            self.fail("the three instances did not all become ready:\n" + self.log_tails())
        self.by_port = {d.port: d for d in self.daemons}
        threading.Thread(target=self.watch_leases, daemon=True).start()
        if receipts:
            self.gw.set_receipt_targets([self.url(d) for d in self.daemons])

    def watch_leases(self):
        """Every 100 ms, how long ago (server clock) each running instance last renewed its
        lease: the others take its claims once that passes the lease."""
        with self.db() as db:
            while not self.watch_stop.wait(0.1):
                running = {d.instance for d in self.daemons if d.proc is not None and d.proc.poll() is None}
                rows = db.execute("SELECT name, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint - heartbeat_ms"
                                  " FROM instances").fetchall()
                for name, age in rows:
                    if name in running:
                        self.lease_age[name] = max(self.lease_age.get(name, 0), int(age))

    @staticmethod
    def url(d):
        return f"http://127.0.0.1:{d.port}"

    def log_tails(self, lines=30):
        out = []
        for d in self.daemons:
            text = d.logs() if os.path.exists(d.log_path) else ""
            out.append(f"--- {d.instance} ({d.log_path}) ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(out)

    def db(self):
        return harness.PgDb(self.database)

    LOG_SIGNS = {"lease_lapses": "store lease not renewed", "deadlocks": "deadlock detected",
                 "receipts_refused": "receipt not recorded", "takeovers_logged": "whose lease ran out are taken over"}

    def log_signs(self):
        """How often each instance's log says what LOG_SIGNS names: figures, not verdicts."""
        out = {}
        for d in self.daemons:
            text = d.logs() if os.path.exists(d.log_path) else ""
            counts = {k: text.count(v) for k, v in self.LOG_SIGNS.items() if v in text}
            if counts:
                out[d.instance] = counts
        return out

    def states(self):
        with self.db() as db:
            return dict(db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall())

    def wait_all(self, state, count, timeout):
        seen = {}

        def done():
            nonlocal seen
            seen = self.states()
            return seen.get(state, 0) == count

        try:
            wait_until(done, timeout=timeout, interval=0.25, what=f"all {count} deliveries {state}")
        except AssertionError:
            self.fail(f"not all {count} deliveries {state} after {timeout} s: {seen}\n" + self.log_tails())

    def sent_by(self, since=None):
        """Requests the gateway accepted per instance name (since a monotonic time)."""
        with self.gw.lock:
            got = [(t, sender) for t, _, sender in self.gw.accepted]
        c = collections.Counter(self.by_port[s].instance for t, s in got if since is None or t >= since)
        return {name: c.get(name, 0) for name in NAMES}

    # -- the tests -----------------------------------------------------------------

    def test_sigkill_one_of_three_mid_fan_out(self):
        started = time.monotonic()
        self.start_instances(FAN_OUT, rate=0, receipts=True)
        ready_s = time.monotonic() - started
        d = chaos.directive("ubnd-tinh/scale-out/2026")
        published = time.monotonic()
        chaos.publish(self.vhost, d)

        wait_until(lambda: self.gw.total() >= KILL_AT, timeout=180, interval=0.01,
                   what=f"{KILL_AT} sends at the gateway")
        # The instance that sent most in the last second: it has sends on the wire and
        # claims ahead, which the others must take over when its lease runs out.
        recent = self.sent_by(since=time.monotonic() - 1.0)
        victim = next(x for x in self.daemons if x.instance == max(recent, key=recent.get))
        live = [x for x in self.daemons if x is not victim]
        # Receipts go to live instances only from now on (a load balancer's health check).
        self.gw.set_receipt_targets([self.url(x) for x in live])
        kill_wall_ms = int(time.time() * 1000)
        victim.kill()
        killed = time.monotonic()
        seen_at_kill = self.gw.total()
        # A claim whose COMMIT was already on its way to PostgreSQL still commits after the
        # kill: count the killed instance's claims once that has happened, well within the
        # lease (renewed every lease/3, so at least 2 s of it are left).
        time.sleep(0.5)
        with self.db() as db:
            claimed_at_kill = db.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'sending' AND claimed_by = ?",
                                         (victim.instance,)).fetchone()[0]
            intake_complete_at_kill = db.execute("SELECT MIN(intake_complete) FROM directives").fetchone()[0]

        self.wait_all("delivered", FAN_OUT, timeout=240)
        done = time.monotonic()
        # Receipts still queued or being retried would change nothing (all are delivered),
        # but the figures below should be the final ones.
        wait_until(lambda: self.gw.receipts.empty(), timeout=30, what="the gateway's receipts posted")

        counts = self.gw.snapshot()
        with self.db() as db:
            tokens = [r[0] for r in db.execute("SELECT token FROM deliveries")]
            directives = db.execute("SELECT id, intake_complete FROM directives").fetchall()
            takeovers = db.execute("SELECT at_ms, detail, delivery_id FROM events WHERE source = 'takeover'"
                                   " ORDER BY at_ms").fetchall()
            recoveries = db.execute("SELECT COUNT(*) FROM events WHERE source = 'recovery'").fetchone()[0]
            max_attempts = db.execute("SELECT MAX(attempts) FROM deliveries").fetchone()[0]
            left_claimed = db.execute("SELECT COUNT(*) FROM deliveries WHERE claimed_by = ? AND state = 'sending'",
                                      (victim.instance,)).fetchone()[0]
        depths = chaos.queue_depths(self.vhost)
        never_sent = [t for t in tokens if counts.get(t, 0) == 0]
        duplicates = sum(n - 1 for n in counts.values() if n > 1)
        bound = 2 * CONCURRENCY * 1  # one killed instance, one gateway lane
        figures = {
            "deliveries": FAN_OUT, "killed": victim.instance, "gateway_seen_at_kill": seen_at_kill,
            "intake_complete_at_kill": bool(intake_complete_at_kill),
            "claimed_by_killed_after_kill": claimed_at_kill, "takeover_events": len(takeovers),
            "takeover_after_kill_s": round((takeovers[0][0] - kill_wall_ms) / 1000, 2) if takeovers else None,
            "takeovers_by": dict(collections.Counter(
                (f"{round((at - kill_wall_ms) / 1000, 1)}s", detail.split(";")[0]) for at, detail, _ in takeovers)),
            "takeover_deliveries": len({i for _, _, i in takeovers}),
            "oldest_heartbeat_while_running_ms": dict(sorted(self.lease_age.items())),
            "log": self.log_signs(),
            "recovery_events": recoveries,
            "requests": sum(counts.values()), "duplicates": duplicates, "duplicate_bound": bound,
            "never_sent": len(never_sent), "unknown_tokens": len(set(counts) - set(tokens)),
            "max_attempts": max_attempts,
            "sent_by": self.sent_by(),
            "receipts_posted": self.gw.receipts_posted, "receipts_to_sender": self.gw.receipts_to_sender,
            "receipts_by_instance": {self.by_port[int(t.rsplit(":", 1)[1])].instance: n
                                     for t, n in sorted(self.gw.receipts_by_target.items())},
            "receipt_retries": self.gw.receipt_retries, "queues": depths,
            "ready_s": round(ready_s, 1), "publish_to_kill_s": round(killed - published, 1),
            "kill_to_all_delivered_s": round(done - killed, 1),
            "publish_to_all_delivered_s": round(done - published, 1),
        }
        print(f"\nscale-out figures: {figures}")

        # Taken in once.
        self.assertEqual([(d["id"], 1)], [(i, int(c)) for i, c in directives], figures)
        self.assertEqual(len(tokens), FAN_OUT, figures)
        self.assertEqual(depths, {"herald.directives": 0, "herald.directives.dead": 0}, figures)
        # Nothing lost: every delivery delivered (above), every token at the gateway.
        self.assertEqual(figures["never_sent"], 0, figures)
        self.assertEqual(figures["unknown_tokens"], 0, figures)
        # The kill fell inside the fan-out.
        self.assertLess(seen_at_kill, FAN_OUT, figures)
        # Duplicates within docs/dispatch.md's crash bound.
        self.assertLessEqual(duplicates, bound, figures)
        # Receipts: each to an instance other than the sender, each applied somewhere.
        self.assertEqual(self.gw.receipts_to_sender, 0, figures)
        self.assertGreaterEqual(self.gw.receipts_posted, FAN_OUT, figures)
        for x in live:
            self.assertGreater(figures["receipts_by_instance"].get(x.instance, 0), 0, figures)
        # Every instance sent a share before the kill.
        for name, n in figures["sent_by"].items():
            self.assertGreater(n, 0, f"{name} sent nothing: {figures}")
        # The takeover: the killed instance's claims, and only those, by the live instances,
        # once its lease ran out (it is renewed every lease/3 while the instance runs: at
        # least 2 s of it were left at the kill), and not long after.
        self.assertGreater(claimed_at_kill, 0, f"the killed instance held no claims: {figures}")
        self.assertGreater(len(takeovers), 0, f"its claims were never taken over: {figures}\n" + self.log_tails())
        live_names = {x.instance for x in live}
        wrong = [(at_ms - kill_wall_ms, detail) for at_ms, detail, _ in takeovers
                 if f"claimed by {victim.instance}," not in detail
                 or not any(f"taken over by {n};" in detail for n in live_names)
                 or at_ms < kill_wall_ms + 1000]
        self.assertEqual(wrong[:20], [], f"{len(wrong)} takeovers other than of {victim.instance}'s claims after its "
                                        f"lease (ms after the kill, detail): {figures}")
        self.assertLessEqual(takeovers[0][0], kill_wall_ms + (LEASE_S + 10) * 1000, figures)
        # Each claim taken over once, and no more than the killed instance held.
        self.assertEqual(figures["takeover_deliveries"], len(takeovers), figures)
        self.assertLessEqual(len(takeovers), claimed_at_kill, figures)
        self.assertEqual(left_claimed, 0, figures)

    def test_rate_limit_holds_across_three_instances(self):
        self.start_instances(RATE_PEOPLE, rate=RATE, receipts=False)
        published = time.monotonic()
        chaos.publish(self.vhost, chaos.directive("ubnd-tinh/scale-out-rate/2026"))
        self.wait_all("sent", RATE_PEOPLE, timeout=RATE_PEOPLE / RATE * 3 + 30)
        done = time.monotonic()

        with self.gw.lock:
            accepted = sorted((t, self.by_port[s].instance) for t, _, s in self.gw.accepted)
        first, last = accepted[0][0], accepted[-1][0]
        lo, hi = first + 1.0, last - 1.0
        window = hi - lo
        inside = [name for t, name in accepted if lo <= t < hi]
        per = collections.Counter(inside)
        bins = collections.Counter(int(t - lo) for t, _ in accepted if lo <= t < lo + int(window))
        figures = {
            "rate": RATE, "deliveries": RATE_PEOPLE, "requests": len(accepted),
            "window_s": round(window, 2), "measured_rate": round(len(inside) / window, 1),
            "per_instance_rate": {n: round(per.get(n, 0) / window, 1) for n in NAMES},
            "sent_by": self.sent_by(),
            "one_second_bins_min_max": (min(bins.values()), max(bins.values())) if bins else None,
            "first_to_last_request_s": round(last - first, 1),
            "publish_to_all_sent_s": round(done - published, 1),
            "oldest_heartbeat_while_running_ms": dict(sorted(self.lease_age.items())),
            "log": self.log_signs(),
        }
        print(f"\nscale-out rate figures: {figures}")

        self.assertGreater(window, 15, f"too short to measure a rate: {figures}")
        self.assertLessEqual(abs(figures["measured_rate"] - RATE), RATE * 0.10,
                             f"the shared limit of {RATE}/s did not hold: {figures}")
        for name in NAMES:
            self.assertLessEqual(per.get(name, 0) / window, RATE, f"{name} alone above {RATE}/s: {figures}")
            # The work is shared: each instance sent a real part of it.
            self.assertGreaterEqual(figures["sent_by"][name], RATE_PEOPLE * 0.05, f"{name}: {figures}")
        # Claims are exclusive: no delivery was sent twice, and nothing was taken over.
        self.assertEqual(len(accepted), RATE_PEOPLE, figures)
        self.assertEqual(len(self.gw.snapshot()), RATE_PEOPLE, figures)
        with self.db() as db:
            self.assertEqual(db.execute("SELECT COUNT(*) FROM events WHERE source = 'takeover'").fetchone()[0], 0)
            self.assertEqual(db.execute("SELECT COUNT(*) FROM directives").fetchone()[0], 1)


if __name__ == "__main__":
    unittest.main()
