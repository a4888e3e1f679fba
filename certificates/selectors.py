"""Reads of certificates for the pages of other apps (console) and the hooks they expose."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from certificates.ans_actions import flagged_counts
from certificates.models import OPEN_REQUEST_STATUSES, Certificate, CertificateRequest, Installation


def open_requests_count(user: Any, officine_id: int) -> int:
    """The officine's open certificate requests that `user` sees (officines' mode change)."""
    return (
        CertificateRequest.objects.visible_to(user)
        .filter(officine_id=officine_id, status__in=OPEN_REQUEST_STATUSES)
        .count()
    )


def officine_certificates(user: Any, officine_id: int, *, now: datetime, limit: int) -> list:
    """The officine's certificates, latest expiry first, with their status (officine page)."""
    return list(
        Certificate.objects.visible_to(user)
        .filter(officine_id=officine_id)
        .with_status(now)
        .order_by("-not_after", "-id")[:limit]
    )


def officine_ans_actions(user: Any, officine_id: int) -> dict[str, int]:
    """How many of the officine's live certificates ANS must revoke or reissue."""
    return flagged_counts(Certificate.objects.visible_to(user).filter(officine_id=officine_id))


def live_certificates_by_officine(
    user: Any, officine_ids: list[int], *, limit: int = 500
) -> dict[int, list]:
    """The live certificates of a few officines, first to end first, without their PEMs."""
    found: dict[int, list] = {pk: [] for pk in officine_ids}
    for certificate in (
        Certificate.objects.visible_to(user)
        .filter(officine_id__in=officine_ids, revoked_at__isnull=True, superseded_at__isnull=True)
        .with_status()
        .defer("pem", "chain_pem", "subject_dn", "issuer_dn")
        .order_by("usable_until", "pk")[:limit]
    ):
        found[certificate.officine_id].append(certificate)
    return found


def open_requests_by_officine(
    user: Any, officine_ids: list[int], *, limit: int = 200
) -> dict[int, list]:
    """The open requests of a few officines, newest first, without their key and CSR."""
    found: dict[int, list] = {pk: [] for pk in officine_ids}
    for request in (
        CertificateRequest.objects.visible_to(user)
        .filter(officine_id__in=officine_ids, status__in=OPEN_REQUEST_STATUSES)
        .defer("encrypted_private_key", "csr_pem")
        .order_by("-created_at")[:limit]
    ):
        found[request.officine_id].append(request)
    return found


def officine_installations(user: Any, officine_id: int, *, limit: int = 50) -> list:
    """Where the officine's certificates were installed (the pharmacy agent's reports)."""
    return list(
        Installation.objects.visible_to(user)
        .filter(certificate__officine_id=officine_id)
        .select_related("certificate")
        .order_by("-installed_at")[:limit]
    )
