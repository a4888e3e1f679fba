"""Pure X.509 work for IGC Santé organisation certificates.

No Django import here on purpose: parsing, CSR building, profile detection, offline
chain validation and PKCS#12 export stay fast to test and easy to read. Error
messages are French because they are shown to users as they are.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certificates import derivation_guard, sandbox

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

PKCS12_MIN_PASSPHRASE = 12
PKCS12_KDF_ROUNDS = 100_000
DEFAULT_MAX_SIZE = 5 * 1024 * 1024
# Longest parse of one uploaded file (settings.UPLOAD_PARSE_SECONDS): key derivations run in a
# child killed at this limit, other formats check it between PEM blocks.
DEFAULT_PARSE_SECONDS = 5.0
_TOO_SLOW = (
    "L'ouverture de ce fichier demande trop de calculs (dérivation de clé au-delà des limites "
    "du portail) ; exportez-le à nouveau avec les réglages par défaut."
)
# Key algorithm -> minimum size accepted in a CSR (what the IGC Santé platform takes).
DEFAULT_ALLOWED_KEYS: Mapping[str, int] = MappingProxyType({"RSA": 2048})
_MAX_CHAIN_DEPTH = 8


class X509Error(ValueError):
    """A user-facing problem with a file or a request: `code` is stable, `message` is French."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- profiles


class Profile(StrEnum):
    ORG_AUTH_CLI = "ORG_AUTH_CLI"
    ORG_SIGN = "ORG_SIGN"
    ORG_CONF = "ORG_CONF"
    SERV_SSL = "SERV_SSL"


@dataclass(frozen=True)
class ProfileExtensions:
    """What IGC Santé puts in a certificate of a profile (keyUsage flags use `x509.KeyUsage` names)."""

    key_usage: frozenset[str]
    extended_key_usage: tuple[x509.ObjectIdentifier, ...]


