"""heraldd --check-config: exit 0 for the example, 1 with FILE:LINE:COL for each kind of
error; and heraldd refuses to start on a bad config. Also what both binaries say to
--help and --version (the man pages are made from it) and to an unknown option."""
import os
import re
import subprocess
import tempfile
import textwrap
import unittest

from harness import HERALDCTL, HERALDD, REPO


def check(text, env=None):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "herald.yaml")
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        r = subprocess.run([HERALDD, "--config", path, "--check-config"], capture_output=True,
                           text=True, env=dict(os.environ, **(env or {})))
        return r.returncode, r.stderr.replace(path, "F")


BASE = """\
broker: {host: 127.0.0.1}
store: {path: /tmp/herald-check.db}
channels: {sms: {enabled: true}}
directory:
  groups:
    - {id: g1, name: "Nhóm một"}
  people:
    - id: p1
      name: "Người một"
      groups: [g1]
      contacts: {phone: "0912 000 001"}
"""


def cmake_version():
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        return re.search(r"project\(herald VERSION ([0-9.]+)", f.read()).group(1)


class CheckConfig(unittest.TestCase):
    def test_help_and_version(self):
        for binary, name in ((HERALDD, "heraldd"), (HERALDCTL, "heraldctl")):
            with self.subTest(name):
                r = subprocess.run([binary, "--version"], capture_output=True, text=True)
                self.assertEqual((r.returncode, r.stdout), (0, f"{name} {cmake_version()}\n"))
                r = subprocess.run([binary, "--help"], capture_output=True, text=True)
                self.assertEqual(r.returncode, 0)
                self.assertTrue(r.stdout.startswith(f"usage: {name} "), r.stdout)
                self.assertIn("--config FILE", r.stdout)
                self.assertIn("Exit status", r.stdout)
                r = subprocess.run([binary, "--no-such-option"], capture_output=True, text=True)
                self.assertEqual(r.returncode, 2)
                self.assertIn("usage:", r.stderr)
                self.assertEqual(r.stdout, "")

    def test_example_is_valid(self):
        r = subprocess.run([HERALDD, "--config", os.path.join(REPO, "config", "herald.example.yaml"),
                            "--check-config"], capture_output=True, text=True,
                           env=dict(os.environ, HERALD_AMQP_PASSWORD="x", HERALD_ADMIN_TOKEN="t" * 32,
                                    HERALD_KANNEL_PASSWORD="k", HERALD_KANNEL_MO_TOKEN="m" * 24))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("OK", r.stdout)

    def test_base_is_valid(self):
        self.assertEqual(check(BASE), (0, ""))

    def test_each_error_kind_has_file_line_column(self):
        cases = [
            (BASE.replace("host: 127.0.0.1", "host: 127.0.0.1, prefech: 3"),
             'F:1:27: broker: unknown key "prefech"'),
            (BASE.replace("broker: {host: 127.0.0.1}", "broker: {port: many}"),
             'F:1:16: broker.port must be an integer, found "many"'),
            (BASE.replace("store: {path: /tmp/herald-check.db}", "store: {busy_timeout: 1s}"),
             'F:2:8: store: missing required key "path"'),
            (BASE.replace("0912 000 001", "0912 000"),
             'F:11:25: phone number "0912 000"'),
            (BASE.replace("groups: [g1]", "groups: [g1, ubnd-xa-khong-co]"),
             'F:10:20: unknown group "ubnd-xa-khong-co"'),
            (BASE.replace("channels: {sms: {enabled: true}}", "channels: {sms: {enabled: sometimes}}"),
             "F:3:27: channels.sms.enabled must be true or false"),
            (BASE.replace("broker: {host: 127.0.0.1}", "broker: {password: env:HERALD_NOT_SET_ANYWHERE}"),
             "F:1:20: broker.password: environment variable HERALD_NOT_SET_ANYWHERE is not set"),
            (BASE + "  - [unclosed\n", "F:12:3: YAML syntax error"),
        ]
        for text, expected in cases:
            rc, err = check(text)
            self.assertEqual(rc, 1, expected)
            self.assertIn(expected, err)

    def test_all_errors_reported_at_once(self):
        text = BASE.replace("host: 127.0.0.1", "host: 127.0.0.1, prefech: 3").replace(
            "0912 000 001", "12").replace("groups: [g1]", "groups: [nope]")
        rc, err = check(text)
        self.assertEqual(rc, 1)
        self.assertEqual(len(err.strip().splitlines()), 3, err)
        for line in err.strip().splitlines():
            self.assertRegex(line, r"^F:\d+:\d+: ")

    def test_daemon_refuses_to_start_on_bad_config(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "herald.yaml")
            with open(path, "w") as f:
                f.write(BASE.replace("0912 000 001", "abc"))
            r = subprocess.run([HERALDD, "--config", path], capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 1)
            self.assertIn(path + ":11:", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
