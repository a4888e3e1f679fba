"""A worker SIGKILLed in the middle of real work: the task comes back and finishes it once.

The chain under test, with nothing mocked: the outbox publishes to Redis after commit; a
`celery worker` subprocess (acks_late, prefetch 1) takes the task; the whole process group
is SIGKILLed mid-run, so the message is never acknowledged; a new worker started after the
visibility timeout gets it again from Redis (true redelivery: no operator action, no second
outbox message) and the idempotent services finish exactly what was left.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from certificates.campaigns import campaign_create
from certificates.models import CampaignStatus, RenewalCampaign
from notifications.digests import DIGEST_BATCH
from notifications.models import AlertDigest, AlertLog, AlertStatus
from portal.models import AuditEvent, OutboxMessage
from tests.helpers.notifications import TODAY, expiring_in
from tests.helpers.tools import requires_postgres
from tests.helpers.workers import (
    OFFICINES,
    VISIBILITY_TIMEOUT,
    assert_one_renewal_each,
    officines_with_certificates,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), requires_postgres]


def test_campaign_survives_a_worker_killed_mid_run(
    tenant_a, make_certificate, celery_on_redis, worker_factory
):
    certificates = officines_with_certificates(tenant_a, make_certificate, OFFICINES)
    # The web request's part: fix the selection, publish run_campaign to Redis after commit.
    campaign = campaign_create(
        editor=tenant_a.editor,
        actor=tenant_a.operator,
        name="Renouvellement 2027",
        requester_email="admin-tech@lgo.example",
        certificate_ids=[c.pk for c in certificates],
        key_mode="server",  # the portal makes the keys: what a killed worker must not repeat
    )
    outbox_message = OutboxMessage.objects.get(task="certificates.tasks.run_campaign")
    assert outbox_message.sent_at is not None, outbox_message.last_error  # on Redis now
    assert campaign.total == OFFICINES

    def completed() -> int:
        return RenewalCampaign.objects.values_list("completed", flat=True).get(pk=campaign.pk)

    worker = worker_factory()
    first = worker.start()
    wait_for(
        lambda: completed() >= 20,
        timeout=60,
        interval=0.01,
        what="the first worker to renew 20 certificates",
        diagnostics=worker.tail,
    )
    worker.kill()
    at_kill = completed()
    assert first.returncode == -9
    assert 20 <= at_kill <= 150, f"killed too late to prove anything: {at_kill}"
    assert RenewalCampaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING

    # The message was never acknowledged: once the visibility timeout has passed, the next
    # worker's first poll restores it from Redis's unacked set and runs it again.
    time.sleep(VISIBILITY_TIMEOUT + 0.5)
    worker.start()
    wait_for(
        lambda: RenewalCampaign.objects.get(pk=campaign.pk).status == CampaignStatus.DONE,
        timeout=60,
        what="the campaign to be finished by the second worker",
        diagnostics=worker.tail,
    )

    campaign.refresh_from_db()
    assert campaign.completed == campaign.total == OFFICINES, campaign.error
    assert campaign.error == ""
    # True redelivery: the outbox published once; nobody resumed the campaign by hand.
    assert OutboxMessage.objects.filter(task="certificates.tasks.run_campaign").count() == 1
    assert not AuditEvent.objects.filter(action="campaign.resume").exists()

    assert_one_renewal_each(campaign, certificates)


# --------------------------------------------------------------------------- alert digests

DIGEST_OFFICINES = 300
MESSAGE_SEPARATOR = "-" * 79


def mail_messages(directory: Path) -> list[str]:
    """Messages written by Django's file e-mail backend (one file per SMTP-like connection)."""
    found = []
    for path in sorted(directory.glob("*.log")):
        found += [m for m in path.read_text().split(MESSAGE_SEPARATOR) if "Message-ID:" in m]
    return found


def header(message: str, name: str) -> str:
    match = re.search(rf"^{name}: (\S+)", message, re.M)
    assert match, message[:500]
    return match.group(1)


