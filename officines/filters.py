import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from officines.models import DelegationMode, Environment, Officine, TechnicalAdministrator


def _administrators(request):
    if request is None:
        return TechnicalAdministrator.objects.none()
    return TechnicalAdministrator.objects.visible_to(request.user)


class OfficineFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    department = django_filters.CharFilter(label=_("Département"))
    delegation_mode = django_filters.ChoiceFilter(
        choices=DelegationMode.choices, label=_("Delegation mode")
    )
    environment = django_filters.ChoiceFilter(choices=Environment.choices, label=_("Environment"))
    technical_administrator = django_filters.ModelChoiceFilter(
        queryset=_administrators, label=_("Technical administrator")
    )
    o = django_filters.OrderingFilter(
        fields=(("raison_sociale", "name"), ("finess", "finess"), ("city", "city")),
        label=_("Sort"),
    )

    class Meta:
        model = Officine
        fields = ["q", "department", "delegation_mode", "environment", "technical_administrator"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        if value.replace(" ", "").isalnum() and len(value.replace(" ", "")) == 9:
            return queryset.filter(finess=value.replace(" ", "").upper())
        return queryset.filter(
            Q(raison_sociale__icontains=value)
            | Q(city__icontains=value)
            | Q(finess__startswith=value)
        )
