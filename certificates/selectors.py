"""Reads of certificates that other apps ask for through the hooks they expose."""

from __future__ import annotations

from typing import Any

from certificates.models import OPEN_REQUEST_STATUSES, CertificateRequest


def open_requests_count(user: Any, officine_id: int) -> int:
    """The officine's open certificate requests that `user` sees (officines' mode change)."""
    return (
        CertificateRequest.objects.visible_to(user)
        .filter(officine_id=officine_id, status__in=OPEN_REQUEST_STATUSES)
        .count()
    )
