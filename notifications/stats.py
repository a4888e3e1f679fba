"""Aggregate reads for operations metrics (ops): alerts, webhook deliveries and endpoints.

Alert logs and deliveries grow every day, so outcomes are counted over a recent window
(index range scans, bounded work) and pending work over all time (few rows, indexed).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q

from notifications.models import AlertLog, AlertStatus, WebhookDelivery, WebhookEndpoint
from notifications.webhooks.delivery import disable_after


def alerts_since(since: datetime) -> list[tuple[str, str, int]]:
    """(channel, status, count) of the alerts written since `since`."""
    rows = (
        AlertLog.objects.filter(created_at__gte=since)
        .order_by()
        .values("channel", "status")
        .annotate(n=Count("id"))
    )
    return [(row["channel"], row["status"], row["n"]) for row in rows]


def alerts_pending() -> list[tuple[str, int]]:
    """(channel, count) of alerts still waiting to be delivered, however old."""
    rows = (
        AlertLog.objects.filter(status=AlertStatus.PENDING)
        .order_by()
        .values("channel")
        .annotate(n=Count("id"))
    )
    return [(row["channel"], row["n"]) for row in rows]


def webhook_deliveries_since(since: datetime) -> list[tuple[str, int]]:
    """(status, count) of the webhook deliveries created since `since`."""
    rows = (
        WebhookDelivery.objects.filter(created_at__gte=since)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
    )
    return [(row["status"], row["n"]) for row in rows]


def webhook_deliveries_pending() -> int:
    return WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).count()


ENDPOINT_STATES = ("active", "disabled", "disabled_failing")


def webhook_endpoints_per_editor() -> list[tuple[int, str, int]]:
    """(editor id, state, endpoints): active, disabled by hand, or disabled by the portal
    after consecutive failures (the failure count that disabled it is kept)."""
    failing = Q(is_active=False, failure_count__gte=disable_after())
    rows = (
        WebhookEndpoint.objects.order_by()
        .values("editor_id")
        .annotate(
            active=Count("id", filter=Q(is_active=True)),
            disabled=Count("id", filter=Q(is_active=False) & ~failing),
            disabled_failing=Count("id", filter=failing),
        )
    )
    return [(row["editor_id"], state, row[state]) for row in rows for state in ENDPOINT_STATES]
