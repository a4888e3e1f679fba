"""Secrets at rest: AES-256-GCM envelopes under a rotatable list of wrapping keys.

`settings.KEY_ENCRYPTION_KEYS` lists base64 32-byte keys: the FIRST encrypts, ALL decrypt,
so a new key is put first, `manage.py rotate_key_encryption` re-wraps what is stored, and
only then the old key is removed. Apps seal their own secrets here (private keys of
certificate requests, webhook secrets, TOTP seeds, stored API answers) with associated data
naming the row, and register them for rotation (`portal.sealing.register_rotation`).

Envelope (bytes): version (1) + key id (8 ASCII hex) + nonce (12) + ciphertext and tag.
The associated data is authenticated with the header, so an envelope copied to another
row, or a header edited to name another key, does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from django.utils.translation import gettext as _

ENVELOPE_VERSION = 1
KEY_ID_LENGTH = 8
NONCE_LENGTH = 12
_HEADER_LENGTH = 1 + KEY_ID_LENGTH
_MIN_ENVELOPE = _HEADER_LENGTH + NONCE_LENGTH + 16  # a GCM tag at least


class KeyStoreError(Exception):
    """A stored private key cannot be used; `code` is stable for callers and audit details."""

    code = "keystore"

    def __init__(self, message: str, *, key_id: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.key_id = key_id


class NoPrivateKeyError(KeyStoreError):
    code = "no_key"


class UnknownKeyError(KeyStoreError):
    code = "unknown_key"


class TamperedKeyError(KeyStoreError):
    code = "tampered"


@dataclass(frozen=True)
class WrappingKey:
    key_id: str
    key: bytes

    def __repr__(self) -> str:  # never print the key itself
        return f"WrappingKey(key_id={self.key_id!r})"


def key_id_for(key: bytes) -> str:
    """First 8 hex characters of SHA-256(key): names a key without revealing it."""
    return hashlib.sha256(key).hexdigest()[:KEY_ID_LENGTH]


def parse_wrapping_key(value: str) -> WrappingKey:
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured("KEY_ENCRYPTION_KEYS holds a value that is not base64.") from exc
    if len(key) != 32:
        raise ImproperlyConfigured(
            f"KEY_ENCRYPTION_KEYS entries must be 32 bytes (AES-256), got {len(key)}."
        )
    return WrappingKey(key_id=key_id_for(key), key=key)


def wrapping_keys() -> list[WrappingKey]:
    """The configured keys, first one encrypts; read on every call so settings changes apply."""
    values = [v for v in settings.KEY_ENCRYPTION_KEYS if v and v.strip()]
    if not values:
        raise ImproperlyConfigured("KEY_ENCRYPTION_KEYS is empty.")
    return [parse_wrapping_key(v) for v in values]


def current_key_id() -> str:
    return wrapping_keys()[0].key_id


def seal(plaintext: bytes, *, associated_data: bytes, key: WrappingKey) -> bytes:
    """Encrypt under one wrapping key (pure function: the benchmark times it without a DB)."""
    header = bytes([ENVELOPE_VERSION]) + key.key_id.encode("ascii")
    nonce = os.urandom(NONCE_LENGTH)
    return header + nonce + AESGCM(key.key).encrypt(nonce, plaintext, header + associated_data)


def envelope_key_id(envelope: bytes) -> str:
    """Key id named by an envelope header, or "" when the envelope is not one of ours."""
    if len(envelope) < _MIN_ENVELOPE or envelope[0] != ENVELOPE_VERSION:
        return ""
    try:
        return envelope[1:_HEADER_LENGTH].decode("ascii")
    except UnicodeDecodeError:
        return ""


def unseal(envelope: bytes, *, associated_data: bytes, keys: list[WrappingKey]) -> bytes:
    """Decrypt with whichever configured key the header names; any alteration fails."""
    envelope = bytes(envelope)
    if len(envelope) < _MIN_ENVELOPE or envelope[0] != ENVELOPE_VERSION:
        raise TamperedKeyError(_("The stored private key is damaged (unknown envelope format)."))
    key_id = envelope_key_id(envelope)
    key = next((k for k in keys if k.key_id == key_id), None)
    if key is None:
        raise UnknownKeyError(
            _(
                "The stored private key was encrypted with key %(key_id)s, which is not in "
                "KEY_ENCRYPTION_KEYS."
            )
            % {"key_id": key_id or "?"},
            key_id=key_id,
        )
    header = envelope[:_HEADER_LENGTH]
    nonce = envelope[_HEADER_LENGTH : _HEADER_LENGTH + NONCE_LENGTH]
    try:
        return AESGCM(key.key).decrypt(
            nonce, envelope[_HEADER_LENGTH + NONCE_LENGTH :], header + associated_data
        )
    except InvalidTag as exc:
        raise TamperedKeyError(
            _("The stored private key failed its integrity check (altered or moved)."),
            key_id=key_id,
        ) from exc


def reseal(envelope: bytes, *, associated_data: bytes) -> tuple[bytes, str, str] | None:
    """`envelope` re-encrypted under the first key: (new envelope, old key id, new key id),
    or None when it is under the first key already. Raises KeyStoreError when it does not
    open (key rotation: private keys and webhook secrets)."""
    keys = wrapping_keys()
    old_id = envelope_key_id(envelope)
    if old_id == keys[0].key_id:
        return None
    plaintext = unseal(envelope, associated_data=associated_data, keys=keys)
    return seal(plaintext, associated_data=associated_data, key=keys[0]), old_id, keys[0].key_id


def seal_text(text: str, *, associated_data: bytes) -> str:
    """A short secret kept in a text column or a session (a webhook secret shown once, a
    stored API answer holding it): base64 of an envelope under the first key."""
    envelope = seal(text.encode("utf-8"), associated_data=associated_data, key=wrapping_keys()[0])
    return base64.b64encode(envelope).decode("ascii")


def unseal_text(token: str, *, associated_data: bytes) -> str:
    """The text of `seal_text`; raises KeyStoreError when it does not open."""
    try:
        envelope = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        raise TamperedKeyError(_("The sealed value is not base64.")) from None
    return unseal(envelope, associated_data=associated_data, keys=wrapping_keys()).decode("utf-8")


@dataclass(frozen=True)
class Rotation:
    """One kind of sealed secret that `manage.py rotate_key_encryption` re-wraps.

    Apps register theirs from AppConfig.ready() (`register_rotation`): the kernel command
    knows no app.
    """

    label: str  # printed with the counts: "Private keys: 3 re-wrapped, ..."
    noun: str  # "private key": "2 private key(s) could not be opened"
    rows: str  # what a failed row is: "requests 4, 9"
    action: str  # audit action of each move: "key.rewrap"
    # The rows that hold a secret, given the current key id (may exclude rows known to be
    # under it already); `select_for_update` is applied per batch.
    queryset: Callable[[str], QuerySet]
    # Re-wrap one row in place: (old key id, new key id), or None when already current;
    # raises KeyStoreError (or `error`) when it does not open.
    rewrap: Callable[[Any], tuple[str, str] | None]
    fields: tuple[str, ...]  # saved with bulk_update
    error: type[Exception] = KeyStoreError


ROTATIONS: list[Rotation] = []


def register_rotation(rotation: Rotation) -> None:
    if all(r.label != rotation.label for r in ROTATIONS):
        ROTATIONS.append(rotation)
