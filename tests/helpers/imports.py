"""Certificate files in every import format, issued by the demo PKI and read back by openssl."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from certificates import x509 as igc
from certificates.demo_pki import DemoPKI, to_pem_bundle
from tests.helpers.tools import OPENSSL

PASSPHRASE = b"phrase de passe solide"
FORMATS = ["pem", "pem_chain", "der", "p7b_pem", "p7b_der", "p12"]


def issue(pki: DemoPKI, officine, key, *, profile="ORG_AUTH_CLI", common_name="LGO", **kwargs):
    """A certificate really issued by the demo PKI for `officine` (subject in IGC Santé order)."""
    _, cert = pki.issue_for(
        finess=officine.finess,
        raison_sociale=officine.raison_sociale,
        department=officine.department_label or "Rhône (69)",
        common_name=common_name,
        profile=igc.Profile(profile),
        key=key,
        **kwargs,
    )
    return cert


def encode(fmt: str, cert, chain, key=None, passphrase: bytes = PASSPHRASE) -> bytes:
    """The certificate as an administrator would bring it back, in one of the formats."""
    if fmt == "pem":
        return to_pem_bundle(cert)
    if fmt == "pem_chain":
        return to_pem_bundle(cert, *chain)
    if fmt == "der":
        return cert.public_bytes(serialization.Encoding.DER)
    if fmt == "p7b_pem":
        return pkcs7.serialize_certificates([cert, *chain], serialization.Encoding.PEM)
    if fmt == "p7b_der":
        return pkcs7.serialize_certificates([cert, *chain], serialization.Encoding.DER)
    if fmt == "p12":
        encryption = serialization.BestAvailableEncryption(passphrase)
        return serialization.pkcs12.serialize_key_and_certificates(
            b"officine", key, cert, chain, encryption
        )
    raise ValueError(fmt)


def openssl_fields(pem: str, tmp_path: Path) -> dict[str, str]:
    """What openssl itself reads from a stored PEM: serial, fingerprint, DNs, dates."""
    path = tmp_path / "stored.pem"
    path.write_text(pem)
    fields_asked = ["-serial", "-fingerprint", "-sha256", "-subject", "-issuer", "-dates"]
    formats = ["-nameopt", "RFC2253,-esc_msb", "-dateopt", "iso_8601"]
    out = subprocess.run(
        [OPENSSL, "x509", "-in", str(path), "-noout", *fields_asked, *formats],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    ).stdout
    fields = dict(line.split("=", 1) for line in out.strip().splitlines())
    return {
        "serial": fields["serial"],
        "fingerprint": fields["sha256 Fingerprint"].replace(":", "").lower(),
        "subject": fields["subject"],
        "issuer": fields["issuer"],
        "not_before": fields["notBefore"],
        "not_after": fields["notAfter"],
    }
