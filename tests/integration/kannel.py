"""What the fake SMSC received, read from the log that scripts/services keeps, and the
Herald config for the Kannel that scripts/services runs."""
import os
import re
import urllib.parse

from harness import STATE_ENV

FAKESMSC_LOG = os.environ.get("HERALD_FAKESMSC_LOG", STATE_ENV.get("HERALD_FAKESMSC_LOG", ""))
_GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (\S+) (.*)>$")


def gateway_config(**overrides):
    g = {
        "type": "kannel",
        "sendsms_url": STATE_ENV.get("HERALD_KANNEL_SENDSMS_URL", "http://127.0.0.1:13013/cgi-bin/sendsms"),
        "username": STATE_ENV.get("HERALD_KANNEL_USER", "herald"),
        "password": "env:HERALD_TEST_KANNEL_PASSWORD",
        "from": "HUYENUY",
        "concurrency": 8,
        "timeout": "5s",
    }
    # The token scripts/services put in Kannel's get-url: replies come only with it.
    if STATE_ENV.get("HERALD_KANNEL_MO_TOKEN"):
        g["mo_token"] = STATE_ENV["HERALD_KANNEL_MO_TOKEN"]
    g.update(overrides)
    return g


def password():
    return STATE_ENV.get("HERALD_KANNEL_PASSWORD", "")


class SmscLog:
    """Messages the fake SMSC got after this object was made, one per message: the parts
    of a concatenated message (UDH lines) are put back together and decoded."""

    def __init__(self, coding="ucs2"):
        self.offset = os.path.getsize(FAKESMSC_LOG) if os.path.exists(FAKESMSC_LOG) else 0
        self.coding = coding  # how to read concatenated parts: "ucs2" or "gsm7"

    def messages(self):
        with open(FAKESMSC_LOG, "rb") as f:
            f.seek(self.offset)
            data = f.read().decode("utf-8", "replace")
        out, parts = [], {}
        for line in data.splitlines():
            m = _GOT.search(line)
            if not m:
                continue
            _sender, to, kind, payload = m.groups()
            if kind != "udh":
                out.append((to, decode(kind, payload)))
                continue
            udh, _, body = payload.partition(" data ")
            h = unescape(udh)
            # IEI 0 (8-bit reference): 00 03 ref total seq, after the UDH length byte.
            ref, total, seq = h[3], h[4], h[5]
            key = (to, ref, total)
            parts.setdefault(key, {})[seq] = unescape(body)
            if len(parts[key]) == total:
                raw = b"".join(parts[key][i] for i in range(1, total + 1))
                out.append((to, raw.decode("utf-16-be") if self.coding == "ucs2" else raw.decode("latin-1")))
                del parts[key]
        return out

    def count_by_number(self):
        counts = {}
        for to, _ in self.messages():
            counts[to] = counts.get(to, 0) + 1
        return counts


def unescape(s):
    # fakesmsc url-encodes payloads but writes byte 0x20 as '+'.
    return urllib.parse.unquote_to_bytes(s.replace("+", "%20"))


def decode(kind, payload):
    if kind == "text":
        return payload
    raw = unescape(payload)
    if kind in ("ucs-2", "ucs2"):
        return raw.decode("utf-16-be")
    return raw.decode("utf-8", "replace")
