"""HMAC-SHA256: answer-link tokens for e-mail and webhook, and webhook body signatures.

An answer link carries `token = base64url(HMAC(link_secret, "offer-answer:" + offer_id))`,
so the API can check it without storing anything. A webhook request carries
`X-DeviceCare-Timestamp: <unix seconds>` and
`X-DeviceCare-Signature: sha256=<hex HMAC(webhook_secret, "<timestamp>." + body)>`;
receivers check both (and the timestamp's age, against replays).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path
from urllib.parse import urlencode

from devicecare.config import Settings
from devicecare.contracts.vocabulary import Answer

TIMESTAMP_HEADER = "X-DeviceCare-Timestamp"
SIGNATURE_HEADER = "X-DeviceCare-Signature"
WEBHOOK_TOLERANCE_S = 300


def answer_token(secret: bytes, offer_id: str) -> str:
    digest = hmac.new(secret, b"offer-answer:" + offer_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify_answer_token(secret: bytes, offer_id: str, token: str) -> bool:
    return hmac.compare_digest(answer_token(secret, offer_id), token)


def answer_links(base_url: str, secret: bytes, offer_id: str) -> dict[str, str]:
    """The offer's page (`view`) and one link per answer; each opens a confirmation page."""
    token = answer_token(secret, offer_id)
    page = f"{base_url.rstrip('/')}/offers/{offer_id}/answer"
    links = {"view": f"{page}?{urlencode({'token': token})}"}
    for answer in Answer:
        links[answer.value] = f"{page}?{urlencode({'token': token, 'answer': answer.value})}"
    return links


def sign_webhook(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_webhook(
    secret: bytes, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> bool:
    """True for a body signed with `secret` within WEBHOOK_TOLERANCE_S of `now`."""
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > WEBHOOK_TOLERANCE_S:
        return False
    return hmac.compare_digest(sign_webhook(secret, int(timestamp), body), signature)


def link_secret(settings: Settings) -> bytes:
    """The configured link secret, or one generated once under the state folder."""
    configured = settings.notifier.link_secret
    if configured is not None:
        return configured.get_secret_value().encode()
    path = Path(settings.state_dir).resolve() / "notifier" / "link.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_urlsafe(32))
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_text().strip().encode()
