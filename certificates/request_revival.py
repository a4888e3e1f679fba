"""Re-enqueue server-mode requests whose key generation was lost with its worker.

`csr_generate` marks a request started (progress 10, `updated_at`) before it makes the key.
A worker that dies then leaves the request `pending` until the broker hands the task to
another worker (the Redis visibility timeout, an hour or more). Like `campaigns_revive`,
beat's `revive_requests` re-enqueues, through the outbox, every request started longer than
REQUEST_STALL_TIMEOUT ago (well above the generation task's own time limit) and still
without a CSR. Generation is idempotent and locks the row: a late first run changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from certificates.models import CertificateRequest, KeyMode, RequestStatus
from certificates.ordering import PROGRESS_STARTED
from portal import outbox
from portal.audit import audit_record

logger = logging.getLogger(__name__)

GENERATE_TASK = "certificates.tasks.generate_csr"
# Hard time limit of one key generation (RSA 4096 is slow): a run older than this died.
GENERATION_TIME_LIMIT = 120


def stall_timeout() -> timedelta:
    return timedelta(seconds=int(settings.REQUEST_STALL_TIMEOUT))


@transaction.atomic
def requests_revive(*, now: datetime | None = None) -> list[int]:
    """Re-enqueue stalled key generations; returns the request ids. Run by beat."""
    now = now or timezone.now()
    stalled = list(
        CertificateRequest.objects.select_for_update(skip_locked=True)
        .filter(
            key_mode=KeyMode.SERVER,
            status=RequestStatus.PENDING,
            csr_pem="",
            progress=PROGRESS_STARTED,
            updated_at__lt=now - stall_timeout(),
        )
        .order_by("pk")[:500]
    )
    for request in stalled:
        audit_record(
            action="request.revive",
            target=request,
            details={"started_at": request.updated_at.isoformat()},
        )
        outbox.enqueue(GENERATE_TASK, request_id=request.pk)
    if stalled:
        # One revival per stall timeout: the clock restarts now.
        CertificateRequest.objects.filter(pk__in=[r.pk for r in stalled]).update(updated_at=now)
        logger.warning(
            "Re-enqueued %d stalled key generation(s): %s", len(stalled), [r.pk for r in stalled]
        )
    return [r.pk for r in stalled]
