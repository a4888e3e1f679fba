"""Filters of certificates and certificate requests."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField

from certificates.models import (
    Certificate,
    CertificateRequest,
    Environment,
    KeyMode,
    Profile,
    RequestStatus,
    Service,
    Status,
)


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


class CertificateFilter(django_filters.FilterSet):
    finess = django_filters.CharFilter(
        field_name="officine__finess", label=_("FINESS of the officine")
    )
    profile = django_filters.ChoiceFilter(choices=Profile.choices)
    service = django_filters.ChoiceFilter(choices=Service.choices, method="filter_service")
    status = django_filters.ChoiceFilter(choices=Status.choices, method="filter_status")
    environment = django_filters.ChoiceFilter(choices=Environment.choices)
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

    class Meta:
        model = Certificate
        fields: list[str] = []

    def filter_service(self, queryset, name, value):
        return queryset.serving(value)

    def filter_status(self, queryset, name, value):
        return queryset.in_status(value)

    installed = django_filters.BooleanFilter(
        method="filter_installed",
        label=_("Installed (true) or not (false): renewed but not installed is one call"),
    )

    def filter_installed(self, queryset, name, value):
        return queryset if value is None else queryset.installed(value)


class CertificateRequestFilter(django_filters.FilterSet):
    finess = django_filters.CharFilter(field_name="officine__finess")
    status = django_filters.ChoiceFilter(choices=RequestStatus.choices)
    key_mode = django_filters.ChoiceFilter(choices=KeyMode.choices)

    class Meta:
        model = CertificateRequest
        fields: list[str] = []
