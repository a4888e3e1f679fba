"""A worker SIGKILLed mid-campaign AND its message lost: the beat's revive task finishes it once.

tests/reliability/test_worker_crash.py shows Redis handing an unacknowledged task to the next
worker. Here Redis forgets it as well (restarted without persistence, or the message dropped):
every key of the broker's db is deleted after the kill, so no redelivery can ever come. The
campaign is left RUNNING with a heartbeat that no longer moves; `revive_campaigns`, published
the way beat publishes it and run by a real worker, re-enqueues it through the outbox, and
the idempotent run finishes exactly what was left: one request, one key, one CSR per
certificate. Nothing is mocked; the stall timeout is 2 s in the worker (production: 20 min).
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from certificates.campaigns import RUN_TASK, campaign_create
from certificates.models import CampaignStatus, RenewalCampaign
from portal.celery import app as celery_app
from portal.models import AuditEvent, OutboxMessage
from tests.helpers.tools import requires_postgres
from tests.helpers.workers import (
    OFFICINES,
    VISIBILITY_TIMEOUT,
    assert_one_renewal_each,
    officines_with_certificates,
    redis_keys,
    redis_lose_everything,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), requires_postgres]

STALL_TIMEOUT = 2  # seconds, in the worker processes only


def test_campaign_killed_and_lost_is_revived_and_finished_once(
    tenant_a, make_certificate, celery_on_redis9, worker_factory
):
    broker = celery_on_redis9
    certificates = officines_with_certificates(tenant_a, make_certificate, OFFICINES)
    campaign = campaign_create(
        editor=tenant_a.editor,
        actor=tenant_a.operator,
        name="Renouvellement 2027",
        requester_email="admin-tech@lgo.example",
        certificate_ids=[c.pk for c in certificates],
        key_mode="server",  # the portal makes the keys: what a killed worker must not repeat
    )
    created = OutboxMessage.objects.get(task=RUN_TASK)
    assert created.sent_at is not None, created.last_error  # on Redis db 9 now

    def state() -> tuple[str, int]:
        return RenewalCampaign.objects.values_list("status", "completed").get(pk=campaign.pk)

    worker = worker_factory(CELERY_BROKER_URL=broker, CAMPAIGN_STALL_TIMEOUT=str(STALL_TIMEOUT))
    first = worker.start()
    wait_for(
        lambda: state()[1] >= 20,
        timeout=60,
        interval=0.01,
        what="the first worker to renew 20 certificates",
        diagnostics=worker.tail,
    )
    worker.kill()
    assert first.returncode == -9
    status, at_kill = state()
    assert status == CampaignStatus.RUNNING
    assert 20 <= at_kill <= 150, f"killed too late to prove anything: {at_kill}"
    heartbeat_at_kill = RenewalCampaign.objects.get(pk=campaign.pk).progressed_at
    assert heartbeat_at_kill is not None

    # Redis restarts empty: the unacknowledged message (and anything else) is gone.
    assert redis_keys(broker), "the killed task's message should still be held by Redis"
    redis_lose_everything(broker)
    assert redis_keys(broker) == []

    # A new worker, past the visibility timeout: nothing is redelivered, nothing moves.
    worker.start()
    time.sleep(VISIBILITY_TIMEOUT + 1.5)
    assert state() == (CampaignStatus.RUNNING, at_kill), worker.tail()
    assert RenewalCampaign.objects.get(pk=campaign.pk).progressed_at == heartbeat_at_kill
    assert OutboxMessage.objects.filter(task=RUN_TASK).count() == 1

    # Beat's tick: the scheduled task, published by name as beat does, run by the worker.
    entry = settings.CELERY_BEAT_SCHEDULE["revive-stalled-campaigns"]
    celery_app.send_task(entry["task"])
    wait_for(
        lambda: state()[0] == CampaignStatus.DONE,
        timeout=90,
        what="the revived campaign to be finished by the new worker",
        diagnostics=worker.tail,
    )

    campaign.refresh_from_db()
    assert campaign.completed == campaign.total == OFFICINES, campaign.error
    assert campaign.error == "" and campaign.progressed_at > heartbeat_at_kill
    # Revived once, through the outbox (the worker published it); nobody resumed by hand.
    revival = AuditEvent.objects.get(action="campaign.revive")
    assert revival.target_id == str(campaign.pk) and revival.details["completed"] == at_kill
    assert not AuditEvent.objects.filter(action="campaign.resume").exists()
    messages = list(OutboxMessage.objects.filter(task=RUN_TASK).order_by("pk"))
    assert len(messages) == 2 and all(m.sent_at for m in messages)
    assert messages[1].kwargs == {"campaign_id": campaign.pk}

    assert_one_renewal_each(campaign, certificates)