PROFILE_EXTENSIONS: dict[Profile, ProfileExtensions] = {
    Profile.ORG_AUTH_CLI: ProfileExtensions(
        frozenset({"digital_signature"}), (ExtendedKeyUsageOID.CLIENT_AUTH,)
    ),
    Profile.ORG_SIGN: ProfileExtensions(
        frozenset({"digital_signature", "content_commitment"}),
        (ExtendedKeyUsageOID.EMAIL_PROTECTION,),
    ),
    Profile.ORG_CONF: ProfileExtensions(
        frozenset({"key_encipherment"}),
        (ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE),
    ),
    # SERV SSL usages are unconfirmed by the ANS guide: server authentication (+ client).
    Profile.SERV_SSL: ProfileExtensions(
        frozenset({"digital_signature", "key_encipherment"}),
        (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
    ),
}

_KEY_USAGE_FLAGS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def key_usage_extension(profile: Profile) -> x509.KeyUsage:
    """The keyUsage extension of a profile, so issuers and checks share one definition."""
    wanted = PROFILE_EXTENSIONS[profile].key_usage
    flags = {name: name in wanted for name in _KEY_USAGE_FLAGS}
    return x509.KeyUsage(**flags, encipher_only=False, decipher_only=False)


def _key_usage_flags(cert: x509.Certificate) -> frozenset[str]:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return frozenset()
    return frozenset(name for name in _KEY_USAGE_FLAGS if getattr(ku, name))


def _extended_key_usages(cert: x509.Certificate) -> frozenset[x509.ObjectIdentifier]:
    try:
        return frozenset(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return frozenset()


def detect_profile(cert: x509.Certificate) -> Profile | None:
    """Profile from keyUsage + EKU only: the CN is free text and proves nothing."""
    ku, eku = _key_usage_flags(cert), _extended_key_usages(cert)
    # Most specific first: a SERV SSL certificate also carries clientAuth.
    if ExtendedKeyUsageOID.SERVER_AUTH in eku:
        return Profile.SERV_SSL
    if ExtendedKeyUsageOID.EMAIL_PROTECTION in eku:
        if "content_commitment" in ku:
            return Profile.ORG_SIGN
        if "key_encipherment" in ku:
            return Profile.ORG_CONF
        return None
    if ExtendedKeyUsageOID.CLIENT_AUTH in eku and "digital_signature" in ku:
        return Profile.ORG_AUTH_CLI
    return None


# --------------------------------------------------------------------------- keys


def generate_private_key(*, algorithm: str = "RSA", key_size: int = 2048) -> PrivateKey:
    """RSA 2048 is what IGC Santé issues on; EC is always P-256 (`key_size` applies to RSA)."""
    if algorithm == "RSA":
        if key_size < 2048:
            raise ValueError("RSA keys must be at least 2048 bits")
        return rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    if algorithm == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported key algorithm: {algorithm!r}")


def public_key_sha256(public_key: PublicKeyTypes) -> str:
    """Hex SHA-256 of the DER SubjectPublicKeyInfo: ties a CSR, a key and a certificate together."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def private_key_to_der(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 DER: the Django layer encrypts it at rest with its own key list."""
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key_der(data: bytes) -> PrivateKey:
    try:
        key = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise X509Error("corrupt", "La clé privée est illisible.") from exc
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise X509Error("unsupported_key", "Type de clé privée non pris en charge.")
    return key


def key_matches_certificate(private_key: PrivateKey, cert: x509.Certificate) -> bool:
    return public_key_sha256(private_key.public_key()) == public_key_sha256(cert.public_key())


def _key_type_and_size(public_key: object) -> tuple[str, int]:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA", public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "EC", public_key.curve.key_size
    return type(public_key).__name__, 0


# --------------------------------------------------------------------------- subject and CSR

# Upper bounds from RFC 5280 (ub-state-name, ub-organization-name, ub-common-name).
_SUBJECT_FIELDS = {
    "department": ("département", 128),
    "raison_sociale": ("raison sociale", 64),
    "common_name": ("service applicatif (CN)", 64),
}
_FINESS_RE = re.compile(r"^[0-9A-Z]{9}$")


def build_subject(
    *, department: str, raison_sociale: str, finess: str, common_name: str
) -> x509.Name:
    """IGC Santé DN, in the observed order: C=FR, ST=<département>, O=..., OU=1<FINESS>, CN=..."""
    values = {
        "department": department,
        "raison_sociale": raison_sociale,
        "common_name": common_name,
    }
    for name, value in values.items():
        label, limit = _SUBJECT_FIELDS[name]
        if not value or not value.strip():
            raise X509Error("invalid_subject", f"Le champ « {label} » est vide.")
        if len(value) > limit:
            raise X509Error("invalid_subject", f"Le champ « {label} » dépasse {limit} caractères.")
    if not _FINESS_RE.match(finess):
        raise X509Error("invalid_subject", f"Numéro FINESS invalide : « {finess} ».")
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, department),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, raison_sociale),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "1" + finess),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def build_csr(*, private_key: PrivateKey, subject: x509.Name) -> bytes:
    """PEM CSR signed with SHA-256; it mainly carries the public key to the ANS platform."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .sign(private_key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class CsrInfo:
    pem: str
    subject: str
    organisation: str | None
    organisational_unit: str | None
    common_name: str | None
    key_type: str
    key_size: int
    public_key_sha256: str


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    attrs = name.get_attributes_for_oid(oid)
    if not attrs:
        return None
    value = attrs[0].value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


_PEM_BLOCK_RE = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----\s*(.*?)-----END \1-----", re.DOTALL)
_PEM_BEGIN = b"-----BEGIN "
_CSR_LABELS = {b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"}


def _pem_blocks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(label, whole block) for each complete PEM block; a cut-off block means a truncated file."""
    blocks = [(m.group(1), m.group(0)) for m in _PEM_BLOCK_RE.finditer(data)]
    if len(blocks) != data.count(_PEM_BEGIN):
        raise X509Error("corrupt", "Le fichier PEM est tronqué ou mal formé.")
    return blocks


