#!/usr/bin/env python3
"""A real SMTP server for the tests: Debian's python3-aiosmtpd on 127.0.0.1.

Each message it accepts is written to DIR as NNNN.eml (the envelope in X-Envelope-From and
X-Envelope-To headers first, whether it came over TLS in X-Tls, the client's address and port in
X-Peer — one connection, one port — then the message as received), written to a hidden file and renamed
so that a reader never sees half of one. It prints "smtp: listening on PORT" once it answers.

  smtp_server.py --dir DIR [--port N] [--starttls CERT KEY] [--smtps CERT KEY]
                 [--user U --password P] [--reject ADDRESS]... [--defer ADDRESS]...

--starttls offers STARTTLS (plain connections are still accepted); --smtps speaks TLS from the
first byte; --user requires AUTH (over TLS only, as aiosmtpd insists); --reject answers 550 to
RCPT TO for ADDRESS, --defer 451. SIGTERM stops it.
"""
import argparse
import itertools
import os
import signal
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Handler:
    def __init__(self, directory, reject, defer):
        self.directory = directory
        self.reject = set(a.lower() for a in reject)
        self.defer = set(a.lower() for a in defer)
        existing = [int(n[:-4]) for n in os.listdir(directory) if n.endswith(".eml")]
        self.count = itertools.count(max(existing, default=0) + 1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return "550 5.1.1 no such mailbox here"
        if address.lower() in self.defer:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = next(self.count)
        # After STARTTLS aiosmtpd sets session.ssl; on implicit TLS only the transport knows.
        over_tls = session.ssl is not None or \
            server.transport.get_extra_info("ssl_object") is not None
        tls = "yes" if over_tls else "no"
        head = (f"X-Envelope-From: {envelope.mail_from}\r\n"
                f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
                f"X-Tls: {tls}\r\n"
                f"X-Peer: {session.peer[0]}:{session.peer[1]}\r\n").encode()
        tmp = os.path.join(self.directory, f".{n:04d}.tmp")
        with open(tmp, "wb") as f:
            f.write(head + envelope.original_content)
        os.rename(tmp, os.path.join(self.directory, f"{n:04d}.eml"))
        return "250 Message accepted"


def context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--starttls", nargs=2)
    p.add_argument("--smtps", nargs=2)
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--reject", action="append", default=[])
    p.add_argument("--defer", action="append", default=[])
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)

    port = a.port
    if port == 0:  # aiosmtpd needs a number: take a free one
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]

    kwargs = {}
    if a.starttls:
        kwargs["tls_context"] = context(*a.starttls)
        kwargs["require_starttls"] = False
    if a.user:
        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == a.user and auth_data.password.decode() == a.password
            return AuthResult(success=ok)
        kwargs["authenticator"] = authenticate
        kwargs["auth_required"] = True
        # Over STARTTLS only, as aiosmtpd insists; its 1.4 does not count implicit TLS as TLS
        # (it offers no AUTH there), so smtps allows it outright: the connection is TLS anyway.
        kwargs["auth_require_tls"] = not a.smtps
    controller = Controller(Handler(a.dir, a.reject, a.defer), hostname="127.0.0.1", port=port,
                            ssl_context=context(*a.smtps) if a.smtps else None,
                            server_hostname="127.0.0.1", **kwargs)
    controller.start()
    print(f"smtp: listening on {port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (controller.stop(), sys.exit(0)))
    signal.signal(signal.SIGINT, lambda *_: (controller.stop(), sys.exit(0)))
    signal.pause()


if __name__ == "__main__":
    main()
