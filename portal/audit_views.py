"""The audit log page and its export, for editor admins (read-only: audit events are never edited)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters.views import FilterView

from portal.exports import FilteredCsvExport
from portal.models import AuditEvent
from portal.permissions import ScopedViewMixin, editor_roles

_DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(
        label=gettext_lazy("Action"), empty_label=gettext_lazy("All")
    )
    actor = django_filters.CharFilter(
        field_name="actor_label", lookup_expr="icontains", label=gettext_lazy("Actor")
    )
    start = django_filters.DateFilter(
        method="filter_start", label=gettext_lazy("From"), widget=_DATE_WIDGET
    )
    end = django_filters.DateFilter(
        method="filter_end", label=gettext_lazy("To (included)"), widget=_DATE_WIDGET
    )
    outcome = django_filters.ChoiceFilter(
        choices=AuditEvent.Outcome.choices,
        label=gettext_lazy("Outcome"),
        empty_label=gettext_lazy("All"),
    )

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "start", "end", "outcome"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The actions that occur in this editor's log (one query, on the scoped queryset).
        actions = self.queryset.order_by("action").values_list("action", flat=True).distinct()
        self.filters["action"].extra["choices"] = [(a, a) for a in actions]

    def filter_start(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(created_at__gte=_start_of(value))

    def filter_end(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(created_at__lt=_start_of(value + timedelta(days=1)))


class AuditLog(ScopedViewMixin, FilterView):
    model = AuditEvent
    roles = editor_roles("audit", "view")
    filterset_class = AuditEventFilter
    paginate_by = 50
    template_name = "portal/audit_log.html"

    def get_queryset(self):
        return super().get_queryset().order_by("-created_at", "-id")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context["filter_query"] = query.urlencode()
        return context


class AuditExport(FilteredCsvExport):
    """The filtered audit log as CSV, streamed."""

    model = AuditEvent
    roles = editor_roles("audit", "view")
    filterset_class = AuditEventFilter
    audit_action = "audit.export"
    filename_prefix = "journal-audit"

    def export_queryset(self) -> QuerySet:
        return self.get_queryset().order_by("-created_at", "-id")

    def export_rows(self, queryset: QuerySet) -> Iterator[list[object]]:
        return audit_rows(queryset)


def audit_rows(queryset: QuerySet) -> Iterator[list[object]]:
    yield [
        _("Time"),
        _("Actor"),
        _("Action"),
        _("Target type"),
        _("Target"),
        _("Target name"),
        _("Outcome"),
        _("Reason"),
        _("IP address"),
        _("Details"),
    ]
    for event in queryset.iterator(chunk_size=2000):
        yield [
            timezone.localtime(event.created_at).isoformat(timespec="seconds"),
            event.actor_label,
            event.action,
            event.target_type,
            event.target_id,
            event.target_label,
            event.get_outcome_display(),
            event.reason,
            event.ip_address or "",
            json.dumps(event.details, ensure_ascii=False, sort_keys=True) if event.details else "",
        ]
