"""The officine list's filters, coverage included (the list page and its CSV export)."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext_lazy as _

from certificates.coverage import (
    CoverageState,
    followed_services,
    officines_with_coverage_state,
)
from certificates.models import TRACKABLE_SERVICES
from officines.filters import StableOrderingFilter, administrators_choices
from officines.finess_check import officines_to_verify
from officines.models import (
    DelegationMode,
    Environment,
    FinessCheckStatus,
    Habilitation,
    Officine,
    OfficineHabilitation,
    without_alert_recipient_condition,
)
from officines.selectors import officine_search
from portal.tenancy import user_scope

# Coverage filter value: at least one service missing or expired (the dashboard's
# "incomplete coverage": card and list count the same officines).
INCOMPLETE = "incomplete"


class OfficineFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    department = django_filters.CharFilter(method="filter_department", label=_("Département"))
    delegation_mode = django_filters.ChoiceFilter(
        choices=DelegationMode.choices, label=_("Delegation mode"), empty_label=_("All")
    )
    environment = django_filters.ChoiceFilter(
        choices=Environment.choices, label=_("Environment"), empty_label=_("All")
    )
    technical_administrator = django_filters.ModelChoiceFilter(
        queryset=administrators_choices, label=_("Technical administrator"), empty_label=_("All")
    )
    coverage_service = django_filters.ChoiceFilter(
        choices=[(str(s), s.label) for s in TRACKABLE_SERVICES],
        label=_("Service"),
        empty_label=_("Any service"),
        method="filter_nothing",
    )
    coverage_state = django_filters.ChoiceFilter(
        choices=[*CoverageState.choices, (INCOMPLETE, _("Incomplete (missing or expired)"))],
        label=_("Coverage"),
        empty_label=_("Any coverage"),
        method="filter_nothing",
    )
    habilitation = django_filters.ChoiceFilter(
        choices=[
            ("none", _("No habilitated administrator (do not order)")),
            ("habilitated", _("At least one habilitated administrator")),
        ],
        label=_("Habilitation"),
        empty_label=_("All"),
        method="filter_habilitation",
    )
    alert_recipient = django_filters.ChoiceFilter(
        choices=[("none", _("No alert recipient (the editor's admins receive them)"))],
        label=_("Alert recipients"),
        empty_label=_("All"),
        method="filter_alert_recipient",
    )
    is_active = django_filters.ChoiceFilter(
        choices=[("yes", _("Active")), ("no", _("Inactive"))],
        label=_("Status"),
        empty_label=_("All"),
        method="filter_active",
    )
    finess_check = django_filters.ChoiceFilter(
        choices=[("any", _("To verify (FINESS)")), *FinessCheckStatus.choices],
        label=_("FINESS referential"),
        empty_label=_("All"),
        method="filter_finess_check",
    )
    o = StableOrderingFilter(
        fields=(
            ("raison_sociale", "name"),
            ("finess", "finess"),
            ("city", "city"),
            ("department", "department"),
        ),
        field_labels={
            "raison_sociale": _("Raison sociale"),
            "finess": _("FINESS"),
            "city": _("City"),
            "department": _("Département"),
        },
        label=_("Sort by"),
        empty_label=_("Raison sociale (default)"),
    )

    class Meta:
        model = Officine
        fields = [
            "q",
            "department",
            "delegation_mode",
            "environment",
            "technical_administrator",
            "coverage_service",
            "coverage_state",
            "habilitation",
            "alert_recipient",
            "is_active",
            "finess_check",
        ]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return officine_search(queryset, value)

    def filter_department(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip().upper()
        return queryset.filter(department=value) if value else queryset

    def filter_habilitation(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "none":
            return queryset.without_habilitated_administrator()
        if value == "habilitated":
            return queryset.filter(
                Exists(
                    OfficineHabilitation.objects.filter(
                        officine_id=OuterRef("pk"), state=Habilitation.HABILITATED
                    )
                )
            )
        return queryset

    def filter_alert_recipient(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "none":
            return queryset.filter(without_alert_recipient_condition())
        return queryset

    def filter_active(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(is_active=value == "yes") if value else queryset

    def filter_finess_check(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        return officines_to_verify(queryset, None if value == "any" else value)

    def filter_nothing(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Service and state are applied together in `filter_queryset`."""
        return queryset

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        state = self.form.cleaned_data.get("coverage_state")
        if not state:
            return queryset
        # No service chosen (None): in this state for at least one service the editor follows.
        service = self.form.cleaned_data.get("coverage_service") or None
        followed = followed_services(
            user_scope(self.request.user).coverage_services if self.request else None
        )
        if state == INCOMPLETE:  # the dashboard's definition: not covered now
            return officines_with_coverage_state(
                queryset, service=service, state=CoverageState.MISSING, services=followed
            ) | officines_with_coverage_state(
                queryset, service=service, state=CoverageState.EXPIRED, services=followed
            )
        return officines_with_coverage_state(
            queryset, service=service, state=state, services=followed
        )
