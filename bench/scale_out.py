#!/usr/bin/env python3
"""Herald's scale-out benchmark (`scripts/bench --only scaleout`; never part of the default
run): one directive to N people sent by one heraldd on SQLite, then by 1, 2 and 3 heraldd
sharing one PostgreSQL store, each configuration on a fresh vhost and (PostgreSQL) a fresh
database, all through bench.py's nginx endpoint. Measures from the publish: when the
directive is taken in, when all N are `sent`, deliveries/s, the CPU the heraldd, PostgreSQL
and nginx processes spent per 1,000 deliveries, and how the sends split over the instances.
Prints JSON and a markdown table, and rewrites the generated part of the Capacity section
of docs/scale-out.md unless --no-doc.

  bench/scale_out.py [--scale-deliveries N] [--scale-configs sqlite1,pg1,pg2,pg3] [--no-doc]

Ratios (PG x2 / PG x1, ...) are taken within one run: the machine is noisy, and on 2 cores
every instance, PostgreSQL, nginx and RabbitMQ share the same CPUs."""
import argparse
import json
import os
import re
import sys
import tempfile
import shutil
import subprocess
import time

import workload  # Nginx, write_directory, directive, daemon_config, publish, CPU helpers
from workload import REPO, harness
DOC = os.path.join(REPO, "docs", "scale-out.md")
BEGIN = "<!-- scaleout:begin (scripts/bench --only scaleout writes this section; edit outside it) -->"
END = "<!-- scaleout:end -->"
# name -> (store, instances)
CONFIGS = {"sqlite1": ("sqlite", 1), "pg1": ("postgres", 1), "pg2": ("postgres", 2), "pg3": ("postgres", 3)}
LABELS = {"sqlite1": "SQLite x1", "pg1": "PostgreSQL x1", "pg2": "PostgreSQL x2", "pg3": "PostgreSQL x3"}
RATIOS = (("pg2", "pg1"), ("pg3", "pg1"), ("pg1", "sqlite1"))
POLL_S = 0.1  # the bench's own polling of the store: cheap (partial indexes), and its
#               PostgreSQL backend is left out of PostgreSQL's CPU


def log(*a):
    print("scale-out:", *a, file=sys.stderr, flush=True)


def add_arguments(ap):
    ap.add_argument("--scale-deliveries", type=int, default=30_000,
                    help="scaleout: people the directive goes to (default 30,000)")
    ap.add_argument("--scale-configs", default=",".join(CONFIGS),
                    help="scaleout: comma list of " + ",".join(CONFIGS))
    ap.add_argument("--scale-doc", default=DOC, help="scaleout: the page whose generated block is rewritten")


# ---- PostgreSQL's processes -------------------------------------------------------------

def state_dir():
    return os.environ.get("HERALD_STATE_DIR") or harness._ENV.get("HERALD_STATE_DIR") or os.path.join(REPO, ".state")


def postmaster_pid():
    """The postmaster of the PostgreSQL that scripts/services runs (its data folder's
    postmaster.pid)."""
    with open(os.path.join(state_dir(), "postgres", "data", "postmaster.pid")) as f:
        return int(f.readline())


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return None


class PgCpu:
    """CPU seconds of one PostgreSQL server's processes over a measurement: the postmaster,
    its auxiliary processes (checkpointer, WAL writer, autovacuum, ...) and the client
    backends of one database, except `exclude` (the bench's own backend). Sampled at each
    poll, so a process that ends in between (an autovacuum worker) still counts up to its
    last sample; one born in between counts from 0."""

    def __init__(self, database, exclude=()):
        self.database = database
        self.exclude = set(exclude)
        self.master = postmaster_pid()
        self.first = {}
        self.last = {}
        self.sample(first=True)

    def _ours(self, pid):
        title = _cmdline(pid)
        if title is None:
            return False
        if title.startswith("postgres: "):
            parts = title[len("postgres: "):].split()
            # A client backend: "postgres: USER DATABASE HOST(PORT) activity"; other
            # databases are other tests' (ctest may share the server).
            if len(parts) >= 3 and (parts[2] == "[local]" or "(" in parts[2]):
                return parts[1] == self.database
            # "postgres: autovacuum worker DATABASE" (once it has chosen one).
            if parts[:2] == ["autovacuum", "worker"] and len(parts) >= 3:
                return parts[2] == self.database
        return True

    def sample(self, first=False):
        try:
            with open(f"/proc/{self.master}/task/{self.master}/children") as f:
                pids = [self.master] + [int(p) for p in f.read().split()]
        except OSError:
            pids = [self.master]
        for pid in pids:
            if pid in self.exclude:
                continue
            if pid not in self.last and not self._ours(pid):
                self.exclude.add(pid)
                continue
            try:
                cpu = workload.process_cpu(pid)
            except OSError:
                continue
            if first:
                self.first[pid] = cpu
            self.last[pid] = cpu

    def seconds(self):
        return sum(v - self.first.get(pid, 0.0) for pid, v in self.last.items())


