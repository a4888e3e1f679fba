"""Reads with rules: the alert history shown on a certificate page, unread counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from notifications.models import AlertLog, AlertStatus, Channel, Notification
from portal.tenancy import user_scope

ALERT_LOG_LIMIT = 200


@dataclass(frozen=True)
class AlertLogLine:
    """One row of a certificate's alert history, safe to show to the viewer."""

    created_at: datetime
    sent_at: datetime | None
    threshold: int
    kind: str
    kind_label: str
    channel: str
    channel_label: str
    recipient: str
    status: str
    status_label: str


def alert_log_for(
    certificate: Any, *, user: Any = None, limit: int = ALERT_LOG_LIMIT
) -> list[AlertLogLine]:
    """Alerts of a certificate the caller already resolved through `visible_to` (newest
    first, skipped ones left out). Pharmacists see only their own address among portal
    users; the editor's staff addresses and webhook URLs are masked for them."""
    rows: QuerySet[AlertLog] = (
        AlertLog.objects.filter(certificate_id=certificate.pk)
        .exclude(status=AlertStatus.SKIPPED)
        .select_related("endpoint")
        .order_by("-created_at", "-id")[:limit]
    )
    scope = user_scope(user) if user is not None else None
    is_staff_of_editor = scope is None or scope.editor_id == certificate.editor_id
    lines = []
    for row in rows:
        recipient = row.recipient
        if row.channel == Channel.WEBHOOK:
            recipient = row.endpoint.url if row.endpoint and is_staff_of_editor else "webhook"
        elif not is_staff_of_editor and row.user_id and row.user_id != getattr(user, "pk", None):
            recipient = "…"
        lines.append(
            AlertLogLine(
                created_at=row.created_at,
                sent_at=row.sent_at,
                threshold=row.threshold,
                kind=row.kind,
                kind_label=str(row.get_kind_display()),
                channel=row.channel,
                channel_label=str(row.get_channel_display()),
                recipient=recipient,
                status=row.status,
                status_label=str(row.get_status_display()),
            )
        )
    return lines


def unread_count(user: Any) -> int:
    return Notification.objects.visible_to(user).unread().count()
