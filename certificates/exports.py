"""Export a certificate for installation in the LGO: PEM, DER, chains, PKCS#12.

Public material (certificate, chain) needs no decryption, but every download is still
audited ("every export is audited"). The PKCS#12 is the only export that carries the
private key: it goes through `keystore.private_key_for` (which audits the decryption)
and writes its own "certificate.export_pkcs12" row with the profile.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from cryptography import x509 as cx509
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _

from certificates import x509
from certificates.keystore import private_key_for
from certificates.models import Certificate, CertificateRequest
from portal.audit import audit_record
from portal.permissions import Action, check_may_act
from portal.sealing import KeyStoreError

PKCS12_PROFILES = ("modern", "legacy")

# kind -> (file suffix, content type). "chain" is the stored intermediates + root,
# "fullchain" the leaf followed by its intermediates (what TLS clients present).
EXPORT_KINDS: dict[str, tuple[str, str]] = {
    "pem": (".pem", "application/x-pem-file"),
    "der": (".cer", "application/pkix-cert"),
    "chain": ("_chain.pem", "application/x-pem-file"),
    "fullchain": ("_fullchain.pem", "application/x-pem-file"),
    "p12": (".p12", "application/x-pkcs12"),
    "csr": (".csr", "application/pkcs10"),
}

_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Export:
    """What a view needs to answer a download."""

    content: bytes
    filename: str
    content_type: str


def safe_filename_part(value: str) -> str:
    """ASCII letters, digits, dot, dash and underscore only: "SAMU 75 Lyon" -> "SAMU-75-Lyon"."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    return _UNSAFE_RE.sub("-", folded).strip("-.")[:64] or "certificat"


def export_basename(*, finess: str, profile: str, common_name: str) -> str:
    """`760021832_ORG_AUTH_CLI_INSI-AUTO`: shared by certificate exports and campaign CSRs."""
    return "_".join(
        (safe_filename_part(finess), safe_filename_part(profile), safe_filename_part(common_name))
    )


def export_filename(certificate: Certificate, kind: str) -> str:
    """File name for a download of `kind` (one of EXPORT_KINDS)."""
    suffix, _content_type = EXPORT_KINDS[kind]
    base = export_basename(
        finess=certificate.officine.finess,
        profile=certificate.profile,
        common_name=certificate.common_name,
    )
    return base + suffix


def _leaf(certificate: Certificate) -> cx509.Certificate:
    return cx509.load_pem_x509_certificate(certificate.pem.encode("ascii"))


def _chain(certificate: Certificate) -> list[cx509.Certificate]:
    """Stored chain, issuer first (as the import service writes it)."""
    if not certificate.chain_pem.strip():
        return []
    return list(cx509.load_pem_x509_certificates(certificate.chain_pem.encode("ascii")))


def certificate_pem(certificate: Certificate) -> bytes:
    return x509.certificate_to_pem(_leaf(certificate)).encode("ascii")


def certificate_der(certificate: Certificate) -> bytes:
    return x509.certificate_to_der(_leaf(certificate))


def chain_pem(certificate: Certificate) -> bytes:
    """Intermediates + root, as stored: what a trust store needs. Empty if no chain is stored."""
    return "".join(x509.certificate_to_pem(c) for c in _chain(certificate)).encode("ascii")


def fullchain_pem(certificate: Certificate) -> bytes:
    """Leaf then intermediates, without the self-signed root: what a TLS client presents."""
    certs = [_leaf(certificate), *(c for c in _chain(certificate) if not x509.is_self_signed(c))]
    return "".join(x509.certificate_to_pem(c) for c in certs).encode("ascii")


_PUBLIC_EXPORTS = {
    "pem": certificate_pem,
    "der": certificate_der,
    "chain": chain_pem,
    "fullchain": fullchain_pem,
}


def certificate_export_audit(
    *,
    certificate: Certificate,
    kind: str,
    actor: Any = None,
    http_request: HttpRequest | None = None,
) -> None:
    """Light audit row for a public download (no key involved)."""
    audit_record(
        action="certificate.download",
        actor=actor,
        target=certificate,
        request=http_request,
        details={"format": kind},
    )


