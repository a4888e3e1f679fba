"""API representation of officines. Rules (FINESS, uniqueness) stay in the model and services."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from certificates.coverage import RULES, CoverageState, coverage_of_row, followed_services
from officines.finess_rules import finess_lookup
from officines.habilitations import not_habilitated_warning
from officines.models import Habilitation, Officine, TechnicalAdministrator
from portal.api.fields import OptionalEmailField
from portal.tenancy import user_scope


class CoverageSerializer(serializers.Serializer):
    """State of each service for the officine's live certificates (see certificates.coverage):
    the services the caller's editor follows (the four SEGUR services by default; ROR and ROC
    when it follows them), hence none is required."""

    def get_fields(self):
        return {
            str(service): serializers.ChoiceField(
                choices=CoverageState.choices, required=False, help_text=str(service.label)
            )
            for service in RULES
        }


class OfficineAdministratorSerializer(serializers.Serializer):
    """A technical administrator of the officine with their habilitation for it."""

    id = serializers.IntegerField()
    full_name = serializers.CharField()
    email = serializers.EmailField()
    card_type = serializers.CharField()
    card_number = serializers.CharField(help_text=_("Empty while the card is on order."))
    card_on_order = serializers.BooleanField(help_text=_("No active card yet (form 301)."))
    state = serializers.ChoiceField(choices=Habilitation.choices)
    requested_on = serializers.DateField(allow_null=True)
    habilitated_on = serializers.DateField(allow_null=True)
    revoked_on = serializers.DateField(allow_null=True)
    main_contact = serializers.BooleanField(help_text=_("The officine's contact for alerts."))


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
    administrators = serializers.SerializerMethodField(
        help_text=_(
            "Every technical administrator of the officine with their habilitation by ANS "
            "for it (`order_to_send`, `requested`, `habilitated`, `revoked`)."
        )
    )
    habilitated = serializers.SerializerMethodField(
        help_text=_("At least one administrator is habilitated: certificates may be ordered.")
    )
    pending_administrator_change = serializers.SerializerMethodField(
        help_text=_(
            "Id of the pending change of administrator (form 503) of this officine, if any: "
            "`technical_administrator` changes only once ANS has processed it."
        )
    )
    ordering_warning = serializers.SerializerMethodField(
        help_text=_(
            "« ne pas commander : administrateur non habilité » when no administrator is "
            "habilitated for this officine; null otherwise."
        )
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
            "administrators",
            "habilitated",
            "ordering_warning",
            "pending_administrator_change",
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

    def _habilitations(self, officine: Officine) -> list:
        cache = getattr(officine, "_prefetched_objects_cache", {})
        if "habilitations" in cache:
            return list(cache["habilitations"])
        return list(officine.habilitations.select_related("administrator").order_by("pk"))

    @extend_schema_field(OfficineAdministratorSerializer(many=True))
    def get_administrators(self, officine: Officine) -> list[dict]:
        rows = getattr(officine, "_habilitation_rows", None)
        if rows is None:
            rows = officine._habilitation_rows = self._habilitations(officine)
        return [
            {
                "id": row.administrator.pk,
                "full_name": row.administrator.full_name,
                "email": row.administrator.email,
                "card_type": row.administrator.card_type,
                "card_number": row.administrator.card_number,
                "card_on_order": row.administrator.card_on_order,
                "state": row.state,
                "requested_on": row.requested_on,
                "habilitated_on": row.habilitated_on,
                "revoked_on": row.revoked_on,
                "main_contact": row.administrator_id == officine.technical_administrator_id,
            }
            for row in rows
        ]

    @extend_schema_field(serializers.BooleanField())
    def get_habilitated(self, officine: Officine) -> bool:
        rows = getattr(officine, "_habilitation_rows", None)
        if rows is None:
            rows = officine._habilitation_rows = self._habilitations(officine)
        return any(row.state == Habilitation.HABILITATED for row in rows)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_ordering_warning(self, officine: Officine) -> str | None:
        return None if self.get_habilitated(officine) else str(not_habilitated_warning())

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_pending_administrator_change(self, officine: Officine) -> int | None:
        change = getattr(officine, "pending_change", None)
        if change is not None:
            return change.pk
        if hasattr(officine, "pending_change_id"):  # annotated by the API's queryset
            return officine.pending_change_id
        item = officine.administrator_change_items.filter(pending=True).first()
        return item.change_id if item else None

    @extend_schema_field(CoverageSerializer)
    def get_coverage(self, officine: Officine) -> dict[str, str]:
        """Computed in bulk by the view for a page (`coverage` in the context): no query per
        officine; a single officine reads its stored row (`select_related("coverage")`).
        Only the services the caller's editor follows (`Editor.coverage_services`)."""
        known = self.context.get("coverage") or {}
        if officine.pk in known:
            matrix = known[officine.pk]
        else:
            matrix = coverage_of_row(getattr(officine, "coverage", None))
        return {service: matrix[service] for service in self._followed() if service in matrix}

    def _followed(self) -> list[str]:
        followed = self.context.get("followed_services")
        if followed is None:
            request = self.context.get("request")
            user = getattr(request, "user", None)
            followed = followed_services(user_scope(user).coverage_services if user else None)
            self.context["followed_services"] = followed
        return followed
