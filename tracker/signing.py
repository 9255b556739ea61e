"""Webhook signatures: Standard Webhooks (both directions) and GitHub's X-Hub-Signature-256.

Pure module: no Django imports, so it can be tested against the known-answer vectors alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

SECRET_PREFIX = "whsec_"
# Keys shorter than this are refused when a secret is set (what we generate is 24 random bytes).
MIN_SECRET_BYTES = 24
TOLERANCE_SECONDS = 5 * 60
# The signed content is "{id}.{timestamp}.{body}": an id with "." could shift the split, which the spec
# forbids; whitespace, control and non-ASCII characters do not survive header handling byte for byte.
_VALID_ID = re.compile(r"[\x21-\x2d\x2f-\x7e]{1,200}")
_VALID_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureError(Exception):
    """The request's signature headers are missing, malformed, stale or do not match."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _secret_key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    # Unpadded base64 is accepted, as the Standard Webhooks reference library accepts it.
    raw += "=" * (-len(raw) % 4)
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise ValueError("signing secret is not whsec_<base64>") from exc


def secret_check(secret: str) -> None:
    """Refuse (ValueError, with a message for the person setting it) a secret that is not base64, padded or
    not, of at least MIN_SECRET_BYTES bytes."""
    try:
        key = _secret_key(secret)
    except ValueError:
        raise ValueError("a signing secret is whsec_ followed by base64 (padded or not)") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"a signing secret holds at least {MIN_SECRET_BYTES} bytes; this one holds {len(key)}")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one secret: `v1,<base64 HMAC-SHA256>`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign_headers(secret: str, msg_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    if not _VALID_ID.fullmatch(msg_id):
        raise ValueError("a webhook-id is 1-200 visible ASCII characters without '.'")
    timestamp = int(time.time() if now is None else now)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def verify(
    secrets_: list[str],
    headers: dict[str, str],
    body: bytes,
    now: float | None = None,
) -> str:
    """Check Standard Webhooks headers against any of the secrets; return the webhook id.

    Several secrets may be active at once (rotation) and the header may carry several
    space-separated signatures; one match is enough.
    """
    msg_id = headers.get("webhook-id", "")
    raw_ts = headers.get("webhook-timestamp", "")
    raw_sigs = headers.get("webhook-signature", "")
    if not msg_id or not raw_ts or not raw_sigs:
        raise SignatureError("signature_missing", "webhook-id, webhook-timestamp and webhook-signature are required")
    if not _VALID_ID.fullmatch(msg_id):
        raise SignatureError("signature_malformed", "webhook-id must be 1-200 visible ASCII characters without '.'")
    if not _VALID_TIMESTAMP.fullmatch(raw_ts):
        raise SignatureError("signature_malformed", "webhook-timestamp must be whole seconds in ASCII digits")
    timestamp = int(raw_ts)
    current = time.time() if now is None else now
    if abs(current - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("signature_stale", "webhook-timestamp is outside the 5 minute tolerance")
    offered = [part[3:] for part in raw_sigs.split() if part.startswith("v1,")]
    for secret in secrets_:
        expected = sign(secret, msg_id, timestamp, body)[3:]
        if any(hmac.compare_digest(expected.encode(), sig.encode()) for sig in offered):
            return msg_id
    raise SignatureError("signature_invalid", "no webhook-signature matches the body")


def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_verify(secret: str, header: str, body: bytes) -> bool:
    return hmac.compare_digest(github_signature(secret, body).encode(), header.encode())
