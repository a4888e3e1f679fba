"""The one JSON shape of a certificate, shared by the import command and the REST API.

Keeping it here (not in a serializer) lets a management command, a task payload and the API
agree on field names and date format without importing DRF.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certificates.importing import ImportResult
    from certificates.models import Certificate


def iso_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, the form DRF and JavaScript both read."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def certificate_dict(certificate: Certificate) -> dict[str, Any]:
    """Public fields of a certificate; load `officine` with select_related to avoid a query each."""
    return {
        "id": certificate.pk,
        "officine": certificate.officine_id,
        "finess": certificate.officine.finess,
        "profile": certificate.profile,
        "common_name": certificate.common_name,
        "serial": certificate.serial,
        "not_before": iso_datetime(certificate.not_before),
        "not_after": iso_datetime(certificate.not_after),
        # min(notAfter, end of the Private Key Usage Period): when the certificate really ends
        "usable_until": iso_datetime(certificate.usable_until),
        "fingerprint_sha256": certificate.fingerprint_sha256,
        "environment": certificate.environment,
        "chain_status": certificate.chain_status,
        "status": str(certificate.status),
        "services": list(certificate.services),
        # An LGO reported installing it (annotated by lists; one query otherwise).
        "installed": bool(
            certificate.is_installed
            if hasattr(certificate, "is_installed")
            else certificate.installations.exists()
        ),
    }


def import_result_dict(result: ImportResult) -> dict[str, Any]:
    """One line of an import report: what happened to one certificate (or file) and why."""
    return {
        "file": result.file,
        "result": result.result,
        "code": result.code,
        "reason": result.reason,
        "warnings": list(result.warnings),
        "certificate": certificate_dict(result.certificate) if result.certificate else None,
    }