def others_running():
    """Test runs and builds on the machine (ctest, ninja, a compiler): their CPU is in
    "machine busy", and they make the figures worthless."""
    out = subprocess.run(["pgrep", "-a", "^(ctest|ninja|make|cc1plus|ld)$"], capture_output=True, text=True).stdout
    return sorted(set(" ".join(line.split()[1:])[:120] for line in out.splitlines()))


# ---- one configuration ------------------------------------------------------------------

LOG_LEVEL = re.compile(r"^\S+ (warning|error) (.*)$")


def log_findings(daemons):
    """Warnings and errors in each heraldd's log, counted by message with its numbers
    blanked (so the same complaint about different deliveries counts as one kind)."""
    out = {}
    for d in daemons:
        kinds = {}
        text = d.logs() if os.path.exists(d.log_path) else ""
        for line in text.splitlines():
            m = LOG_LEVEL.match(line)
            if m:
                key = f"{m.group(1)}: " + re.sub(r"\d+", "N", m.group(2))[:160]
                kinds[key] = kinds.get(key, 0) + 1
        if kinds:
            out[d.instance or "heraldd"] = kinds
    return out


def run_config(name, workdir, nginx, directory, people, concurrency, batch):
    store, count = CONFIGS[name]
    sub = os.path.join(workdir, name)
    os.makedirs(sub)
    out = {"config": name, "store": store, "instances": count, "deliveries": people}
    database = harness.create_database("bench_scale") if store == "postgres" else None
    daemons = []
    try:
        with harness.Vhost(f"bench-scale-{name}-{os.getpid()}") as vhost:
            for i in range(count):
                inst = os.path.join(sub, f"b{i + 1}")
                os.makedirs(inst)
                cfg = workload.daemon_config(nginx.url, directory, concurrency, batch)
                if store == "postgres":
                    daemons.append(harness.Daemon(vhost, inst, cfg, store="postgres", database=database,
                                                  instance=f"b{i + 1}"))
                else:
                    daemons.append(harness.Daemon(vhost, inst, cfg, store="sqlite"))
            t = time.monotonic()
            # Started together: on a new database they migrate it one at a time among themselves.
            for d in daemons:
                d.start(wait_ready=False)
            harness.wait_until(lambda: all(d.ready() for d in daemons), timeout=600, interval=0.2,
                               what=f"{count} heraldd ready")
            out["ready_s"] = round(time.monotonic() - t, 2)
            d0 = workload.directive(f"scale-{name}", "all")
            try:
                out.update(measure(vhost, daemons, nginx, d0, people, database))
            finally:
                out["exit"] = {d.instance or "heraldd": d.stop() for d in daemons}
                out["log"] = log_findings(daemons)
                # Which instance's intake took the directive in (its log says "took in ID (...)").
                out["taken_in_by"] = [d.instance or "heraldd" for d in daemons
                                      if os.path.exists(d.log_path) and f"took in {d0['id']} (" in d.logs()]
    finally:
        for d in daemons:
            if d.proc is not None and d.proc.poll() is None:
                d.stop()
        if database:
            harness.drop_database(database)
    return out


