"""Strings only a leak of a private key or a webhook secret could produce, and a scan for them."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def flat_text(text: str) -> str:
    """Without line breaks, real or JSON-escaped: a PEM leak is found across its lines."""
    return text.replace("\\n", "").replace("\\r", "").replace("\n", "").replace("\r", "")


def _b64_inside(der: bytes, secret: bytes) -> str:
    """40 base64 characters of `der` that encode bytes of `secret` only (3-byte aligned)."""
    index = der.find(secret)
    assert index >= 0
    start = -(-index // 3) * 3  # first base64 group boundary inside the secret
    assert start - index + 30 <= len(secret)
    offset = start // 3 * 4
    return base64.b64encode(der).decode()[offset : offset + 40]


def needles(private_key) -> dict[str, str]:
    """Strings that only a leak of this private key could produce.

    Taken from the private components only: the first part of an RSA PKCS#8 structure is
    the modulus, which every certificate and CSR shows (in base64) and which is public.
    """
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    numbers = private_key.private_numbers()
    if isinstance(private_key, rsa.RSAPrivateKey):
        secret = numbers.d.to_bytes((numbers.d.bit_length() + 7) // 8, "big")
        second = numbers.p.to_bytes((numbers.p.bit_length() + 7) // 8, "big")
    else:  # EC: the private value (the rest of the structure is the public point)
        secret = numbers.private_value.to_bytes(private_key.curve.key_size // 8, "big")
        second = secret
    return {
        "PEM marker": "PRIVATE KEY",
        "PKCS#8 DER, base64": _b64_inside(der, secret),
        "PKCS#8 DER, base64 (second part)": _b64_inside(der, second),
        "private exponent or value, hex": secret.hex()[:32],
        "second component, hex": second.hex()[:32],
    }


def leaks(haystacks: dict[str, str], keys: dict[str, object]) -> list[str]:
    found = []
    for place, text in haystacks.items():
        flat, lower = flat_text(text), flat_text(text).lower()
        for owner, private_key in keys.items():
            for what, needle in needles(private_key).items():
                hit = needle.lower() in lower if "hex" in what else needle in flat
                if hit:
                    found.append(f"{what} of the {owner} key in {place}")
    return found


def secret_needles(secret: str) -> dict[str, str]:
    """A webhook secret, whole and as its random part alone (the `whsec_` prefix is public)."""
    token = secret.removeprefix("whsec_")
    assert len(token) >= 40
    return {"webhook secret": secret, "webhook secret, random part": token[:24]}


def secret_leaks(haystacks: dict[str, str], secrets: dict[str, str]) -> list[str]:
    found = []
    for place, text in haystacks.items():
        flat = flat_text(text)
        for owner, secret in secrets.items():
            for what, needle in secret_needles(secret).items():
                if needle in flat:
                    found.append(f"{what} of the {owner} endpoint secret in {place}")
    return found
