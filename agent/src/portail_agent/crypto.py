"""Key pair, CSR, chain check and PKCS#12, done on the pharmacy's machine with `cryptography`."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from portail_agent.config import AgentError, write_private

# The IGC Santé DN order the ANS platform expects: C, ST, O, OU, CN.
SUBJECT_ORDER = (
    ("C", NameOID.COUNTRY_NAME),
    ("ST", NameOID.STATE_OR_PROVINCE_NAME),
    ("O", NameOID.ORGANIZATION_NAME),
    ("OU", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("CN", NameOID.COMMON_NAME),
)
KEY_SIZE = 2048


def load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    """The request's key: reused if a previous run made it (one key per request), else made
    here and written 0600 before anything is sent."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise AgentError(f"{path} is not an RSA key")
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private(path, pem)
    return key


def build_csr(key: rsa.RSAPrivateKey, subject: Mapping[str, str]) -> bytes:
    """PEM CSR whose subject is exactly what the request expects."""
    missing = [name for name, _ in SUBJECT_ORDER if not subject.get(name)]
    if missing:
        raise AgentError(f"the request does not say its subject field(s) {missing}")
    name = x509.Name([x509.NameAttribute(oid, subject[label]) for label, oid in SUBJECT_ORDER])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def load_certificates(pem: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem.encode("ascii"))
    except ValueError as exc:
        raise AgentError(f"the portal sent an unreadable certificate: {exc}") from None


def key_matches(key: rsa.RSAPrivateKey, cert: x509.Certificate) -> bool:
    return cert.public_key().public_numbers() == key.public_key().public_numbers()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _valid_at(cert: x509.Certificate, when: datetime.datetime) -> bool:
    return cert.not_valid_before_utc <= when <= cert.not_valid_after_utc


def check_chain(
    leaf: x509.Certificate,
    chain: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate] = (),
) -> None:
    """The leaf is signed by the chain up to a self-signed root (one of `anchors` when the
    vendor configured them), every certificate valid now. Raises AgentError otherwise."""
    now = _now()
    if not _valid_at(leaf, now):
        raise AgentError("the certificate is not valid now")
    pool = list(chain)
    current = leaf
    for _ in range(len(pool) + 1):
        if current.issuer == current.subject and current is not leaf:
            break
        issuer = next((c for c in pool if c.subject == current.issuer), None)
        if issuer is None:
            raise AgentError(f"incomplete chain: no issuer for {current.issuer.rfc4514_string()}")
        try:
            current.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError) as exc:
            raise AgentError(
                f"chain signature check failed for {current.subject.rfc4514_string()}: {type(exc).__name__}"
            ) from None
        if not _valid_at(issuer, now):
            raise AgentError("a CA of the chain is not valid now")
        pool.remove(issuer)
        current = issuer
    if current.issuer != current.subject:
        raise AgentError("the chain does not end at a root")
    if anchors and not any(
        a.public_bytes(serialization.Encoding.DER)
        == current.public_bytes(serialization.Encoding.DER)
        for a in anchors
    ):
        raise AgentError("the chain's root is not one of the configured trust anchors")


def pkcs12_bytes(
    key: rsa.RSAPrivateKey,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    passphrase: bytes,
    name: str,
) -> bytes:
    """AES-256 / SHA-256 PKCS#12 for stores that want one file."""
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(100_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(passphrase)
    )
    return pkcs12.serialize_key_and_certificates(
        name.encode("utf-8"), key, cert, list(chain) or None, encryption
    )


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
