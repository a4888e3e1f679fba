"""A server-mode request whose worker died during key generation comes back by itself.

Before, it stayed `pending` until Redis handed the task to another worker (the visibility
timeout, an hour): issue 12, finding 7. "Died" is the real code path interrupted: the
worker marks the request started, then the process is gone in the middle of the key
generation (a BaseException no `except` in the service catches, as SIGKILL would).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from certificates import request_revival, x509
from certificates.models import CertificateRequest, RequestStatus
from certificates.ordering import PROGRESS_STARTED, csr_generate
from certificates.tasks import generate_csr
from notifications.tasks import send_digests
from notifications.webhooks.delivery import backoff_seconds, max_attempts
from portal.models import AuditEvent, OutboxMessage
from tests.helpers.requests import create

pytestmark = pytest.mark.django_db


class WorkerKilled(BaseException):
    """The worker process disappears (SIGKILL, OOM) in the middle of the key generation."""


@pytest.fixture
def died_during_generation(tenant_a, fast_keys, monkeypatch):
    request = create(tenant_a.officine)
    real = x509.generate_private_key

    def killed(**kwargs):
        raise WorkerKilled

    monkeypatch.setattr(x509, "generate_private_key", killed)
    with pytest.raises(WorkerKilled):
        csr_generate(request_id=request.pk)
    monkeypatch.setattr(x509, "generate_private_key", real)
    request.refresh_from_db()
    assert (request.status, request.progress, request.csr_pem) == ("pending", PROGRESS_STARTED, "")
    return request


def test_a_stalled_generation_is_revived_and_finishes(
    died_during_generation, django_capture_on_commit_callbacks, eager
):
    request = died_during_generation
    started = request.updated_at
    assert request_revival.requests_revive(now=started + timedelta(seconds=60)) == []
    later = started + request_revival.stall_timeout() + timedelta(seconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert request_revival.requests_revive(now=later) == [request.pk]
    request.refresh_from_db()
    assert request.status == RequestStatus.CSR_READY and request.csr_pem
    assert OutboxMessage.objects.filter(
        task="certificates.tasks.generate_csr", kwargs={"request_id": request.pk}
    ).exists()
    event = AuditEvent.objects.get(action="request.revive")
    assert event.target_id == str(request.pk)
    assert request_revival.requests_revive(now=later + timedelta(hours=1)) == []


def test_one_revival_per_stall_timeout(died_during_generation):
    """With no worker at all, beat does not pile up messages: the clock restarts."""
    request = died_during_generation
    later = request.updated_at + request_revival.stall_timeout() + timedelta(seconds=1)
    assert request_revival.requests_revive(now=later) == [request.pk]
    assert request_revival.requests_revive(now=later + timedelta(seconds=30)) == []
    assert request_revival.requests_revive(now=later + 2 * request_revival.stall_timeout()) == [
        request.pk
    ]


def test_queued_and_failed_requests_are_left_alone(tenant_a, fast_keys):
    queued = create(tenant_a.officine)  # never started: its message is still in the queue
    failed = create(tenant_a.officine, common_name="OTHER")
    CertificateRequest.objects.filter(pk=failed.pk).update(error="refused", progress=0)
    later = timezone.now() + timedelta(days=1)
    assert request_revival.requests_revive(now=later) == []
    assert queued.pk and failed.pk


def test_time_limits_fit_together():
    """The generation task dies before the revival looks; the visibility timeout outlasts
    the longest run and the longest retry countdown a worker holds."""
    assert generate_csr.time_limit < settings.REQUEST_STALL_TIMEOUT
    longest = max(
        settings.CELERY_TASK_TIME_LIMIT,
        backoff_seconds(max_attempts() - 1),
        send_digests.retry_backoff_max,
    )
    assert longest < settings.CELERY_VISIBILITY_TIMEOUT
    assert "revive-stalled-requests" in settings.CELERY_BEAT_SCHEDULE
