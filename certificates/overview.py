"""Read functions behind the editor dashboard: certificates by status and by month of expiry,
the most urgent ones, and the coverage of the active officines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncMonth
from django.utils import timezone

from certificates.ans_actions import ans_action_counts
from certificates.coverage import (
    CoverageState,
    coverage_states,
    coverage_tally,
    followed_services,
)
from certificates.coverage_store import OfficineCoverage
from certificates.models import LIVE_STATUSES, Certificate, Service, expiry_condition
from certificates.revocation.selectors import revoked_by_ans
from officines.models import Officine, without_alert_recipient_condition
from officines.selectors import habilitated_officine_ids
from portal.tenancy import user_scope

HORIZON_MONTHS = 18
URGENT_LIMIT = 20
INCOMPLETE_LIMIT = 20
# « Révoqués par l'ANS depuis 30 jours »: revocations learnt from IGC Santé (CRL, OCSP).
REVOKED_BY_ANS_DAYS = 30
# Certificate columns the dashboard never shows (PEMs, DNs).
_WIDE_FIELDS = ("pem", "chain_pem", "subject_dn", "issuer_dn")
# States that leave an officine unable to use a service today.
GAP_STATES = (CoverageState.MISSING, CoverageState.EXPIRED)


def _live(user: Any):
    return Certificate.objects.visible_to(user).live()


def status_counts(user: Any, *, now: datetime) -> dict[str, int]:
    """Live certificates by status in one query: the same rules as `in_status`, so each count
    matches the certificate list filtered on that status; with them, in the same query, the
    live certificates ANS must revoke or reissue (`certificates.ans_actions`)."""
    return _live(user).aggregate(
        **{status: Count("pk", filter=expiry_condition(status, now)) for status in LIVE_STATUSES},
        **ans_action_counts(),
    )


def add_months(day: date, months: int) -> date:
    """First day of the month `months` after `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def expiries_by_month(
    user: Any, *, now: datetime, months: int = HORIZON_MONTHS
) -> list[tuple[date, int]]:
    """(first day of month, live certificates expiring that month) from now on, one query."""
    tz = timezone.get_current_timezone()
    first = timezone.localtime(now, tz).date().replace(day=1)
    end = datetime.combine(add_months(first, months), datetime.min.time(), tzinfo=tz)
    rows = (
        _live(user)
        .filter(usable_until__gt=now, usable_until__lt=end)
        .order_by()
        .annotate(month=TruncMonth("usable_until", tzinfo=tz))
        .values("month")
        .annotate(count=Count("pk"))
    )
    counts = {(row["month"].year, row["month"].month): row["count"] for row in rows}
    buckets = []
    for offset in range(months):
        month = add_months(first, offset)
        buckets.append((month, counts.get((month.year, month.month), 0)))
    return buckets


def urgent_certificates(user: Any, *, now: datetime, limit: int = URGENT_LIMIT) -> list:
    """The live certificates of active officines that end first (expired ones first).

    Two queries: the first candidates in expiry order from the live-certificate index
    (index-only; one query with the officine join made PostgreSQL walk thousands of
    superseded rows of the plain expiry index), then those rows with their officine. Only
    active officines count: the window grows until it holds `limit` of them or runs out.
    """
    ordered = _live(user).order_by("usable_until", "id")
    window = limit * 3
    while True:
        candidates = list(ordered.values_list("pk", flat=True)[:window])
        rows = list(
            ordered.filter(pk__in=candidates, officine__is_active=True)
            .with_status(now)
            .select_related("officine")
            .defer(*_WIDE_FIELDS)[
                # PEM texts are TOASTed: reading them costs more than the rest
                :limit
            ]
        )
        if len(rows) == limit or len(candidates) < window:
            return rows
        window *= 4


@dataclass
class CoverageOverview:
    services: list[dict[str, Any]]  # per service: code, label, counts per state
    incomplete: list[dict[str, Any]]  # capped: officine + services in a gap state
    incomplete_count: int
    missing_count: int  # officines missing at least one service entirely
    officine_count: int
    not_habilitated_count: int = 0  # active officines without a habilitated administrator
    no_recipient_count: int = 0  # active officines whose alerts reach nobody of their own


def coverage_overview(
    user: Any, *, now: datetime, limit: int = INCOMPLETE_LIMIT
) -> CoverageOverview:
    """Coverage of the active officines per service, and the officines with gaps (3 or 4
    queries).

    Service states are computed from the stored coverage and grouped in SQL
    (`coverage_states`, `coverage_tally`): at 10,000 officines, folding their ~40,000 live
    certificates in Python was far slower (BENCHMARKS.md).
    """
    followed = followed_services(user_scope(user).coverage_services)
    labels = {code: str(Service(code).label) for code in followed}
    active = Officine.objects.visible_to(user).active()
    # A semi-join on the active officines (by their editor index) rather than a join, which
    # made PostgreSQL scan every editor's officines for `is_active`.
    per_officine = coverage_states(
        OfficineCoverage.objects.visible_to(user).filter(officine__in=active),
        now=now,
        services=followed,
    )
    counts = {code: {str(state): 0 for state in CoverageState} for code in labels}
    tally = coverage_tally(per_officine, gap_states=GAP_STATES, first=limit, services=followed)
    gaps = list(tally.worst)
    incomplete_count = missing = with_certificates = 0
    for states, number in tally.groups:
        with_certificates += number
        for code in labels:
            counts[code][states[code]] += number
        if any(states[code] in GAP_STATES for code in labels):
            incomplete_count += number
        if any(states[code] == CoverageState.MISSING for code in labels):
            missing += number
    # Active officines without any live certificate miss every service.
    # The active officines, and (same query) those where nobody may order yet: no
    # habilitated administrator, « ne pas commander ».
    totals = active.aggregate(
        officines=Count("pk"),
        not_habilitated=Count("pk", filter=~Q(pk__in=habilitated_officine_ids())),
        no_recipient=Count("pk", filter=without_alert_recipient_condition()),
    )
    officine_count = totals["officines"]
    bare_count = officine_count - with_certificates
    if bare_count:
        bare = active.filter(coverage__isnull=True).order_by("pk")
        all_missing = dict.fromkeys(labels, str(CoverageState.MISSING))
        gaps += [(len(labels), pk, all_missing) for pk in bare.values_list("pk", flat=True)[:limit]]
        for code in labels:
            counts[code][CoverageState.MISSING] += bare_count
        incomplete_count += bare_count
        missing += bare_count
    chosen = sorted(gaps, key=lambda item: (-item[0], item[1]))[:limit]
    rows = Officine.objects.visible_to(user).in_bulk([pk for _n, pk, _s in chosen])
    state_labels = dict(CoverageState.choices)
    incomplete = []
    for _n, officine_id, states in chosen:
        officine = rows.get(officine_id)
        if officine is None:
            continue
        incomplete.append(
            {
                "officine": officine,
                "gaps": [
                    {
                        "service": code,
                        "label": labels[code],
                        "state": state,
                        "state_label": state_labels[state],
                    }
                    for code, state in states.items()
                    if state in GAP_STATES
                ],
            }
        )
    services = [
        {
            "code": code,
            "label": label,
            "cells": [
                {"state": str(state), "label": state.label, "count": counts[code][str(state)]}
                for state in CoverageState
            ],
        }
        for code, label in labels.items()
    ]
    return CoverageOverview(
        services=services,
        incomplete=incomplete,
        incomplete_count=incomplete_count,
        missing_count=missing,
        officine_count=officine_count,
        not_habilitated_count=totals["not_habilitated"],
        no_recipient_count=totals["no_recipient"],
    )


def revoked_by_ans_count(user: Any, *, now: datetime, days: int = REVOKED_BY_ANS_DAYS) -> int:
    """Certificates IGC Santé revoked (CRL, OCSP) in the last `days` days."""
    return revoked_by_ans(Certificate.objects.visible_to(user), days=days, now=now).count()
