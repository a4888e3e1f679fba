"""REST API for habilitations per officine and changes of administrator (form 503)."""

from __future__ import annotations

import django_filters
from django.db.models import Count, Prefetch
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DrfValidationError
from rest_framework.response import Response

from officines import administrator_changes as changes
from officines.habilitations import habilitations_set
from officines.identifiers import normalize_finess
from officines.models import (
    AdministratorChange,
    AdministratorChangeItem,
    ChangeStatus,
    Habilitation,
    Officine,
    OfficineHabilitation,
    TechnicalAdministrator,
)
from portal.api.schema import LIST_ERRORS, READ_ERRORS, WRITE_ERRORS, problem_responses
from portal.api.views import ApiViewMixin
from portal.csv_stream import csv_lines

# --------------------------------------------------------------------------- serializers


class AdministratorSummarySerializer(serializers.ModelSerializer):
    card_on_order = serializers.BooleanField(
        read_only=True, help_text=_("No card number yet (card on order, form 301).")
    )

    class Meta:
        model = TechnicalAdministrator
        fields = ["id", "full_name", "email", "kind", "card_type", "card_number", "card_on_order"]
        read_only_fields = fields


class HabilitationSerializer(serializers.ModelSerializer):
    finess = serializers.CharField(source="officine.finess", read_only=True)
    administrator = AdministratorSummarySerializer(read_only=True)
    main_contact = serializers.SerializerMethodField(
        help_text=_("This administrator is the officine's main contact for alerts.")
    )

    class Meta:
        model = OfficineHabilitation
        fields = [
            "id",
            "finess",
            "administrator",
            "state",
            "requested_on",
            "habilitated_on",
            "revoked_on",
            "main_contact",
            "updated_at",
        ]
        read_only_fields = fields

    def get_main_contact(self, row: OfficineHabilitation) -> bool:
        return row.officine.technical_administrator_id == row.administrator_id


class HabilitationWriteSerializer(serializers.Serializer):
    administrator = serializers.PrimaryKeyRelatedField(
        queryset=TechnicalAdministrator.objects.none(),
        help_text=_("Id of the technical administrator."),
    )
    state = serializers.ChoiceField(choices=Habilitation.choices)
    date = serializers.DateField(
        required=False, allow_null=True, help_text=_("Date of the step at ANS; today if omitted.")
    )
    finess = serializers.ListField(
        child=serializers.CharField(max_length=20),
        min_length=1,
        max_length=20_000,
        help_text=_("FINESS géographiques of the officines concerned."),
    )


class HabilitationResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class ChangeItemSerializer(serializers.ModelSerializer):
    finess = serializers.CharField(source="officine.finess", read_only=True)
    raison_sociale = serializers.CharField(source="officine.raison_sociale", read_only=True)
    old_administrator = AdministratorSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = AdministratorChangeItem
        fields = ["finess", "raison_sociale", "old_administrator"]
        read_only_fields = fields


class AdministratorChangeSerializer(serializers.ModelSerializer):
    new_administrator = AdministratorSummarySerializer(read_only=True)
    officines = ChangeItemSerializer(source="items", many=True, read_only=True)

    class Meta:
        model = AdministratorChange
        fields = [
            "id",
            "status",
            "new_administrator",
            "officines",
            "requested_by_label",
            "requested_at",
            "processed_on",
            "closed_by_label",
            "closed_at",
        ]
        read_only_fields = fields


class AdministratorChangeCreateSerializer(serializers.Serializer):
    new_administrator = serializers.PrimaryKeyRelatedField(
        queryset=TechnicalAdministrator.objects.none()
    )
    finess = serializers.ListField(
        child=serializers.CharField(max_length=20), min_length=1, max_length=20_000
    )


class ProcessSerializer(serializers.Serializer):
    processed_on = serializers.DateField(help_text=_("Date ANS processed the form 503."))


# --------------------------------------------------------------------------- views


def _officines_by_finess(view, numbers: list[str]) -> list[Officine]:
    wanted = list(dict.fromkeys(normalize_finess(n) for n in numbers))
    found = {o.finess: o for o in view.scoped(Officine.objects.all()).filter(finess__in=wanted)}
    unknown = [n for n in wanted if n not in found]
    if unknown:
        raise DrfValidationError(
            {
                "finess": [
                    _("Unknown FINESS for your officines: %(list)s")
                    % {"list": ", ".join(unknown[:50])}
                ]
            }
        )
    return [found[n] for n in wanted]


class HabilitationFilter(django_filters.FilterSet):
    finess = django_filters.CharFilter(method="filter_finess", label=_("FINESS géographique"))
    administrator = django_filters.NumberFilter(field_name="administrator_id")
    state = django_filters.ChoiceFilter(choices=Habilitation.choices)

    class Meta:
        model = OfficineHabilitation
        fields: list[str] = []

    def filter_finess(self, queryset, name, value):
        return queryset.filter(officine__finess=normalize_finess(value))


