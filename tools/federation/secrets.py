"""Remote servers' secrets at rest: Fernet tokens under keys from FEDERATION_SECRET_KEYS.

The first key encrypts; every key listed decrypts, so a new key is put first and the
old ones stay listed until ``manage.py federation_rotate_key`` has re-encrypted every
stored secret under the new one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

logger = logging.getLogger(__name__)


class Sealed(str):
    """A stored secret that no configured key opens (its key was removed too early).

    It keeps the stored token, so that saving the row again loses nothing; using it to
    connect fails with a message naming the cause (see ``ServerConfig.from_server``).
    """


def derived_key(secret_key: str) -> str:
    # The embedded default: tied to SECRET_KEY, so every process of a deployment agrees
    # without another setting. Set FEDERATION_SECRET_KEYS to decouple the two.
    digest = hashlib.sha256(b"mcpsite federation secrets\0" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FEDERATION_SECRET_KEYS must be Fernet keys (32 url-safe base64 bytes; make one with "
            "`manage.py federation_rotate_key --generate`)."
        ) from exc


def configured_keys() -> tuple[str, ...]:
    keys = tuple(k.strip() for k in getattr(settings, "FEDERATION_SECRET_KEYS", []) if k.strip())
    return keys or (derived_key(settings.SECRET_KEY),)


def fernet() -> MultiFernet:
    return _fernet(configured_keys())


def generate_key() -> str:
    return Fernet.generate_key().decode()


def encrypt(plain: str) -> str:
    return fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    """The plain text, or a ``Sealed`` holding the token when no configured key opens it."""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return Sealed(token)


def rotate(token: str) -> str:
    """The same secret encrypted under the first key (raises InvalidToken if none opens it)."""
    return fernet().rotate(token.encode()).decode()


class EncryptedTextField(models.TextField):
    """A text column that holds a Fernet token; Python code only sees the plain text.

    An empty value is stored empty (nothing to hide, and "no secret" stays visible).
    """

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        if isinstance(value, Sealed):
            return str.__str__(value)
        return encrypt(value)


class EncryptedJSONField(EncryptedTextField):
    """A JSON value stored encrypted (for secret headers); ``{}`` when empty."""

    # How django-stubs types the model attribute (else as the text column's str): the JSON
    # object, or a Sealed token when no configured key opens it. Annotations only. They
    # replace TextField's str types, an override mypy refuses; django-stubs' own
    # NullBooleanField changes its BooleanField types the same way, with the same ignore.
    _pyi_private_set_type: dict[str, Any] | Sealed  # type: ignore[assignment]  # see above
    _pyi_private_get_type: dict[str, Any] | Sealed  # type: ignore[assignment]  # see above

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if not value:
            return {}
        plain = decrypt(value)
        if isinstance(plain, Sealed):
            return plain
        return json.loads(plain)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and not isinstance(value, Sealed):
            return json.loads(value) if value else {}
        return value

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, Sealed):
            return str.__str__(value)
        if not value:
            return ""
        return encrypt(json.dumps(value, sort_keys=True))

    def value_to_string(self, obj: Any) -> str:
        return json.dumps(self.value_from_object(obj))
