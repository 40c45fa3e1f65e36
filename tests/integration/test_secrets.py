"""Configured secrets never leave heraldd except toward the provider they are for.

One heraldd is configured with every kind of secret its config takes, each a distinctive
random value given through `env:` or `file:`: the broker password (of a RabbitMQ user made
for this run), an operator and a viewer admin token, Kannel's password and mo_token (the
real ones scripts/services gave Kannel), an http_json gateway's `secrets:` (one in a header,
one in the URL query) and its mo_token, both Zalo gateways' secret_key, oa_secret_key,
access_token and refresh_token, the SMTP password, the http_email API key, a loudspeaker
controller's keys; and the ack-link secret heraldd makes and keeps in its store, and the Zalo
tokens it is given by a refresh. Then everything that makes heraldd talk: the seed directive
on every channel, providers answering 401, 403, 500, quoting the request back (keys and all),
a refused token refresh, an SMTP server without STARTTLS, forged receipts and webhooks,
replies with right and wrong mo_tokens, wrong admin tokens, a wrong broker password, SIGHUP
with a good and a broken directory, a restart, heraldctl's commands, and --check-config on
the config and on broken variants of it.

Everything heraldd and heraldctl said is then searched for each secret: plain, URL-encoded,
JSON-escaped, hex, base64 at each alignment (which also finds `user:password` for Basic auth
and `\\0user\\0password` for SMTP AUTH PLAIN): heraldd's whole log, /metrics, /readyz,
/healthz, every GET under /api/v1/ (with both tokens and with none) and every answer to a
POST, the dashboard, /feeds/, the answers to hooks and ack links, heraldctl's and
--check-config's output. The store (the SQLite file, or every row of the PostgreSQL
database) is not searched: tokens belong there (the search is run on it once, to show it
does find them)."""
import base64
import copy
import json
import os
import re
import secrets
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import yaml

import kannel
from fake_email_api import FakeEmailApi
from fake_http import JsonHandler, serve
from fake_loudspeaker import FakeController
from fake_zalo import FakeZalo
from harness import (AMQP_HOST, AMQP_PORT, DIRECTORY, HERALDCTL, HERALDD, SEED, STATE_ENV, Daemon, Vhost,
                     expected_deliveries, free_port, load_directory, services, wait_until)
from maildir import MAILDIR

SMTP_PORT = int(STATE_ENV.get("HERALD_SMTP_PORT", "2525"))
APP_ID = "4318129834957112345"
ZNS_APP_ID = "4318129834957119999"


def new_secret(tag, extra=""):
    """Distinctive: a tag (for the reader of a failure), 24 random characters and, where the
    secret's path allows them, characters whose URL/JSON encodings differ from themselves."""
    return f"{tag}-{secrets.token_urlsafe(18)}{extra}"


def e164(phone):
    raw = re.sub(r"[^0-9+]", "", phone)
    return "+84" + raw[1:] if raw.startswith("0") else raw


# ---- what a leak looks like ---------------------------------------------------------------

def _b64_cores(data, encoder):
    """Base64 of `data` as it appears inside any longer base64 text: for each of the three
    alignments, only the characters that depend on `data` alone."""
    out = []
    for k in range(3):
        enc = encoder(b"\0" * k + data).decode().rstrip("=")
        start = 4 if k else 0                 # the first group mixes in what came before
        end = (k + len(data)) // 3 * 4        # the last, partial group mixes in what follows
        out.append((k, enc[start:end]))
    return out


def forms(value, user=None):
    """{form name: needle}: the ways `value` could show up in text."""
    data = value.encode()
    quoted = urllib.parse.quote(value, safe="")
    out = {
        "plain": value,
        "url": quoted,
        "url-lower": re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted),
        "url-plus": urllib.parse.quote_plus(value),
        "url-path": urllib.parse.quote(value),
        "json": json.dumps(value)[1:-1],
        "json-ascii": json.dumps(value, ensure_ascii=True)[1:-1].replace("/", "\\/"),
        "hex": data.hex(),
        "HEX": data.hex().upper(),
    }
    for name, encoder in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        for k, core in _b64_cores(data, encoder):
            out[f"{name}@{k}"] = core
    if user is not None:
        out["basic"] = base64.b64encode(f"{user}:{value}".encode()).decode().rstrip("=")
        out["auth-plain"] = base64.b64encode(f"\0{user}\0{value}".encode()).decode().rstrip("=")
    return {n: v for n, v in out.items() if len(v) >= 12}


def find_leaks(surfaces, secret_values):
    """[(surface, secret name, form, context)] for every needle found."""
    hits = []
    for sname, text in surfaces.items():
        flat = re.sub(r"\s+", "", text)  # base64 wrapped over lines (MIME) still matches
        for name, (value, user) in secret_values.items():
            for form, needle in forms(value, user).items():
                where = text.find(needle)
                hay = text
                if where < 0 and form.startswith(("base64", "basic", "auth-plain")):
                    where, hay = flat.find(needle), flat
                if where >= 0:
                    context = hay[max(0, where - 60):where + len(needle) + 60].replace(needle, "<SECRET>")
                    for other, (v, _) in secret_values.items():  # the report shows no secret either
                        context = context.replace(v, f"<{other}>")
                    hits.append((sname, name, form, context))
    return hits


# ---- fakes -------------------------------------------------------------------------------