def test_digest_run_survives_a_worker_killed_mid_run(
    tenant_a, make_certificate, celery_on_redis, worker_factory, tmp_path
):
    """notifications.digests documents the guarantee: no alert lost, and a crash can repeat
    at most the one digest between its send and its "sent" mark, with the same Message-ID.
    This test holds the code to exactly that (one kill: at most one repeated message)."""
    from notifications.scan import alert_scan

    officines_with_certificates(
        tenant_a, make_certificate, DIGEST_OFFICINES, not_after=expiring_in(7)
    )
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    # The scan in this process (as the beat's task would): alerts recorded, digests grouped,
    # send_digests tasks published to Redis through the outbox.
    report = alert_scan(today=TODAY)
    digests = list(AlertDigest.objects.all())
    # One per officine mailbox, plus the technical administrator they share.
    assert len(digests) == len(report.digest_ids) == DIGEST_OFFICINES + 1
    # Due now: the officine's mailbox and the administrator, for each certificate (the less
    # urgent thresholds passed over are recorded "skipped" and never sent).
    to_send = set(AlertLog.objects.filter(status=AlertStatus.PENDING).values_list("pk", flat=True))
    assert len(to_send) == len(report.to_send) == 2 * DIGEST_OFFICINES
    assert (
        set(AlertLog.objects.filter(digest__isnull=False).values_list("pk", flat=True)) == to_send
    )
    total_rows = AlertLog.objects.count()
    published = OutboxMessage.objects.filter(task="notifications.tasks.send_digests")
    batches = -(-len(digests) // DIGEST_BATCH)
    assert published.count() == batches and not published.filter(sent_at__isnull=True).exists()

    def sent() -> int:
        return AlertDigest.objects.filter(status=AlertDigest.Status.SENT).count()

    worker = worker_factory(
        EMAIL_URL=f"filemail:///{mail_dir}",
        # A claim left by the killed worker is taken over after 2 s (production: the
        # Celery hard time limit + 5 min); the redelivery below comes later than that.
        ALERT_CLAIM_TIMEOUT="2",
    )
    first = worker.start()
    wait_for(
        lambda: sent() >= 20,
        timeout=60,
        interval=0.01,
        what="the first worker to send 20 digests",
        diagnostics=worker.tail,
    )
    worker.kill()
    at_kill = sent()
    assert first.returncode == -9
    assert 20 <= at_kill < DIGEST_OFFICINES, f"killed too late to prove anything: {at_kill}"

    time.sleep(VISIBILITY_TIMEOUT + 0.5)  # past the visibility timeout and the claim timeout
    worker.start()
    wait_for(
        lambda: sent() == len(digests),
        timeout=60,
        what="every digest to be sent after the restart",
        diagnostics=worker.tail,
    )

    # Every alert sent, each exactly once: no row added, none left behind, none lost.
    assert AlertLog.objects.count() == total_rows
    assert (
        set(AlertLog.objects.filter(status=AlertStatus.SENT).values_list("pk", flat=True))
        == to_send
    )
    assert not AlertLog.objects.filter(status=AlertStatus.PENDING).exists()
    assert not AlertDigest.objects.exclude(status=AlertDigest.Status.SENT).exists()

    messages = mail_messages(mail_dir)
    expected = {d.recipient: d.message_id for d in digests}
    by_recipient: dict[str, set[str]] = {}
    for message in messages:
        by_recipient.setdefault(header(message, "To"), set()).add(header(message, "Message-ID"))
    # Every recipient got its digest, and only ever under that digest's one Message-ID.
    assert by_recipient == {recipient: {mid} for recipient, mid in expected.items()}
    repeated = len(messages) - len(expected)
    assert 0 <= repeated <= 1, f"{repeated} digests sent twice; the documented bound is 1"
    # The technical administrator's digest lists all its officines' certificates.
    administrator = next(m for m in messages if header(m, "To") == tenant_a.administrator.email)
    assert administrator.count("/certificates/") >= DIGEST_OFFICINES