def measure(vhost, daemons, nginx, d, people, database):
    out = {}
    if database:
        db = harness.PgDb(database)
        own_backend = db.execute("SELECT pg_backend_pid()").fetchone()[0]

        def intake_state():
            row = db.execute("SELECT intake_complete FROM directives WHERE id = ?", (d["id"],)).fetchone()
            return row[0] if row else None

        def unsent():
            # By the partial indexes deliveries_next_due and deliveries_sending: the
            # polling costs next to nothing while the table fills.
            due = db.execute("SELECT COUNT(*) FROM deliveries WHERE channel = 'sms'"
                             " AND state IN ('queued', 'retrying')").fetchone()[0]
            sending = db.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'sending'").fetchone()[0]
            return due + sending

        def sent():
            return db.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'sent'").fetchone()[0]
    else:
        db = None
        path = daemons[0].store_path

        def intake_state():
            return workload.intake_complete(path, d["id"])

        def sent():
            return workload.count_state(path, d["id"], "sent")
    try:
        pg = PgCpu(database, exclude=[own_backend]) if database else None
        herald0 = [workload.process_cpu(x.proc.pid) for x in daemons]
        nginx0, machine0 = nginx.cpu(), workload.machine_busy()
        t0 = time.monotonic()
        workload.publish(vhost, d)

        def poll(predicate):
            def step():
                if pg:
                    pg.sample()
                return predicate()
            return step
        others = set(others_running())
        harness.wait_until(poll(lambda: intake_state() is not None), timeout=3600, interval=0.01, what="first part")
        out["first_part_s"] = round(time.monotonic() - t0, 3)
        harness.wait_until(poll(lambda: intake_state() == 1), timeout=3600, interval=0.02, what="intake complete")
        out["intake_s"] = round(time.monotonic() - t0, 3)
        if db:
            # Taken in: every delivery exists; all are sent once none is due or being sent.
            harness.wait_until(poll(lambda: unsent() == 0), timeout=3600, interval=POLL_S,
                               what=f"{people} deliveries sent")
        else:
            harness.wait_until(poll(lambda: sent() >= people), timeout=3600, interval=POLL_S,
                               what=f"{people} deliveries sent")
        elapsed = time.monotonic() - t0
        if pg:
            pg.sample()
        herald1 = [workload.process_cpu(x.proc.pid) for x in daemons]
        nginx1, machine1 = nginx.cpu(), workload.machine_busy()
        n_sent = sent()
        others |= set(others_running())
        per_k = 1000 / people
        herald = [b - a for a, b in zip(herald0, herald1)]
        ours = sum(herald) + (pg.seconds() if pg else 0.0) + (nginx1 - nginx0)
        out.update(
            seconds=round(elapsed, 3), sent=n_sent, per_s=round(people / elapsed, 1),
            cpu_s_per_1000={"heraldd": round(sum(herald) * per_k, 3),
                            "postgres": round(pg.seconds() * per_k, 3) if pg else None,
                            "nginx": round((nginx1 - nginx0) * per_k, 3)},
            heraldd_cpu_s={x.instance or "heraldd": round(c, 2) for x, c in zip(daemons, herald)},
            cores_used=round(ours / elapsed, 2),
            machine_busy_share=round((machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1]), 2),
            others_running=sorted(others),
            peak_rss_mb={x.instance or "heraldd": round(workload.peak_rss_mb(x.proc.pid)) for x in daemons})
        if pg:
            out["cpu_s_postgres"] = round(pg.seconds(), 2)
        if others:
            log(f"{d['id']}: running on the machine meanwhile, so these figures are disturbed: {sorted(others)}")
        if n_sent != people:
            log(f"{d['id']}: {n_sent} of {people} deliveries are sent")
        if db:
            # claimed_by still names the instance after the send (it is cleared only on a
            # take-over), so it tells which instance sent each delivery.
            out["split"] = {k or "(none)": v for k, v in db.execute(
                "SELECT claimed_by, COUNT(*) FROM deliveries WHERE state = 'sent' GROUP BY 1 ORDER BY 1").fetchall()}
            out["attempts_over_1"] = db.execute("SELECT COUNT(*) FROM deliveries WHERE attempts > 1").fetchone()[0]
        else:
            out["split"] = {"heraldd": n_sent}
        for x in daemons:
            out["split"].setdefault(x.instance or "heraldd", 0)
        log(f"{d['id']}: {people} sent in {elapsed:.2f} s = {people / elapsed:.0f}/s"
            f" (taken in after {out['intake_s']:.2f} s); split {out['split']}; CPU s/1000 {out['cpu_s_per_1000']}")
    finally:
        if db:
            db.close()
    return out


def run(args, workdir, nginx, concurrency=64, batch=1024):
    """Every configuration in args.scale_configs, in order, against `nginx`."""
    names = [n for n in args.scale_configs.split(",") if n]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise SystemExit(f"--scale-configs: unknown {','.join(unknown)} (known: {','.join(CONFIGS)})")
    people = args.scale_deliveries
    directory = os.path.join(workdir, "scale-directory.yaml")
    workload.write_directory(directory, people)
    t = time.monotonic()
    out = {"deliveries": people, "concurrency": concurrency, "batch": batch, "configs": {}}
    for name in names:
        log(f"{LABELS[name]}: {people} deliveries")
        out["configs"][name] = run_config(name, workdir, nginx, directory, people, concurrency, batch)
    out["ratios"] = {f"{a}/{b}": round(out["configs"][a]["per_s"] / out["configs"][b]["per_s"], 2)
                     for a, b in RATIOS if a in out["configs"] and b in out["configs"]}
    out["runtime_s"] = round(time.monotonic() - t, 1)
    return out


# ---- output -----------------------------------------------------------------------------

def _split(c):
    """Each instance's share of the sends; * marks the one that took the directive in."""
    total = sum(c["split"].values()) or 1
    if c["instances"] == 1:
        return "100%" if c["split"] else "-"
    return " / ".join(f"{k}{'*' if k in c.get('taken_in_by', ()) else ''} {v / total:.0%}"
                      for k, v in sorted(c["split"].items()))


