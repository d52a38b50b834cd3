"""Webhook: an HTTP POST of the offer as JSON, signed with HMAC-SHA256.

For a customer app or CRM that shows offers to its users. Headers
`X-DeviceCare-Timestamp` and `X-DeviceCare-Signature` (see `notifier.signing`); a 2xx
answer means the receiver took the offer to the customer (delivered); 5xx, 408, 429 and
network errors are retried, other 4xx answers are permanent.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from devicecare.config import Settings
from devicecare.contracts.vocabulary import TouchPoint
from notifier.channels.base import OfferChannel, Outgoing, Recipient, SendResult
from notifier.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_webhook

RETRYABLE_4XX = frozenset({408, 425, 429})
HTTP_CLIENT_ERROR = 400
HTTP_SERVER_ERROR = 500


def payload(offer: Outgoing) -> dict[str, object]:
    r = offer.recipient
    return {
        "v": 1,
        "event": offer.purpose,
        "offer": {
            "offer_id": offer.offer_id,
            "device_id": r.device_id,
            "customer_id": r.customer_id,
            "fault_kind": offer.fault_kind,
            "kind": offer.kind,
            "severity": offer.severity,
            "locale": offer.locale,
            "title": offer.title,
            "body": offer.body,
            "created_at": offer.created_at.isoformat(),
            "expires_at": offer.expires_at.isoformat() if offer.expires_at else None,
        },
        "links": dict(offer.links),
    }


class WebhookChannel(OfferChannel):
    name = "webhook"
    touchpoint = TouchPoint.WEB

    def __init__(self, url: str, secret: bytes, timeout_s: float) -> None:
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s
        # Only the configured URL: no proxies from the environment.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookChannel | None:
        cfg = settings.notifier
        if cfg.webhook_url is None or cfg.webhook_secret is None:
            return None
        secret = cfg.webhook_secret.get_secret_value().encode()
        return cls(str(cfg.webhook_url), secret, cfg.webhook_timeout_s)

    def reaches(self, recipient: Recipient) -> bool:
        return recipient.customer_id is not None

    def send(self, offer: Outgoing) -> SendResult:
        body = json.dumps(payload(offer), separators=(",", ":")).encode()
        stamp = int(time.time())
        request = urllib.request.Request(  # noqa: S310 - the URL is an http(s) setting
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(stamp),
                SIGNATURE_HEADER: sign_webhook(self.secret, stamp, body),
                "User-Agent": "devicecare-notifier",
            },
        )
        try:
            with self.opener.open(request, timeout=self.timeout_s) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            permanent = (
                HTTP_CLIENT_ERROR <= exc.code < HTTP_SERVER_ERROR and exc.code not in RETRYABLE_4XX
            )
            return SendResult(False, f"HTTP {exc.code}", permanent=permanent)
        except (urllib.error.URLError, OSError) as exc:
            return SendResult(False, f"{type(exc).__name__}: {exc}")
        return SendResult(True, f"HTTP {status}", delivered=True)
