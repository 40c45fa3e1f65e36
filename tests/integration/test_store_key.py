"""Secrets at rest: with the systemd credential `store-key`, what the store keeps secret for
heraldd (the ack links' signing secret) is sealed in the store; a start without the key, or
with another, refuses with a clear reason instead of signing with a wrong secret."""
import os
import secrets
import time
import unittest

from harness import Daemon, Vhost, wait_until


class StoreKey(unittest.TestCase):
    def setUp(self):
        import tempfile
        self.tmp = tempfile.TemporaryDirectory(prefix="herald-it-")
        self.vhost = Vhost(f"it-store-key-{os.getpid()}").__enter__()
        self.creds = os.path.join(self.tmp.name, "credentials")
        os.mkdir(self.creds, 0o700)
        self.key_path = os.path.join(self.creds, "store-key")
        with open(self.key_path, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        self.daemon = Daemon(self.vhost, self.tmp.name)

    def tearDown(self):
        self.daemon.stop()
        self.daemon.cleanup()
        self.vhost.__exit__(None, None, None)
        self.tmp.cleanup()

    def start_expecting_refusal(self):
        self.daemon.start(wait_ready=False)
        self.daemon.proc.wait(timeout=30)
        self.daemon.log.close()
        self.assertNotEqual(self.daemon.proc.returncode, 0)
        return self.daemon.logs()

    def test_sealed_with_the_credential_and_refused_without_it(self):
        # Plain first (no credential), then sealed at the first start with the key.
        self.daemon.start()
        with self.daemon.db() as db:
            plain = db.execute("SELECT value FROM gateway_state WHERE gateway = 'acks'").fetchone()[0]
        self.assertFalse(plain.startswith("sealed:"))
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.env["CREDENTIALS_DIRECTORY"] = self.creds
        self.daemon.start()
        self.assertIn("sealed now", self.daemon.logs())
        with self.daemon.db() as db:
            sealed = db.execute("SELECT value FROM gateway_state WHERE gateway = 'acks'").fetchone()[0]
        self.assertTrue(sealed.startswith("sealed:v1:"), sealed)
        self.assertNotIn(plain, self.daemon.store_text())
        self.assertEqual(self.daemon.stop(), 0)

        # Without the key: refused, saying why.
        del self.daemon.env["CREDENTIALS_DIRECTORY"]
        self.assertIn("sealed with a store key and heraldd has none", self.start_expecting_refusal())
        # With another key: refused too.
        with open(self.key_path, "w") as f:
            f.write(secrets.token_hex(32))
        self.daemon.env["CREDENTIALS_DIRECTORY"] = self.creds
        self.assertIn("does not open with this store key", self.start_expecting_refusal())
        # A key file that is not a key: refused at once.
        with open(self.key_path, "w") as f:
            f.write("not a key\n")
        self.assertIn("64 hexadecimal digits", self.start_expecting_refusal())


if __name__ == "__main__":
    unittest.main()
