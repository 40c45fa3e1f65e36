#!/usr/bin/python3
"""The SMTP server of Herald's local stack (scripts/services start smtp): Debian's aiosmtpd
on loopback, keeping every message it accepts, raw, one file per message, in a Maildir
(new/ holds each message once it is complete; read it with Python's mailbox.Maildir).

Each file is the message exactly as it came over DATA (CRLF line endings, dot-stuffing
undone), after a Return-Path line and one Delivered-To line per envelope recipient, as
a delivery agent writes them. A recipient whose local part starts with "nobody" is
refused at RCPT with 550, so tests can see a permanent failure.

Usage: smtp_sink.py HOST PORT MAILDIR   (runs until SIGTERM or SIGINT)
"""
import mailbox
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class MaildirSink:
    def __init__(self, path):
        self.maildir = mailbox.Maildir(path, factory=None, create=True)
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split("@", 1)[0].lower().startswith("nobody"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        trace = "Return-Path: <%s>\r\n" % envelope.mail_from
        trace += "".join("Delivered-To: %s\r\n" % r for r in envelope.rcpt_tos)
        with self.lock:
            # Written in tmp/, then renamed into new/: a reader never sees half a message.
            key = self.maildir.add(trace.encode() + envelope.original_content)
        print("stored %s from %s to %s (%d bytes)" % (key, envelope.mail_from, ",".join(envelope.rcpt_tos),
                                                    len(envelope.original_content)), flush=True)
        return "250 2.0.0 Ok: queued as %s" % key


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    controller = Controller(MaildirSink(path), hostname=host, port=port)
    controller.start()
    print("smtp sink listening on %s:%d, messages in %s" % (host, port, path), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1):
        pass
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
