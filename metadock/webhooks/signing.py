"""Standard Webhooks signatures (https://www.standardwebhooks.com/): ``whsec_`` secrets and ``v1`` HMAC-SHA256.

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the signature header carries ``v1,`` and the
base64 of its HMAC-SHA256 under the secret's bytes (the base64 after ``whsec_``). Written on the standard library:
the reference ``standardwebhooks`` package is not on the registry this project installs from.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32  # the specification asks for 24 to 64


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


def verify(secret: str, received: Mapping[str, str], body: bytes, *, tolerance_seconds: int = 300) -> bool:
    """What a receiver does: the timestamp is recent, and one of the space-separated signatures matches (compared
    in constant time)."""
    message_id, timestamp = received.get("webhook-id", ""), received.get("webhook-timestamp", "")
    if not message_id or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance_seconds:
        return False
    expected = signature(secret, message_id, int(timestamp), body)
    offered = received.get("webhook-signature", "").split(" ")
    return any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in offered)
