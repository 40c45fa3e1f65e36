"""A heraldd whose directory (a file of its own, so it can be fixed and reloaded) has one
person with a phone number the Kannel of scripts/services refuses, SMS through that
Kannel, and an operator and a viewer token: what the replay tests start from."""
import os
import tempfile

import kannel
import yaml
from harness import DaemonTestCase, load_directory

DENIED = "+84912000999"   # scripts/services' Kannel refuses this number (black-list)


class WrongNumberCase(DaemonTestCase):
    wrong_person = None     # the person id whose phone is wrong
    viewer_token = None

    @classmethod
    def setUpClass(cls):
        os.environ["HERALD_TEST_KANNEL_PASSWORD"] = kannel.password()
        os.environ["HERALD_TEST_VIEWER_TOKEN"] = cls.viewer_token
        cls.dir_data = load_directory()
        cls.set_phone(DENIED)
        cls.dir_tmp = tempfile.TemporaryDirectory(prefix="herald-dir-")
        cls.dir_file = os.path.join(cls.dir_tmp.name, "directory.yaml")
        cls.write_directory()
        cls.extra_config = {
            "directory": cls.dir_file,
            "http": {"admin_tokens": [
                {"name": "test", "role": "operator", "token": "env:HERALD_TEST_ADMIN_TOKEN"},
                {"name": "watcher", "role": "viewer", "token": "env:HERALD_TEST_VIEWER_TOKEN"}]},
            "gateways": {"kannel-local": kannel.gateway_config(dlr_mask=31)},
            "channels": {"sms": {"enabled": True, "gateway": "kannel-local"}},
            "dispatch": {"poll_interval": "100ms", "backoff_initial": "100ms", "backoff_max": "1s"},
        }
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.dir_tmp.cleanup()

    @classmethod
    def set_phone(cls, phone):
        for p in cls.dir_data["people"]:
            if p["id"] == cls.wrong_person:
                p["contacts"]["phone"] = phone

    @classmethod
    def write_directory(cls, text=None):
        with open(cls.dir_file, "w", encoding="utf-8") as f:
            f.write(text if text is not None else yaml.safe_dump(cls.dir_data, allow_unicode=True))
