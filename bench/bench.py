#!/usr/bin/env python3
"""Herald's benchmark (scripts/bench runs it): fan-out against an nginx endpoint next to
wrk's ceiling on the same endpoint, a Python `requests` baseline, receipts posted by wrk,
publish-to-first-send latency, and peak memory. Prints a table and writes
docs/performance.md. Everything runs on loopback; every process it starts it stops.
`--only scaleout` (never part of the default run) runs bench/scale_out.py's measurement of
several heraldd on one PostgreSQL store instead, and writes docs/scale-out.md.

  bench.py [--deliveries N] [--million N] [--latency-runs N] [--connections N] [--no-doc]
  bench.py --only scaleout [--scale-deliveries N] [--no-doc]
"""
import argparse
import http.server
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import scale_out
from workload import (BODY_TEMPLATE, HERALD_BENCH, HERE, REPO, Nginx, count_state, cpu_delta, daemon_config,
                      directive, harness, intake_complete, machine, machine_busy, peak_rss_mb, publish, thread_cpu,
                      write_directory)

def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


# ---- measurements -----------------------------------------------------------------------

def wrk(url, connections, seconds, script, env, threads=2):
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency",
           "-s", script, url]
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **env), timeout=seconds + 60)
    text = out.stdout
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    if not m or not rps:
        raise RuntimeError("wrk output not understood:\n" + text + out.stderr)
    dur = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
    return {"requests": int(m.group(1)), "seconds": dur, "rps": float(rps.group(1)),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "errors": errors.group(1) if errors else "",
            "raw": text}


def sample_body(workdir):
    body = BODY_TEMPLATE.replace("{{to_national}}", "0900000001").replace(
        "{{text}}", "UBND tinh - CV 1-TB/UBND: Thong bao khan ve phong, chong bao so 9. Cac don vi trien khai ngay"
        " phuong an so tan dan o vung ven bien.").replace(
        "{{receipt_url}}", "http://127.0.0.1:18080/hooks/sms/bench/0123456789abcdef0123456789abcdef").replace(
        "{{token}}", "0123456789abcdef0123456789abcdef")
    path = os.path.join(workdir, "post-body.json")
    with open(path, "w") as f:
        f.write(body)
    return path, body


