"""Check an uploaded CSR: readable, an accepted key never used before, the expected subject."""

from __future__ import annotations

import unicodedata

from cryptography import x509 as cx509
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from certificates import x509
from certificates.models import Certificate, CertificateRequest, RequestStatus
from certificates.ordering.errors import field_error
from certificates.ordering.naming import expected_subject
from officines.models import Officine

MAX_CSR_SIZE = 64 * 1024


_CSR_MESSAGES = {
    "empty": lambda: _("The CSR file is empty."),
    "not_a_csr": lambda: _("This file does not contain a CSR (certificate signing request)."),
    "corrupt": lambda: _("The CSR is unreadable (damaged file or unknown format)."),
    "bad_signature": lambda: _("The CSR signature is invalid: the file was altered."),
}


def _allowed_keys() -> dict[str, int]:
    return dict(getattr(settings, "CSR_ALLOWED_KEYS", None) or x509.DEFAULT_ALLOWED_KEYS)


def _load_csr_object(data: bytes) -> cx509.CertificateSigningRequest:
    if b"-----BEGIN " in data:
        return cx509.load_pem_x509_csr(data)
    return cx509.load_der_x509_csr(data)


def _csr_key_error(data: bytes, code: str) -> ValidationError:
    allowed = _allowed_keys()
    accepted = ", ".join(f"{k} ≥ {v} bits" for k, v in allowed.items())
    try:
        key_type, key_size = x509._key_type_and_size(_load_csr_object(data).public_key())
    except ValueError:
        key_type, key_size = "?", 0
    if code == "weak_key":
        message = _(
            "The CSR key (%(type)s, %(size)d bits) is too short: at least %(minimum)d bits."
        )
        params = {"type": key_type, "size": key_size, "minimum": allowed.get(key_type, 0)}
    else:
        message = _("The CSR key type %(type)s is not accepted (accepted: %(accepted)s).")
        params = {"type": key_type, "accepted": accepted}
    return field_error("csr", message % params, code)


_SUBJECT_OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
}


def _same(field: str, got: str, expected: str) -> bool:
    """Equal after Unicode normalisation (NFC); OU is a structure id, its letters (2A, 2B)
    compare in any case."""
    got, expected = unicodedata.normalize("NFC", got), unicodedata.normalize("NFC", expected)
    if field == "OU":
        return got.upper() == expected.upper()
    return got == expected


def _check_subject(subject: cx509.Name, expected: dict[str, str]) -> None:
    """Every field of the CSR's subject equals what the request expects; the first mismatch
    is refused with the field and both values (codes `csr_<field>_mismatch`)."""
    for field, wanted in expected.items():
        values = [str(a.value) for a in subject.get_attributes_for_oid(_SUBJECT_OIDS[field])]
        got = values[0] if len(values) == 1 else ""
        if len(values) == 1 and _same(field, got, wanted):
            continue
        if not values:
            message = _(
                'The CSR has no %(field)s field; this request expects %(field)s="%(expected)s".'
            )
        elif len(values) > 1:
            got = ", ".join(values)
            message = _(
                'The CSR has several %(field)s fields ("%(got)s"); this request expects one, '
                '%(field)s="%(expected)s".'
            )
        else:
            message = _(
                'The CSR has %(field)s="%(got)s" but this request expects %(field)s="%(expected)s".'
            )
        raise field_error(
            "csr",
            message,
            f"csr_{field.lower()}_mismatch",
            {"field": field, "got": got, "expected": wanted},
        )


def validate_csr(
    *,
    csr: bytes,
    officine: Officine,
    common_name: str | None = None,
    exclude_request_id: int | None = None,
) -> x509.CsrInfo:
    """Parse an uploaded CSR and refuse what contradicts the request or reuses a key.

    The subject must be the one the ANS platform expects for this officine (C, ST, O, OU and,
    when the request's CN is known, CN); a mismatch names the field and both values.
    """
    if isinstance(csr, str):
        csr = csr.encode("utf-8")
    if len(csr) > MAX_CSR_SIZE:
        raise field_error("csr", _("The CSR file is too large for a CSR."), "too_large")
    try:
        info = x509.load_csr(csr, allowed_keys=_allowed_keys())
    except x509.X509Error as exc:
        if exc.code in ("weak_key", "unsupported_key"):
            raise _csr_key_error(csr, exc.code) from exc
        message = _CSR_MESSAGES.get(exc.code, _CSR_MESSAGES["corrupt"])()
        raise field_error("csr", message, exc.code) from exc

    subject = cx509.load_pem_x509_csr(info.pem.encode("ascii")).subject
    expected = expected_subject(officine, common_name or "")
    if common_name is None:
        del expected["CN"]
    _check_subject(subject, expected)
    _check_key_unused(info.public_key_sha256, exclude_request_id=exclude_request_id)
    return info


def _check_key_unused(public_key_hash: str, *, exclude_request_id: int | None = None) -> None:
    """A key certifies once: portal-wide, so the message says nothing about whose it is."""
    requests = CertificateRequest.objects.filter(public_key_sha256=public_key_hash).exclude(
        status=RequestStatus.CANCELLED
    )
    if exclude_request_id is not None:
        requests = requests.exclude(pk=exclude_request_id)
    if requests.exists() or Certificate.objects.filter(public_key_sha256=public_key_hash).exists():
        raise field_error(
            "csr",
            _(
                "This CSR's key is already used by another certificate or request: "
                "every certificate, renewals included, needs a new key."
            ),
            "key_reuse",
        )
