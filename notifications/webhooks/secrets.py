"""Webhook signing secrets: generate, seal at rest, read to sign, re-wrap under a new key.

Each secret is an AES-256-GCM envelope under KEY_ENCRYPTION_KEYS (portal/sealing.py)
bound to its endpoint row by the associated data b"webhook-secret:<endpoint id>".
`webhook_secret()` is the one reader; `manage.py rotate_key_encryption` re-wraps envelopes.
"""

from __future__ import annotations

import secrets

from notifications.models import WebhookEndpoint
from portal import sealing


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookSecretError(Exception):
    """An endpoint's signing secret cannot be read: nothing is signed nor sent with it.

    `code` is stable for callers and audit details: "no_secret", "unknown_key", "tampered".
    """

    def __init__(self, message: str, *, code: str, key_id: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.key_id = key_id


def secret_associated_data(endpoint_id: int) -> bytes:
    """Binds an envelope to its endpoint row (also frozen in migration notifications 0003)."""
    return f"webhook-secret:{endpoint_id}".encode("ascii")


def secret_store(endpoint: WebhookEndpoint, secret: str) -> None:
    """Encrypt `secret` under the first wrapping key into the saved endpoint, and save."""
    if endpoint.pk is None:
        raise ValueError("the endpoint must be saved first: its id is bound to the envelope")
    endpoint.secret_envelope = sealing.seal(
        secret.encode("utf-8"),
        associated_data=secret_associated_data(endpoint.pk),
        key=sealing.wrapping_keys()[0],
    )
    endpoint.save(update_fields=["secret_envelope"])


def webhook_secret(endpoint: WebhookEndpoint) -> str:
    """The endpoint's signing secret in clear, to sign with. Never log it nor return it."""
    envelope = bytes(endpoint.secret_envelope or b"")
    if not envelope:
        raise WebhookSecretError(
            "no signing secret is stored for this endpoint; regenerate it", code="no_secret"
        )
    key_id = sealing.envelope_key_id(envelope)
    try:
        plaintext = sealing.unseal(
            envelope,
            associated_data=secret_associated_data(endpoint.pk),
            keys=sealing.wrapping_keys(),
        )
    except sealing.UnknownKeyError:
        raise WebhookSecretError(
            f"the signing secret is encrypted with key {key_id or '?'}, which is not in "
            "KEY_ENCRYPTION_KEYS",
            code="unknown_key",
            key_id=key_id,
        ) from None
    except sealing.KeyStoreError:
        raise WebhookSecretError(
            "the stored signing secret failed its integrity check (altered, or moved from "
            "another endpoint); regenerate it",
            code="tampered",
            key_id=key_id,
        ) from None
    return plaintext.decode("utf-8")


def webhook_secret_rewrap(endpoint: WebhookEndpoint) -> tuple[str, str] | None:
    """Re-encrypt the secret under the first wrapping key (caller saves `secret_envelope`).

    Returns (old key id, new key id), or None when already under the first key.
    Raises WebhookSecretError when the secret cannot be opened (or there is none).
    """
    if sealing.envelope_key_id(bytes(endpoint.secret_envelope or b"")) == sealing.current_key_id():
        return None
    webhook_secret(endpoint)  # opens, or raises the WebhookSecretError that says why
    endpoint.secret_envelope, old_id, new_id = sealing.reseal(
        bytes(endpoint.secret_envelope), associated_data=secret_associated_data(endpoint.pk)
    )
    return old_id, new_id


def webhook_secrets_rotation() -> sealing.Rotation:
    """What `rotate_key_encryption` re-wraps for this app: the endpoints' signing secrets."""
    return sealing.Rotation(
        label="Webhook signing secrets",
        noun="webhook secret",
        rows="endpoints",
        action="webhook.secret_rewrap",
        # No secret: nothing to re-wrap (deliveries fail until it is regenerated).
        queryset=lambda current: WebhookEndpoint.objects.exclude(secret_envelope=b"").only(
            "pk", "editor_id", "url", "secret_envelope"
        ),
        rewrap=webhook_secret_rewrap,
        fields=("secret_envelope",),
        error=WebhookSecretError,
    )
