"""Encryption at rest for secrets the app must read back (signing secrets, channel URLs and keys, tokens).

The keys are `FIELD_ENCRYPTION_KEYS`, newest first: the newest encrypts, every key decrypts, so a key is
rotated by putting a new one in front, running `manage.py rotate_secrets` (which re-encrypts every stored
secret with it), then dropping the old one. Without keys, a key derived from SECRET_KEY is used; it stays
a decryption key when keys are set, so stored secrets survive the move to explicit keys.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class UndecryptableSecret(ValueError):
    """No configured key decrypts a stored secret (a key was dropped, or SECRET_KEY changed under the default)."""

    def __init__(self) -> None:
        super().__init__(
            "a stored secret cannot be decrypted with the configured keys: restore the key it was stored with "
            "in FIELD_ENCRYPTION_KEYS, or enter the secret again"
        )


def _derived_key() -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(b"deploy-tracker:" + settings.SECRET_KEY.encode()).digest())


def _keys() -> list[Fernet]:
    configured = [key.encode() for key in settings.FIELD_ENCRYPTION_KEYS]
    derived = _derived_key()
    return [Fernet(key) for key in [*configured, *([derived] if derived not in configured else [])]]


def encrypt(plaintext: str) -> str:
    return MultiFernet(_keys()).encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return MultiFernet(_keys()).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise UndecryptableSecret() from None


def is_current(ciphertext: str) -> bool:
    """Whether the newest key alone reads it (then rotating it would change nothing)."""
    try:
        _keys()[0].decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


def rotate(ciphertext: str) -> str:
    """The same secret encrypted with the newest key; UndecryptableSecret when no key reads it."""
    try:
        return MultiFernet(_keys()).rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise UndecryptableSecret() from None
