"""One FilterSet per model, shared by the pages and the API: certificates, certificate requests.

A filter's label is its parameter's description in the OpenAPI schema; how the filters look
on a page (labels, placeholders) is the page form's business (`Meta.form`).
"""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField

from certificates.forms import CertificateFilterForm, InstalledSelect, RequestFilterForm
from certificates.models import (
    OPEN_REQUEST_STATUSES,
    Certificate,
    CertificateRequest,
    KeyMode,
    Profile,
    RequestStatus,
    Service,
    Status,
)
from certificates.serializers import MAX_ID
from officines.identifiers import normalize_finess
from officines.models import Environment


class UtcIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 date-time, converted to UTC before it reaches the database.

    Python accepts offsets up to ±24 h, PostgreSQL only ±15:59: a value such as
    `…-19:43` would be a database error instead of a plain comparison.
    """

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise DjangoValidationError(_("Date out of range."), code="overflow") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class FinessField(forms.CharField):
    """A FINESS as people type it: spaces dropped, letters (2A, 2B) uppercased."""

    def to_python(self, value):
        return normalize_finess(super().to_python(value))


class FinessFilter(django_filters.CharFilter):
    field_class = FinessField


class IdFilter(django_filters.NumberFilter):
    """A row id: an integer no larger than the database's ids."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class CertificateFilter(django_filters.FilterSet):
    """The certificate list page, the campaign page's candidates and `GET /certificates/`.

    An invalid value filters nothing: the page shows the error beside the whole list, the
    API answers 400.
    """

    # The pages' search box; the API takes it too.
    q = django_filters.CharFilter(
        method="filter_q", max_length=100, label=_("Name (CN) or serial number")
    )
    status = django_filters.ChoiceFilter(
        choices=Status.choices, method="filter_status", empty_label=_("All")
    )
    profile = django_filters.ChoiceFilter(choices=Profile.choices, empty_label=_("All"))
    service = django_filters.ChoiceFilter(
        choices=Service.choices, method="filter_service", empty_label=_("All")
    )
    finess = FinessFilter(
        field_name="officine__finess", max_length=20, label=_("FINESS of the officine")
    )
    environment = django_filters.ChoiceFilter(choices=Environment.choices, empty_label=_("All"))
    # The pages send installed=yes|no, the API documents true|false: one filter reads both.
    installed = django_filters.BooleanFilter(
        method="filter_installed",
        widget=InstalledSelect,
        label=_("Installed (true) or not (false): renewed but not installed is one call"),
    )
    expires_before = UtcIsoDateTimeFilter(
        field_name="usable_until",
        lookup_expr="lt",
        label=_("Usable until strictly before (ISO 8601)"),
    )
    expires_after = UtcIsoDateTimeFilter(
        field_name="usable_until",
        lookup_expr="gte",
        label=_("Usable until at or after (ISO 8601)"),
    )

    # What the pages show, in this order (the expiry dates are the API's only).
    PAGE_FILTERS = ("q", "status", "profile", "service", "finess", "environment", "installed")

    class Meta:
        model = Certificate
        fields: list[str] = []
        form = CertificateFilterForm

    @classmethod
    def for_page(cls, data, queryset) -> CertificateFilter:
        """The page's filters over `queryset`: unbound without parameters, as the page opens."""
        filterset = cls(data or None, queryset=queryset)
        filterset.filters = {name: filterset.filters[name] for name in cls.PAGE_FILTERS}
        return filterset

    def filter_queryset(self, queryset):
        # The API's backend answers an invalid form with a 400 before it gets here.
        if not self.is_valid():
            return queryset
        return super().filter_queryset(queryset)

    def filter_q(self, queryset, name, value):
        return queryset.filter(
            Q(common_name__icontains=value) | Q(serial__iexact=value.replace(":", ""))
        )

    def filter_service(self, queryset, name, value):
        return queryset.serving(value)

    def filter_status(self, queryset, name, value):
        return queryset.in_status(value)

    def filter_installed(self, queryset, name, value):
        return queryset if value is None else queryset.installed(value)


class CertificateRequestFilter(django_filters.FilterSet):
    """The request list page and `GET /certificate-requests/`.

    A wrong value is left out on the page (the others still filter); the API answers 400.
    """

    finess = FinessFilter(field_name="officine__finess")
    # `open` (any open status) is the page's first choice; the API takes it too.
    status = django_filters.ChoiceFilter(
        choices=[("open", _("Open")), *RequestStatus.choices],
        method="filter_status",
        empty_label=_("All"),
    )
    key_mode = django_filters.ChoiceFilter(choices=KeyMode.choices)
    # The page's name for the officine (an id, from an officine's page); the API's is `finess`.
    officine = IdFilter(method="filter_officine", label="Id of the officine.")

    class Meta:
        model = CertificateRequest
        fields: list[str] = []
        form = RequestFilterForm

    def filter_status(self, queryset, name, value):
        if value == "open":
            return queryset.filter(status__in=OPEN_REQUEST_STATUSES)
        return queryset.filter(status=value)

    def filter_officine(self, queryset, name, value: int):  # the hint types it in the schema
        return queryset.filter(officine_id=value)