@extend_schema_view(
    list=extend_schema(
        summary="List habilitations",
        description=(
            "One row per (technical administrator, officine): the ANS step reached — "
            "`order_to_send` (bon de commande à envoyer), `requested` (demandée), `habilitated` "
            "(habilitée), `revoked` (révoquée) — with its dates."
        ),
        responses={200: HabilitationSerializer(many=True), **problem_responses(*LIST_ERRORS)},
    ),
    create=extend_schema(
        summary="Record a habilitation step for a FINESS list",
        description=(
            "Sets `state` (dated `date`, today by default) for `administrator` at every officine "
            "of `finess`, creating the rows that do not exist. All or nothing: an unknown FINESS "
            "or an administrator whose card is on order (for `habilitated`) is a `400`."
        ),
        request=HabilitationWriteSerializer,
        responses={200: HabilitationResultSerializer, **problem_responses(*WRITE_ERRORS)},
        examples=[
            OpenApiExample(
                "Habilitated by ANS",
                value={
                    "administrator": 4,
                    "state": "habilitated",
                    "date": "2026-03-02",
                    "finess": ["690001003", "750001234"],
                },
                request_only=True,
            )
        ],
    ),
)
class HabilitationViewSet(
    ApiViewMixin, mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    serializer_class = HabilitationSerializer
    filterset_class = HabilitationFilter
    queryset = OfficineHabilitation.objects.none()

    def get_queryset(self):
        return (
            self.scoped(OfficineHabilitation.objects.all())
            .select_related("officine", "administrator")
            .order_by("id")
        )

    def create(self, request, *args, **kwargs):
        data = HabilitationWriteSerializer(data=request.data)
        data.fields["administrator"].queryset = self.scoped(TechnicalAdministrator.objects.all())
        data.is_valid(raise_exception=True)
        officines = _officines_by_finess(self, data.validated_data["finess"])
        result = habilitations_set(
            officines=officines,
            administrator=data.validated_data["administrator"],
            state=data.validated_data["state"],
            on=data.validated_data.get("date"),
            actor=self.actor,
            request=self.http_request,
        )
        body = {
            "count": len(officines),
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
        }
        return Response(body, status=status.HTTP_200_OK)


@extend_schema_view(
    list=extend_schema(
        summary="List changes of administrator (form 503)",
        responses={
            200: AdministratorChangeSerializer(many=True),
            **problem_responses(*LIST_ERRORS),
        },
    ),
    retrieve=extend_schema(
        summary="Get a change of administrator",
        responses={200: AdministratorChangeSerializer, **problem_responses(*READ_ERRORS)},
    ),
    create=extend_schema(
        summary="Request a change of administrator (form 503)",
        description=(
            "Records a pending change to `new_administrator` for the officines of `finess`. "
            "Nothing changes until it is marked processed: the old administrators stay "
            "habilitated and keep the alerts."
        ),
        request=AdministratorChangeCreateSerializer,
        responses={201: AdministratorChangeSerializer, **problem_responses(*WRITE_ERRORS)},
    ),
)
class AdministratorChangeViewSet(
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = AdministratorChangeSerializer
    queryset = AdministratorChange.objects.none()
    # Editor-wide bookkeeping: an officine-limited key lists nothing and may not act.
    officine_limited_forbidden = ("retrieve", "create", "process", "cancel", "worksheet")

    def get_queryset(self):
        queryset = (
            self.scoped(AdministratorChange.objects.all())
            .select_related("new_administrator")
            .prefetch_related(
                Prefetch(
                    "items",
                    queryset=AdministratorChangeItem.objects.select_related(
                        "officine", "old_administrator"
                    ).order_by("officine__finess"),
                )
            )
            .annotate(officine_count=Count("items"))
            .order_by("id")
        )
        wanted = self.request.query_params.get("status")
        if wanted in ChangeStatus.values:
            queryset = queryset.filter(status=wanted)
        return queryset

    def create(self, request, *args, **kwargs):
        data = AdministratorChangeCreateSerializer(data=request.data)
        data.fields["new_administrator"].queryset = self.scoped(
            TechnicalAdministrator.objects.all()
        )
        data.is_valid(raise_exception=True)
        officines = _officines_by_finess(self, data.validated_data["finess"])
        change = changes.administrator_change_request(
            officines=officines,
            new_administrator=data.validated_data["new_administrator"],
            actor=self.actor,
            request=self.http_request,
        )
        change = self.get_queryset().get(pk=change.pk)
        return Response(self.get_serializer(change).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Mark a change processed by ANS",
        request=ProcessSerializer,
        responses={200: AdministratorChangeSerializer, **problem_responses(*WRITE_ERRORS)},
    )
    @action(detail=True, methods=["post"])
    def process(self, request, pk=None):
        change = self.get_object()
        data = ProcessSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes.administrator_change_process(
            change=change,
            processed_on=data.validated_data["processed_on"],
            actor=self.actor,
            request=self.http_request,
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=change.pk)).data)

    @extend_schema(
        summary="Cancel a pending change",
        request=None,
        responses={200: AdministratorChangeSerializer, **problem_responses(*WRITE_ERRORS)},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        change = self.get_object()
        changes.administrator_change_cancel(
            change=change, actor=self.actor, request=self.http_request
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=change.pk)).data)

    @extend_schema(
        summary="Form 503 worksheet (CSV)",
        description=(
            "FINESS, raison sociale, old and new administrator with their card numbers: the "
            "lines to copy into form 503."
        ),
        responses={(200, "text/csv"): OpenApiTypes.STR, **problem_responses(*READ_ERRORS)},
    )
    @action(detail=True, methods=["get"])
    def worksheet(self, request, pk=None):
        change = self.get_object()
        body = "".join(csv_lines(changes.worksheet_rows(change))).encode("utf-8")
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="{changes.worksheet_filename(change)}"'
        )
        return response
