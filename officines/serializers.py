"""API representation of officines. Rules (FINESS, uniqueness) stay in the model and services."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from certificates.coverage import RULES, CoverageState, coverage_of_row
from officines.finess_rules import finess_lookup
from officines.models import Officine, TechnicalAdministrator
from portal.api.fields import OptionalEmailField


class CoverageSerializer(serializers.Serializer):
    """State of each service for the officine's live certificates (see certificates.coverage)."""

    def get_fields(self):
        return {
            str(service): serializers.ChoiceField(
                choices=CoverageState.choices, read_only=True, help_text=str(service.label)
            )
            for service in RULES
        }


class OfficineSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(
        view_name="api:officine-detail", lookup_field="finess", read_only=True
    )
    technical_administrator = serializers.PrimaryKeyRelatedField(
        queryset=TechnicalAdministrator.objects.none(),
        allow_null=True,
        required=False,
        help_text=_("Id of the technical administrator (habilitated at ANS) of the officine."),
    )
    finess = serializers.CharField(
        max_length=20,
        help_text=_("FINESS géographique: 9 characters with the Luhn key (spaces are ignored)."),
    )
    notification_email = OptionalEmailField(max_length=254)
    cc_email = OptionalEmailField(max_length=254)
    coverage = serializers.SerializerMethodField(
        help_text=_("Coverage of each service by the officine's live certificates.")
    )
    confirm_finess = serializers.BooleanField(
        write_only=True,
        required=False,
        default=False,
        help_text=_(
            "On creation: register the officine although the FINESS referential does not "
            "confirm the number (absent, closed or another category)."
        ),
    )

    class Meta:
        model = Officine
        fields = [
            "id",
            "url",
            "finess",
            "finess_juridique",
            "raison_sociale",
            "address",
            "postal_code",
            "city",
            "department",
            "environment",
            "delegation_mode",
            "technical_administrator",
            "notification_email",
            "cc_email",
            "is_active",
            "coverage",
            "confirm_finess",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "is_active", "created_at", "updated_at"]
        extra_kwargs = {
            "department": {
                "help_text": _("Département code; deduced from the FINESS when left empty.")
            },
            "raison_sociale": {
                "help_text": _(
                    "Required, except on creation when the FINESS referential knows the "
                    "officine: blank fields are then filled from it."
                ),
            },
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        view = self.context.get("view")
        if view is not None and hasattr(view, "scoped"):
            self.fields["technical_administrator"].queryset = view.scoped(
                TechnicalAdministrator.objects.all()
            )
        if self.instance is not None and not isinstance(self.instance, list | tuple):
            # The FINESS is the officine's identity (URL, certificate OU): fixed once created.
            self.fields["finess"].read_only = True
        elif (
            isinstance(kwargs.get("data"), dict)
            and kwargs["data"].get("finess")
            and finess_lookup(str(kwargs["data"]["finess"])).fills
        ):
            # Creation: a pharmacie d'officine known to FINESS fills a blank raison sociale.
            self.fields["raison_sociale"].required = False

    @extend_schema_field(CoverageSerializer)
    def get_coverage(self, officine: Officine) -> dict[str, str]:
        """Computed in bulk by the view for a page (`coverage` in the context): no query per
        officine; a single officine reads its stored row (`select_related("coverage")`)."""
        known = self.context.get("coverage") or {}
        if officine.pk in known:
            return known[officine.pk]
        return coverage_of_row(getattr(officine, "coverage", None))
