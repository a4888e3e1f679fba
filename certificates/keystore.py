"""Private keys at rest: AES-256-GCM envelopes under a rotatable list of wrapping keys.

`settings.KEY_ENCRYPTION_KEYS` lists base64 32-byte keys: the FIRST encrypts, ALL decrypt,
so a new key is put first, `manage.py rotate_key_encryption` re-wraps what is stored, and
only then the old key is removed. Every decryption writes an audit event, success or not.

Envelope (bytes): version (1) + key id (8 ASCII hex) + nonce (12) + ciphertext and tag.
The associated data is the header plus b"request:<pk>", so an envelope copied to another
row, or a header edited to name another key, does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils.translation import gettext as _

from certificates import x509
from certificates.models import CertificateRequest
from portal.audit import audit_record
from portal.models import AuditEvent

ENVELOPE_VERSION = 1
KEY_ID_LENGTH = 8
NONCE_LENGTH = 12
_HEADER_LENGTH = 1 + KEY_ID_LENGTH
_MIN_ENVELOPE = _HEADER_LENGTH + NONCE_LENGTH + 16  # a GCM tag at least


class SystemActor:
    """Stands for the portal itself (tasks, commands) in audit events: label "system"."""

    audit_label = "system"

    def __str__(self) -> str:
        return self.audit_label


SYSTEM = SystemActor()


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


def associated_data_for(request_id: int) -> bytes:
    return f"request:{request_id}".encode("ascii")


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


def encrypt_private_key(*, private_key: x509.PrivateKey, request: CertificateRequest) -> bytes:
    """Wrap the key under the first configured key and set it on `request` (caller saves)."""
    if request.pk is None:
        raise ValueError("the request must be saved first: its id is bound to the envelope")
    key = wrapping_keys()[0]
    envelope = seal(
        x509.private_key_to_der(private_key),
        associated_data=associated_data_for(request.pk),
        key=key,
    )
    request.encrypted_private_key = envelope
    request.key_encryption_key_id = key.key_id
    return envelope


def rewrap(*, request: CertificateRequest) -> tuple[str, str] | None:
    """Re-encrypt `request`'s key under the first key (caller saves); None if already there.

    Returns (old key id, new key id). Raises KeyStoreError when the key cannot be opened.
    """
    envelope = bytes(request.encrypted_private_key or b"")
    if not envelope:
        raise NoPrivateKeyError(_("This request has no private key stored by the portal."))
    moved = reseal(envelope, associated_data=associated_data_for(request.pk))
    if moved is None:
        request.key_encryption_key_id = envelope_key_id(envelope)  # column repaired if stale
        return None
    request.encrypted_private_key, old_id, new_id = moved
    request.key_encryption_key_id = new_id
    return old_id, new_id


def audit_actor(actor: Any, http_request: HttpRequest | None) -> Any:
    """The actor to record: the given one, the HTTP request's user, else the system."""
    if actor is not None:
        return actor
    user = getattr(http_request, "user", None)
    if user is not None and user.is_authenticated:
        return None  # audit_record takes the user from the HTTP request
    return SYSTEM


def private_key_for(
    *,
    request: CertificateRequest,
    actor: Any,
    reason: str,
    request_http: HttpRequest | None = None,
) -> x509.PrivateKey:
    """Decrypt the request's private key, writing a "key.decrypt" audit event either way.

    The failure event is written in the caller's transaction: a caller that rolls back
    after the error also drops that event, so callers let the error propagate unwrapped.
    """
    if not reason or not reason.strip():
        raise ValueError("a reason is required to decrypt a private key")
    envelope = bytes(request.encrypted_private_key or b"")
    who = audit_actor(actor, request_http)
    if not envelope:
        raise NoPrivateKeyError(_("This request has no private key stored by the portal."))
    key_id = envelope_key_id(envelope)
    try:
        der = unseal(
            envelope, associated_data=associated_data_for(request.pk), keys=wrapping_keys()
        )
        try:
            private_key = x509.load_private_key_der(der)
        except x509.X509Error as exc:
            raise TamperedKeyError(
                _("The stored private key is unreadable."), key_id=key_id
            ) from exc
        if request.public_key_sha256 and (
            x509.public_key_sha256(private_key.public_key()) != request.public_key_sha256
        ):
            raise TamperedKeyError(
                _("The stored private key does not match the request's public key."),
                key_id=key_id,
            )
    except KeyStoreError as exc:
        audit_record(
            action="key.decrypt",
            actor=who,
            target=request,
            request=request_http,
            outcome=AuditEvent.Outcome.FAILURE,
            reason=reason,
            details={"key_id": key_id, "error": exc.code},
        )
        raise
    audit_record(
        action="key.decrypt",
        actor=who,
        target=request,
        request=request_http,
        reason=reason,
        details={"key_id": key_id},
    )
    return private_key
