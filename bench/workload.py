"""What Herald's benchmarks share (bench.py and scale_out.py import it; it imports neither):
the nginx endpoint a gateway sends to, the workload (a directory of N officials, a
directive to all of them, heraldd's config for it), publishing through the broker,
counting states in a SQLite store, and CPU and memory readings from /proc."""
import json
import os
import platform
import shutil
import socket
import sqlite3
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
HERALD_BENCH = os.path.join(os.environ.get("HERALD_BUILD_DIR", os.path.join(REPO, "build")), "bin", "herald-bench")
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import harness  # noqa: E402  (vhosts on the RabbitMQ scripts/services runs; heraldd runner)

BODY_TEMPLATE = ('{"ApiKey": "bench", "Phone": "{{to_national}}", "Content": "{{text}}",'
                 ' "SmsType": "2", "Brandname": "HUYENUY", "CallbackUrl": "{{receipt_url}}",'
                 ' "RequestId": "{{token}}"}')


class Nginx:
    def __init__(self, workdir):
        self.state = os.path.join(workdir, "nginx")
        os.makedirs(self.state, exist_ok=True)
        self.port = harness.free_port()
        with open(os.path.join(HERE, "nginx.conf.in")) as f:
            conf = f.read().replace("@STATE@", self.state).replace("@PORT@", str(self.port))
        self.conf = os.path.join(self.state, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen([nginx, "-c", self.conf, "-p", self.state, "-e",
                                      os.path.join(self.state, "nginx-error.log")])
        harness.wait_until(self._up, timeout=10, what="nginx")
        self.url = f"http://127.0.0.1:{self.port}/MainService.svc/json/SendMultipleMessage_V4_post_json/"

    def _up(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def cpu(self):
        """CPU seconds of the master and its worker."""
        total = process_cpu(self.proc.pid)
        for child in subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                                    text=True).stdout.split():
            total += process_cpu(int(child))
        return total

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """CPU seconds (user + system) of each thread of `pid`, by thread name."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def machine_busy():
    """Busy and total jiffies of the whole machine (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    return sum(v) - idle, sum(v)


def process_cpu(pid):
    return sum(thread_cpu(pid).values())


def cpu_delta(before, after):
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def write_directory(path, people):
    """A directory of `people` commune officials in one group, each reachable by SMS; the
    people in a CSV table beside it (people_csv), as a province's HR export would be."""
    table = os.path.splitext(path)[0] + "-people.csv"
    with open(path, "w") as f:
        f.write("groups:\n  - id: all\n    name: \"Cán bộ toàn tỉnh\"\n  - id: one\n    name: \"Một người\"\n")
        f.write(f"people_csv: {os.path.basename(table)}\n")
    with open(table, "w") as f:
        f.write("id,name,groups,phone,channels\n")
        for i in range(people):
            f.write(f"p{i},Cán bộ {i},{'all;one' if i == 0 else 'all'},+8490{i:07d},sms\n")


def directive(n, group, subject="Thông báo khẩn về phòng, chống bão số 9"):
    return {
        "schema": "herald.directive/v1",
        "id": f"bench/{n}",
        "number": f"{n}-TB/UBND",
        "issuer": {"code": "UBND-TINH", "name": "Ủy ban nhân dân tỉnh"},
        "issued_at": "2026-11-29T08:00:00+07:00",
        "subject": subject,
        "summary": "Các đơn vị triển khai ngay phương án sơ tán dân ở vùng ven biển.",
        "urgency": "khan",
        "recipients": [{"group": group}],
        "channels": ["sms"],
    }


def daemon_config(gateway_url, directory, concurrency, batch):
    return {
        "directory": directory,
        "gateways": {"bench": {
            "type": "http_json", "url": gateway_url, "body": BODY_TEMPLATE,
            "response": {"success_pointer": "/status", "success_value": "ok", "id_pointer": "/id"},
            "receipt": {"status": "/status", "map": {"DELIVRD": "delivered", "FAILED": "failed"}},
            "rate": 0, "concurrency": concurrency, "timeout": "30s"}},
        "channels": {"sms": {"enabled": True, "gateway": "bench"}, "zalo": {"enabled": False},
                     "email": {"enabled": False}, "loudspeaker": {"enabled": False}},
        "dispatch": {"batch": batch, "poll_interval": "200ms"},
        "acks": {"follow_up": {}},
    }


def publish(vhost, d):
    conn = vhost.connection()
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("herald.directives", "bench", json.dumps(d).encode(),
                         properties=__import__("pika").BasicProperties(
                             content_type="application/json", message_id=d["id"], delivery_mode=2))
    finally:
        conn.close()


def count_state(db_path, directive_id, state):
    # By the (channel, state, ...) index: the bench's own polling must cost next to nothing.
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute("SELECT COUNT(*) FROM deliveries INDEXED BY deliveries_due"
                            " WHERE channel = 'sms' AND state = ? AND directive_id = ?",
                            (state, directive_id)).fetchone()[0]
    finally:
        conn.close()


def intake_complete(db_path, directive_id):
    """The directive's intake_complete (1 once all its deliveries are in), None before its
    first part is committed."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute("SELECT intake_complete FROM directives WHERE id = ?", (directive_id,)).fetchone()
        return row[0] if row else None
    finally:
        conn.close()



def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpus": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem, 1), "kernel": platform.release(),
            "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip(),
            "wrk": (subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines() or ["wrk"])[0]}