def run_fanout(vhost, workdir, nginx, people, concurrency, batch, tag, receipts=False):
    """One heraldd, one directive to `people` recipients; returns figures."""
    sub = os.path.join(workdir, tag)
    os.makedirs(sub, exist_ok=True)
    directory = os.path.join(sub, "directory.yaml")
    t = time.monotonic()
    write_directory(directory, people)
    log(f"{tag}: directory of {people} people written in {time.monotonic() - t:.1f} s")
    daemon = harness.Daemon(vhost, sub, daemon_config(nginx.url, directory, concurrency, batch))
    if os.environ.get("BENCH_PRELOAD"):
        daemon.env["LD_PRELOAD"] = os.environ["BENCH_PRELOAD"]
    daemon.start(wait_ready=False)
    harness.wait_until(daemon.ready, timeout=600, interval=0.2, what="heraldd ready")
    rss_idle = peak_rss_mb(daemon.proc.pid)
    d = directive(tag, "all")
    out = {"deliveries": people, "rss_before_mb": rss_idle}
    try:
        cpu0, nginx0, machine0 = thread_cpu(daemon.proc.pid), nginx.cpu(), machine_busy()
        t0 = time.monotonic()
        publish(vhost, d)

        def intake_state():
            return intake_complete(daemon.store_path, d["id"])
        # The first part (the directive and its first 1,000 deliveries) commits, and sending
        # starts; the rest of the intake goes on meanwhile.
        harness.wait_until(lambda: intake_state() is not None, timeout=3600, interval=0.01, what="first part")
        out["first_part_s"] = time.monotonic() - t0
        harness.wait_until(lambda: intake_state() == 1, timeout=3600, interval=0.02, what="intake complete")
        out["intake_s"] = time.monotonic() - t0

        def all_sent():
            return count_state(daemon.store_path, d["id"], "sent") >= people
        harness.wait_until(all_sent, timeout=3600, interval=0.05, what=f"{people} deliveries sent")
        elapsed = time.monotonic() - t0
        out.update(seconds=elapsed, per_s=people / elapsed, peak_rss_mb=peak_rss_mb(daemon.proc.pid))
        # Where the machine's time went: CPU microseconds per delivery, by heraldd thread,
        # and nginx's per request.
        threads = cpu_delta(cpu0, thread_cpu(daemon.proc.pid))
        out["cpu_us_per_delivery"] = {k: round(v / people * 1e6, 2) for k, v in sorted(threads.items()) if v > 0}
        out["cpu_us_per_delivery"]["nginx"] = round((nginx.cpu() - nginx0) / people * 1e6, 2)
        out["cpu_busy_cores"] = round((sum(threads.values()) + nginx.cpu() - nginx0) / elapsed, 2)
        machine1 = machine_busy()
        out["machine_busy_share"] = round((machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1]), 2)
        log(f"{tag}: {people} sent in {elapsed:.2f} s = {people / elapsed:.0f}/s (first part committed after"
            f" {out['first_part_s']:.2f} s, all taken in after {out['intake_s']:.2f} s), peak RSS"
            f" {out['peak_rss_mb']:.0f} MB")
        if receipts:
            conn = sqlite3.connect(f"file:{daemon.store_path}?mode=ro", uri=True)
            tokens = [r[0] for r in conn.execute("SELECT token FROM deliveries WHERE directive_id = ?", (d["id"],))]
            conn.close()
            tok_path = os.path.join(sub, "tokens.txt")
            with open(tok_path, "w") as f:
                f.write("\n".join(tokens) + "\n")
            threads = 2
            # Each request names a delivery not yet receipted: short enough that wrk does
            # not run out of tokens at the rates seen (checked below).
            seconds = max(1, people // 50_000)
            r = wrk(f"http://127.0.0.1:{daemon.port}/", concurrency, seconds,
                    os.path.join(HERE, "receipts.lua"),
                    {"BENCH_TOKENS": tok_path, "BENCH_PREFIX": "/hooks/sms/bench/", "BENCH_THREADS": str(threads)},
                    threads=threads)
            delivered = count_state(daemon.store_path, d["id"], "delivered")
            if r["requests"] > len(tokens):
                log(f"{tag}: wrk sent {r['requests']} receipts for {len(tokens)} deliveries: the figure"
                    " counts only the first receipt of each")
            out["receipts"] = {"requests": r["requests"], "seconds": r["seconds"], "delivered": delivered,
                               "per_s": min(delivered, r["requests"] - r["non2xx"]) / r["seconds"],
                               "non2xx": r["non2xx"], "errors": r["errors"],
                               "unique_tokens": len(tokens)}
            log(f"{tag}: receipts {r['requests']} posted in {r['seconds']:.1f} s, {delivered} delivered committed,"
                f" {out['receipts']['per_s']:.0f}/s, non-2xx {r['non2xx']}")
    finally:
        out["exit"] = daemon.stop()
    return out


class FirstRequestServer:
    """A gateway endpoint that notes when each directive's first request arrives."""

    def __init__(self):
        self.arrivals = {}
        self.cv = threading.Condition()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                now = time.monotonic()
                m = re.search(rb"CV (\d+)-TB", body)
                with outer.cv:
                    if m:
                        outer.arrivals.setdefault(int(m.group(1)), now)
                    outer.cv.notify_all()
                reply = b'{"status":"ok","id":"x"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait(self, n, timeout=30):
        deadline = time.monotonic() + timeout
        with self.cv:
            while n not in self.arrivals:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"directive {n} never reached the gateway")
                self.cv.wait(left)
            return self.arrivals[n]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def run_latency(vhost, workdir, runs):
    sub = os.path.join(workdir, "latency")
    os.makedirs(sub, exist_ok=True)
    directory = os.path.join(sub, "directory.yaml")
    write_directory(directory, 50)
    srv = FirstRequestServer()
    daemon = harness.Daemon(vhost, sub, daemon_config(f"http://127.0.0.1:{srv.port}/send", directory, 8, 256))
    daemon.start()
    conn = vhost.connection()
    ch = conn.channel()
    ch.confirm_delivery()
    pika = __import__("pika")
    samples = []
    try:
        for i in range(runs):
            n = 10000 + i
            d = directive(n, "one", subject=f"Thông báo số {n}")
            d["id"] = f"bench/latency/{n}"
            body = json.dumps(d).encode()
            t0 = time.monotonic()
            ch.basic_publish("herald.directives", "bench", body,
                             properties=pika.BasicProperties(content_type="application/json",
                                                             message_id=d["id"], delivery_mode=2))
            samples.append((srv.wait(n) - t0) * 1000)
    finally:
        conn.close()
        daemon.stop()
        srv.close()
    samples.sort()
    p = lambda q: samples[min(len(samples) - 1, int(round(q * (len(samples) - 1))))]  # noqa: E731
    out = {"runs": runs, "p50_ms": p(0.5), "p99_ms": p(0.99), "max_ms": samples[-1],
           "mean_ms": statistics.mean(samples)}
    log(f"latency: p50 {out['p50_ms']:.1f} ms, p99 {out['p99_ms']:.1f} ms over {runs}")
    return out


