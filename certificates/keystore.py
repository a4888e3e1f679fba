"""Private keys of certificate requests at rest, sealed by the kernel (`portal.sealing`).

The associated data is b"request:<pk>", so an envelope copied to another request does not
decrypt. Every decryption writes an audit event, success or not.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _

from certificates import x509
from certificates.models import CertificateRequest
from portal.audit import SYSTEM, audit_record
from portal.models import AuditEvent
from portal.sealing import (
    KeyStoreError,
    NoPrivateKeyError,
    Rotation,
    TamperedKeyError,
    envelope_key_id,
    reseal,
    seal,
    unseal,
    wrapping_keys,
)


def associated_data_for(request_id: int) -> bytes:
    return f"request:{request_id}".encode("ascii")


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


def private_keys_rotation() -> Rotation:
    """What `rotate_key_encryption` re-wraps for this app: the requests' private keys."""
    return Rotation(
        label="Private keys",
        noun="private key",
        rows="requests",
        action="key.rewrap",
        queryset=lambda current: (
            CertificateRequest.objects.filter(encrypted_private_key__isnull=False)
            .exclude(key_encryption_key_id=current)
            .only(*_ROTATED_FIELDS)
        ),
        rewrap=lambda request: rewrap(request=request),
        fields=("encrypted_private_key", "key_encryption_key_id"),
    )


_ROTATED_FIELDS = (
    "pk",
    "editor_id",
    "profile",
    "common_name",
    "status",
    "encrypted_private_key",
    "key_encryption_key_id",
)
