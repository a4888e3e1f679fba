"""REST API for webhook endpoints and their delivery log: `/api/v1/webhooks/`.

Writes go through `notifications.webhooks.endpoints` (URL rules, secret, audit). The secret is
returned once, at creation or regeneration, never in reads. Endpoints belong to the whole
editor: keys limited to one officine neither see nor create them.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from notifications.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from notifications.webhooks.endpoints import (
    endpoint_create,
    endpoint_delete,
    endpoint_regenerate_secret,
    endpoint_set_active,
    endpoint_update,
)
from portal.api.pagination import ApiCursorPagination
from portal.api.schema import LIST_ERRORS, READ_ERRORS, WRITE_ERRORS, problem_responses
from portal.api.views import ApiViewMixin


class WebhookEndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEvent.choices))

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "is_active",
            "failure_count",
            "disabled_at",
            "disabled_reason",
            "last_success_at",
            "last_failure_at",
            "created_at",
        ]
        read_only_fields = fields


class WebhookCreateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500, help_text=_("https:// URL of the LGO's receiver."))
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices), min_length=1
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class WebhookUpdateSerializer(serializers.Serializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices), min_length=1, required=False
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(
        required=False, help_text=_("false disables; true enables and resets the failure count.")
    )


class WebhookSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text=_("Signing secret: shown this once, store it now.")
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "delivery_id",
            "event",
            "certificate",
            "status",
            "status_code",
            "attempts",
            "last_error",
            "next_attempt_at",
            "created_at",
            "delivered_at",
            "payload",
        ]
        read_only_fields = fields


class NewestFirst(ApiCursorPagination):
    ordering = "-id"


_ENDPOINT_EXAMPLE = {
    "id": 3,
    "url": "https://lgo.example/hooks/certificats",
    "description": "Production",
    "events": ["certificate.expiring", "certificate.issued"],
    "is_active": True,
    "failure_count": 0,
    "disabled_at": None,
    "disabled_reason": "",
    "last_success_at": "2026-01-06T07:00:02Z",
    "last_failure_at": None,
    "created_at": "2026-01-05T09:30:00Z",
}
_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Webhook endpoint id.")


@extend_schema_view(
    list=extend_schema(
        summary="List webhook endpoints",
        description="The editor's endpoints (never their secret).",
        responses={200: WebhookEndpointSerializer(many=True), **problem_responses(*LIST_ERRORS)},
        examples=[OpenApiExample("An endpoint", value=_ENDPOINT_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get a webhook endpoint",
        description="One endpoint with its health (failures, last success).",
        parameters=[_ID],
        responses={200: WebhookEndpointSerializer, **problem_responses(*READ_ERRORS)},
        examples=[OpenApiExample("An endpoint", value=_ENDPOINT_EXAMPLE, response_only=True)],
    ),
    destroy=extend_schema(
        summary="Delete a webhook endpoint",
        description="Removes the endpoint and its delivery log. Audited.",
        parameters=[_ID],
        responses={204: None, **problem_responses(*READ_ERRORS)},
    ),
)
class WebhookEndpointViewSet(
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = WebhookEndpointSerializer
    queryset = WebhookEndpoint.objects.none()
    lookup_value_converter = "int"
    officine_limited_forbidden = ("create",)
    resource = "webhooks"  # admin-only, like the pages (portal.permissions.EDITOR_RULES)
    # Creation and regeneration answer with the secret: an Idempotency-Key replay copy of
    # that answer is stored encrypted, never in clear (portal.api.idempotency).
    idempotency_seal_body = True

    def get_queryset(self):
        return self.scoped(WebhookEndpoint.objects.all()).order_by("id")

    @extend_schema(
        summary="Register a webhook endpoint",
        description=(
            "Events are POSTed to the URL, signed with HMAC-SHA256 (header carries "
            "`v1=<hex>` over `<timestamp>.<body>`). The answer holds the signing `secret`, "
            "shown this once."
        ),
        request=WebhookCreateSerializer,
        responses={201: WebhookSecretSerializer, **problem_responses(*WRITE_ERRORS)},
        examples=[
            OpenApiExample(
                "Expiry and issuance events",
                value={
                    "url": "https://lgo.example/hooks/certificats",
                    "events": ["certificate.expiring", "certificate.issued"],
                    "description": "Production",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Created",
                value={**_ENDPOINT_EXAMPLE, "secret": "whsec_3q2+7w…"},
                response_only=True,
            ),
        ],
    )
    def create(self, request):
        serializer = WebhookCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = endpoint_create(
            editor=self.editor(),
            url=serializer.validated_data["url"],
            events=serializer.validated_data["events"],
            description=serializer.validated_data.get("description", ""),
            actor=self.actor,
            request=self.http_request,
        )
        return Response(self._with_secret(endpoint, secret), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a webhook endpoint",
        description="Events, description, or `is_active` to disable/enable it. Audited.",
        parameters=[_ID],
        request=WebhookUpdateSerializer,
        responses={200: WebhookEndpointSerializer, **problem_responses(*WRITE_ERRORS)},
        examples=[
            OpenApiExample("Disable", value={"is_active": False}, request_only=True),
        ],
    )
    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        serializer = WebhookUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "events" in data or "description" in data:
            endpoint = endpoint_update(
                endpoint=endpoint,
                events=data.get("events", endpoint.events),
                description=data.get("description", endpoint.description),
                actor=self.actor,
                request=self.http_request,
            )
        if "is_active" in data and data["is_active"] != endpoint.is_active:
            endpoint = endpoint_set_active(
                endpoint=endpoint,
                active=data["is_active"],
                actor=self.actor,
                request=self.http_request,
            )
        return Response(WebhookEndpointSerializer(endpoint).data)

    def perform_destroy(self, instance) -> None:
        endpoint_delete(endpoint=instance, actor=self.actor, request=self.http_request)

    @extend_schema(
        summary="Regenerate the signing secret",
        description="A new secret, effective at once; shown this once.",
        parameters=[_ID],
        request=None,
        responses={
            200: inline_serializer("NewWebhookSecret", {"secret": serializers.CharField()}),
            **problem_responses(*WRITE_ERRORS),
        },
        examples=[OpenApiExample("New secret", value={"secret": "whsec_9Zk…"}, response_only=True)],
    )
    @action(detail=True, methods=["post"])
    def secret(self, request, pk=None):
        endpoint = self.get_object()
        secret = endpoint_regenerate_secret(
            endpoint=endpoint, actor=self.actor, request=self.http_request
        )
        return Response({"secret": secret})

    @extend_schema(
        summary="Read the delivery log",
        description="Deliveries of this endpoint, newest first, with attempts and errors.",
        parameters=[_ID],
        responses={
            200: WebhookDeliverySerializer(many=True),
            **problem_responses(*READ_ERRORS),
        },
        examples=[
            OpenApiExample(
                "A delivery",
                value={
                    "id": 90,
                    "delivery_id": "0b9e4c1e-8a55-4f7e-9d7c-6f0f2d5b8a11",
                    "event": "certificate.expiring",
                    "certificate": 41,
                    "status": "succeeded",
                    "status_code": 200,
                    "attempts": 1,
                    "last_error": "",
                    "next_attempt_at": None,
                    "created_at": "2026-01-06T07:00:00Z",
                    "delivered_at": "2026-01-06T07:00:02Z",
                    "payload": {"event": "certificate.expiring"},
                },
                response_only=True,
            )
        ],
    )
    @action(detail=True, methods=["get"], pagination_class=NewestFirst)
    def deliveries(self, request, pk=None):
        endpoint = self.get_object()
        queryset = self.scoped(WebhookDelivery.objects.all()).filter(endpoint=endpoint)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    def _with_secret(self, endpoint: WebhookEndpoint, secret: str) -> dict:
        data = WebhookEndpointSerializer(endpoint).data
        data["secret"] = secret
        return data
