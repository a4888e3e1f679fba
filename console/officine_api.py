"""REST API for officines: `/api/v1/officines/`, addressed by FINESS, with their coverage."""

from __future__ import annotations

from django.db.models import OuterRef, Prefetch, Subquery
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as DrfValidationError

from certificates.coverage import coverage_for_officines
from console.officine_filters import OfficineApiFilter
from console.officine_serializers import OfficineSerializer
from officines.finess_check import finess_check_officine
from officines.finess_rules import fill_blanks, finess_lookup
from officines.identifiers import normalize_finess
from officines.models import (
    AdministratorChangeItem,
    Officine,
    OfficineHabilitation,
)
from officines.services import officine_save
from portal.api.schema import LIST_ERRORS, READ_ERRORS, WRITE_ERRORS, problem_responses
from portal.api.views import ApiViewMixin

_OFFICINE_EXAMPLE = {
    "id": 12,
    "url": "https://portal.example/api/v1/officines/690001003/",
    "finess": "690001003",
    "finess_juridique": "",
    "raison_sociale": "PHARMACIE DE LA PLACE",
    "address": "1 place Bellecour",
    "postal_code": "69002",
    "city": "Lyon",
    "department": "69",
    "environment": "production",
    "delegation_mode": "editeur",
    "technical_administrator": 4,
    "notification_email": "officine@example.fr",
    "cc_email": "",
    "is_active": True,
    "coverage": {"DMP": "missing", "INSI": "covered", "PSC": "expiring", "MSSANTE": "missing"},
    "created_at": "2026-01-05T09:30:00Z",
    "updated_at": "2026-01-05T09:30:00Z",
}
_CREATE_EXAMPLE = {
    "finess": "690001003",
    "raison_sociale": "PHARMACIE DE LA PLACE",
    "postal_code": "69002",
    "city": "Lyon",
    "notification_email": "officine@example.fr",
}
_FINESS = OpenApiParameter(
    "finess",
    str,
    OpenApiParameter.PATH,
    description="FINESS géographique of the officine (9 characters).",
)


@extend_schema_view(
    list=extend_schema(
        summary="List officines",
        description=(
            "Officines of the caller's editor (or the one officine of an officine-limited key), "
            "ordered by id, cursor-paginated, each with its service coverage."
        ),
        responses={200: OfficineSerializer(many=True), **problem_responses(*LIST_ERRORS)},
        examples=[OpenApiExample("An officine", value=_OFFICINE_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get an officine by FINESS",
        description="The officine with this FINESS géographique, with its coverage matrix.",
        parameters=[_FINESS],
        responses={200: OfficineSerializer, **problem_responses(*READ_ERRORS)},
        examples=[OpenApiExample("An officine", value=_OFFICINE_EXAMPLE, response_only=True)],
    ),
    create=extend_schema(
        summary="Create an officine",
        description=(
            "Registers an officine for the caller's editor. The FINESS is checked (Luhn key, "
            "département) and must be new for the editor. When a FINESS referential is loaded: "
            "a FINESS juridique is refused (the géographique numbers under it are listed); a "
            "number absent, closed or not of category 620 needs `confirm_finess: true`; for a "
            "pharmacie d'officine, blank raison sociale, address, département and FINESS "
            "juridique are filled from the referential. Needs the `write` scope; refused to "
            "officine-limited keys."
        ),
        responses={201: OfficineSerializer, **problem_responses(*WRITE_ERRORS)},
        examples=[
            OpenApiExample("New officine", value=_CREATE_EXAMPLE, request_only=True),
            OpenApiExample("Created", value=_OFFICINE_EXAMPLE, response_only=True),
        ],
    ),
    update=extend_schema(
        summary="Replace an officine's details",
        description="Every writable field; the FINESS itself cannot change.",
        parameters=[_FINESS],
        responses={200: OfficineSerializer, **problem_responses(*WRITE_ERRORS)},
        examples=[OpenApiExample("Details", value=_CREATE_EXAMPLE, request_only=True)],
    ),
    partial_update=extend_schema(
        summary="Change some details of an officine",
        description="Only the given fields; the FINESS itself cannot change.",
        parameters=[_FINESS],
        responses={200: OfficineSerializer, **problem_responses(*WRITE_ERRORS)},
        examples=[
            OpenApiExample(
                "New notification address",
                value={"notification_email": "pharmacie@example.fr"},
                request_only=True,
            )
        ],
    ),
)
class OfficineViewSet(
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = OfficineSerializer
    filterset_class = OfficineApiFilter
    lookup_field = "finess"
    lookup_value_converter = "str"
    officine_limited_forbidden = ("create",)
    resource = "officines"
    queryset = Officine.objects.none()  # for the schema; get_queryset scopes

    def get_queryset(self):
        habilitations = OfficineHabilitation.objects.select_related("administrator").order_by("pk")
        return (
            self.scoped(Officine.objects.all())
            .prefetch_related(Prefetch("habilitations", queryset=habilitations))
            .annotate(
                pending_change_id=Subquery(
                    AdministratorChangeItem.objects.filter(
                        officine_id=OuterRef("pk"), pending=True
                    ).values("change_id")[:1]
                )
            )
            .order_by("id")
        )

    def get_object(self) -> Officine:
        finess = normalize_finess(self.kwargs["finess"])
        if not (finess.isascii() and finess.isalnum() and len(finess) == 9):
            raise NotFound(_("No officine with this FINESS."))
        # FINESS is unique per editor; a pharmacist linked to two editors sees the first.
        # Its stored coverage comes in the same query (OfficineSerializer.get_coverage).
        officine = self.get_queryset().select_related("coverage").filter(finess=finess).first()
        if officine is None:
            raise NotFound(_("No officine with this FINESS."))
        self.check_object_permissions(self.request, officine)
        return officine

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        if page is not None:
            # One query for the whole page's coverage, whatever the page size.
            self.coverage = coverage_for_officines([o.pk for o in page])
        return page

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["coverage"] = getattr(self, "coverage", {})
        return context

    def perform_create(self, serializer) -> None:
        data = dict(serializer.validated_data)
        confirmed = data.pop("confirm_finess", False)
        officine = Officine(editor_id=self.editor_id(), **data)
        lookup = finess_lookup(officine.finess)
        if lookup.refused:
            raise DrfValidationError({"finess": [lookup.message()]})
        if lookup.needs_confirmation and not confirmed:
            raise DrfValidationError({"confirm_finess": [lookup.message()]})
        fill_blanks(officine, lookup)
        serializer.instance = officine_save(
            officine=officine, actor=self.actor, request=self.http_request
        )
        finess_check_officine(officine)

    def perform_update(self, serializer) -> None:
        officine = serializer.instance
        for field, value in serializer.validated_data.items():
            if field != "confirm_finess":
                setattr(officine, field, value)
        serializer.instance = officine_save(
            officine=officine, actor=self.actor, request=self.http_request
        )
        finess_check_officine(officine)
