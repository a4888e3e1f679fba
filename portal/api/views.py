"""Base classes every API view uses, the API root, `ping`, the Swagger UI and the 404 catch-all."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.db.models import QuerySet
from django.middleware.csrf import get_token
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from portal.api.authentication import (
    ApiKeyAuthentication,
    PortalSessionAuthentication,
    principal_of,
)
from portal.api.idempotency import IdempotencyMixin
from portal.api.pagination import ApiCursorPagination
from portal.api.permissions import ApiScopePermission
from portal.api.problems import ProblemException
from portal.api.schema import AUTH_ERRORS, problem_responses
from portal.api.throttling import ApiRateThrottle
from portal.models import Editor
from portal.tenancy import user_scope


class ApiViewMixin(IdempotencyMixin):
    """Authentication, scopes, throttling, idempotency and tenant scoping for API views."""

    authentication_classes = [ApiKeyAuthentication, PortalSessionAuthentication]
    permission_classes = [ApiScopePermission]
    throttle_classes = [ApiRateThrottle]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]
    pagination_class = ApiCursorPagination
    # action -> scopes, when not plain "read" for safe methods and "write" otherwise
    required_scopes: dict[str, tuple[str, ...]] = {}
    # actions refused to keys limited to one officine
    officine_limited_forbidden: tuple[str, ...] = ()

    def dispatch(self, request, *args, **kwargs):
        # Dates in UTC ("…Z") everywhere, like certificates.representation; naive inputs are UTC.
        with timezone.override(UTC):
            return super().dispatch(request, *args, **kwargs)

    def scoped(self, queryset: QuerySet) -> QuerySet:
        """`visible_to(request.user)`, then the officine of an officine-limited key."""
        queryset = queryset.visible_to(self.request.user)
        principal = principal_of(self.request)
        if principal is not None and principal.officine_id:
            path = getattr(queryset.model, "tenant_officine_path", None)
            if path is None:
                return queryset.none()
            queryset = queryset.filter(**{f"{path}__id" if path else "id": principal.officine_id})
        return queryset

    @property
    def actor(self) -> Any:
        """What services record as the actor: the user, or the API key's principal."""
        return self.request.user

    @property
    def http_request(self):
        """The Django request (for audit IP and user agent)."""
        return self.request._request

    def editor_id(self) -> int:
        """The editor a write acts for (an API key's, or the user's); users without one may not."""
        editor_id = user_scope(self.request.user).editor_id
        if editor_id is None:
            raise ProblemException(
                _("Only editor staff can do this."), status_code=403, slug="permission-denied"
            )
        return editor_id

    def editor(self) -> Editor:
        """The Editor row `editor_id()` names; an API key already holds it (no query)."""
        principal = principal_of(self.request)
        if principal is not None:
            return principal.api_key.editor
        return Editor.objects.get(pk=self.editor_id())


class ApiView(ApiViewMixin, APIView):
    pass


_PING = inline_serializer(
    "Ping",
    {
        "status": serializers.CharField(),
        "editor": serializers.IntegerField(allow_null=True),
        "api_key": serializers.CharField(allow_null=True, help_text="Prefix of the key used."),
        "scopes": serializers.ListField(child=serializers.CharField()),
        "officine": serializers.CharField(allow_null=True, help_text="FINESS the key is bound to."),
    },
)


class Ping(ApiView):
    """Cheapest authenticated call: checks a key and shows what it may do."""

    required_scopes = {"get": ()}

    @extend_schema(
        operation_id="ping",
        summary="Check the credentials",
        description=(
            "Answers `ok` for any valid API key or session, with the key's prefix, scopes and "
            "the officine it is limited to. An LGO calls it at start-up to check its key."
        ),
        responses={200: _PING, **problem_responses(*AUTH_ERRORS)},
        examples=[
            OpenApiExample(
                "A write key limited to one officine",
                value={
                    "status": "ok",
                    "editor": 3,
                    "api_key": "lgo_Zx81kQ2a",
                    "scopes": ["read", "write"],
                    "officine": "690001003",
                },
                response_only=True,
            )
        ],
        tags=["meta"],
    )
    def get(self, request: Request) -> Response:
        principal = principal_of(request)
        if principal is not None:
            key = principal.api_key
            return Response(
                {
                    "status": "ok",
                    "editor": key.editor_id,
                    "api_key": key.prefix,
                    "scopes": list(key.scopes),
                    "officine": key.officine.finess if key.officine_id else None,
                }
            )
        return Response(
            {
                "status": "ok",
                "editor": user_scope(request.user).editor_id,
                "api_key": None,
                "scopes": [],
                "officine": None,
            }
        )


class ApiRoot(ApiView):
    """Links to every collection, for the browsable API and for discovery."""

    required_scopes = {"get": ()}

    @extend_schema(
        operation_id="api_root",
        summary="List the resources",
        description="Links to the collections of this API version.",
        responses={
            200: inline_serializer("ApiRoot", {"links": serializers.DictField()}),
            **problem_responses(*AUTH_ERRORS),
        },
        examples=[
            OpenApiExample(
                "Links",
                value={
                    "links": {
                        "officines": "https://portal.example/api/v1/officines/",
                        "certificates": "https://portal.example/api/v1/certificates/",
                    }
                },
                response_only=True,
            )
        ],
        tags=["meta"],
    )
    def get(self, request: Request) -> Response:
        links = {}
        for name, route in ROOT_LINKS:
            links[name] = reverse(route, request=request)
        return Response({"links": links})


# (name, route) shown by the API root; the console adds them in console/api_urls.py.
ROOT_LINKS: list[tuple[str, str]] = []


class SwaggerUI(SpectacularSwaggerView):
    """Swagger UI under the strict CSP: no inline script, the initializer is a static file."""

    template_name = "api/swagger_ui.html"
    authentication_classes = [PortalSessionAuthentication]
    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        return Response(
            data={
                "title": self.title,
                "swagger_ui_css": self._swagger_ui_resource("swagger-ui.css"),
                "swagger_ui_bundle": self._swagger_ui_resource("swagger-ui-bundle.js"),
                "swagger_ui_standalone": self._swagger_ui_resource(
                    "swagger-ui-standalone-preset.js"
                ),
                "favicon_href": self._swagger_ui_favicon(),
                "schema_url": self._get_schema_url(request),
                "csrf_header_name": self._get_csrf_header_name(),
                "csrf_token": get_token(request._request),
            },
            template_name=self.template_name,
        )


class NotFound(APIView):
    """Anything under /api/ that matches no route: a 404 problem, never an HTML page."""

    schema = None  # not an endpoint of the OpenAPI document
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def _not_found(self, request: Request, *args, **kwargs) -> Response:
        detail = _("No such resource.")
        path = request.path
        if not path.endswith("/"):
            from django.urls import Resolver404, resolve

            try:
                match = resolve(path + "/")
            except Resolver404:
                match = None
            if match is not None and getattr(match.func, "cls", None) is not NotFound:
                detail = _("No such resource. Did you mean %(path)s/ (with a final slash)?") % {
                    "path": path
                }
        raise ProblemException(detail, status_code=404, slug="not-found")

    get = post = put = patch = delete = head = options = _not_found
