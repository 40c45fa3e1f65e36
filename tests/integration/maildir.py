"""The SMTP sink's maildir (scripts/services' aiosmtpd): the messages a test run sent,
told apart from other runs' by their Message-ID domain."""
import email
import email.policy
import mailbox
import os

from harness import STATE_ENV

MAILDIR = os.environ.get("HERALD_SMTP_MAILDIR", STATE_ENV.get("HERALD_SMTP_MAILDIR", ""))


def messages_for(domain, remove=False):
    """This run's messages in the sink: {Message-ID: [parsed message, ...]}."""
    out = {}
    box = mailbox.Maildir(MAILDIR, factory=None, create=False)
    for key in box.keys():
        try:
            with open(os.path.join(MAILDIR, "new", key), "rb") as f:
                msg = email.message_from_binary_file(f, policy=email.policy.default)
        except FileNotFoundError:  # another run's cleanup
            continue
        mid = msg["Message-ID"] or ""
        if mid.endswith("@" + domain + ">"):
            out.setdefault(mid, []).append(msg)
            if remove:
                box.discard(key)
    return out
