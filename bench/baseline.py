#!/usr/bin/env python3
"""What a user might write instead of Herald: post every message with `requests`, one
Session per worker thread (keep-alive), a thread pool as wide as Herald's concurrency.
Prints the elapsed seconds and the count of 200 answers as JSON."""
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests


def main():
    url, count, workers, body = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    local = threading.local()
    ok = [0] * workers
    next_slot = iter(range(workers))
    lock = threading.Lock()

    def post(i):
        if not hasattr(local, "session"):
            local.session = requests.Session()
            with lock:
                local.slot = next(next_slot)
        r = local.session.post(url, data=body.replace("{{i}}", str(i)).encode(),
                               headers={"Content-Type": "application/json"}, timeout=10)
        if r.status_code == 200:
            ok[local.slot] += 1

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(post, range(count), chunksize=256):
            pass
    elapsed = time.monotonic() - start
    print(json.dumps({"elapsed": elapsed, "ok": sum(ok)}))


if __name__ == "__main__":
    main()