def certificate_export(
    *,
    certificate: Certificate,
    kind: str,
    actor: Any = None,
    http_request: HttpRequest | None = None,
) -> Export:
    """PEM, DER, chain or full chain of a certificate, audited. Never contains a private key."""
    if kind not in _PUBLIC_EXPORTS:
        raise ValidationError(_("Unknown export format."), code="invalid_format")
    content = _PUBLIC_EXPORTS[kind](certificate)
    if not content:
        raise ValidationError(
            _("No certification chain is stored for this certificate."), code="no_chain"
        )
    certificate_export_audit(
        certificate=certificate, kind=kind, actor=actor, http_request=http_request
    )
    return Export(content, export_filename(certificate, kind), EXPORT_KINDS[kind][1])


def request_csr_export(
    *, request: CertificateRequest, actor: Any = None, http_request: HttpRequest | None = None
) -> Export | None:
    """The CSR file to upload on the ANS platform, audited; None while it is not generated."""
    if not request.csr_pem:
        return None
    audit_record(action="request.download_csr", actor=actor, target=request, request=http_request)
    name = export_basename(
        finess=request.officine.finess, profile=request.profile, common_name=request.common_name
    )
    suffix, content_type = EXPORT_KINDS["csr"]
    return Export(request.csr_pem.encode("ascii"), name + suffix, content_type)


def _check_pkcs12_allowed(certificate: Certificate, passphrase: str, profile: str) -> None:
    """Everything that can be refused before the key is decrypted (so no useless decryption)."""
    if profile not in PKCS12_PROFILES:
        raise ValidationError(_("Unknown PKCS#12 profile."), code="invalid_profile")
    if len(passphrase or "") < x509.PKCS12_MIN_PASSPHRASE:
        raise ValidationError(
            _("The passphrase must contain at least %(min)d characters."),
            code="weak_passphrase",
            params={"min": x509.PKCS12_MIN_PASSPHRASE},
        )
    if not all(" " <= ch <= "~" for ch in passphrase):
        # Java's keytool refuses non-ASCII PKCS#12 passwords, and PBES1 (BMPString) and
        # PBES2 (UTF-8) encode accents differently: the file would not open everywhere.
        raise ValidationError(
            _(
                "The passphrase may only contain unaccented letters, digits, spaces and "
                "punctuation: some certificate stores cannot open the file otherwise."
            ),
            code="non_ascii_passphrase",
        )
    request = certificate.request if certificate.request_id else None
    if request is None or not request.encrypted_private_key:
        raise ValidationError(
            _("No private key held by the portal for this certificate (CSR mode)."),
            code="no_private_key",
        )
    if request.public_key_sha256 and request.public_key_sha256 != certificate.public_key_sha256:
        raise ValidationError(
            _("The private key held by the portal does not match this certificate."),
            code="key_mismatch",
        )
    if certificate.revoked_at is not None:
        raise ValidationError(
            _("This certificate is revoked: it can no longer be installed."), code="revoked"
        )


def certificate_export_pkcs12(
    *,
    certificate: Certificate,
    passphrase: str,
    profile: str,
    actor: Any,
    reason: str = "pkcs12 export",
    http_request: HttpRequest | None = None,
) -> bytes:
    """Key + certificate + chain in a passphrase-protected PKCS#12 (server-mode keys only).

    Not one transaction on purpose: the decryption audit written by the keystore must
    survive even if building the file fails afterwards.
    """
    check_may_act(actor, certificate, Action.EXPORT_KEY)
    _check_pkcs12_allowed(certificate, passphrase, profile)

    try:
        key = private_key_for(
            request=certificate.request, actor=actor, reason=reason, request_http=http_request
        )
    except KeyStoreError as exc:  # already audited as a failed decryption
        raise ValidationError(exc.message, code=exc.code) from exc
    try:
        data = x509.build_pkcs12(
            private_key=key,
            certificate=_leaf(certificate),
            chain=_chain(certificate),
            passphrase=passphrase.encode("utf-8"),
            profile=profile,
            friendly_name=export_filename(certificate, "pem")[:-4].encode("utf-8"),
        )
    except x509.X509Error as exc:
        audit_record(
            action="certificate.export_pkcs12",
            actor=actor,
            target=certificate,
            request=http_request,
            outcome="failure",
            reason=reason,
            details={"profile": profile, "error": exc.code},
        )
        raise ValidationError(exc.message, code=exc.code) from exc
    audit_record(
        action="certificate.export_pkcs12",
        actor=actor,
        target=certificate,
        request=http_request,
        reason=reason,
        details={"profile": profile},
    )
    return data
