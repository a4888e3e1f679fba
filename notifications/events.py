"""Entry point for other apps: tell the LGO webhooks that something happened to a certificate.

    from notifications.events import emit
    emit(editor_id=cert.editor_id, event="certificate.issued", certificate_id=cert.pk)

Call it inside your transaction (or from its on_commit): deliveries are written with your
rows and their sending is enqueued (through portal.outbox) once everything is committed. Calling twice for
the same (event, certificate) sends once. An unknown certificate is logged, never raised:
a webhook problem must not break an import or a revocation.
"""

from __future__ import annotations

import logging

from django.db import transaction

from certificates.models import Certificate
from notifications.models import WebhookEvent
from notifications.webhooks.delivery import deliveries_create
from portal import outbox

logger = logging.getLogger(__name__)


def emit(
    *, editor_id: int, event: str, certificate_id: int, extra: dict | None = None
) -> list[int]:
    """Record one delivery per interested endpoint; enqueue them on commit. Returns their ids."""
    if event not in WebhookEvent.values:
        raise ValueError(f"unknown webhook event: {event}")
    certificate = (
        Certificate.objects.of_editor(editor_id)
        .select_related("officine")
        .defer("pem", "chain_pem")
        .filter(pk=certificate_id)
        .first()
    )
    if certificate is None:
        logger.warning(
            "emit %s: certificate %s not found for editor %s", event, certificate_id, editor_id
        )
        return []
    with transaction.atomic():
        ids = deliveries_create(
            editor_id=editor_id, event=event, certificate=certificate, extra=extra
        )
        for delivery_id in ids:
            outbox.enqueue("notifications.tasks.deliver_webhook", delivery_id=delivery_id)
    return ids
