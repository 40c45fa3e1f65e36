#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ from the project's own examples: the
seed directive and document, the adapters' testdata/ cases, tests/unit/testdata, config/.
Rerun after those change (`fuzz/seeds.py`); the files are small and checked in.
Callback seeds follow fuzz/callback.hpp: query line, Content-Type line, body."""
import base64
import hashlib
import hmac
import json
import pathlib
import re
import shutil
import struct
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
MAX_BYTES = 16 * 1024  # seeds stay small: the fuzzer grows them itself


def cases(path):
    return json.loads((ROOT / path).read_text(encoding="utf-8"))


def callback(query=None, content_type="", body=""):
    q = urllib.parse.urlencode(query or {}, quote_via=urllib.parse.quote)
    return f"{q}\n{content_type}\n{body}"


def write(target, seeds):
    folder = CORPUS / target
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seen = set()
    for name, data in seeds:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        if len(raw) > MAX_BYTES or raw in seen:
            continue
        seen.add(raw)
        (folder / name).write_bytes(raw)
    print(f"{target}: {len(seen)} seeds")


def directive_seeds():
    seed = (ROOT / "tests/data/seed-158-CV-HU.json").read_text(encoding="utf-8")
    out = [("seed-158-CV-HU.json", seed)]
    base = json.loads(seed)
    for i, c in enumerate(cases("tests/unit/testdata/directive_errors.json")):
        d = json.loads(seed)
        for key in c.get("remove", []):
            d.pop(key, None)
        d.update(c.get("set", {}))
        if d != base:
            out.append((f"directive_errors-{i:02d}-{c['name']}.json", json.dumps(d, ensure_ascii=False)))
    # A small one, so mutations of a whole message are cheap.
    small = {k: base[k] for k in ("schema", "id", "number", "issuer", "issued_at", "subject", "recipients")
             if k in base}
    out.append(("small.json", json.dumps(small, ensure_ascii=False)))
    return out


def reply_seeds():
    out = []
    for i, line in enumerate((ROOT / "tests/unit/testdata/replies.tsv").read_text(encoding="utf-8").splitlines()):
        if not line or line.startswith("#"):
            continue
        cell = line.split("\t")[0]
        # The table's escapes (\xHH, \t, \#, \\) back to bytes.
        raw, j = bytearray(), 0
        while j < len(cell):
            if cell[j] == "\\" and j + 1 < len(cell):
                n = cell[j + 1]
                if n == "x":
                    raw.append(int(cell[j + 2:j + 4], 16))
                    j += 4
                    continue
                raw += {"t": b"\t", "#": b"#", "\\": b"\\"}.get(n, n.encode())
                j += 2
                continue
            raw += cell[j].encode("utf-8")
            j += 1
        out.append((f"replies-{i:03d}", bytes(raw)))
    return out


def ack_token_seeds():
    # Signed like acks/ack_link.cpp with the fuzz target's secret: version 1, delivery id,
    # expiry (before and after the target's "now", 1626080000), HMAC-SHA256 cut to 16 bytes.
    secret = b"fuzz-ack-secret-0123456789abcdef0123456789"
    out = []
    for name, delivery, expires in (("valid", 42, 1626090000), ("expired", 7, 1626000000)):
        claim = struct.pack(">Bqq", 1, delivery, expires)
        mac = hmac.new(secret, claim, hashlib.sha256).digest()[:16]
        out.append((name, base64.urlsafe_b64encode(claim + mac).rstrip(b"=")))
    return out


def document_seeds():
    out = [("seed-158-CV-HU.txt", (ROOT / "tests/data/seed-158-CV-HU.txt").read_bytes())]
    # kXaNotice of tests/unit/document_text_test.cpp: a UBND xã notice.
    src = (ROOT / "tests/unit/document_text_test.cpp").read_text(encoding="utf-8")
    start = src.index("kXaNotice =")
    block = src[start:src.index(";", start)]
    lines = [seg.split('"', 1)[1].rsplit('"', 1)[0] for seg in block.splitlines()[1:]]
    out.append(("xa-notice.txt", "".join(lines).replace("\\n", "\n")))
    return out


def config_seeds():
    out = [(p.name, p.read_bytes()) for p in sorted((ROOT / "config").glob("herald.*.yaml"))]
    out += [(f"config_errors-{p.name}", p.read_bytes())
            for p in sorted((ROOT / "tests/unit/testdata/config_errors").glob("*.yaml"))]
    # Each adapter's gateway configs, placed under gateways: of a minimal config.
    head = ("broker: {host: 127.0.0.1}\nstore: {path: herald.db}\ndirectory: directory.example.yaml\n"
            "channels: {sms: {enabled: true}}\ngateways:\n  gw:\n")
    for p in sorted((ROOT / "adapters").glob("**/testdata/*.yaml")):
        body = "".join("    " + line + "\n" for line in p.read_text(encoding="utf-8").splitlines())
        out.append((f"gateway-{p.parent.parent.name}-{p.stem}.yaml", head + body))
    return out


def zalo_seeds():
    out = []
    for i, c in enumerate(cases("adapters/zalo/testdata/signatures.json")):
        out.append((f"signatures-{i:02d}", c["header"] + "\n" + c["body"]))
    for i, c in enumerate(cases("adapters/zalo/testdata/events.json")):
        out.append((f"events-{i:02d}", "\n" + c["body"]))
    for f in ("responses.json", "refresh.json"):
        for i, c in enumerate(cases(f"adapters/zalo/testdata/{f}")):
            out.append((f"{f.split('.')[0]}-{i:02d}", "\n" + c["response"].get("body", "")))
    return out


def gateway_types():
    """(type, folder) of each herald_gateway line of adapters/CMakeLists.txt, the one list."""
    out = []
    for line in (ROOT / "adapters/CMakeLists.txt").read_text(encoding="utf-8").splitlines():
        m = re.match(r"herald_gateway\((\S+)\s+(\S+)\s+\S+\)", line.strip())
        if m:
            out.append((m.group(1), str(pathlib.PurePosixPath(m.group(2)).parent)))
    return out


# Replies a gateway type takes (its MO mapping), besides what its testdata/ holds.
EXTRA_CALLBACKS = {
    "kannel": [("mo-1", callback({"from": "+84912000101", "to": "8079", "text": "Đã nhận 158", "time": "1626080000"})),
               ("mo-2", callback({"from": "0912000102", "text": "ok"}))],
    "http_json": [("mo-json", callback(None, "application/json",
                                       '{"Phone": "0912000401", "Message": "Đã nhận 158", "Time": "2021-07-12 09:00"}')),
                  ("mo-query", callback({"msisdn": "84912000402", "content": "ok 158"}))],
    "smtp": [("smtp-answer", callback(body="250 2.0.0 Ok: queued as 4BqZ1k"))],
}


def callback_seeds(gtype, folder):
    """A type's callback seeds: its folder's receipts and answers to sends (the cases that
    name a configuration of another type left out), and its EXTRA_CALLBACKS."""
    testdata = ROOT / "adapters" / folder / "testdata"
    mine = {p.name for p in testdata.glob("*.yaml")
            if re.search(rf"(^|\n)type: {gtype}\n", p.read_text(encoding="utf-8"))}
    out = []
    for kind in ("receipts", "responses"):
        path = testdata / f"{kind}.json"
        if not path.exists():
            continue
        for i, c in enumerate(cases(path.relative_to(ROOT))):
            if c.get("gateway", "gateway.yaml") not in mine:
                continue
            if kind == "receipts":
                out.append((f"receipts-{i:02d}", callback(c.get("query"), c.get("content_type", ""), c.get("body", ""))))
            elif c.get("response", {}).get("body"):
                out.append((f"responses-{i:02d}", callback(body=c["response"]["body"])))
    return out + EXTRA_CALLBACKS.get(gtype, [])


def http_request_seeds():
    """Raw requests to every public route (fuzz/http_request.cpp); the seed's delivery
    tokens are not known here, so the hooks see well-formed guesses."""
    seed_id = urllib.parse.quote("hu-chauthanh/158-CV/HU/2021", safe="")
    token = "0123456789abcdef0123456789abcdef"
    reqs = [
        ("healthz", "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("readyz", "HEAD /readyz HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("metrics", "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("dlr", f"GET /hooks/sms/kannel-local/{token}?status=1&answer=id%3A1+stat%3ADELIVRD HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("mo", "GET /hooks/sms/kannel-local/mo/fuzz-mo-token-0123456789?from=%2B84912000101&text=OK+158 "
               "HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("mo-post", "POST /hooks/sms/kannel-local/mo/fuzz-mo-token-0123456789 HTTP/1.1\r\nHost: h\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 31\r\n\r\n"
                    "from=%2B84912000101&text=OK+158"),
        ("zalo", "POST /hooks/zalo HTTP/1.1\r\nHost: h\r\nX-ZEvent-Signature: mac=00\r\n"
                 "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"),
        ("feed", f"GET /feeds/cap/{seed_id}.xml HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("atom", "GET /feeds/cap.atom HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("audio", "GET /feeds/audio/0123456789abcdef0123456789abcdef.mp3 HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\n\r\n"),
        ("ack", "GET /ack/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("dashboard", "GET /dashboard/ HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("api", f"GET /api/v1/directives/{seed_id}?limit=10 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer x\r\n\r\n"),
        ("api-post", "POST /api/v1/directives HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer fuzz-admin-token-0000000000\r\n"
                     "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"),
    ]
    return reqs


def main():
    write("directive", directive_seeds())
    write("http_request", http_request_seeds())
    for gtype, folder in gateway_types():
        write(f"{gtype}_callback", callback_seeds(gtype, folder))
    write("zalo_webhook", zalo_seeds())
    write("reply", reply_seeds())
    write("ack_token", ack_token_seeds())
    write("document_text", document_seeds())
    write("config", config_seeds())


if __name__ == "__main__":
    main()
