"""Secrets at rest: a gateway's API key and webhook secret are stored encrypted.

Encryption is Fernet (AES-128-CBC + HMAC-SHA256) from PyCA's `cryptography`. Keys:
- `GATEWAY_SECRETS_KEYS` (Fernet keys, comma-separated, newest first): the first encrypts, every
  one decrypts, so a key is rotated by putting a new one in front (rows are re-encrypted with it
  whenever they are saved);
- unset: one key derived from `DJANGO_SECRET_KEY` (HKDF-SHA256), plus one from each of Django's
  `SECRET_KEY_FALLBACKS` for reading, so rotating the secret key the Django way keeps stored
  secrets readable.

A secret no key can read (the keys changed without the old one kept) loads as an empty
`UnreadableSecret`: the row still lists, the gateway client refuses to use it with a message
that says what to do, and saving it over the stored value is refused.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

logger = logging.getLogger(__name__)

_HKDF_INFO = b"whatsapp_crm gateway secrets v1"
# Stored values start with this, so that a plaintext value (never written by this code) is told
# apart from a ciphertext.
PREFIX = "fernet:"


class UnreadableSecret(str):
    """A stored secret that none of the configured keys decrypts (reads as "")."""

    unreadable = True


def derived_key(secret_key: str) -> bytes:
    """The Fernet key derived from a Django secret key."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw)


def _fernet() -> MultiFernet:
    configured = [k.strip() for k in settings.GATEWAY_SECRETS_KEYS if k.strip()]
    if configured:
        try:
            keys = [Fernet(k.encode()) for k in configured]
        except ValueError as exc:
            raise ImproperlyConfigured(
                "GATEWAY_SECRETS_KEYS must hold Fernet keys (32 url-safe base64-encoded bytes, "
                'e.g. from `python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"`).'
            ) from exc
    else:
        secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        keys = [Fernet(derived_key(s)) for s in secrets if s]
    return MultiFernet(keys)


def encrypt(plaintext: str) -> str:
    return PREFIX + _fernet().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    """The plaintext of a stored value; UnreadableSecret when no key reads it."""
    if not stored.startswith(PREFIX):
        return UnreadableSecret("")
    try:
        return _fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except (InvalidToken, ValueError):
        logger.error("a stored gateway secret cannot be decrypted with the configured keys")
        return UnreadableSecret("")


def is_unreadable(value: Any) -> bool:
    return bool(getattr(value, "unreadable", False))


class EncryptedTextField(models.TextField):
    """Text stored encrypted (see the module doc); the Python value is the plaintext.

    Values cannot be searched (each encryption differs); "" is stored as "".
    """

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if is_unreadable(value):
            raise ValueError(
                f"{self.name} cannot be decrypted with the configured keys; set it again "
                "instead of saving the unreadable value."
            )
        if value is None or value == "":
            return value
        return encrypt(value)
