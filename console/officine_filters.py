"""The one officine filter, coverage included: the list page, its CSV export, the change of
administrator of a selection, and the API (`OfficineApiFilter`, its documented parameters)."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError as DrfValidationError

from certificates.coverage import (
    CoverageState,
    followed_services,
    officines_with_coverage_state,
)
from certificates.models import TRACKABLE_SERVICES
from officines.filters import StableOrderingFilter, administrators_choices
from officines.finess_check import officines_to_verify
from officines.identifiers import normalize_finess
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
    """Officines by search, place, settings, coverage, habilitation, alerts and FINESS check.

    `label` is what the page's form shows; `help_text`, when given, is the API's description
    of the parameter (the OpenAPI schema prefers it to the label; the page's form drops it).
    """

    # The filter as the API takes it: OfficineApiFilter sets this (and removes the parameters
    # only the pages take). Besides, two rules differ between pages and API:
    # - the parameters only the API takes (API_ONLY, declared last) are dropped for the pages
    #   in __init__, so their filter form (which shows every field) stays as it was;
    # - the API wants coverage_service and coverage_state together (a 400 problem otherwise),
    #   the pages read a state without a service as "in this state for at least one service
    #   the editor follows" (filter_queryset).
    for_api = False
    API_ONLY = ("finess", "search")

    q = django_filters.CharFilter(method="filter_search", label=_("Search"))
    department = django_filters.CharFilter(
        method="filter_department",
        label=_("Département"),
        help_text=_("Département code (69, 2A, 974...)"),
    )
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
        help_text=_("Service whose coverage `coverage_state` filters on"),
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
    finess = django_filters.CharFilter(
        method="filter_finess", label=_("FINESS géographique (exact)")
    )
    # The same search as `q`, under the name the API documents (`q` is the page's, in its
    # links and bookmarks): both names stay, one method.
    search = django_filters.CharFilter(
        method="filter_search", label=_("FINESS, raison sociale or city")
    )

    class Meta:
        model = Officine
        fields: list[str] = []  # all declared above, in the page form's order

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.for_api:
            for name in self.API_ONLY:
                del self.filters[name]
        for filter_ in self.filters.values():
            # Help texts are the schema's: in a form, each widget would point its
            # aria-describedby at a help text the page's template does not show.
            filter_.field.help_text = ""

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return officine_search(queryset, value)

    def filter_finess(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(finess=normalize_finess(value))

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
        service = self.form.cleaned_data.get("coverage_service") or None
        if self.for_api and bool(service) != bool(state):
            raise DrfValidationError(
                {"coverage_state": [_("Give coverage_service and coverage_state together.")]}
            )
        if not state:
            return queryset
        followed = None  # a chosen service is the only one looked at
        if not service:  # the pages: in this state for at least one service the editor follows
            chosen = user_scope(self.request.user).coverage_services if self.request else None
            followed = followed_services(chosen)
        if state == INCOMPLETE:  # the dashboard's definition: not covered now
            return officines_with_coverage_state(
                queryset, service=service, state=CoverageState.MISSING, services=followed
            ) | officines_with_coverage_state(
                queryset, service=service, state=CoverageState.EXPIRED, services=followed
            )
        return officines_with_coverage_state(
            queryset, service=service, state=state, services=followed
        )


class OfficineApiFilter(OfficineFilter):
    """OfficineFilter as the API documents it (`/api/v1/officines/`): only the API's
    parameters, coverage_service and coverage_state together. Nothing filters here."""

    for_api = True

    # The page's own parameters: neither taken nor documented by the API.
    q = technical_administrator = habilitation = alert_recipient = is_active = None
    finess_check = o = None
    # The stored states only ("incomplete" is the page's and the dashboard's): the API's enum
    # and its refusal of other values stay as published. Same method as the page's filter.
    coverage_state = django_filters.ChoiceFilter(
        choices=CoverageState.choices,
        method="filter_nothing",
        label=_("Coverage"),
        help_text=_("Coverage state of `coverage_service` (both are needed)"),
    )