class FakeSms:
    """An SMS provider that wants its key twice, in a header and in the query, and fails on
    purpose: 401, 403, 500 (always, and once), a refused number; the rest it accepts and
    reports by callback."""

    def __init__(self, header_key, query_key, behaviour):
        self.header_key, self.query_key = header_key, query_key
        # msisdn -> "401" | "403" | "500" | "500-once" | "refuse" | "undeliv" | "echo" | "proxy"
        self.behaviour = dict(behaviour)
        self.raw = []                      # every request as received, for the positive control
        self.seen = {}
        self.callbacks = []
        self.lock = threading.Lock()
        fake = self

        class Handler(JsonHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with fake.lock:
                    fake.raw.append(f"POST {self.path}\n{self.headers}\n{body.decode('utf-8', 'replace')}")
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(self.path).query))
                if self.headers.get("X-Api-Key") != fake.header_key or query.get("key") != fake.query_key:
                    return self.send_json(401, {"status": "error", "error": "invalid credentials"})
                req = json.loads(body)
                to = req["to"]
                with fake.lock:
                    fake.seen[to] = n = fake.seen.get(to, 0) + 1
                    mid = f"m{len(fake.raw)}"
                what = fake.behaviour.get(to, "")
                if what == "401":
                    return self.send_json(401, {"status": "error", "error": "sender not allowed for this key"})
                if what == "403":
                    return self.send_json(403, {"status": "error", "error": "destination forbidden"})
                if what == "500" or (what == "500-once" and n == 1):
                    return self.send_json(500, {"status": "error", "error": "internal error"})
                if what == "refuse":
                    return self.send_json(200, {"status": "rejected", "error": "invalid number"})
                if what == "echo":  # a provider that quotes the request back, key and all
                    return self.send_json(400, {"status": "error", "error": f"cannot parse POST {self.path}"
                                                f" (X-Api-Key: {self.headers.get('X-Api-Key')})"})
                if what == "proxy" and n == 1:  # a proxy's error page, quoting the URL
                    page = f"<html><body><h1>502 Bad Gateway</h1>upstream failed: {self.path}</body></html>"
                    self.send_response(502)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page.encode())))
                    self.end_headers()
                    return self.wfile.write(page.encode())
                self.send_json(200, {"status": "ok", "id": mid})
                status = "UNDELIV" if what == "undeliv" else "DELIVRD"
                threading.Timer(0.05, fake.report, (req["callback"], mid, status)).start()

        self.server, self.port = serve(Handler)

    def report(self, url, mid, status):
        data = json.dumps({"id": mid, "status": status}).encode()
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                self.callbacks.append((url, r.status))
        except urllib.error.HTTPError as e:
            self.callbacks.append((url, e.code))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class RotatingZalo(FakeZalo):
    """FakeZalo whose refreshes hand out random tokens (secrets too), keeping each raw
    refresh request for the positive control."""

    def __init__(self, *args, refuse_first_refresh=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.raw_refreshes = []
        self.issued = []
        self.refuse_next = refuse_first_refresh

    def oauth(self, headers, body):
        self.raw_refreshes.append(f"{headers}\n{body.decode('utf-8', 'replace')}")
        with self.lock:
            if self.refuse_next:
                self.refuse_next = False
                self.refresh_calls += 1
                return {"error": -14014, "error_name": "Invalid refresh token",
                        "error_description": "Refresh token is invalid or already used"}
        answer = super().oauth(headers, body)
        if "access_token" in answer:
            with self.lock:
                self.access_token = "zat-" + secrets.token_urlsafe(24)
                self.refresh_token = "zrt-" + secrets.token_urlsafe(24)
                self.issued += [self.access_token, self.refresh_token]
            answer = dict(answer, access_token=self.access_token, refresh_token=self.refresh_token)
        return answer


class VerboseDaemon(Daemon):
    """A heraldd run with --verbose: the most it will ever log."""

    def start(self, wait_ready=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([HERALDD, "--config", self.config_path, "--verbose"], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=self.env)
        if wait_ready:
            wait_until(lambda: self.ready(), timeout=30, what="heraldd /readyz")
        return self


def request(url, method="GET", data=None, headers=None):
    """(status, everything the answer said: status line, headers and body, as text)."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, head, body = r.status, str(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, head, body = e.code, str(e.headers), e.read()
    except (urllib.error.URLError, ConnectionError) as e:
        return None, f"no answer: {e}"
    return status, f"HTTP {status}\n{head}\n{body.decode('utf-8', 'replace')}"


@unittest.skipUnless(kannel.password() and STATE_ENV.get("HERALD_KANNEL_MO_TOKEN") and MAILDIR,
                     "needs scripts/services' kannel and smtp (scripts/services start)")
class SecretsStayHidden(unittest.TestCase):
    surfaces = {}

    # ---- set-up ------------------------------------------------------------------------

    @classmethod
    def setUpClass(cls):
        cls.started = time.monotonic()
        cls.tmp = tempfile.TemporaryDirectory(prefix="herald-it-secrets-")
        cls.work = cls.tmp.name
        cls.cleanups = []
        try:
            cls.prepare()
            cls.scenario()
        except BaseException:
            try:
                with cls.daemon.db() as db:
                    print(db.execute("SELECT directive_id, channel, state, error_code, COUNT(*) FROM deliveries"
                                     " GROUP BY 1, 2, 3, 4").fetchall())
            except Exception:
                pass
            for d in (getattr(cls, "daemon", None), getattr(cls, "bad_broker", None)):
                if d is not None and d.proc is not None:
                    print(f"---- {d.log_path} (last 4000 characters)\n{d.logs()[-4000:]}")
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for fn in reversed(cls.cleanups):
            try:
                fn()
            except Exception as e:  # keep cleaning up
                print("cleanup:", e)
        cls.cleanups = []
        cls.tmp.cleanup()

    @classmethod
    def secret_file(cls, name, value):
        path = os.path.join(cls.work, "credentials", name)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, "w") as f:
            f.write(value + "\n")  # file: drops trailing newlines
        return "file:" + path

    @classmethod
    def prepare(cls):
        # Every configured secret: name -> (value, user it goes with, for Basic/AUTH PLAIN).
        s = {
            "broker.password": (new_secret("amqp", "~+="), None),
            "http.admin_tokens.operator": (new_secret("op", "+/="), None),
            "http.admin_tokens.viewer": (new_secret("view", "~+/"), None),
            "kannel.password": (kannel.password(), STATE_ENV.get("HERALD_KANNEL_USER", "herald")),
            "kannel.mo_token": (STATE_ENV["HERALD_KANNEL_MO_TOKEN"], None),
            "esms.secrets.header_key": (new_secret("esmsh", "+/="), None),
            "esms.secrets.query_key": (new_secret("esmsq"), None),
            "esms.mo_token": (new_secret("esmsmo", "~+="), None),
            "zalo-oa.secret_key": (new_secret("zsk", "+/="), None),
            "zalo-oa.oa_secret_key": (new_secret("zoask", "+&="), None),
            "zalo-oa.access_token": (new_secret("zat0", "+/="), None),
            "zalo-oa.refresh_token": (new_secret("zrt0", "+/=&"), None),
            "zalo-zns.secret_key": (new_secret("nsk", "+/="), None),
            "zalo-zns.oa_secret_key": (new_secret("noask", "+="), None),
            "zalo-zns.access_token": (new_secret("nat0", "+/="), None),
            "zalo-zns.refresh_token": (new_secret("nrt0", "+/="), None),
            "mail-smtp.password": (new_secret("smtp", "+/=:"), "vanphong"),
            "mail-api.secrets.api_key": (new_secret("mapi", "+/="), None),
            "loa.secrets.key": (new_secret("loak", "+/="), None),
            "loa.secrets.site": (new_secret("loas"), None),
            # Given to a second heraldd, which the broker refuses.
            "broker.password (wrong)": (new_secret("amqpbad", "~+="), None),
        }
        cls.secret_values = s
        v = {k: val for k, (val, _) in s.items()}
        cls.v = v

        # The sources: env: and file:, alternately.
        env = {}

        def by_env(name, key):
            env[name] = v[key]
            return "env:" + name

        def by_file(name, key):
            return cls.secret_file(name, v[key])

        # RabbitMQ: a user of this run's own, so the broker password is a real secret.
        cls.vhost = Vhost(f"it-secrets-{secrets.token_hex(3)}").__enter__()
        cls.cleanups.append(lambda: cls.vhost.__exit__(None, None, None))
        cls.amqp_user = f"it-secrets-{secrets.token_hex(3)}"
        services("ctl", "add_user", cls.amqp_user, v["broker.password"])
        cls.cleanups.append(lambda: services("ctl", "delete_user", cls.amqp_user, check=False))
        services("ctl", "set_permissions", "-p", cls.vhost.name, cls.amqp_user, ".*", ".*", ".*")

        # The fakes. The SMS provider's failures, by number (the seed's SMS recipients).
        directory = load_directory()
        cls.people = {p["id"]: p for p in directory["people"]}
        with open(SEED, encoding="utf-8") as f:
            cls.seed = json.load(f)
        sms_people = sorted(pid for pid, ch in expected_deliveries(cls.seed, directory) if ch == "sms")
        msisdn = [e164(cls.people[p]["contacts"]["phone"]).lstrip("+") for p in sms_people]
        cls.sms_people = sms_people
        cls.esms = FakeSms(v["esms.secrets.header_key"], v["esms.secrets.query_key"],
                           {msisdn[0]: "401", msisdn[1]: "403", msisdn[2]: "500", msisdn[3]: "500-once",
                            msisdn[4]: "refuse", msisdn[5]: "undeliv", msisdn[6]: "echo", msisdn[8]: "proxy"})
        cls.cleanups.append(cls.esms.close)
        # The access token expires after three sends, and the first refresh is refused.
        cls.zalo = RotatingZalo(APP_ID, v["zalo-oa.secret_key"], v["zalo-oa.oa_secret_key"],
                                v["zalo-oa.access_token"], v["zalo-oa.refresh_token"], expire_after=3,
                                refuse_first_refresh=True)
        cls.cleanups.append(cls.zalo.close)
        cls.zns = RotatingZalo(ZNS_APP_ID, v["zalo-zns.secret_key"], v["zalo-zns.oa_secret_key"],
                               v["zalo-zns.access_token"], v["zalo-zns.refresh_token"])
        cls.cleanups.append(cls.zns.close)
        cls.mail_api = FakeEmailApi(v["mail-api.secrets.api_key"],
                                    bounce={cls.people["cvp-huyen-uy"]["contacts"]["email"]})
        cls.cleanups.append(cls.mail_api.close)
        cls.controller = FakeController(v["loa.secrets.key"])
        cls.cleanups.append(cls.controller.close)

        cls.directory_file = os.path.join(cls.work, "directory.yaml")
        with open(DIRECTORY, encoding="utf-8") as f, open(cls.directory_file, "w", encoding="utf-8") as out:
            cls.directory_text = f.read()
            out.write(cls.directory_text)

        kannel_gw = kannel.gateway_config(password=by_env("HT_SECRET_KANNEL_PW", "kannel.password"),
                                          mo_token=by_file("kannel-mo-token", "kannel.mo_token"), dlr_mask=31,
                                          breaker={"failures": 3, "cooldown": "500ms"})
        cls.gateways = {
            "kannel": kannel_gw,
            "esms": {
                "type": "http_json",
                "url": f"http://127.0.0.1:{cls.esms.port}/api/send?key={{{{secret.query_key}}}}",
                "headers": {"X-Api-Key": "{{secret.header_key}}"},
                "secrets": {"header_key": by_env("HT_SECRET_ESMS_HEADER", "esms.secrets.header_key"),
                            "query_key": by_file("esms-query-key", "esms.secrets.query_key")},
                "body": '{"to": "{{to_msisdn}}", "text": "{{text}}", "callback": "{{receipt_url}}",'
                        ' "ref": "{{token}}"}',
                "response": {"success_pointer": "/status", "success_value": "ok", "id_pointer": "/id",
                             "error_pointer": "/error", "permanent_pointer": "/status",
                             "permanent_values": ["rejected"]},
                "receipt": {"status": "/status", "id": "/id", "map": {"DELIVRD": "delivered", "UNDELIV": "failed"}},
                "mo": {"from": "/from", "text": "/text"},
                "mo_token": by_env("HT_SECRET_ESMS_MO", "esms.mo_token"),
                "breaker": {"failures": 3, "cooldown": "500ms"},
            },
            "zalo-oa": {
                "type": "zalo_oa", "base_url": cls.zalo.url, "oauth_url": cls.zalo.url, "app_id": APP_ID,
                "secret_key": by_file("zalo-secret-key", "zalo-oa.secret_key"),
                "oa_secret_key": by_env("HT_SECRET_ZALO_OA", "zalo-oa.oa_secret_key"),
                "access_token": by_file("zalo-access-token", "zalo-oa.access_token"),
                "refresh_token": by_env("HT_SECRET_ZALO_REFRESH", "zalo-oa.refresh_token"),
                "concurrency": 4, "breaker": {"failures": 3, "cooldown": "300ms"},
            },
            "zalo-zns": {
                "type": "zalo_zns", "base_url": cls.zns.url, "oauth_url": cls.zns.url, "app_id": ZNS_APP_ID,
                "secret_key": by_env("HT_SECRET_ZNS_SECRET", "zalo-zns.secret_key"),
                "oa_secret_key": by_file("zns-oa-secret-key", "zalo-zns.oa_secret_key"),
                "access_token": by_env("HT_SECRET_ZNS_ACCESS", "zalo-zns.access_token"),
                "refresh_token": by_file("zns-refresh-token", "zalo-zns.refresh_token"),
                "template_id": "271828",
                "template_data": {"so": "number", "co_quan": "issuer", "ho_ten": "recipient_name",
                                  "link": "ack_link"},
            },
            "mail-smtp": {
                # The sink offers no STARTTLS: every send fails before any AUTH, as it must.
                "type": "smtp", "url": f"smtp://127.0.0.1:{SMTP_PORT}", "starttls": "required",
                "username": "vanphong", "password": by_file("smtp-password", "mail-smtp.password"),
                "from": "vanphong@huyenuy.chauthanh.example", "concurrency": 4,
                # No breaker: 30 emails x 4 attempts, at one probe per cooldown, would take minutes.
                "breaker": {"failures": 10000},
            },
            "mail-api": {
                "type": "http_email", "url": f"http://127.0.0.1:{cls.mail_api.port}/v1/send",
                "headers": {"Authorization": "Bearer {{secret.api_key}}"},
                "secrets": {"api_key": by_env("HT_SECRET_MAIL_API", "mail-api.secrets.api_key")},
                "from": "vanphong@huyenuy.chauthanh.example", "from_name": "Văn phòng Huyện ủy Châu Thành",
                "body": '{"from": "{{from}}", "to": "{{to}}", "subject": "{{subject}}", "text": "{{text}}",'
                        ' "html": "{{html}}", "message_id": "{{message_id}}", "webhook_url": "{{receipt_url}}"}',
                "response": {"success_pointer": "/status", "success_value": "queued", "id_pointer": "/id",
                             "error_pointer": "/error"},
                "receipt": {"status": "/event", "id": "/id", "reason": "/reason",
                            "map": {"delivered": "delivered", "bounced": "failed"}},
            },
            "loa": {
                "type": "loudspeaker_http",
                "url": f"http://127.0.0.1:{cls.controller.port}/api/jobs?site={{{{secret.site}}}}",
                "headers": {"Authorization": "Bearer {{secret.key}}"},
                "secrets": {"key": by_file("loa-key", "loa.secrets.key"),
                            "site": by_env("HT_SECRET_LOA_SITE", "loa.secrets.site")},
            },
        }
        cls.admin_tokens = [
            {"name": "office", "role": "operator", "token": by_env("HT_SECRET_OPERATOR", "http.admin_tokens.operator")},
            {"name": "watcher", "role": "viewer", "token": by_file("viewer-token", "http.admin_tokens.viewer")},
        ]
        env["HT_SECRET_AMQP"] = v["broker.password"]
        cls.env = env

        cls.port = free_port()
        cls.daemon = VerboseDaemon(cls.vhost, cls.work, cls.config(phase="A"), port=cls.port)
        cls.daemon.token = v["http.admin_tokens.operator"]
        cls.daemon.env.update(env)
        cls.base = f"http://127.0.0.1:{cls.port}"

        # A second heraldd that the broker refuses (a wrong password): what does it log?
        bad_dir = os.path.join(cls.work, "bad-broker")
        os.makedirs(bad_dir)
        bad = cls.config(phase="A")
        bad["broker"] = dict(bad["broker"],
                             password=cls.secret_file("wrong-amqp-password", v["broker.password (wrong)"]))
        cls.bad_broker = VerboseDaemon(cls.vhost, bad_dir, bad)
        cls.bad_broker.env.update(env)

    @classmethod
    def config(cls, phase):
        """What heraldd's config holds beyond the harness's defaults. Phase A sends SMS
        through Kannel and email through SMTP; phase B (after a restart) through the
        http_json provider and the email API, and to the loudspeakers."""
        sms, email = ("kannel", "mail-smtp") if phase == "A" else ("esms", "mail-api")
        return {
            "broker": {"user": cls.amqp_user, "password": "env:HT_SECRET_AMQP"},
            "http": {"admin_tokens": cls.admin_tokens},
            "directory": cls.directory_file,
            "gateways": cls.gateways,
            "channels": {"sms": {"enabled": True, "gateway": sms},
                         "zalo": {"enabled": True, "gateway": "zalo-oa"},
                         "email": {"enabled": True, "gateway": email},
                         "loudspeaker": {"enabled": True, "gateway": "loa"}},
            "dispatch": {"poll_interval": "100ms", "backoff_initial": "100ms", "backoff_max": "400ms",
                         "max_attempts": 4, "resume_grace": "1s"},
            "acks": {"check_interval": "200ms", "link_ttl": "1h"},
        }

    @classmethod
    def write_config(cls, phase):
        with open(cls.daemon.config_path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
        channels = cls.config(phase)["channels"]
        # What the harness added stays (on PostgreSQL: the loudspeaker's audio folder).
        for name, ch in cfg["channels"].items():
            if name in channels and "audio" in ch:
                channels[name] = dict(channels[name], audio=ch["audio"])
        cfg["channels"] = channels
        with open(cls.daemon.config_path, "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f, allow_unicode=True)

    # ---- helpers -----------------------------------------------------------------------

    @classmethod
    def keep(cls, name, text):
        cls.surfaces[name] = text if isinstance(text, str) else text.decode("latin-1")

    @classmethod
    def get(cls, path, token=None, name=None):
        headers = {"Authorization": "Bearer " + token} if token else {}
        status, text = request(cls.base + path, headers=headers)
        cls.keep(name or f"GET {path}" + (" (token)" if token else ""), text)
        return status, text

    @classmethod
    def post(cls, path, body=b"", token=None, content_type="application/json", name=None, method="POST"):
        headers = {"Content-Type": content_type}
        if token:
            headers["Authorization"] = "Bearer " + token
        status, text = request(cls.base + path, method=method, data=body, headers=headers)
        cls.keep(name or f"{method} {path}", text)
        return status, text

    @classmethod
    def ctl(cls, name, *args, config=None, input=None, env=None):
        cmd = [HERALDCTL, "--config", config or cls.daemon.config_path, *args]
        r = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=60,
                           env=dict(os.environ, **cls.env, **(env or {})))
        cls.keep(f"heraldctl {name}", f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}")
        return r

    @classmethod
    def check_config(cls, name, path, args=("--check-config",)):
        r = subprocess.run([HERALDD, "--config", path, *args], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, **cls.env))
        cls.keep(f"heraldd {' '.join(args)} {name}",
                 f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}")
        return r

    @classmethod
    def rows(cls, did, channel=None):
        with cls.daemon.db() as db:
            q = ("SELECT channel, address, state, token, provider_ref, recipient_id FROM deliveries"
                 " WHERE directive_id = ?")
            args = [did]
            if channel:
                q += " AND channel = ?"
                args.append(channel)
            return db.execute(q, args).fetchall()

    @classmethod
    def settled(cls, did, channels):
        rows = [r for r in cls.rows(did) if r[0] in channels]
        return rows and all(r[2] not in ("queued", "retrying", "sending") for r in rows)

    @staticmethod
    def q(did):
        return urllib.parse.quote(did, safe="")

    # ---- the scenario ------------------------------------------------------------------

    @classmethod
    def scenario(cls):
        v = cls.v
        op, viewer = v["http.admin_tokens.operator"], v["http.admin_tokens.viewer"]
        cls.cleanups.append(lambda: cls.bad_broker.stop())
        cls.bad_broker.start(wait_ready=False)
        cls.cleanups.append(lambda: cls.daemon.stop())
        cls.check_config("config A", cls.daemon.config_path)
        cls.daemon.start()

        # The ack-link secret is made at the first start and kept in the store.
        with cls.daemon.db() as db:
            cls.link_secret = dict(db.execute(
                "SELECT key, value FROM gateway_state WHERE gateway = 'acks'"))["link_secret"]
        cls.secret_values["acks.link_secret (store)"] = (cls.link_secret, None)

        # Phase A: the seed on every channel, through Kannel, SMTP (refused: no STARTTLS) and Zalo.
        seed = copy.deepcopy(cls.seed)
        seed["ack"] = {"required": True, "deadline": "2099-12-31T17:00:00+07:00"}
        seed["channels"] = ["sms", "zalo", "email"]
        cls.seed_a = seed
        seed_file = os.path.join(cls.work, "seed.json")
        with open(seed_file, "w", encoding="utf-8") as f:
            json.dump(seed, f, ensure_ascii=False)
        r = cls.ctl("publish seed", "publish", seed_file)
        assert r.returncode == 0, r.stderr
        wait_until(lambda: cls.settled(seed["id"], ("zalo", "email")) and all(
            r[2] in ("delivered", "failed") for r in cls.rows(seed["id"], "sms")),
            timeout=40, what="phase A settled (Kannel receipts in, Zalo sent, SMTP failed)")

        # Replies through Kannel's MO URL: with the real mo_token, and with a wrong one.
        phone = e164(cls.people[cls.sms_people[0]]["contacts"]["phone"])
        mo = "/hooks/sms/kannel/mo/"
        cls.get(mo + v["kannel.mo_token"] + "?" + urllib.parse.urlencode({"from": phone, "text": "OK 158"}),
                name="kannel MO (right token)")
        cls.get(mo + "wrong" + secrets.token_urlsafe(16) + "?" + urllib.parse.urlencode({"from": phone, "text": "OK"}),
                name="kannel MO (wrong token)")
        cls.get("/hooks/sms/kannel/mo?" + urllib.parse.urlencode({"from": phone, "text": "OK"}),
                name="kannel MO (no token)")
        # Receipts: forged token, and a real token with a status Kannel never sends.
        cls.get(f"/hooks/sms/kannel/{secrets.token_hex(16)}?status=1", name="kannel receipt (forged token)")
        real = cls.rows(seed["id"], "sms")[0][3]
        cls.get(f"/hooks/sms/kannel/{real}?status=77", name="kannel receipt (bad status)")
        cls.get(f"/hooks/email/mail-smtp/{real}", name="smtp receipt (none taken)")

        # Zalo webhooks: genuine, forged, signed with the app's secret, unsigned, stale, a reply.
        sent = [r for r in cls.rows(seed["id"], "zalo") if r[2] == "sent"]
        assert sent, cls.rows(seed["id"], "zalo")
        body, ts = cls.zalo.event_body("user_received_message", msg_id=sent[0][4], user_id=sent[0][1])
        for what, sig in (("genuine", cls.zalo.signature(body, ts)),
                          ("forged", cls.zalo.signature(body, ts, secret_key="guess")),
                          ("app secret", cls.zalo.signature(body, ts, secret_key=v["zalo-oa.secret_key"])),
                          ("zns key on the oa app",
                           cls.zalo.signature(body, ts, secret_key=v["zalo-zns.oa_secret_key"])),
                          ("unsigned", None)):
            status, answer = cls.zalo.post_event(cls.base, body, sig)
            cls.keep(f"zalo webhook ({what})", f"{status} {json.dumps(answer)}")
        old, old_ts = cls.zalo.event_body("user_seen_message", msg_id=sent[1][4],
                                          timestamp_ms=int(time.time() * 1000) - 3600 * 1000)
        status, answer = cls.zalo.post_event(cls.base, old, cls.zalo.signature(old, old_ts))
        cls.keep("zalo webhook (stale)", f"{status} {json.dumps(answer)}")
        reply, rts = cls.zalo.event_body("user_send_text", user_id=sent[2][1])
        reply = reply.replace('"message":{}', '"message":{"msg_id":"r1","text":"Đã nhận 158"}').replace(
            '"sender":{"id":"579745863508352884"}', f'"sender":{{"id":"{sent[2][1]}"}}')
        status, answer = cls.zalo.post_event(cls.base, reply, cls.zalo.signature(reply, rts))
        cls.keep("zalo webhook (reply)", f"{status} {json.dumps(answer)}")
        body, ts = cls.zns.event_body("user_received_message", tracking_id="nope")
        status, answer = cls.zns.post_event(cls.base, body, cls.zns.signature(body, ts))
        cls.keep("zalo webhook (zns app)", f"{status} {json.dumps(answer)}")

        # The ack link the Zalo message carried: opened, confirmed, and tampered with.
        text = next(req["message"]["text"] for _, req in cls.zalo.sent.values())
        link = re.search(r"/ack/[A-Za-z0-9_-]+", text).group(0)
        cls.get(link, name="ack link GET")
        cls.post(link, name="ack link POST", content_type="application/x-www-form-urlencoded")
        cls.post(link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB"), name="ack link tampered",
                 content_type="application/x-www-form-urlencoded")

        # Admin API: no token, a wrong one, the viewer trying to write, the operator reloading.
        cls.get("/api/v1/directives", name="API without a token")
        cls.get("/api/v1/directives", token="wrong-" + secrets.token_urlsafe(16), name="API with a wrong token")
        cls.post("/api/v1/directory/reload", token=viewer, name="viewer POST directory reload")
        cls.post("/api/v1/directory/reload", token=op, name="operator POST directory reload")

        # SIGHUP with a good directory, then a broken one (refused), then heraldctl's reload.
        reloads = cls.daemon.logs().count("directory reloaded:")
        cls.daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: cls.daemon.logs().count("directory reloaded:") > reloads, timeout=10, what="SIGHUP reload")
        with open(cls.directory_file, "w", encoding="utf-8") as f:
            f.write(cls.directory_text.replace("groups:", "groups: [", 1))
        cls.daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "directory reload refused" in cls.daemon.logs(), timeout=10, what="a refused reload")
        cls.ctl("directory check (broken)", "directory", "check", cls.directory_file)
        with open(cls.directory_file, "w", encoding="utf-8") as f:
            f.write(cls.directory_text)
        cls.ctl("directory reload", "directory", "reload")

        # The heraldd the broker refuses has tried a few times by now.
        wait_until(lambda: cls.bad_broker.logs().count("reconnecting") >= 2, timeout=15,
                   what="the refused heraldd retrying")
        status, text = request(f"http://127.0.0.1:{cls.bad_broker.port}/readyz")
        cls.keep("refused heraldd /readyz", text)
        cls.bad_broker.stop()
        cls.keep("refused heraldd log", cls.bad_broker.logs())

        # Phase B, after a restart: SMS through the provider that fails on purpose, email through
        # the API (one bounce), the loudspeakers; published through the API.
        cls.daemon.stop()
        cls.write_config("B")
        cls.check_config("config B", cls.daemon.config_path)
        cls.daemon.start()
        d2 = copy.deepcopy(cls.seed_a)
        d2.update(id="hu-chauthanh/160-TB/HU/2021", number="160-TB/HU", channels=["sms", "email", "loudspeaker"],
                  loudspeaker={"zones": ["an-hiep"]})
        d2["summary"] = "Họp khẩn."
        cls.seed_b = d2
        status, _ = cls.post("/api/v1/directives", json.dumps(d2, ensure_ascii=False).encode(), token=op,
                             name="POST directive B")
        assert status == 201, cls.surfaces["POST directive B"]
        cls.post("/api/v1/directives", json.dumps(d2, ensure_ascii=False).encode(), token=viewer,
                 name="viewer POST directive")
        # A third, published by heraldctl, then cancelled.
        d3 = copy.deepcopy(d2)
        d3.update(id="hu-chauthanh/161-TB/HU/2021", number="161-TB/HU", channels=["loudspeaker"],
                  loudspeaker={"zones": ["an-ninh"]})
        cls.seed_c = d3
        r = cls.ctl("publish -", "publish", "-", input=json.dumps(d3, ensure_ascii=False))
        assert r.returncode == 0, r.stderr
        wait_until(lambda: cls.rows(d3["id"]), timeout=20, what="directive C taken in")
        cls.ctl("cancel", "cancel", d3["id"], "--reason", "thay thế")

        wait_until(lambda: cls.settled(d2["id"], ("sms", "email")), timeout=40, what="phase B SMS and email settled")
        wait_until(lambda: cls.controller.jobs, timeout=30, what="a loudspeaker job")
        job = cls.controller.jobs[0]
        status, answer = cls.controller.report(job, "played")
        cls.keep("loudspeaker report", f"{status} {answer}")
        status, answer = cls.controller.report(dict(job, callback_url=job["callback_url"][:-4] + "0000"), "failed")
        cls.keep("loudspeaker report (forged)", f"{status} {answer}")
        # Replies through the provider's MO URL, right and wrong token.
        phone_b = e164(cls.people[cls.sms_people[7]]["contacts"]["phone"])  # one the provider took
        reply_body = json.dumps({"from": phone_b, "text": "OK 160"}).encode()
        cls.post("/hooks/sms/esms/mo/" + urllib.parse.quote(v["esms.mo_token"], safe="~+="), reply_body,
                 name="esms MO (right token)")
        cls.post("/hooks/sms/esms/mo/" + secrets.token_urlsafe(20), reply_body, name="esms MO (wrong token)")
        cls.post(f"/hooks/email/mail-api/{secrets.token_hex(16)}", b'{"event": "delivered", "id": "x"}',
                 name="email receipt (forged token)")
        cls.post(f"/hooks/sms/esms/{secrets.token_hex(16)}", b'{"status": "DELIVRD", "id": "x"}',
                 name="esms receipt (forged token)")

        # ---- what heraldctl says --------------------------------------------------------
        a, b, c = cls.seed_a["id"], cls.seed_b["id"], cls.seed_c["id"]
        cls.ctl("status", "status")
        cls.ctl("status --json", "status", "--json")
        cls.ctl("status A", "status", a)
        cls.ctl("status B --json", "status", b, "--json")
        cls.ctl("deliveries A", "deliveries", a)
        cls.ctl("deliveries B --json", "deliveries", b, "--json")
        cls.ctl("deliveries B failed", "deliveries", b, "--state", "failed")
        cls.ctl("acks A", "acks", a)
        cls.ctl("acks B --missing --json", "acks", b, "--missing", "--json")
        cls.ctl("export A --csv", "export", a, "--csv")
        cls.ctl("export B --csv", "export", b, "--csv")
        cls.ctl("replay B --dry-run", "replay", b, "--dry-run")
        cls.ctl("replay B --dry-run --json", "replay", b, "--state", "failed,expired", "--dry-run", "--json")
        cls.ctl("directory check", "directory", "check", cls.directory_file)
        cls.ctl("wrong token", "--token", "wrong-" + secrets.token_urlsafe(16), "status")
        cls.ctl("unreachable API", "--api", f"http://127.0.0.1:{free_port()}", "status")
        cls.ctl("status C", "status", c)

        # heraldctl and a refused broker login; and heraldctl given a broker URL with a password.
        bad_cfg = os.path.join(cls.work, "bad-broker", "herald.yaml")
        cls.ctl("publish, broker refuses", "publish", seed_file, config=bad_cfg)
        url = (f"amqp://{cls.amqp_user}:{urllib.parse.quote(v['broker.password (wrong)'], safe='')}"
               f"@{AMQP_HOST}:{AMQP_PORT}/{urllib.parse.quote(cls.vhost.name, safe='')}")
        r = subprocess.run([HERALDCTL, "--broker", url, "publish", seed_file], capture_output=True, text=True,
                           timeout=60)
        cls.keep("heraldctl --broker URL, refused", f"{r.returncode}\n{r.stdout}\n{r.stderr}")

        # ---- what the HTTP listener answers ---------------------------------------------
        for path in ("/healthz", "/readyz", "/metrics", "/dashboard", "/dashboard/", "/dashboard/index.html",
                     "/dashboard/app.js", "/dashboard/style.css", "/feeds/cap.atom", "/favicon.ico",
                     f"/feeds/cap/{cls.q(c)}.cancel.xml"):
            cls.get(path)
        for did in (a, b, c):
            status, text = cls.get(f"/feeds/cap/{cls.q(did)}.xml")
            for audio in sorted(set(re.findall(r"/feeds/audio/[0-9a-f]{32}\.mp3", text))):
                cls.get(audio)
        api = ["/api/v1/directives", "/api/v1/directives?limit=1000", "/api/v1/replies", "/api/v1/openapi.json",
               "/api/v1/", "/api/v1/gateways", "/api/v1/config"]
        for did in (a, b, c):
            base = "/api/v1/directives/" + cls.q(did)
            api += [base, base + "/deliveries", base + "/events", base + "/acks", base + "/acks?missing=1"]
        for path in api:
            for token, who in ((op, "operator"), (viewer, "viewer")):
                cls.get(path, token=token, name=f"GET {path} ({who})")
        cls.post(f"/api/v1/directives/{cls.q(b)}/replay", b'{"dry_run": true}', token=op, name="POST replay dry-run")
        cls.post("/api/v1/directives", b'{"schema": "herald.directive/v1"}', token=op, name="POST bad directive")
        cls.post("/api/v1/directives/" + cls.q(c) + "/cancel", b'{}', token=op, name="POST cancel again")

        # ---- --check-config on broken variants ------------------------------------------
        cls.broken_configs()

        # Last: a clean stop, so the log is complete.
        cls.daemon.stop()
        cls.keep("heraldd log", cls.daemon.logs())
        cls.elapsed = time.monotonic() - cls.started
        if os.environ.get("HERALD_SECRETS_DUMP"):  # to read what was searched
            out = os.environ["HERALD_SECRETS_DUMP"]
            os.makedirs(out, exist_ok=True)
            for i, (name, text) in enumerate(cls.surfaces.items()):
                with open(os.path.join(out, f"{i:03d}-" + re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]), "w") as f:
                    f.write(text)

    @classmethod
    def broken_configs(cls):
        """The config with errors next to each secret: the messages name keys, never values.
        The literal secrets written in them are secrets too."""
        lit = {
            "broken.admin_token (short literal)": new_secret("s")[:15],
            "broken.admin_token (bad role)": new_secret("brole", "+/="),
            "broken.kannel.password (literal)": new_secret("bkpw", "+/="),
            "broken.kannel.mo_token (with /)": new_secret("bkmo", "/x"),
            "broken.esms.mo_token (short)": new_secret("b")[:12],
            "broken.esms.header_key (literal)": new_secret("bhk", "+/="),
            "broken.zalo.secret_key (literal)": new_secret("bzsk", "+/="),
            "broken.zalo.access_token (literal)": new_secret("bzat", "+/="),
            "broken.zalo.unknown key value": new_secret("bzuk", "+/="),
            "broken.smtp.password (literal, unencrypted)": new_secret("bsmtp", "+/="),
            "broken.mail-api.key (literal)": new_secret("bmapi", "+/="),
            "broken.loa.key (map)": new_secret("bloa", "+/="),
            "broken.broker.password (literal)": new_secret("bamqp", "+/="),
        }
        for name, value in lit.items():
            cls.secret_values[name] = (value, None)
        with open(cls.daemon.config_path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
        g = cfg["gateways"]
        cfg["broker"]["password"] = lit["broken.broker.password (literal)"]
        cfg["broker"]["heartbeat"] = "2h"
        cfg["http"]["admin_tokens"] = [
            {"name": "a", "role": "operator", "token": lit["broken.admin_token (short literal)"]},
            {"name": "b", "role": "admin", "token": lit["broken.admin_token (bad role)"]},
            {"name": "c", "role": "viewer", "token": "env:HT_SECRET_NOT_SET"},
            {"name": "d", "role": "viewer", "token": "file:" + os.path.join(cls.work, "no-such-file")},
        ]
        g["kannel"].update(password=lit["broken.kannel.password (literal)"],
                           mo_token=lit["broken.kannel.mo_token (with /)"], dlr_mask=99)
        g["esms"].update(mo_token=lit["broken.esms.mo_token (short)"])
        g["esms"]["secrets"]["header_key"] = lit["broken.esms.header_key (literal)"]
        g["esms"]["headers"]["X-Other"] = "{{secret.nope}}"
        g["zalo-oa"].update(secret_key=lit["broken.zalo.secret_key (literal)"],
                            access_token=lit["broken.zalo.access_token (literal)"], base_url="ftp://x",
                            secret_kye=lit["broken.zalo.unknown key value"])
        g["mail-smtp"].update(password=lit["broken.smtp.password (literal, unencrypted)"], starttls="off")
        g["mail-api"]["secrets"]["api_key"] = lit["broken.mail-api.key (literal)"]
        g["mail-api"]["body"] = '{"to": {{to}}'
        g["loa"]["secrets"]["key"] = {"value": lit["broken.loa.key (map)"]}
        broken = os.path.join(cls.work, "broken.yaml")
        with open(broken, "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f, allow_unicode=True)
        r = cls.check_config("broken", broken)
        assert r.returncode == 1, r.stdout + r.stderr
        cls.check_config("broken", broken, args=())           # heraldd refusing to start
        cls.check_config("broken", broken, args=("--verbose",))
        cls.ctl("with the broken config", "status", config=broken)
        # A YAML syntax error on the line of a literal secret.
        syntax = os.path.join(cls.work, "syntax.yaml")
        value = new_secret("bsyn", "+/=")
        cls.secret_values["broken.syntax (literal)"] = (value, None)
        with open(syntax, "w", encoding="utf-8") as f:
            f.write(f"broker:\n  password: {value}\n  user: [guest\nstore: {{path: x.db}}\n")
        cls.check_config("syntax error", syntax)

    # ---- the tests -----------------------------------------------------------------------

    def test_1_the_scenario_made_heraldd_talk(self):
        """The failures happened and each secret was used: otherwise the search below would
        prove little."""
        log = self.surfaces["heraldd log"]
        for expected in ("auth_failed", "server_error", "token_expired", "connection_failed", "failed permanently",
                         "credential refresh failed",
                         "credentials refreshed", "zalo webhook refused: signature forged",
                         "zalo webhook refused: signature missing", "zalo webhook refused: signature stale",
                         "circuit breaker open", "directory reload refused", "directory reloaded",
                         "acknowledged", "published through the API by office", "cancelled by office",
                         "connected to broker", "rejected directive"):
            self.assertTrue(expected in log, f"heraldd never logged {expected!r}")
        deliveries = "".join(text for name, text in self.surfaces.items() if name.endswith("/deliveries (viewer)"))
        for code in ("http_401", "http_403", "http_500", "http_400", "provider_rejected",
                     "provider_UNDELIV", "provider_bounced", "smtp_starttls_unavailable"):
            self.assertTrue(f'"code":"{code}"' in deliveries, f"no delivery failed with {code}")
        # The providers that quote the request back: what they said is kept, the keys masked.
        self.assertTrue("cannot parse POST /api/send?key=*** (X-Api-Key: ***)" in deliveries, "echoed 400")
        events = "".join(text for name, text in self.surfaces.items() if name.endswith("/events (viewer)"))
        self.assertTrue("http_502" in events, "the proxy's 502")
        self.assertTrue("upstream failed: /api/send?key=***" in events, "the proxy's page, masked")
        self.assertIn("broker", self.surfaces["refused heraldd log"])
        self.assertIn("reconnecting", self.surfaces["refused heraldd log"])
        for name, status in (("API without a token", "HTTP 401"), ("API with a wrong token", "HTTP 401"),
                             ("viewer POST directory reload", "HTTP 403"), ("kannel MO (wrong token)", "HTTP 404"),
                             ("kannel MO (right token)", "HTTP 200"), ("esms MO (right token)", "HTTP 200"),
                             ("esms MO (wrong token)", "HTTP 404"), ("kannel receipt (forged token)", "HTTP 404"),
                             ("ack link POST", "HTTP 200"), ("ack link tampered", "HTTP 404"),
                             ("operator POST directory reload", "HTTP 200")):
            self.assertTrue(self.surfaces[name].startswith(status), (name, self.surfaces[name][:200]))
        self.assertIn('"ready": false', self.surfaces["refused heraldd /readyz"].replace('":false', '": false'))
        self.assertIn("exit 1", self.surfaces["heraldd --check-config broken"])
        self.assertIn("exit 0", self.surfaces["heraldd --check-config config A"])
        self.assertIn("exit 0", self.surfaces["heraldctl export A --csv"])
        # Each provider got its credentials (they were right, so they were used).
        self.assertTrue(any(r[2] == "delivered" for r in self.rows(self.seed_a["id"], "sms")), "Kannel delivered")
        self.assertGreaterEqual(self.zalo.refresh_calls, 2)
        self.assertTrue(self.zalo.issued, "a refresh succeeded")
        self.assertTrue(self.mail_api.requests, "the email API took messages")
        self.assertTrue(self.controller.jobs, "the controller took a job")
        self.assertTrue(any(st == 200 for _, st in self.esms.callbacks), "the SMS provider's receipts applied")
        for what in ("401", "403", "500", "refuse"):
            self.assertIn(what, self.esms.behaviour.values())
        print(f"\n  {len(self.surfaces)} outputs, {sum(map(len, self.surfaces.values()))} characters,"
              f" {len(self.all_secrets())} secrets; scenario {self.elapsed:.1f} s", flush=True)

    @classmethod
    def all_secrets(cls):
        out = dict(cls.secret_values)
        for i, token in enumerate(cls.zalo.issued + cls.zns.issued):
            out[f"zalo token from a refresh #{i}"] = (token, None)
        return out

    def test_2_no_secret_in_any_output(self):
        hits = find_leaks(self.surfaces, self.all_secrets())
        report = "\n".join(f"  {surface}: {name} ({form}): ...{ctx}..." for surface, name, form, ctx in hits[:40])
        self.assertEqual(hits, [], f"{len(hits)} secrets found in heraldd's output:\n{report}")

    def test_3_the_search_finds_secrets_where_they_belong(self):
        """The same search does find each secret where it is meant to be: so a leak in any
        of these forms would have been seen."""
        allv = self.all_secrets()
        belong = {
            "SMS provider requests": "\n".join(self.esms.raw),
            "Zalo refresh requests": "\n".join(self.zalo.raw_refreshes),
        }
        belong["store file"] = self.daemon.store_text()
        hits = {(s, n, f) for s, n, f, _ in find_leaks(belong, allv)}
        found = {(s, n) for s, n, _ in hits}
        self.assertIn(("SMS provider requests", "esms.secrets.header_key"), found)
        self.assertIn(("SMS provider requests", "esms.secrets.query_key"), found)
        # Form-encoded by heraldd ('+', '/', '=' and '&' escaped): found as such.
        self.assertIn(("Zalo refresh requests", "zalo-oa.refresh_token", "url"), hits)
        self.assertIn(("Zalo refresh requests", "zalo-oa.secret_key"), found)
        self.assertIn(("store file", "acks.link_secret (store)"), found)
        self.assertTrue(any(s == "store file" and n.startswith("zalo token from a refresh") for s, n in found))
        # Synthetic: each encoding the search claims to see, embedded in other text.
        for name, (value, user) in allv.items():
            u = user or "someone"
            samples = {
                "plain": f"x={value};",
                "url": "a?b=" + urllib.parse.quote(value, safe="") + "&c",
                "json": json.dumps({"k": value}),
                "hex": "0x" + value.encode().hex() + " ",
                "basic": "Authorization: Basic " + base64.b64encode(f"{u}:{value}".encode()).decode(),
                "auth-plain": "AUTH PLAIN " + base64.b64encode(f"\0{u}\0{value}".encode()).decode(),
                "base64 in MIME": base64.encodebytes(b"prefix " + value.encode() + b" suffix").decode(),
            }
            for what, text in samples.items():
                self.assertTrue(find_leaks({what: text}, {name: (value, user)}), (name, what))
        # And nothing where there is nothing.
        self.assertEqual(find_leaks({"dashboard": self.surfaces["GET /dashboard/app.js"]},
                                    {"unused": (new_secret("unused", "+/="), "u")}), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