def render_table(s):
    rows = [("configuration", "deliveries/s", "vs PG x1", "taken in", "all sent", "CPU s / 1,000: heraldd",
             "PostgreSQL", "nginx", "cores used", "machine busy", "sends per instance (* took it in)")]
    base = s["configs"].get("pg1", {}).get("per_s")
    for name, c in s["configs"].items():
        cpu = c["cpu_s_per_1000"]
        rows.append((
            LABELS[name], f"{c['per_s']:,.0f}",
            f"{c['per_s'] / base:.2f}" if base and c["store"] == "postgres" else "",
            f"{c['intake_s']:.2f} s", f"{c['seconds']:.2f} s", f"{cpu['heraldd']:.3f}",
            f"{cpu['postgres']:.3f}" if cpu["postgres"] is not None else "-", f"{cpu['nginx']:.3f}",
            f"{c['cores_used']:.2f}", f"{c['machine_busy_share']:.0%}", _split(c)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(row[i].ljust(widths[i]) for i in range(len(row))) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def render_ratios(s):
    names = {"pg2/pg1": "PG x2 / PG x1", "pg3/pg1": "PG x3 / PG x1", "pg1/sqlite1": "PG x1 / SQLite x1"}
    return "; ".join(f"{names[k]} **{v:.2f}**" for k, v in s["ratios"].items())


def render_bounds(s, cores):
    """What CPU per delivery says each part would reach alone on a machine of `cores`,
    from the PostgreSQL configurations' figures (a range when there are several)."""
    pg = [c["cpu_s_per_1000"] for c in s["configs"].values() if c["store"] == "postgres"]
    pg = [c for c in pg if c["heraldd"] and c["postgres"]]
    if not pg:
        return ""

    def span(key):
        lo, hi = sorted((cores * 1000 / min(c[key] for c in pg), cores * 1000 / max(c[key] for c in pg)))
        return f"{lo:,.0f}" if round(lo, -2) == round(hi, -2) else f"{lo:,.0f}-{hi:,.0f}"
    return (f"From the PostgreSQL runs' CPU per delivery: a {cores}-core machine running heraldd alone would"
            f" send at most {span('heraldd')} deliveries/s, and a {cores}-core PostgreSQL serving only these"
            f" statements would take at most {span('postgres')}/s (CPU only: disk writes, round trips and"
            f" locks are not in this bound).")


def update_doc(path, results, table):
    """Replaces the generated block of the Capacity section of docs/scale-out.md."""
    s = results["scaleout"]
    m = results["machine"]
    gen = [
        BEGIN,
        f"Last run: {results['started']}, on {m['cpus']} CPUs ({m['cpu']}), {m['mem_gib']} GiB, Linux {m['kernel']};"
        f" {m['nginx']}. One directive to {s['deliveries']:,} people, `http_json` gateway to nginx, `rate: 0`,"
        f" `concurrency: {s['concurrency']}` per instance, `dispatch.batch: {s['batch']}`; every process on the"
        f" same machine. Time from the publish; CPU seconds are user + system of the processes named,"
        f" per 1,000 deliveries; \"cores used\" is the CPU of those processes"
        f" over the time to all sent, \"machine busy\" the share of all {m['cpus']} cores in use meanwhile (RabbitMQ"
        f" and the bench's own polling included). Whole run:"
        f" {s['runtime_s']:.0f} s.",
        "",
        table,
        "",
        f"Ratios of deliveries/s within this run: {render_ratios(s)}.",
    ]
    bounds = render_bounds(s, m["cpus"])
    if bounds:
        gen += ["", bounds]
    gen.append(END)
    with open(path) as f:
        doc = f.read()
    start, end = doc.find("<!-- scaleout:begin"), doc.find(END)
    if start < 0 or end < 0:
        raise SystemExit(f"{path}: no {BEGIN[:20]}... / {END} markers in the Capacity section")
    doc = doc[:start] + "\n".join(gen) + doc[end + len(END):]
    with open(path, "w") as f:
        f.write(doc)
    log("wrote", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(ap)
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    results = {"machine": workload.machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    workdir = tempfile.mkdtemp(prefix="herald-scale-")
    nginx = workload.Nginx(workdir)
    try:
        results["scaleout"] = run(args, workdir, nginx)
    finally:
        nginx.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    print(json.dumps(results, indent=2))
    table = render_table(results["scaleout"])
    print(table)
    print("\n" + render_ratios(results["scaleout"]))
    if not args.no_doc:
        update_doc(args.scale_doc, results, table)


if __name__ == "__main__":
    main()
