"""The editor dashboard: what expires, what is urgent, which officines lack coverage, alerts sent.

Every section is one or two queries whatever the number of officines or certificates
(tests/ui/test_dashboard.py guards the total). The reads are the apps' own
(`certificates.overview`, `notifications.selectors`, `officines.finess_check`); this
module lays them out, the expiry chart included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.generic import TemplateView

from certificates import overview
from certificates.models import EXPIRING_DAYS, Certificate
from notifications.selectors import alert_log
from officines.finess_check import to_verify_overview
from portal.permissions import READ_ROLES, ScopedViewMixin

ALERTS_LIMIT = 10


@dataclass(frozen=True)
class Bar:
    month: date
    count: int
    x: str
    y: str
    width: str
    height: str
    center: str
    value_y: str
    title: str
    label: str


@dataclass(frozen=True)
class Chart:
    """An SVG bar chart computed server-side (numbers pre-formatted: no locale decimal commas)."""

    width: int
    height: int
    baseline: str
    label_y: str
    bars: list[Bar]
    total: int
    peak: Bar | None
    description: str


CHART_WIDTH = 720
CHART_HEIGHT = 240
_TOP, _BOTTOM, _SIDE = 22, 34, 6


def expiry_chart(buckets: list[tuple[date, int]]) -> Chart:
    plot_height = CHART_HEIGHT - _TOP - _BOTTOM
    slot = (CHART_WIDTH - 2 * _SIDE) / max(len(buckets), 1)
    highest = max((count for _month, count in buckets), default=0) or 1
    bars = []
    for index, (month, count) in enumerate(buckets):
        height = plot_height * count / highest
        x = _SIDE + index * slot + slot * 0.15
        width = slot * 0.7
        month_name = date_format(month, "F Y")
        title = ngettext(
            "%(month)s: %(count)d certificate expires",
            "%(month)s: %(count)d certificates expire",
            count,
        ) % {"month": month_name, "count": count}
        bars.append(
            Bar(
                month=month,
                count=count,
                x=f"{x:.1f}",
                y=f"{_TOP + plot_height - height:.1f}",
                width=f"{width:.1f}",
                height=f"{height:.1f}",
                center=f"{x + width / 2:.1f}",
                value_y=f"{_TOP + plot_height - height - 4:.1f}",
                title=title,
                label=date_format(month, "m/y"),
            )
        )
    total = sum(count for _month, count in buckets)
    peak = max(bars, key=lambda bar: bar.count) if total else None
    if peak is None:
        description = _("No certificate expires in the next %(months)d months.") % {
            "months": len(buckets)
        }
    else:
        description = _(
            "%(total)d certificates expire in the next %(months)d months; "
            "the busiest month is %(peak)s."
        ) % {"total": total, "months": len(buckets), "peak": peak.title}
    return Chart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        baseline=f"{_TOP + plot_height:.1f}",
        label_y=f"{CHART_HEIGHT - 12:.1f}",
        bars=bars,
        total=total,
        peak=peak,
        description=description,
    )


def latest_alerts(user: Any, *, limit: int = ALERTS_LIMIT) -> list:
    """The last alerts sent (or failed) for the editor's certificates, one query."""
    return alert_log(user, limit=limit)


class Dashboard(ScopedViewMixin, TemplateView):
    """Home page of editor staff."""

    model = Certificate
    roles = READ_ROLES
    template_name = "portal/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        now = timezone.now()
        coverage = overview.coverage_overview(user, now=now)
        counts = overview.status_counts(user, now=now)
        counts["revoked_by_ans"] = overview.revoked_by_ans_count(user, now=now)
        counts["not_habilitated"] = coverage.not_habilitated_count
        counts["no_recipient"] = coverage.no_recipient_count
        context.update(
            counts=counts,
            expiring_days=EXPIRING_DAYS,
            revoked_by_ans_days=overview.REVOKED_BY_ANS_DAYS,
            chart=expiry_chart(overview.expiries_by_month(user, now=now)),
            urgent=overview.urgent_certificates(user, now=now),
            coverage=coverage,
            alerts=latest_alerts(user),
            finess=to_verify_overview(user),
            now=now,
        )
        return context
