"""Celery tasks for alerts: thin, take ids (or an ISO date), safe to run twice (acks_late).

Why each is idempotent: the scan inserts under a unique constraint; a digest and a webhook
delivery are claimed with a conditional UPDATE before any side effect (notifications.digests
explains the crash windows).
"""

from __future__ import annotations

from datetime import date
from smtplib import SMTPException

from celery import shared_task
from django.db import OperationalError

from notifications.digests import digests_send
from notifications.revocations import revocation_notice_send
from notifications.scan import alert_scan
from notifications.webhooks.delivery import delivery_attempt


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError,),  # e.g. a deadlock with a concurrent scan
    retry_backoff=30,
    max_retries=3,
)
def daily_scan(today: str | None = None) -> dict:
    """The beat entry: scan all editors, record due alerts, enqueue digests and webhooks."""
    report = alert_scan(today=date.fromisoformat(today) if today else None)
    return {
        "today": report.today.isoformat(),
        "certificates_due": report.certificates_due,
        "digests": len(report.digest_ids),
        "deliveries": len(report.delivery_ids),
    }


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=60,
    retry_backoff_max=3600,
    max_retries=6,
)
def send_digests(self, digest_ids: list[int]) -> dict[str, int]:
    """A batch of digests (the scan enqueues them by 100): claimed, sent, marked one by one."""
    worker = f"{self.request.hostname or 'worker'}:{self.request.id or ''}"
    counts: dict[str, int] = {}
    for outcome in digests_send(list(digest_ids), worker=worker):
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


@shared_task(bind=True, acks_late=True, max_retries=None)
def deliver_webhook(self, delivery_id: int) -> str:
    attempt = delivery_attempt(delivery_id=delivery_id)
    if attempt.retry_in is not None:
        raise self.retry(countdown=attempt.retry_in)
    return attempt.outcome


@shared_task(
    acks_late=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=60,
    max_retries=6,
)
def send_revocation_notice(editor_id: int, certificate_id: int) -> int:
    """E-mail that ANS revoked a certificate (notifications.revocations)."""

    return revocation_notice_send(editor_id=editor_id, certificate_id=certificate_id)
