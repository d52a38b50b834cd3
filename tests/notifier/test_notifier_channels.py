"""E-mail and webhook channels against real local servers: STARTTLS with a self-signed
certificate, a login, failures, retries with back-off, fallback and signatures."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from devicecare.config import Settings
from devicecare.contracts.vocabulary import FaultKind
from notifier.service import Notifier
from notifier.signing import sign_webhook, verify_webhook
from tests.support.local_servers import SMTP_PASSWORD, SMTP_USER, SmtpServer, WebhookReceiver
from tests.support.notifier_support import (
    BASE,
    add_finding,
    add_owner,
    notifier_settings,
    offers,
    suppressions,
)

pytestmark = pytest.mark.integration

HOOK_SECRET = "webhook-secret"


def smtp_settings(server: SmtpServer) -> dict[str, object]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "smtp_username": SMTP_USER,
        "smtp_password": SMTP_PASSWORD,
        "smtp_ca_file": server.cert,
        "smtp_from": "DeviceCare <care@example.invalid>",
    }


def attempts(db: psycopg.Connection) -> list[tuple[str, int, bool]]:
    return db.execute(
        "SELECT channel, attempt, ok FROM offer_attempts ORDER BY attempt_id"
    ).fetchall()


def test_email_is_retried_with_back_off_until_the_server_takes_it(
    stack: Settings, db_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    add_owner(db, "laptop", locale="de", email="kim@example.invalid")
    add_finding(db, "laptop", FaultKind.CRASH_LOOP)
    with SmtpServer(tmp_path, fail_first=2) as server:
        settings = notifier_settings(
            stack, channels=["email"], retry_base_s=60, **smtp_settings(server)
        )
        notifier = Notifier(settings, database=db_url)
        try:
            notifier.run_once(BASE)  # try 1 fails: next at +60 s
            notifier.run_once(BASE + timedelta(seconds=59))  # not due yet
            assert server.tries == 1
            notifier.run_once(BASE + timedelta(seconds=60))  # try 2 fails: next at +180 s
            notifier.run_once(BASE + timedelta(seconds=179))
            assert server.tries == 2
            notifier.run_once(BASE + timedelta(seconds=180))
        finally:
            notifier.close()
    assert attempts(db) == [("email", 1, False), ("email", 2, False), ("email", 3, True)]
    retry_at = [r[0] for r in db.execute("SELECT retry_at FROM offer_attempts ORDER BY 1")]
    assert retry_at[:2] == [BASE + timedelta(seconds=60), BASE + timedelta(seconds=180)]
    (offer,) = offers(db)
    assert (offer["status"], offer["channel"]) == ("sent", "email")
    (mail,) = server.messages
    assert server.handler.starttls_seen == [True, True, True]
    assert mail["To"] == "kim@example.invalid"
    assert mail["Subject"] == "Für Ihr Pixel 7 gibt es eine Lösung"
    text = mail.get_content()
    assert "Eine App auf Ihrem Gerät stürzt immer wieder ab." in text
    assert f"/offers/{offer['offer_id']}/answer?token=" in text
    assert "answer=accept" in text


def test_a_channel_that_keeps_failing_falls_back_to_the_next_allowed_one(
    stack: Settings, db_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    add_owner(db, "mail-down")
    add_owner(db, "no-mail-consent", email_consent=False)
    add_finding(db, "mail-down", FaultKind.STORAGE_RUNAWAY)
    add_finding(db, "no-mail-consent", FaultKind.STORAGE_RUNAWAY)
    with (
        SmtpServer(tmp_path, always_fail=True) as server,
        WebhookReceiver(HOOK_SECRET.encode()) as receiver,
    ):
        settings = notifier_settings(
            stack,
            channels=["email", "webhook"],
            retry_attempts=2,
            retry_base_s=30,
            webhook_url=receiver.url,
            webhook_secret=HOOK_SECRET,
            **smtp_settings(server),
        )
        notifier = Notifier(settings, database=db_url)
        try:
            notifier.run_once(BASE)
            # without e-mail consent e-mail is not allowed: the webhook at once
            assert [h["offer"]["device_id"] for h in receiver.received] == ["no-mail-consent"]
            notifier.run_once(BASE + timedelta(seconds=30))  # e-mail's last try, then webhook
        finally:
            notifier.close()
    assert server.tries == 2 and server.messages == []
    assert [h["offer"]["device_id"] for h in receiver.received] == [
        "no-mail-consent",
        "mail-down",
    ]
    rows = db.execute(
        "SELECT o.device_id, a.channel, a.ok FROM offer_attempts a JOIN offers o USING (offer_id)"
        " ORDER BY a.attempt_id"
    ).fetchall()
    assert rows == [
        ("mail-down", "email", False),
        ("no-mail-consent", "webhook", True),
        ("mail-down", "email", False),
        ("mail-down", "webhook", True),
    ]
    assert {o["channel"] for o in offers(db)} == {"webhook"}


def test_webhook_retries_then_delivers_and_a_bad_signature_is_refused(
    stack: Settings, db_url: str, db: psycopg.Connection
) -> None:
    add_owner(db, "phone")
    add_owner(db, "other")
    add_finding(db, "phone", FaultKind.KERNEL_FAULT)
    with WebhookReceiver(HOOK_SECRET.encode(), fail_first=1) as receiver:
        settings = notifier_settings(
            stack, channels=["webhook"], webhook_url=receiver.url, webhook_secret=HOOK_SECRET
        )
        notifier = Notifier(settings, database=db_url)
        try:
            notifier.run_once(BASE)
            notifier.run_once(BASE + timedelta(seconds=30))
        finally:
            notifier.close()
        assert attempts(db) == [("webhook", 1, False), ("webhook", 2, True)]
        assert offers(db)[0]["status"] == "delivered"
        assert receiver.rejected == 0

        # A sender without the right key: refused (401, permanent), nothing accepted.
        add_finding(db, "other", FaultKind.KERNEL_FAULT)
        wrong = notifier_settings(
            stack, channels=["webhook"], webhook_url=receiver.url, webhook_secret="not-the-key"
        )
        impostor = Notifier(wrong, database=db_url)
        try:
            impostor.run_once(BASE + timedelta(hours=1))
        finally:
            impostor.close()
    assert receiver.rejected == 1 and len(receiver.received) == 1
    assert offers(db, "other")[0]["held_reason"] == "undeliverable"
    assert suppressions(db) == {"undeliverable": 1}


def test_webhook_signature_fails_when_tampered() -> None:
    secret, body = b"k3y", b'{"offer":{"title":"Free battery check"}}'
    signature = sign_webhook(secret, 1_700_000_000, body)
    assert verify_webhook(secret, "1700000000", signature, body, now=1_700_000_010)
    assert not verify_webhook(
        secret, "1700000000", signature, body.replace(b"Free", b"Paid"), now=1_700_000_010
    )
    assert not verify_webhook(secret, "1700000001", signature, body, now=1_700_000_010)
    assert not verify_webhook(b"other", "1700000000", signature, body, now=1_700_000_010)
    assert not verify_webhook(secret, "1700000000", signature, body, now=1_700_009_000)  # replay
