"""RFC 9457 problem details for every API error: `application/problem+json`, never HTML.

Each problem has a stable `type` URI (`<API_PROBLEM_BASE_URL>/<slug>`), a `title` fixed per
type, the HTTP `status`, a human `detail`, the request path as `instance`, and for
validation errors `errors` (field → messages). Unexpected exceptions become a 500 problem
that says nothing of the code: the traceback goes to the log only.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, DataError, IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.encoding import force_str
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import set_rollback

logger = logging.getLogger("portal.api")

PROBLEM_CONTENT_TYPE = "application/problem+json"

# slug -> title. The slug is part of the public contract: never rename one.
PROBLEM_TITLES: dict[str, Any] = {
    "validation-error": _("Invalid request"),
    "parse-error": _("Malformed request body"),
    "bad-request": _("Bad request"),
    "not-authenticated": _("Authentication required"),
    "authentication-failed": _("Authentication failed"),
    "permission-denied": _("Permission denied"),
    "not-found": _("Not found"),
    "method-not-allowed": _("Method not allowed"),
    "not-acceptable": _("Not acceptable"),
    "unsupported-media-type": _("Unsupported media type"),
    "payload-too-large": _("Payload too large"),
    "throttled": _("Too many requests"),
    "conflict": _("Conflict"),
    "idempotency-key-reused": _("Idempotency key reused with another request"),
    "idempotency-key-in-use": _("A request with this idempotency key is in progress"),
    "unprocessable": _("Request cannot be processed"),
    "server-error": _("Internal server error"),
    "service-unavailable": _("Service temporarily unavailable"),
}

_SLUG_BY_CODE = {
    "invalid": "validation-error",
    "parse_error": "parse-error",
    "not_authenticated": "not-authenticated",
    "authentication_failed": "authentication-failed",
    "permission_denied": "permission-denied",
    "not_found": "not-found",
    "method_not_allowed": "method-not-allowed",
    "not_acceptable": "not-acceptable",
    "unsupported_media_type": "unsupported-media-type",
    "throttled": "throttled",
}


def problem_type(slug: str) -> str:
    base = getattr(settings, "API_PROBLEM_BASE_URL", "/api/v1/problems/")
    return f"{base.rstrip('/')}/{slug}"


class ProblemException(exceptions.APIException):
    """An API error with its own problem slug (409, 413, 422...)."""

    def __init__(
        self,
        detail: Any,
        *,
        status_code: int,
        slug: str,
        errors: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.slug = slug
        self.errors = errors
        self.extra = extra or {}


class ProblemJSONRenderer(JSONRenderer):
    media_type = PROBLEM_CONTENT_TYPE
    format = "problem+json"


class ProblemResponse(Response):
    """Always rendered as problem JSON, whatever renderer the request negotiated (PEM, HTML...)."""

    @property
    def rendered_content(self):
        self.accepted_renderer = ProblemJSONRenderer()
        self.accepted_media_type = PROBLEM_CONTENT_TYPE
        self.content_type = PROBLEM_CONTENT_TYPE
        if not hasattr(self, "renderer_context"):
            self.renderer_context = {}
        return super().rendered_content


def problem_body(
    *,
    slug: str,
    status_code: int,
    detail: Any,
    instance: str | None = None,
    errors: dict[str, list[str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": force_str(PROBLEM_TITLES.get(slug, PROBLEM_TITLES["bad-request"])),
        "status": status_code,
        "detail": force_str(detail),
    }
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return body


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as `{"field": [...], "services.0": [...]}`."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "non_field_errors" if key in ("__all__", "non_field_errors") else str(key)
            for k, v in flatten_errors(value, f"{prefix}.{name}" if prefix else name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list | tuple):
        if all(not isinstance(item, dict | list | tuple) for item in detail):
            out[prefix or "non_field_errors"] = [force_str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                if not item:
                    continue
                key = f"{prefix}.{index}" if prefix else str(index)
                if isinstance(item, dict | list | tuple):
                    for k, v in flatten_errors(item, key).items():
                        out.setdefault(k, []).extend(v)
                else:
                    out.setdefault(prefix or "non_field_errors", []).append(force_str(item))
    else:
        out[prefix or "non_field_errors"] = [force_str(detail)]
    return out


def _validation_detail(errors: dict[str, list[str]]) -> str:
    if len(errors) == 1:
        field, messages = next(iter(errors.items()))
        if field == "non_field_errors" and messages:
            return messages[0]
        if messages:
            return f"{field}: {messages[0]}"
    return force_str(_("The request is invalid: see `errors` for each field."))


def _normalize(exc: Exception) -> Exception:
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        # portal.permissions gives the reason (e.g. Cas 2: the officine orders itself).
        return exceptions.PermissionDenied(*[a for a in exc.args if a][:1])
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, RequestDataTooBig):
        return ProblemException(
            _("The request body is too large."),
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            slug="payload-too-large",
        )
    return exc


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF EXCEPTION_HANDLER: every error as a problem, including unexpected ones (500)."""
    exc = _normalize(exc)
    request = context.get("request")
    instance = request.path if request is not None else None
    set_rollback()
    if isinstance(exc, DatabaseError) and not isinstance(exc, IntegrityError | DataError):
        # The database is unreachable (restart, failover): a clean 503, retry later.
        logger.warning("Database unavailable on %s: %s", instance, exc)
        body = problem_body(
            slug="service-unavailable",
            status_code=503,
            detail=_("The service is temporarily unavailable. Please retry in a moment."),
            instance=instance,
        )
        return ProblemResponse(
            body, status=503, content_type=PROBLEM_CONTENT_TYPE, headers={"Retry-After": "30"}
        )
    if not isinstance(exc, exceptions.APIException):
        logger.error("Unhandled API error on %s", instance, exc_info=exc)
        body = problem_body(
            slug="server-error",
            status_code=500,
            detail=_("An unexpected error occurred. It has been logged; please retry later."),
            instance=instance,
        )
        return ProblemResponse(body, status=500, content_type=PROBLEM_CONTENT_TYPE)

    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    errors = None
    extra: dict[str, Any] = {}
    if isinstance(exc, ProblemException):
        slug, detail, errors, extra = exc.slug, exc.detail, exc.errors, exc.extra
    elif isinstance(exc, exceptions.ValidationError):
        slug = "validation-error"
        errors = flatten_errors(exc.detail)
        detail = _validation_detail(errors)
    else:
        slug = _SLUG_BY_CODE.get(exc.default_code, "bad-request")
        if exc.status_code >= 500:
            slug = "server-error"
        detail = exc.detail
        if isinstance(detail, list | dict):
            detail = "; ".join(m for ms in flatten_errors(detail).values() for m in ms)
    body = problem_body(
        slug=slug,
        status_code=exc.status_code,
        detail=detail,
        instance=instance,
        errors=errors,
        extra=extra,
    )
    return ProblemResponse(
        body, status=exc.status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE
    )


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def problem_response(request: HttpRequest, *, slug: str, status_code: int, detail: Any):
    """A problem response outside DRF (Django error handlers)."""
    return JsonResponse(
        problem_body(slug=slug, status_code=status_code, detail=detail, instance=request.path),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
        json_dumps_params={"ensure_ascii": False},
    )


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 handler: problem JSON under /api/, the portal's page elsewhere."""
    if _is_api(request):
        return problem_response(
            request, slug="not-found", status_code=404, detail=_("No such resource.")
        )
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    """Django's 500 handler: problem JSON under /api/ (no traceback), the portal's page elsewhere."""
    if _is_api(request):
        return problem_response(
            request,
            slug="server-error",
            status_code=500,
            detail=_("An unexpected error occurred. It has been logged; please retry later."),
        )
    return defaults.server_error(request)
