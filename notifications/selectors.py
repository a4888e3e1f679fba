"""Reads with rules: the alert log as each viewer may see it, unread counts.

Every page that shows `AlertLog` rows (certificate page, officine page, officine panels,
dashboard) reads them through `alert_log()` and gets `AlertLogLine`s whose recipient went
through `mask_recipient()`, the one masking rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from notifications.models import AlertLog, AlertStatus, Channel, Notification
from portal.tenancy import Scope, user_scope

ALERT_LOG_LIMIT = 200
MASKED_ADDRESS = "…"
MASKED_WEBHOOK = "webhook"
_WIDE_CERTIFICATE_FIELDS = ("pem", "chain_pem", "subject_dn", "issuer_dn")


@dataclass(frozen=True)
class AlertLogLine:
    """One row of the alert log, safe to show to the viewer it was read for."""

    created_at: datetime
    sent_at: datetime | None
    threshold: int
    days_left: int
    kind: str
    kind_label: str
    channel: str
    channel_label: str
    recipient: str
    status: str
    status_label: str
    certificate: Any  # with its officine


def mask_recipient(row: AlertLog, scope: Scope) -> str:
    """The recipient of `row` as the viewer whose scope this is may see it.

    The editor's staff see every address and the webhook URLs. Anyone else (a pharmacist)
    sees the bare addresses (officine mailbox, contacts) and their own, "…" for other portal
    users (the editor's staff), and "webhook" for a webhook.
    """
    is_staff_of_editor = scope.editor_id is not None and (
        scope.editor_id == row.certificate.editor_id
    )
    if row.channel == Channel.WEBHOOK:
        return row.endpoint.url if row.endpoint and is_staff_of_editor else MASKED_WEBHOOK
    if not is_staff_of_editor and row.user_id and row.user_id != scope.user_id:
        return MASKED_ADDRESS
    return row.recipient


def _visible_alerts(user: Any) -> QuerySet[AlertLog]:
    """The rows the user may see, skipped ones (catch-up bookkeeping) left out."""
    return AlertLog.objects.visible_to(user).exclude(status=AlertStatus.SKIPPED)


def alert_log(
    user: Any,
    *,
    certificate_ids: Iterable[int] | None = None,
    officine_ids: Iterable[int] | None = None,
    limit: int = ALERT_LOG_LIMIT,
) -> list[AlertLogLine]:
    """The alert log the user may see, newest first, masked for them; one query.

    Narrowed to some certificates or to the certificates of some officines when given.
    """
    rows = _visible_alerts(user)
    if certificate_ids is not None:
        rows = rows.filter(certificate_id__in=list(certificate_ids))
    if officine_ids is not None:
        rows = rows.filter(certificate__officine_id__in=list(officine_ids))
    rows = (
        rows.select_related("endpoint", "certificate__officine")
        .defer(
            "endpoint__secret_envelope", *(f"certificate__{f}" for f in _WIDE_CERTIFICATE_FIELDS)
        )
        .order_by("-created_at", "-id")[:limit]
    )
    scope = user_scope(user)
    return [
        AlertLogLine(
            created_at=row.created_at,
            sent_at=row.sent_at,
            threshold=row.threshold,
            days_left=row.days_left,
            kind=row.kind,
            kind_label=str(row.get_kind_display()),
            channel=row.channel,
            channel_label=str(row.get_channel_display()),
            recipient=mask_recipient(row, scope),
            status=row.status,
            status_label=str(row.get_status_display()),
            certificate=row.certificate,
        )
        for row in rows
    ]


def alert_log_for(
    certificate: Any, *, user: Any, limit: int = ALERT_LOG_LIMIT
) -> list[AlertLogLine]:
    """The alert log of one certificate (see `alert_log`)."""
    return alert_log(user, certificate_ids=[certificate.pk], limit=limit)


def alert_histories(certificates: list[Any], *, user: Any) -> list[tuple[Any, list[AlertLogLine]]]:
    """(certificate, its alert log) for those of `certificates` that have alerts to show.

    One query finds them, then one per certificate with alerts (a handful per officine), so
    a page stays bounded by the certificates it shows.
    """
    with_alerts = set(
        _visible_alerts(user)
        .filter(certificate_id__in=[certificate.pk for certificate in certificates])
        .values_list("certificate_id", flat=True)
        .distinct()
    )
    return [
        (certificate, alert_log_for(certificate, user=user))
        for certificate in certificates
        if certificate.pk in with_alerts
    ]


def unread_count(user: Any) -> int:
    return Notification.objects.visible_to(user).unread().count()
