"""Real local stand-ins for outside parties: an SMTP server with STARTTLS (aiosmtpd, a
self-signed certificate) and a webhook receiver that checks the HMAC signature.

Both can be told to fail the first N deliveries (or all of them) and record what they
accepted.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from notifier.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_webhook

SMTP_USER = "notifier"
SMTP_PASSWORD = "s3cret-smtp"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert, key): the client trusts it as its CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp.pem", folder / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class _MailHandler:
    fail_first: int
    always_fail: bool
    messages: list[EmailMessage] = field(default_factory=list)
    tries: int = 0
    starttls_seen: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.tries += 1
        self.starttls_seen.append(bool(getattr(session, "ssl", None)))
        if self.always_fail or self.tries <= self.fail_first:
            return "451 4.3.0 Mailbox busy, try again later"
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[attr-defined,arg-type]
        return "250 OK"


def _authenticate(
    _server: object, _session: object, _envelope: object, _mechanism: str, data: object
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok)


class SmtpServer:
    """aiosmtpd on 127.0.0.1 that requires STARTTLS and a login."""

    def __init__(self, folder: Path, *, fail_first: int = 0, always_fail: bool = False) -> None:
        self.cert, key = self_signed(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.handler = _MailHandler(fail_first, always_fail)
        self.port = free_port()
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            authenticator=_authenticate,
        )

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    @property
    def tries(self) -> int:
        return self.handler.tries


class WebhookReceiver:
    """An HTTP server that accepts POSTs whose HMAC signature verifies (401 otherwise)."""

    def __init__(self, secret: bytes, *, fail_first: int = 0, always_fail: bool = False) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.always_fail = always_fail
        self.requests = 0
        self.rejected = 0
        self.received: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(receiver.answer(self.headers, body))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, headers: object, body: bytes) -> int:
        with self.lock:
            self.requests += 1
            stamp = headers.get(TIMESTAMP_HEADER)  # type: ignore[attr-defined]
            signature = headers.get(SIGNATURE_HEADER)  # type: ignore[attr-defined]
            if not verify_webhook(self.secret, stamp, signature, body, time.time()):
                self.rejected += 1
                return 401
            if self.always_fail or self.requests - self.rejected <= self.fail_first:
                return 503
            self.received.append(json.loads(body))
            return 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/offers"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
