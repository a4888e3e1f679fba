"""Filters of the officine and technical administrator lists (also used by CSV exports)."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from officines.models import (
    CardType,
    Habilitation,
    OfficineHabilitation,
    TechnicalAdministrator,
)


def administrators_choices(request):
    """The technical administrators a filter may offer: those the user sees."""
    if request is None:
        return TechnicalAdministrator.objects.none()
    return TechnicalAdministrator.objects.visible_to(request.user)


class StableOrderingFilter(django_filters.OrderingFilter):
    """Sorting with the id as last key, so pages never repeat or skip a row on ties."""

    def filter(self, qs, value):
        qs = super().filter(qs, value)
        if value:
            qs = qs.order_by(*qs.query.order_by, "id")
        return qs


class AdministratorFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    card_type = django_filters.ChoiceFilter(
        choices=CardType.choices, label=_("Card type"), empty_label=_("All")
    )
    habilitation = django_filters.ChoiceFilter(
        choices=Habilitation.choices,
        label=_("Habilitation (for at least one officine)"),
        empty_label=_("All"),
        method="filter_habilitation",
    )
    card = django_filters.ChoiceFilter(
        choices=[("on_order", _("Card on order (form 301)")), ("active", _("Card number set"))],
        label=_("Card"),
        empty_label=_("All"),
        method="filter_card",
    )

    class Meta:
        model = TechnicalAdministrator
        fields = ["q", "card_type", "habilitation", "card"]

    def filter_habilitation(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        return queryset.filter(
            Exists(
                OfficineHabilitation.objects.filter(administrator_id=OuterRef("pk"), state=value)
            )
        )

    def filter_card(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "on_order":
            return queryset.filter(card_number="")
        if value == "active":
            return queryset.exclude(card_number="")
        return queryset

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(full_name__icontains=value)
            | Q(email__icontains=value)
            | Q(card_number__startswith=value.replace(" ", ""))
        )
