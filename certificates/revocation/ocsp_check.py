"""Ask the CA's OCSP responder about one certificate and record its answer.

The answer is cached until its nextUpdate; a revoked answer revokes the certificate
(`recording`), anything else changes no certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from django.conf import settings
from django.utils import timezone

from certificates.models import Certificate
from certificates.revocation import ocsp as ocsp_mod
from certificates.revocation.fetch import FetchError, fetch
from certificates.revocation.models import (
    OcspStatus,
    RevocationCheck,
    RevocationSource,
)
from certificates.revocation.recording import certificate_revoked_by_ans
from certificates.revocation.sources import fetch_config, ocsp_url_for, trusted_cas
from portal.audit import audit_record
from portal.models import AuditEvent


def ocsp_enabled() -> bool:
    return settings.REVOCATION_OCSP_ENABLED and not settings.REVOCATION_OFFLINE_DIR


@dataclass
class CheckOutcome:
    certificate_id: int
    status: str  # good / revoked / unknown / error / cached-<status> / unavailable
    message: str = ""
    revoked: bool = False
    cached: bool = False
    next_update: datetime | None = None
    method: str = "ocsp"  # or "crl" when the CA's CRL answered instead

    def as_dict(self) -> dict[str, Any]:
        return {
            "certificate": self.certificate_id,
            "status": self.status,
            "message": self.message,
            "revoked": self.revoked,
            "cached": self.cached,
            "method": self.method,
            "next_update": self.next_update.isoformat() if self.next_update else None,
        }


def _issuer_of(cert: cx509.Certificate) -> cx509.Certificate | None:
    """The issuing CA among the trust anchors (never one only carried by the certificate)."""
    for candidate in trusted_cas():
        if candidate.subject == cert.issuer and _signed_by(cert, candidate):
            return candidate
    return None


def _signed_by(cert: cx509.Certificate, issuer: cx509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def certificate_ocsp_check(
    *,
    certificate: Certificate,
    now: datetime | None = None,
    use_cache: bool = True,
    timeout: float | None = None,
    actor: Any = None,
    http_request: Any = None,
) -> CheckOutcome:
    """Ask the CA's OCSP responder about one certificate (cached until the answer's
    nextUpdate); a revoked answer revokes it, anything else changes no certificate."""
    now = now or timezone.now()
    check = RevocationCheck.objects.filter(certificate_id=certificate.pk).first()
    if (
        use_cache
        and check is not None
        and check.ocsp_status
        and check.ocsp_next_update is not None
        and check.ocsp_next_update > now
    ):
        return CheckOutcome(
            certificate.pk, check.ocsp_status, cached=True, next_update=check.ocsp_next_update
        )
    if not ocsp_enabled():
        return CheckOutcome(certificate.pk, "unavailable", "OCSP is off (offline mode).")
    cert = cx509.load_pem_x509_certificate(certificate.pem.encode())
    issuer = _issuer_of(cert)
    url = ocsp_url_for(cert)
    check = check or RevocationCheck(certificate=certificate)
    try:
        if issuer is None:
            raise ocsp_mod.OcspError("no_issuer", "The issuing CA is not in the trust anchors.")
        if not url:
            raise ocsp_mod.OcspError("no_ocsp_url", "The certificate names no OCSP responder.")
        request_der, nonce = ocsp_mod.build_request(cert, issuer)
        result = fetch(
            url,
            config=fetch_config(timeout=timeout),
            data=request_der,
            content_type=ocsp_mod.CONTENT_TYPE,
        )
        answer = ocsp_mod.verify_response(
            result.body, cert=cert, issuer=issuer, nonce=nonce, now=now
        )
    except (FetchError, ocsp_mod.OcspError) as exc:
        message = getattr(exc, "message", str(exc))
        check.ocsp_url = url
        check.last_error, check.last_error_at = message[:500], now
        check.save()
        audit_record(
            action="certificate.ocsp_check",
            actor=actor,
            target=certificate,
            request=http_request,
            outcome=AuditEvent.Outcome.FAILURE,
            reason=message[:255],
            details={"url": url, "code": getattr(exc, "code", "unreachable")},
        )
        return CheckOutcome(certificate.pk, "error", message)
    check.ocsp_status = answer.status
    check.ocsp_checked_at = now
    check.ocsp_this_update, check.ocsp_next_update = answer.this_update, answer.next_update
    check.ocsp_responder, check.ocsp_url = answer.responder[:512], url
    check.last_error, check.last_error_at = "", None
    check.save()
    audit_record(
        action="certificate.ocsp_check",
        actor=actor,
        target=certificate,
        request=http_request,
        reason=answer.status,
        details={"url": url, "status": answer.status, "responder": answer.responder},
    )
    revoked = False
    if answer.status == OcspStatus.REVOKED and answer.revoked_at is not None:
        revoked = certificate_revoked_by_ans(
            certificate_id=certificate.pk,
            revoked_at=answer.revoked_at,
            reason=answer.reason,
            source=RevocationSource.OCSP,
            detail={"ocsp_url": url},
        )
        certificate.refresh_from_db(fields=["revoked_at", "revocation_reason", "revocation_source"])
    return CheckOutcome(
        certificate.pk, answer.status, revoked=revoked, next_update=answer.next_update
    )
