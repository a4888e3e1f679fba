"""A worker SIGKILLed while it generates a server-mode request's key: beat revives the request.

Before, the request stayed `pending` until Redis handed the task to another worker, after
the visibility timeout (an hour): issue 12, finding 7. Here the visibility timeout is an
hour too, so redelivery cannot be what saves it: a real worker makes a slow RSA 8192 key,
is killed mid-generation, a new worker starts, nothing moves; then beat's
`revive_requests`, published by name as beat does, re-enqueues it through the outbox and
the new worker makes the key. Nothing is mocked; the stall timeout is 2 s in the workers.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from certificates.models import CertificateRequest, KeyMode, RequestStatus
from certificates.ordering import PROGRESS_STARTED, request_create
from portal.celery import app as celery_app
from portal.models import AuditEvent, OutboxMessage
from tests.helpers.tools import requires_postgres
from tests.helpers.workers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), requires_postgres]

WORKER_ENV = {
    "CELERY_VISIBILITY_TIMEOUT": "3600",  # no redelivery within the test
    "REQUEST_STALL_TIMEOUT": "2",
    "CERTIFICATE_KEY_ALGORITHM": "RSA",
}


def test_key_generation_killed_is_revived_without_waiting_for_redelivery(
    tenant_a, celery_on_redis, worker_factory
):
    request = request_create(
        officine=tenant_a.officine,
        profile="ORG_AUTH_CLI",
        services=["INSI"],
        common_name="INSI-AUTO",
        key_mode=KeyMode.SERVER,
        requester_email="admin-tech@lgo.example",
        actor=tenant_a.operator,
    )
    assert OutboxMessage.objects.get(task="certificates.tasks.generate_csr").sent_at

    def state():
        return CertificateRequest.objects.values_list("status", "progress", "csr_pem").get(
            pk=request.pk
        )

    slow = worker_factory(
        CELERY_BROKER_URL=celery_on_redis, CERTIFICATE_KEY_SIZE="8192", **WORKER_ENV
    )
    first = slow.start()
    wait_for(
        lambda: state()[1] == PROGRESS_STARTED,
        timeout=60,
        interval=0.01,
        what="the worker to start the key generation",
        diagnostics=slow.tail,
    )
    slow.kill()
    assert first.returncode == -9
    assert state() == (RequestStatus.PENDING, PROGRESS_STARTED, "")

    # A new worker (fast keys): no redelivery comes, the request does not move by itself.
    fresh = worker_factory(
        CELERY_BROKER_URL=celery_on_redis, CERTIFICATE_KEY_SIZE="2048", **WORKER_ENV
    )
    fresh.start()
    time.sleep(4)
    assert state() == (RequestStatus.PENDING, PROGRESS_STARTED, ""), fresh.tail()

    # Beat's tick, published by name as beat does, run by the new worker.
    entry = settings.CELERY_BEAT_SCHEDULE["revive-stalled-requests"]
    celery_app.send_task(entry["task"])
    wait_for(
        lambda: state()[0] == RequestStatus.CSR_READY,
        timeout=90,
        what="the revived request to get its key and CSR",
        diagnostics=fresh.tail,
    )
    revived = AuditEvent.objects.get(action="request.revive")
    assert revived.target_id == str(request.pk)
    assert AuditEvent.objects.filter(action="key.generate", target_id=str(request.pk)).count() == 1
    messages = OutboxMessage.objects.filter(task="certificates.tasks.generate_csr")
    assert messages.count() == 2 and all(m.sent_at for m in messages)