def load_csr(data: bytes, *, allowed_keys: Mapping[str, int] = DEFAULT_ALLOWED_KEYS) -> CsrInfo:
    """Parse an uploaded CSR (PEM or DER) and refuse what the IGC Santé platform would refuse."""
    if not data or not data.strip():
        raise X509Error("empty", "Le fichier de la CSR est vide.")
    try:
        if _PEM_BEGIN in data:
            csr_blocks = [block for label, block in _pem_blocks(data) if label in _CSR_LABELS]
            if not csr_blocks:
                raise X509Error(
                    "not_a_csr", "Ce fichier ne contient pas de CSR (demande de certificat)."
                )
            csr = x509.load_pem_x509_csr(csr_blocks[0])
        else:
            csr = x509.load_der_x509_csr(data)
        public_key = csr.public_key()
    except X509Error:
        raise
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise X509Error(
            "corrupt", "La CSR est illisible (fichier abîmé ou format inconnu)."
        ) from exc

    key_type, key_size = _key_type_and_size(public_key)
    if key_type not in allowed_keys:
        accepted = ", ".join(f"{k} {v} bits" for k, v in allowed_keys.items())
        raise X509Error(
            "unsupported_key",
            f"Clé de type {key_type} non acceptée (acceptées : {accepted}).",
        )
    if key_size < allowed_keys[key_type]:
        raise X509Error(
            "weak_key",
            f"Clé {key_type} de {key_size} bits trop courte : "
            f"{allowed_keys[key_type]} bits au minimum.",
        )
    if not csr.is_signature_valid:
        raise X509Error("bad_signature", "La signature de la CSR est invalide.")
    return CsrInfo(
        pem=csr.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        subject=csr.subject.rfc4514_string(),
        organisation=_first(csr.subject, NameOID.ORGANIZATION_NAME),
        organisational_unit=_first(csr.subject, NameOID.ORGANIZATIONAL_UNIT_NAME),
        common_name=_first(csr.subject, NameOID.COMMON_NAME),
        key_type=key_type,
        key_size=key_size,
        public_key_sha256=public_key_sha256(public_key),
    )


# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class CertificateInfo:
    subject: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str
    public_key_sha256: str
    common_name: str | None
    organisation: str | None
    organisational_unit: str | None
    state: str | None
    finess: str | None
    profile: Profile | None
    is_ca: bool
    policies: tuple[str, ...]
    pem: str
    # End of the Private Key Usage Period (2.5.29.16), when the certificate has one: real
    # ORG SIGN certificates stop signing a month before notAfter.
    key_usage_end: datetime | None = None

    @property
    def usable_until(self) -> datetime:
        """When the certificate really ends: the earlier of notAfter and the key-usage end."""
        return usable_until(self.not_after, self.key_usage_end)


def usable_until(not_after: datetime, key_usage_end: datetime | None) -> datetime:
    return min(not_after, key_usage_end) if key_usage_end is not None else not_after


