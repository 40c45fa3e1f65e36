"""The crash suite in CTest (label `chaos`): 20 SIGKILLs at random moments of a
10,000-delivery fan-out over real RabbitMQ, each followed by a restart. Every delivery
ends `delivered`, none is lost, and duplicates stay within docs/dispatch.md's bound.
chaos.py says how; scripts/chaos runs the same with other figures."""
import os
import unittest

import chaos


class CrashSuite(unittest.TestCase):
    def test_twenty_sigkills_lose_nothing(self):
        seed = int(os.environ["HERALD_CHAOS_SEED"]) if "HERALD_CHAOS_SEED" in os.environ else None
        f = chaos.run(rounds=20, deliveries=10_000, seed=seed, log=lambda *a: None)
        summary = {k: v for k, v in f.items() if k != "kills"}
        print(f"\nchaos figures: {summary}")
        self.assertEqual(chaos.verdict(f), [], f"seed {f['seed']} (HERALD_CHAOS_SEED reruns it): {summary}")
        # The kills fell inside the fan-out, not after it.
        self.assertLess(f["sent_before_last_start"], f["deliveries"], summary)
        self.assertGreater(f["sent_before_last_start"], 0, summary)


if __name__ == "__main__":
    unittest.main()
