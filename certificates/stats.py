"""Aggregate reads for operations metrics (ops): counts per editor, never per certificate.

Each function is one query whose result size is bounded by editors x statuses or services,
so a Prometheus scrape stays cheap and its label sets bounded at any number of
certificates (bench/metrics.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Exists, Min, OuterRef, Q, Sum

from certificates.models import (
    EXPIRING_DAYS,
    OPEN_REQUEST_STATUSES,
    CampaignStatus,
    Certificate,
    CertificateRequest,
    RenewalCampaign,
    Service,
    Status,
    status_condition,
)

# The date after which a certificate cannot be used any more.
USABLE_UNTIL = "not_after"
ACTIVE_CAMPAIGN_STATUSES = (CampaignStatus.PENDING, CampaignStatus.RUNNING)


def certificates_per_editor_status(now: datetime) -> list[tuple[int, str, int]]:
    """(editor id, status, count) for every editor having certificates and every status."""
    rows = (
        Certificate.objects.order_by()
        .values("editor_id")
        .annotate(**{s.value: Count("id", filter=status_condition(s, now)) for s in Status})
    )
    return [(row["editor_id"], s.value, row[s.value]) for row in rows for s in Status]


def earliest_usable_until(now: datetime) -> list[tuple[int, str, datetime]]:
    """(editor id, service, earliest end of use) over live certificates still usable: when the
    next certificate of that service stops working for that editor."""
    rows = (
        Certificate.objects.live()
        .filter(**{f"{USABLE_UNTIL}__gt": now})
        .order_by()
        .values("editor_id")
        .annotate(
            **{
                service.value: Min(USABLE_UNTIL, filter=Q(services__contains=f",{service},"))
                for service in Service
            }
        )
    )
    return [
        (row["editor_id"], service.value, row[service.value])
        for row in rows
        for service in Service
        if row[service.value] is not None
    ]


def expiring_without_renewal(now: datetime) -> dict[int, int]:
    """Editor id -> live certificates expiring within EXPIRING_DAYS that no open renewal
    request and no pending or running campaign takes care of."""
    open_request = CertificateRequest.objects.filter(
        renews=OuterRef("pk"), status__in=OPEN_REQUEST_STATUSES
    )
    in_campaign = RenewalCampaign.certificates.through.objects.filter(
        certificate_id=OuterRef("pk"), renewalcampaign__status__in=ACTIVE_CAMPAIGN_STATUSES
    )
    rows = (
        Certificate.objects.live()
        .filter(
            **{
                f"{USABLE_UNTIL}__gt": now,
                f"{USABLE_UNTIL}__lte": now + timedelta(days=EXPIRING_DAYS),
            }
        )
        .filter(~Exists(open_request), ~Exists(in_campaign))
        .order_by()
        .values("editor_id")
        .annotate(n=Count("id"))
    )
    return {row["editor_id"]: row["n"] for row in rows}


def campaigns_per_editor_status() -> list[dict]:
    """Per (editor, campaign status): campaigns, certificates selected and prepared."""
    return list(
        RenewalCampaign.objects.order_by()
        .values("editor_id", "status")
        .annotate(campaigns=Count("id"), total=Sum("total"), completed=Sum("completed"))
    )
