"""E-mail over SMTP with STARTTLS: the offer's words and signed answer links.

Needs `DEVICECARE_NOTIFIER__SMTP_HOST`, the owner's e-mail consent and an address. A 4xx
answer or a broken connection is retried; a 5xx answer (address refused) is permanent.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from devicecare.config import Settings
from devicecare.contracts.vocabulary import Answer, TouchPoint
from notifier.channels.base import OfferChannel, Outgoing, Recipient, SendResult

LABELS: dict[str, dict[str, str]] = {
    "en": {
        Answer.ACCEPT: "Yes, please",
        Answer.DISMISS: "No, thanks",
        Answer.WRONG: "This is not right",
        "view": "See the offer",
    },
    "de": {
        Answer.ACCEPT: "Ja, gerne",
        Answer.DISMISS: "Nein, danke",
        Answer.WRONG: "Das stimmt nicht",
        "view": "Angebot ansehen",
    },
}
PERMANENT_FROM = 500


def compose(offer: Outgoing, sender: str) -> EmailMessage:
    labels = LABELS.get(offer.locale, LABELS["en"])
    message = EmailMessage()
    message["Subject"] = offer.title
    message["From"] = sender
    message["To"] = offer.recipient.email or ""
    message["Message-ID"] = make_msgid(domain="devicecare.invalid")
    message["X-DeviceCare-Offer"] = offer.offer_id
    lines = [offer.title, "", offer.body, ""]
    lines += [f"{labels[key]}: {offer.links[key]}" for key in (*(a.value for a in Answer), "view")]
    message.set_content("\n".join(lines) + "\n")
    return message


class EmailChannel(OfferChannel):
    name = "email"
    touchpoint = TouchPoint.EMAIL
    needs_email_consent = True

    def __init__(self, settings: Settings) -> None:
        cfg = settings.notifier
        assert cfg.smtp_host is not None
        self.host = cfg.smtp_host
        self.port = cfg.smtp_port
        self.starttls = cfg.smtp_starttls
        self.username = cfg.smtp_username
        self.password = cfg.smtp_password.get_secret_value() if cfg.smtp_password else None
        self.sender = cfg.smtp_from
        self.timeout_s = cfg.smtp_timeout_s
        self.tls = ssl.create_default_context(
            cafile=str(cfg.smtp_ca_file) if cfg.smtp_ca_file else None
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailChannel | None:
        return cls(settings) if settings.notifier.smtp_host else None

    def reaches(self, recipient: Recipient) -> bool:
        return bool(recipient.email)

    def send(self, offer: Outgoing) -> SendResult:
        message = compose(offer, self.sender)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=self.tls)
                    smtp.ehlo()
                if self.username is not None and self.password is not None:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return SendResult(
                False, f"recipient refused: {codes}", permanent=min(codes) >= PERMANENT_FROM
            )
        except smtplib.SMTPResponseException as exc:
            detail = f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace')}"
            return SendResult(False, detail, permanent=exc.smtp_code >= PERMANENT_FROM)
        except (smtplib.SMTPException, OSError) as exc:
            return SendResult(False, f"{type(exc).__name__}: {exc}")
        if refused:
            return SendResult(False, f"refused: {refused}", permanent=True)
        return SendResult(True, f"accepted by {self.host}:{self.port}")