# What docs/performance.md reports; "scaleout" goes to docs/scale-out.md.
PERFORMANCE_KEYS = ("ceiling", "curl_alone", "store_alone", "fanout", "baseline", "latency", "million")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deliveries", type=int, default=100_000)
    ap.add_argument("--million", type=int, default=1_000_000, help="0 skips the memory run")
    ap.add_argument("--latency-runs", type=int, default=200)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration against nginx")
    ap.add_argument("--only", default="", help="comma list: ceiling,parts,fanout,baseline,latency,million;"
                    " scaleout (several heraldd on PostgreSQL) runs only when named here")
    ap.add_argument("--doc", default=os.path.join(REPO, "docs", "performance.md"))
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--render", metavar="JSON", help="only print the table (and update the doc) from a run's JSON")
    scale_out.add_arguments(ap)
    args = ap.parse_args()
    if args.render:
        with open(args.render) as f:
            results = json.load(f)
        report(args, results, scale_out)
        return
    only = set(filter(None, args.only.split(",")))
    want = lambda k: (not only and k != "scaleout") or k in only  # noqa: E731

    results = {"machine": machine(), "args": vars(args), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    workdir = tempfile.mkdtemp(prefix="herald-bench-")
    nginx = Nginx(workdir)
    body_path, body = sample_body(workdir)
    try:
        with harness.Vhost(f"bench-{os.getpid()}") as vhost:
            if want("ceiling"):
                n0 = nginx.cpu()
                r = wrk(nginx.url, args.connections, args.seconds, os.path.join(HERE, "post.lua"),
                        {"BENCH_BODY": body_path})
                results["ceiling"] = {k: r[k] for k in ("requests", "seconds", "rps", "non2xx", "errors")}
                results["ceiling"]["nginx_cpu_us_per_request"] = round((nginx.cpu() - n0) / r["requests"] * 1e6, 2)
                log(f"ceiling: wrk {r['rps']:.0f} req/s with {args.connections} connections")
            if want("parts"):
                # The send path's two halves alone: Herald's libcurl client with no store,
                # and the store's work for each send with no network.
                out = subprocess.run([HERALD_BENCH, "curl", nginx.url, str(args.deliveries), str(args.connections),
                                      body_path], capture_output=True, text=True, timeout=3600, check=True)
                results["curl_alone"] = json.loads(out.stdout)
                log(f"parts: libcurl client alone {results['curl_alone']['per_s']:.0f} req/s")
                store_dir = os.path.join(workdir, "store-alone")
                os.makedirs(store_dir)
                out = subprocess.run([HERALD_BENCH, "store", store_dir, str(args.deliveries), str(args.batch)],
                                     capture_output=True, text=True, timeout=3600, check=True)
                results["store_alone"] = json.loads(out.stdout)
                log(f"parts: store alone {results['store_alone']['per_s']:.0f} sends/s")
            if want("fanout"):
                results["fanout"] = run_fanout(vhost, workdir, nginx, args.deliveries, args.connections,
                                               args.batch, "fanout", receipts=True)
            if want("baseline"):
                n = args.deliveries
                out = subprocess.run([sys.executable, os.path.join(HERE, "baseline.py"), nginx.url, str(n),
                                      str(args.connections), body], capture_output=True, text=True, timeout=3600)
                if out.returncode != 0:
                    raise RuntimeError("baseline failed: " + out.stderr)
                b = json.loads(out.stdout)
                results["baseline"] = {"requests": n, "ok": b["ok"], "seconds": b["elapsed"],
                                       "per_s": n / b["elapsed"]}
                log(f"baseline: python requests {n / b['elapsed']:.0f}/s")
            if want("latency"):
                results["latency"] = run_latency(vhost, workdir, args.latency_runs)
            if want("million") and args.million:
                results["million"] = run_fanout(vhost, workdir, nginx, args.million, args.connections,
                                                args.batch, "million")
        if want("scaleout"):
            # Its own vhosts and databases, one per configuration; the same nginx.
            results["scaleout"] = scale_out.run(args, workdir, nginx, args.connections, args.batch)
    finally:
        nginx.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    print(json.dumps(results, indent=2))
    report(args, results, scale_out)


def report(args, results, scale_out):
    """The tables, and each doc whose figures this run has (unless --no-doc)."""
    if any(k in results for k in PERFORMANCE_KEYS):
        table = render_table(results)
        print(table)
        if not args.no_doc:
            update_doc(args.doc, results, table)
    if "scaleout" in results:
        table = scale_out.render_table(results["scaleout"])
        print(table)
        print("\n" + scale_out.render_ratios(results["scaleout"]))
        if not args.no_doc:
            scale_out.update_doc(args.scale_doc, results, table)


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"


def render_table(r):
    rows = [("measurement", "figure", "target", "")]
    c = r.get("ceiling", {}).get("rps")
    f = r.get("fanout", {})
    b = r.get("baseline", {}).get("per_s")
    if c:
        rows.append(("wrk ceiling (nginx, POST)", f"{c:,.0f} req/s", "", ""))
    if f:
        rows.append((f"fan-out, {f['deliveries']:,} deliveries", f"{f['per_s']:,.0f} deliveries/s",
                     ">= 20,000/s", "ok" if f["per_s"] >= 20000 else "MISSED"))
        if c:
            rows.append(("fan-out / ceiling", ratio(f["per_s"], c), ">= 0.40",
                         "ok" if f["per_s"] / c >= 0.4 else "MISSED"))
        if "first_part_s" in f:
            rows.append(("  first part committed (sending starts)", f"{f['first_part_s'] * 1000:.0f} ms", "", ""))
            rows.append(("  whole directive taken in", f"{f['intake_s']:.2f} s", "", ""))
    ca, sa = r.get("curl_alone", {}).get("per_s"), r.get("store_alone", {}).get("per_s")
    if ca:
        rows.append(("libcurl client alone (no store)", f"{ca:,.0f} req/s", "", ""))
        if f:
            rows.append(("fan-out / libcurl alone", ratio(f["per_s"], ca), "", ""))
    if sa:
        rows.append(("store alone (claim + outcome, no network)", f"{sa:,.0f} sends/s", "", ""))
    cpu = f.get("cpu_us_per_delivery")
    if cpu:
        herald_us = sum(v for k, v in cpu.items() if k != "nginx")
        total_us = herald_us + cpu.get("nginx", 0)
        cores = r.get("machine", {}).get("cpus", 2)
        parts = ", ".join(f"{k} {v:.1f}" for k, v in cpu.items() if k != "nginx")
        rows.append(("CPU per delivery, heraldd", f"{herald_us:.1f} us", f"({parts})", ""))
        rows.append(("CPU per delivery, nginx", f"{cpu.get('nginx', 0):.1f} us", "", ""))
        bound = cores * 1e6 / total_us
        rows.append((f"bound: {cores} cores / CPU per delivery", f"{bound:,.0f} deliveries/s",
                     f"= {bound / c:.2f} of ceiling" if c else "", ""))
    if b:
        rows.append(("Python requests baseline", f"{b:,.0f} requests/s", "", ""))
        if f:
            rows.append(("Herald / baseline", ratio(f["per_s"], b), "", ""))
    rc = f.get("receipts")
    if rc:
        rows.append(("receipts committed", f"{rc['per_s']:,.0f} receipts/s", ">= 20,000/s",
                     "ok" if rc["per_s"] >= 20000 else "MISSED"))
    lat = r.get("latency")
    if lat:
        rows.append(("publish -> first send p50", f"{lat['p50_ms']:.1f} ms", "< 20 ms",
                     "ok" if lat["p50_ms"] < 20 else "MISSED"))
        rows.append(("publish -> first send p99", f"{lat['p99_ms']:.1f} ms", "", ""))
    if f:
        rows.append((f"peak RSS, {f['deliveries']:,} fan-out", f"{f['peak_rss_mb']:.0f} MB",
                     f"(directory loaded: {f['rss_before_mb']:.0f} MB)", ""))
    m = r.get("million")
    if m:
        rows.append((f"peak RSS, {m['deliveries']:,} fan-out", f"{m['peak_rss_mb']:.0f} MB", "< 200 MB",
                     "ok" if m["peak_rss_mb"] < 200 else "MISSED"))
        rows.append((f"  of which the directory of {m['deliveries']:,} people", f"{m['rss_before_mb']:.0f} MB", "", ""))
        rows.append(("  the fan-out itself (peak - directory)", f"{m['peak_rss_mb'] - m['rss_before_mb']:.0f} MB",
                     "", ""))
        rows.append((f"fan-out, {m['deliveries']:,} deliveries", f"{m['per_s']:,.0f} deliveries/s", "", ""))
        if "first_part_s" in m:
            rows.append(("  first part committed (sending starts)", f"{m['first_part_s'] * 1000:.0f} ms", "", ""))
            rows.append(("  whole directive taken in", f"{m['intake_s']:.2f} s", "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["| " + " | ".join(row[i].ljust(widths[i]) for i in range(4)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def update_doc(path, results, table):
    """Replaces the generated section of docs/performance.md (between its markers)."""
    m = results["machine"]
    gen = [
        "<!-- bench:begin (scripts/bench writes this section; edit outside it) -->",
        f"Last run: {results['started']}, on {m['cpus']} CPUs ({m['cpu']}), {m['mem_gib']} GiB, "
        f"Linux {m['kernel']}; {m['nginx']}; {m['wrk']}. Connections: {results['args']['connections']}, "
        f"dispatch batch {results['args']['batch']}.",
        "",
        table,
        "",
        "Raw figures:",
        "",
        "```json",
        json.dumps({k: v for k, v in results.items() if k not in ("machine", "scaleout")}, indent=1),
        "```",
        "<!-- bench:end -->",
    ]
    try:
        with open(path) as f:
            doc = f.read()
    except FileNotFoundError:
        doc = "# Performance\n\n<!-- bench:begin --><!-- bench:end -->\n"
    start = doc.find("<!-- bench:begin")
    end = doc.find("<!-- bench:end -->")
    if start < 0 or end < 0:
        doc += "\n" + "\n".join(gen) + "\n"
    else:
        doc = doc[:start] + "\n".join(gen) + doc[end + len("<!-- bench:end -->"):]
    with open(path, "w") as f:
        f.write(doc)
    log("wrote", path)


if __name__ == "__main__":
    main()
