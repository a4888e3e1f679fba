"""TOTP secrets and recovery-code seeds encrypted at rest, through allauth's MFA adapter.

allauth stores them in `Authenticator.data` and calls the adapter's `encrypt`/`decrypt`
around every write and read (no-ops by default: they were in clear). Here they become the
private keys' AES-256-GCM envelopes under KEY_ENCRYPTION_KEYS (`portal/sealing.py`),
as text: "sealed:" + base64. The hook gets no row, so the associated data is fixed
("mfa-secret"), not the row. `rotate_key_encryption` re-wraps them; migration portal 0008
encrypted the existing rows.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from allauth.mfa.adapter import DefaultMFAAdapter

from portal import sealing

PREFIX = "sealed:"
ASSOCIATED_DATA = b"mfa-secret"
# Where allauth keeps secrets in Authenticator.data: TOTP secret, recovery seed, and the
# codes migrated from older allauth versions (a list).
SECRET_FIELDS = ("secret", "seed")
LIST_FIELDS = ("migrated_codes",)


def seal(text: str) -> str:
    return PREFIX + sealing.seal_text(text, associated_data=ASSOCIATED_DATA)


def unseal(value: str) -> str:
    """The clear secret; a value not sealed yet (before migration 0008) is returned as is."""
    if not value.startswith(PREFIX):
        return value
    return sealing.unseal_text(value.removeprefix(PREFIX), associated_data=ASSOCIATED_DATA)


def map_secrets(data: dict[str, Any], change: Callable[[str], str]) -> dict[str, Any]:
    """`data` with `change` applied to every secret allauth stores in it."""
    result = dict(data)
    for field in SECRET_FIELDS:
        if isinstance(result.get(field), str):
            result[field] = change(result[field])
    for field in LIST_FIELDS:
        if isinstance(result.get(field), list):
            result[field] = [change(v) if isinstance(v, str) else v for v in result[field]]
    return result


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return seal(text)

    def decrypt(self, encrypted_text: str) -> str:
        return unseal(encrypted_text)


def authenticator_rewrap(authenticator: Any) -> tuple[str, str] | None:
    """Re-seal the authenticator's secrets under the first key (key rotation), in place.

    (old key id, new key id), or None when all are current; raises sealing.KeyStoreError
    when one does not open. A secret still in clear is sealed.
    """
    moved: list[tuple[str, str]] = []
    current = sealing.current_key_id()

    def reseal(value: str) -> str:
        if not value.startswith(PREFIX):
            moved.append(("clear", current))
            return seal(value)
        envelope = _envelope(value)
        again = sealing.reseal(envelope, associated_data=ASSOCIATED_DATA)
        if again is None:
            return value
        moved.append((again[1], again[2]))
        return PREFIX + base64.b64encode(again[0]).decode("ascii")

    data = map_secrets(authenticator.data or {}, reseal)
    if not moved:
        return None
    authenticator.data = data
    return moved[0]


def _envelope(value: str) -> bytes:
    try:
        return base64.b64decode(value.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise sealing.TamperedKeyError("The sealed MFA secret is not base64.") from None


def mfa_secrets_rotation() -> sealing.Rotation:
    """What `rotate_key_encryption` re-wraps for the kernel: allauth's TOTP and recovery seeds."""
    from allauth.mfa.models import Authenticator  # models are not loaded when this is imported

    return sealing.Rotation(
        label="MFA secrets (TOTP, recovery codes)",
        noun="MFA secret",
        rows="authenticators",
        action="mfa.secret_rewrap",
        queryset=lambda current: Authenticator.objects.all(),
        rewrap=authenticator_rewrap,
        fields=("data",),
    )