PRIVATE_KEY_USAGE_PERIOD_OID = x509.ObjectIdentifier("2.5.29.16")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _der_generalized_times(data: bytes) -> dict[int, datetime]:
    """PrivateKeyUsagePeriod ::= SEQUENCE { notBefore [0] GeneralizedTime OPTIONAL,
    notAfter [1] GeneralizedTime OPTIONAL }, both IMPLICIT: {0 or 1: time}."""
    if len(data) < 2 or data[0] != 0x30:
        raise ValueError("PrivateKeyUsagePeriod is not a SEQUENCE")
    index, length = 2, data[1]
    if length & 0x80:  # long form: never needed for two times, refused rather than guessed
        raise ValueError("unexpected long length")
    times: dict[int, datetime] = {}
    while index < 2 + length:
        tag, size = data[index], data[index + 1]
        value = data[index + 2 : index + 2 + size].decode("ascii")
        if tag in (0x80, 0x81):
            times[tag & 0x1F] = datetime.strptime(value, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
        index += 2 + size
    return times


def key_usage_end(cert: x509.Certificate) -> datetime | None:
    """notAfter of the certificate's Private Key Usage Period (2.5.29.16), if it has one."""
    try:
        extension = cert.extensions.get_extension_for_oid(PRIVATE_KEY_USAGE_PERIOD_OID).value
    except x509.ExtensionNotFound:
        return None
    end = getattr(extension, "not_after", None)
    if end is not None:
        return _utc(end)
    raw = getattr(extension, "value", None)  # older cryptography: an UnrecognizedExtension
    if isinstance(raw, bytes):
        try:
            found = _der_generalized_times(raw).get(1)
        except (ValueError, IndexError, UnicodeDecodeError):
            return None
        return found
    return None


_FINESS_OU_RE = re.compile(r"^1([0-9A-Za-z]{9})$")


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _policies(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(p.policy_identifier.dotted_string for p in ext)


def certificate_to_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def certificate_to_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def describe_certificate(cert: x509.Certificate) -> CertificateInfo:
    """Everything the portal stores or shows about a certificate, in plain types."""
    ous = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
    finess = next((m.group(1) for ou in ous if (m := _FINESS_OU_RE.match(str(ou)))), None)
    serial = f"{cert.serial_number:X}"
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=serial.zfill(len(serial) + len(serial) % 2),  # whole bytes, like openssl
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        public_key_sha256=public_key_sha256(cert.public_key()),
        common_name=_first(cert.subject, NameOID.COMMON_NAME),
        organisation=_first(cert.subject, NameOID.ORGANIZATION_NAME),
        organisational_unit=_first(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME),
        state=_first(cert.subject, NameOID.STATE_OR_PROVINCE_NAME),
        finess=finess,
        profile=detect_profile(cert),
        is_ca=is_ca(cert),
        policies=_policies(cert),
        pem=certificate_to_pem(cert),
        key_usage_end=key_usage_end(cert),
    )


# --------------------------------------------------------------------------- bundles


@dataclass
class LoadedBundle:
    certificates: list[x509.Certificate]
    private_key: PrivateKey | None = None


_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE"}
_PKCS7_LABELS = {b"PKCS7", b"PKCS #7 SIGNED DATA", b"CMS"}
_KEY_LABELS = {b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"ENCRYPTED PRIVATE KEY"}

_NOT_A_CERT = "Ce fichier ne contient aucun certificat (CSR, clé seule ou autre contenu ?)."
_CORRUPT = "Le fichier est illisible : il est abîmé, tronqué ou dans un format inconnu."


def load_bundle(
    data: bytes,
    *,
    password: bytes | None = None,
    max_size: int = DEFAULT_MAX_SIZE,
    time_limit: float = DEFAULT_PARSE_SECONDS,
) -> LoadedBundle:
    """Read whatever a user uploads: PEM (one or many), DER, PKCS#7 (.p7b) or PKCS#12 (.p12/.pfx).

    Bounded: `max_size` bytes, `time_limit` seconds, key derivations priced before they run
    (`derivation_guard`) and each done once.
    """
    if len(data) > max_size:
        raise X509Error(
            "too_large", f"Le fichier dépasse la taille maximale ({_human_size(max_size)})."
        )
    if not data.strip():
        raise X509Error("empty", "Le fichier est vide.")
    deadline = time.monotonic() + time_limit
    if _PEM_BEGIN in data:
        return _load_pem_bundle(data, password, deadline)
    return _load_der_bundle(data, password, deadline)


def _human_size(size: int) -> str:
    for unit, factor in (("Mio", 1024 * 1024), ("Kio", 1024)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}".replace(".", ",")  # French decimal comma
    return f"{size} octets"


def _load_pem_bundle(data: bytes, password: bytes | None, deadline: float) -> LoadedBundle:
    bundle = LoadedBundle(certificates=[])
    for label, block in _pem_blocks(data):
        if time.monotonic() > deadline:
            raise X509Error("too_costly", _TOO_SLOW)
        try:
            if label in _CERT_LABELS:
                bundle.certificates.append(x509.load_pem_x509_certificate(block))
            elif label in _PKCS7_LABELS:
                bundle.certificates.extend(pkcs7.load_pem_pkcs7_certificates(block))
            elif label in _KEY_LABELS and bundle.private_key is None:
                bundle.private_key = _load_pem_key(block, password, deadline)
        except X509Error:
            raise
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise X509Error("corrupt", _CORRUPT) from exc
    if not bundle.certificates:
        raise X509Error("not_a_certificate", _NOT_A_CERT)
    return bundle


def _load_pem_key(block: bytes, password: bytes | None, deadline: float) -> PrivateKey:
    if password is not None and block.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"):
        return _load_encrypted_pkcs8(block, password, deadline)
    try:  # a clear key, or a legacy PEM-encrypted one (one MD5 round: nothing to bound)
        key = serialization.load_pem_private_key(block, password=password)
    except TypeError as exc:  # encrypted without password, or password for a clear key
        if password is None:
            raise X509Error(
                "bad_passphrase", "La clé privée est protégée : saisissez sa phrase de passe."
            ) from exc
        key = serialization.load_pem_private_key(block, password=None)
    except ValueError as exc:
        if b"ENCRYPTED" in block:
            raise X509Error("bad_passphrase", "Phrase de passe incorrecte.") from exc
        raise
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise X509Error("unsupported_key", "Type de clé privée non pris en charge.")
    return key


def _load_encrypted_pkcs8(block: bytes, password: bytes, deadline: float) -> PrivateKey:
    """A PKCS#8 EncryptedPrivateKeyInfo: its PBKDF2 cost priced, then one bounded derivation."""
    try:
        body = b"".join(block.splitlines()[1:-1])
        info = base64.b64decode(body, validate=False)
        derivation_guard.encrypted_private_key_cost(info)
    except derivation_guard.DerivationRefused as exc:
        raise X509Error(exc.code, exc.message) from exc
    except ValueError as exc:
        raise X509Error("corrupt", _CORRUPT) from exc
    outcome, key_der = _bounded(_decrypt_pkcs8, info, password, deadline=deadline)
    if outcome == "bad_passphrase":
        raise X509Error("bad_passphrase", "Phrase de passe incorrecte.")
    if outcome != "ok" or key_der is None:
        if outcome == "unsupported_key":
            raise X509Error("unsupported_key", "Type de clé privée non pris en charge.")
        raise X509Error("corrupt", _CORRUPT)
    return _reload_key(key_der)


def _decrypt_pkcs8(info: bytes, password: bytes) -> tuple[str, bytes | None]:
    """Runs in the sandbox child: outcome code and the clear PKCS#8 DER."""
    try:
        key = serialization.load_der_private_key(info, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return "bad_passphrase", None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        return "unsupported_key", None
    return "ok", _clear_pkcs8(key)


def _reload_key(der: bytes) -> PrivateKey:
    """The key the sandbox child already loaded (and checked): not checked a second time."""
    key = serialization.load_der_private_key(
        der, password=None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise X509Error("unsupported_key", "Type de clé privée non pris en charge.")
    return key


def _clear_pkcs8(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _bounded(function: Callable[..., Any], *args: Any, deadline: float) -> Any:
    """`function(*args)` in the sandbox with what is left of the parse's time."""
    try:
        return sandbox.run_bounded(function, *args, seconds=max(0.0, deadline - time.monotonic()))
    except sandbox.TimeLimitExceeded as exc:
        raise X509Error("too_costly", _TOO_SLOW) from exc
    except sandbox.ChildFailed as exc:
        raise X509Error("corrupt", _CORRUPT) from exc


def _looks_like_pkcs12(data: bytes) -> bool:
    """A PFX is SEQUENCE { INTEGER 3, ContentInfo, MacData }; checking the start is enough."""
    if len(data) < 5 or data[0] != 0x30:
        return False
    header = 2 + (data[1] & 0x7F if data[1] > 0x80 else 0)  # 0x80: BER indefinite length
    return data[header : header + 3] == b"\x02\x01\x03"


def _is_complete(data: bytes) -> bool:
    """Does the outer length match the file size? Tells a wrong passphrase from a cut file."""
    if data[1] == 0x80:
        return True  # BER indefinite length (old Windows exports): cannot tell cheaply
    if data[1] < 0x80:
        return 2 + data[1] == len(data)
    n = data[1] & 0x7F
    return 2 + n + int.from_bytes(data[2 : 2 + n], "big") == len(data)


def _load_der_bundle(data: bytes, password: bytes | None, deadline: float) -> LoadedBundle:
    try:
        return LoadedBundle(certificates=[x509.load_der_x509_certificate(data)])
    except ValueError:
        pass
    try:
        return LoadedBundle(certificates=list(pkcs7.load_der_pkcs7_certificates(data)))
    except (ValueError, UnsupportedAlgorithm):
        pass
    if _looks_like_pkcs12(data):
        return _load_pkcs12(data, password, deadline)
    if _is_der_csr_or_key(data) or _looks_like_text(data):
        raise X509Error("not_a_certificate", _NOT_A_CERT)
    raise X509Error("corrupt", _CORRUPT)


def _load_pkcs12(data: bytes, password: bytes | None, deadline: float) -> LoadedBundle:
    """Price the file's key derivations, then open it once, in a child bounded by the deadline.

    No passphrase is tried as the empty one: OpenSSL then checks the MAC with no password and
    with the empty one itself, and the bags are opened once.
    """
    try:
        derivation_guard.pkcs12_cost(data)
    except derivation_guard.DerivationRefused as exc:
        if exc.code == "corrupt" and not _is_complete(data):
            raise X509Error("corrupt", _CORRUPT) from exc
        raise X509Error(exc.code, exc.message) from exc
    outcome, cert_ders, key_der = _bounded(
        _open_pkcs12, data, password if password is not None else b"", deadline=deadline
    )
    if outcome != "ok":
        if not _is_complete(data):
            raise X509Error("corrupt", _CORRUPT)
        if password is None:
            raise X509Error(
                "bad_passphrase", "Ce fichier PKCS#12 est protégé : saisissez sa phrase de passe."
            )
        raise X509Error("bad_passphrase", "Phrase de passe du fichier PKCS#12 incorrecte.")
    certs = [x509.load_der_x509_certificate(der) for der in cert_ders]
    if not certs:
        raise X509Error("not_a_certificate", _NOT_A_CERT)
    key = _reload_key(key_der) if key_der else None
    return LoadedBundle(certificates=certs, private_key=key)


def _open_pkcs12(data: bytes, password: bytes) -> tuple[str, list[bytes], bytes | None]:
    """Runs in the sandbox child: the certificates' DER and the clear PKCS#8 of the key."""
    try:
        p12 = pkcs12.load_pkcs12(data, password)
    except (ValueError, UnsupportedAlgorithm):
        return "failed", [], None
    certs = ([p12.cert.certificate] if p12.cert else []) + [
        c.certificate for c in p12.additional_certs
    ]
    key = p12.key if isinstance(p12.key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)) else None
    return (
        "ok",
        [c.public_bytes(serialization.Encoding.DER) for c in certs],
        _clear_pkcs8(key) if key is not None else None,
    )


def _is_der_csr_or_key(data: bytes) -> bool:
    try:
        x509.load_der_x509_csr(data)
        return True
    except ValueError:
        pass
    try:
        serialization.load_der_private_key(data, password=None)
        return True
    except TypeError:  # an encrypted key is still a key
        return True
    except (ValueError, UnsupportedAlgorithm):
        return False


def _looks_like_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch.isspace() for ch in text)


def leaves(certs: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    """End-entity certificates: a bundle may hold several (e.g. SIGN + AUTH_CLI)."""
    return [c for c in certs if not is_ca(c)]


def ca_certificates(certs: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    return [c for c in certs if is_ca(c)]


def split_leaf_and_chain(
    certs: Sequence[x509.Certificate],
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """(leaf, other certificates, issuer first); use `leaves()` when a bundle may hold several."""
    found = leaves(certs)
    if not found:
        raise X509Error("no_leaf", "Le fichier ne contient que des certificats d'autorité.")
    if len(found) > 1:
        raise X509Error(
            "several_leaves",
            f"Le fichier contient {len(found)} certificats finaux, un seul attendu.",
        )
    leaf = found[0]
    others = [c for c in certs if c is not leaf]
    ordered: list[x509.Certificate] = []
    current = leaf
    while True:  # walk up by issuer name so the chain reads leaf-issuer first
        parent = next((c for c in others if c.subject == current.issuer and c not in ordered), None)
        if parent is None:
            break
        ordered.append(parent)
        current = parent
    return leaf, ordered + [c for c in others if c not in ordered]


# --------------------------------------------------------------------------- chain validation


class TrustStore:
    """Official CA certificates loaded from disk: validation never needs the network."""

    def __init__(self, certificates: Iterable[x509.Certificate]) -> None:
        self.roots: list[x509.Certificate] = []
        self.intermediates: list[x509.Certificate] = []
        seen: set[bytes] = set()
        for cert in certificates:
            fingerprint = cert.fingerprint(hashes.SHA256())
            if fingerprint in seen:
                continue
            seen.add(fingerprint)
            if is_self_signed(cert):
                self.roots.append(cert)
            elif is_ca(cert):
                self.intermediates.append(cert)
        self._root_fingerprints = {c.fingerprint(hashes.SHA256()) for c in self.roots}

    @classmethod
    def from_directory(cls, path: str | Path) -> TrustStore:
        """Load every .pem/.crt/.cer/.der file; a broken file is an error, not silently skipped."""
        certs: list[x509.Certificate] = []
        for file in sorted(Path(path).iterdir()):
            if file.is_file() and file.suffix.lower() in {".pem", ".crt", ".cer", ".der"}:
                try:
                    certs.extend(load_bundle(file.read_bytes()).certificates)
                except X509Error as exc:
                    raise X509Error(exc.code, f"{file.name} : {exc.message}") from exc
        return cls(certs)

    def is_root(self, cert: x509.Certificate) -> bool:
        return cert.fingerprint(hashes.SHA256()) in self._root_fingerprints


class ChainStatus(StrEnum):
    TRUSTED_PRODUCTION = "trusted_production"
    TRUSTED_TEST = "trusted_test"
    UNTRUSTED = "untrusted"
    INCOMPLETE = "incomplete"
    NOT_ORGANISATION = "not_organisation"


@dataclass(frozen=True)
class ChainResult:
    status: ChainStatus
    environment: Literal["production", "test"] | None
    chain: list[x509.Certificate]
    detail: str
    warnings: tuple[str, ...] = field(default=())

    @property
    def trusted(self) -> bool:
        return self.status in (ChainStatus.TRUSTED_PRODUCTION, ChainStatus.TRUSTED_TEST)


_TEST_WORD_RE = re.compile(r"\bTEST\b")


def _cn(name: x509.Name) -> str:
    return _first(name, NameOID.COMMON_NAME) or name.rfc4514_string()


def _is_test_name(name: x509.Name) -> bool:
    ous = [
        str(a.value).upper() for a in name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    ]
    return bool(_TEST_WORD_RE.search(_cn(name).upper())) or "IGC-SANTE TEST" in ous


def _find_issuer(
    cert: x509.Certificate, candidates: Sequence[x509.Certificate]
) -> tuple[x509.Certificate | None, bool]:
    """(issuer, name_matched): a name match whose signature fails is not the same as no match."""
    name_matched = False
    for candidate in candidates:
        if candidate.subject != cert.issuer:
            continue
        name_matched = True
        try:
            cert.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        return candidate, True
    return None, name_matched


def validate_chain(
    cert: x509.Certificate,
    *,
    extra: Sequence[x509.Certificate] = (),
    store: TrustStore,
    at: datetime | None = None,
) -> ChainResult:
    """Build leaf → intermediates → root offline (no CRL/OCSP) and classify the result."""
    at = at or datetime.now(UTC)
    candidates = [*store.roots, *store.intermediates, *(c for c in extra if is_ca(c))]
    path: list[x509.Certificate] = []
    current = cert
    failure: tuple[ChainStatus, str] | None = None
    for _ in range(_MAX_CHAIN_DEPTH):
        if current is not cert and store.is_root(current):
            break  # reached a trusted root
        if is_self_signed(current):
            if current is cert:
                failure = (ChainStatus.UNTRUSTED, "Le certificat est auto-signé.")
            else:
                root = _cn(current.subject)
                failure = (
                    ChainStatus.UNTRUSTED,
                    f"La racine « {root} » n'est pas une autorité reconnue.",
                )
            break
        issuer, name_matched = _find_issuer(current, candidates)
        if issuer is None:
            if name_matched:
                failure = (
                    ChainStatus.UNTRUSTED,
                    f"La signature de « {_cn(current.subject)} » ne correspond pas "
                    f"à l'autorité « {_cn(current.issuer)} ».",
                )
            else:
                failure = (
                    ChainStatus.INCOMPLETE,
                    f"Autorité émettrice « {_cn(current.issuer)} » introuvable : "
                    "ajoutez la chaîne de certification.",
                )
            break
        path.append(issuer)
        current = issuer
    else:
        failure = (ChainStatus.UNTRUSTED, "Chaîne de certification trop longue.")

    issuer_names = [cert.issuer, *(c.subject for c in path)]
    environment: Literal["production", "test"] | None = None
    if failure is None:
        environment = "test" if any(_is_test_name(n) for n in issuer_names) else "production"
        label = "de test" if environment == "test" else "de production"
        status = (
            ChainStatus.TRUSTED_TEST if environment == "test" else ChainStatus.TRUSTED_PRODUCTION
        )
        detail = f"Chaîne IGC Santé {label} reconnue (racine « {_cn(path[-1].subject)} »)."
    else:
        status, detail = failure
    # Checked whatever the trust: a person certificate is never an organisation certificate.
    if any("PERSONNES" in _cn(n).upper() for n in issuer_names):
        status = ChainStatus.NOT_ORGANISATION
        detail = (
            "Certificat de personne (AC « PERSONNES ») : ce n'est pas un certificat d'organisation."
        )
    warnings = tuple(
        f"L'autorité « {_cn(ca.subject)} » n'est pas valide à cette date."
        for ca in path
        if not ca.not_valid_before_utc <= at <= ca.not_valid_after_utc
    )
    if warnings:
        detail = " ".join([detail, *warnings])
    return ChainResult(
        status=status, environment=environment, chain=path, detail=detail, warnings=warnings
    )


# --------------------------------------------------------------------------- PKCS#12 export


def build_pkcs12(
    *,
    private_key: PrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    passphrase: bytes,
    profile: str = "modern",
    friendly_name: bytes | None = None,
) -> bytes:
    """PKCS#12 for the LGO's store: `modern` (AES-256/SHA-256) or `legacy` (3DES/SHA-1, old Windows/Java)."""
    mac: hashes.HashAlgorithm
    if profile == "modern":
        algorithm, mac = pkcs12.PBES.PBESv2SHA256AndAES256CBC, hashes.SHA256()
    elif profile == "legacy":  # 3DES + SHA-1: only for stores that cannot read AES (old Windows)
        algorithm, mac = pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC, hashes.SHA1()  # noqa: S303
    else:
        raise ValueError(f"unknown PKCS#12 profile: {profile!r}")
    if len(passphrase.decode("utf-8", "replace")) < PKCS12_MIN_PASSPHRASE:
        raise X509Error(
            "weak_passphrase",
            f"La phrase de passe doit contenir au moins {PKCS12_MIN_PASSPHRASE} caractères.",
        )
    if not key_matches_certificate(private_key, certificate):
        raise X509Error("key_mismatch", "La clé privée ne correspond pas au certificat.")
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(PKCS12_KDF_ROUNDS)
        .key_cert_algorithm(algorithm)
        .hmac_hash(mac)
        .build(passphrase)
    )
    return pkcs12.serialize_key_and_certificates(
        friendly_name, private_key, certificate, list(chain) or None, encryption
    )
