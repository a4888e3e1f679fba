"""Build OCSP requests (with a nonce) and verify answers; nothing here needs Django.

An answer counts only if it is signed by the issuing CA itself or by a responder certificate
that CA issued with the OCSPSigning extended key usage (RFC 6960 §4.2.2.2), names the
certificate we asked about, echoes our nonce when it carries one, and is current.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from certificates.revocation.crl import _REASON_NAMES

CLOCK_SKEW = timedelta(minutes=5)
CONTENT_TYPE = "application/ocsp-request"


class OcspError(Exception):
    """An answer that must not be used; `code` is stable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class OcspAnswer:
    status: str  # "good", "revoked", "unknown"
    this_update: datetime
    next_update: datetime | None
    produced_at: datetime
    revoked_at: datetime | None = None
    reason: str = ""  # RFC 5280 name, e.g. "keyCompromise"
    responder: str = ""  # "CA" or the delegated responder's subject


def build_request(cert: x509.Certificate, issuer: x509.Certificate) -> tuple[bytes, bytes]:
    """(DER request, nonce): SHA-1 CertID as responders expect, a fresh 16-byte nonce."""
    nonce = os.urandom(16)
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer, hashes.SHA1())  # noqa: S303 (CertID hash, RFC 6960)
        .add_extension(x509.OCSPNonce(nonce), critical=False)
        .build()
    )
    return request.public_bytes(serialization.Encoding.DER), nonce


def _verify_signature(key, response: ocsp.OCSPResponse) -> bool:
    algorithm = response.signature_hash_algorithm
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(
                response.signature, response.tbs_response_bytes, padding.PKCS1v15(), algorithm
            )
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, TypeError, ValueError):
        return False
    return True


def _names_responder(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if response.responder_name is not None:
        return response.responder_name == cert.subject
    key_id = x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest  # type: ignore[arg-type]
    return response.responder_key_hash == key_id


def _delegated_ok(responder: x509.Certificate, issuer: x509.Certificate, now: datetime) -> bool:
    try:
        responder.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    try:
        usages = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    if ExtendedKeyUsageOID.OCSP_SIGNING not in usages:
        return False
    return responder.not_valid_before_utc - CLOCK_SKEW <= now <= responder.not_valid_after_utc


def _signer(response: ocsp.OCSPResponse, issuer: x509.Certificate, now: datetime) -> str:
    if _names_responder(response, issuer):
        if _verify_signature(issuer.public_key(), response):
            return "CA"
        raise OcspError("bad_signature", "The OCSP answer signature does not match the CA key.")
    for responder in response.certificates:
        if not _names_responder(response, responder):
            continue
        if not _delegated_ok(responder, issuer, now):
            raise OcspError(
                "unauthorised_responder",
                "The OCSP responder certificate was not issued by the CA for OCSP signing.",
            )
        if _verify_signature(responder.public_key(), response):
            return responder.subject.rfc4514_string()
        raise OcspError("bad_signature", "The OCSP answer signature does not match its responder.")
    raise OcspError("unknown_responder", "The OCSP answer is signed by an unknown responder.")


def _reason_name(reason: x509.ReasonFlags | None) -> str:

    return _REASON_NAMES.get(reason, "") if reason is not None else ""


def verify_response(
    data: bytes,
    *,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    nonce: bytes | None,
    now: datetime | None = None,
) -> OcspAnswer:
    """Check an OCSP answer about `cert` and return what it says; raise OcspError otherwise."""
    now = now or datetime.now(UTC)
    try:
        response = ocsp.load_der_ocsp_response(data)
    except ValueError as exc:
        raise OcspError("unreadable", f"Not an OCSP answer: {exc}") from None
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise OcspError(
            "responder_error", f"The OCSP responder answered {response.response_status.name}."
        )
    responder = _signer(response, issuer, now)
    try:
        echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        echoed = None
    if nonce is not None and echoed is not None and echoed != nonce:
        raise OcspError("nonce_mismatch", "The OCSP answer carries another request's nonce.")
    issuer_key_hash = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest  # type: ignore[arg-type]
    single = None
    for candidate in response.responses:
        if candidate.serial_number != cert.serial_number:
            continue
        if isinstance(candidate.hash_algorithm, hashes.SHA1) and (
            candidate.issuer_key_hash != issuer_key_hash
        ):
            continue
        single = candidate
        break
    if single is None:
        raise OcspError("wrong_certificate", "The OCSP answer is about another certificate.")
    this_update = single.this_update_utc
    next_update = single.next_update_utc
    if this_update > now + CLOCK_SKEW:
        raise OcspError("not_yet_valid", f"The OCSP answer is dated in the future ({this_update}).")
    if next_update is not None and next_update < now:
        raise OcspError("stale", f"The OCSP answer expired at its nextUpdate ({next_update}).")
    status = {
        ocsp.OCSPCertStatus.GOOD: "good",
        ocsp.OCSPCertStatus.REVOKED: "revoked",
        ocsp.OCSPCertStatus.UNKNOWN: "unknown",
    }[single.certificate_status]
    return OcspAnswer(
        status=status,
        this_update=this_update,
        next_update=next_update,
        produced_at=response.produced_at_utc,
        revoked_at=single.revocation_time_utc if status == "revoked" else None,
        reason=_reason_name(single.revocation_reason) if status == "revoked" else "",
        responder=responder,
    )
