"""Transactional outbox: work for the Celery workers survives a dead broker.

Callers never talk to the broker directly. `enqueue()` writes an `OutboxMessage` in the
caller's transaction; after commit it tries to publish once, quickly. If Redis is down the
row stays pending, the page or API call still succeeds, and `drain()` (a beat task every
minute, also run by `manage.py drain_outbox`) publishes it when the broker is back. Tasks
are idempotent, so a message published twice does no harm.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from portal.logcontext import TASK_HEADER, current_request_id
from portal.models import OutboxMessage

logger = logging.getLogger(__name__)

PUBLISH_OPTIONS = {"retry": False}
# After a broker failure, requests stop trying for a while instead of each waiting on it.
BACKOFF_SECONDS = 30.0
_broker_down_until = 0.0


def enqueue(task_name: str, **kwargs: Any) -> OutboxMessage:
    """Record a task (by name, JSON kwargs: ids only) and publish it after commit."""
    message = OutboxMessage.objects.create(
        task=task_name, kwargs=kwargs, request_id=current_request_id()
    )
    transaction.on_commit(lambda: publish(message))
    return message


def publish(message: OutboxMessage, *, force: bool = False) -> bool:
    """Send one message to the broker; False (and the row stays pending) when it is down."""
    global _broker_down_until
    from celery.utils.imports import symbol_by_name

    if not force and time.monotonic() < _broker_down_until:
        return False
    try:
        # Task names are their import paths (shared_task default): no registry lookup needed.
        headers = {TASK_HEADER: message.request_id} if message.request_id else {}
        symbol_by_name(message.task).apply_async(
            kwargs=message.kwargs, headers=headers, **PUBLISH_OPTIONS
        )
    except Exception as exc:  # any broker/connection failure keeps the message for later
        OutboxMessage.objects.filter(pk=message.pk).update(
            attempts=message.attempts + 1, last_error=str(exc)[:255]
        )
        _broker_down_until = time.monotonic() + BACKOFF_SECONDS
        logger.warning("Broker unavailable, task %s kept in the outbox", message.task)
        return False
    OutboxMessage.objects.filter(pk=message.pk).update(sent_at=timezone.now())
    _broker_down_until = 0.0  # the broker is back: stop backing off (drain sends the rest)
    return True


def drain(*, limit: int = 500) -> int:
    """Publish pending messages, oldest first; stop at the first broker failure."""
    sent = 0
    for message in OutboxMessage.objects.filter(sent_at__isnull=True).order_by("id")[:limit]:
        if not publish(message, force=sent == 0):
            break
        sent += 1
    return sent


def pending_count() -> int:
    return OutboxMessage.objects.filter(sent_at__isnull=True).count()
