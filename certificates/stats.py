"""Aggregate reads for operations metrics (ops): counts per editor, never per certificate.

Each function runs a few queries whose result size is bounded by editors x statuses or services,
so a Prometheus scrape stays cheap and its label sets bounded at any number of
certificates (bench/metrics.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Exists, Min, OuterRef, Q, Sum

from certificates.models import (
    EXPIRING_DAYS,
    OPEN_REQUEST_STATUSES,
    CampaignStatus,
    Certificate,
    CertificateRequest,
    RenewalCampaign,
    Status,
    expiry_condition,
)

# The date after which a certificate cannot be used any more (min of notAfter and the end of
# its Private Key Usage Period, certificates.models.pem_usable_until).
USABLE_UNTIL = "usable_until"
ACTIVE_CAMPAIGN_STATUSES = (CampaignStatus.PENDING, CampaignStatus.RUNNING)


@dataclass
class CertificateOverview:
    """Per editor: certificates per derived status, and per service the earliest end of use
    among live certificates still usable (when the next one of that service stops)."""

    counts: dict[int, dict[str, int]] = field(default_factory=dict)
    earliest: dict[int, dict[str, datetime]] = field(default_factory=dict)


def certificate_overview(now: datetime) -> CertificateOverview:
    """Three index-only queries, whatever the number of certificates (bench/metrics.py):

    - live certificates grouped by (editor, set of services), through the partial index
      `cert_live_editor_expiry`: counts per expiry status and earliest end of use;
    - all certificates per editor (the editor index) and revoked ones (`cert_revoked_editor`):
      superseded = all - live - revoked, without reading a single row of the table.
    """
    overview = CertificateOverview()
    live_statuses = (Status.VALID, Status.EXPIRING, Status.EXPIRED)
    rows = (
        Certificate.objects.live()
        .order_by()
        .values("editor_id", "services")
        .annotate(
            **{
                status.value: Count("id", filter=expiry_condition(status, now))
                for status in live_statuses
            },
            earliest=Min(USABLE_UNTIL, filter=Q(**{f"{USABLE_UNTIL}__gt": now})),
        )
    )
    for row in rows:
        counts = overview.counts.setdefault(row["editor_id"], dict.fromkeys(Status.values, 0))
        for status in live_statuses:
            counts[status.value] += row[status.value]
        if row["earliest"] is not None:
            earliest = overview.earliest.setdefault(row["editor_id"], {})
            for service in row["services"]:
                if service not in earliest or row["earliest"] < earliest[service]:
                    earliest[service] = row["earliest"]
    totals = Certificate.objects.order_by().values("editor_id").annotate(n=Count("*"))
    revoked = dict(
        Certificate.objects.filter(revoked_at__isnull=False)
        .order_by()
        .values("editor_id")
        .annotate(n=Count("*"))
        .values_list("editor_id", "n")
    )
    for row in totals:
        counts = overview.counts.setdefault(row["editor_id"], dict.fromkeys(Status.values, 0))
        live = sum(counts[status.value] for status in live_statuses)
        counts[Status.REVOKED] = revoked.get(row["editor_id"], 0)
        counts[Status.SUPERSEDED] = row["n"] - live - counts[Status.REVOKED]
    return overview


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
