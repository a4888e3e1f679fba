"""OpenAPI pieces shared by every endpoint: the problem schema and the error responses."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

from portal.api.problems import PROBLEM_CONTENT_TYPE, problem_type


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.CharField(help_text="Stable URI of the problem type.")
    title = serializers.CharField(help_text="Short summary, the same for every problem of a type.")
    status = serializers.IntegerField()
    detail = serializers.CharField(help_text="What went wrong this time, for a person.")
    instance = serializers.CharField(required=False, help_text="The request path.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation errors: field (dotted for nested ones) → messages.",
    )


_ERRORS = {
    400: (
        "Invalid input (validation-error, parse-error or bad-request).",
        "validation-error",
        "Invalid request",
        "finess: The check digit of this FINESS number is wrong.",
        {"finess": ["The check digit of this FINESS number is wrong."]},
    ),
    401: (
        "No credentials, or an unknown, revoked or expired API key.",
        "authentication-failed",
        "Authentication failed",
        "This API key has been revoked.",
        None,
    ),
    403: (
        "The key lacks the scope (or the role) this operation needs.",
        "permission-denied",
        "Permission denied",
        "This API key lacks the scope: write.",
        None,
    ),
    404: (
        "No such object for this caller (objects of other editors are never shown).",
        "not-found",
        "Not found",
        "No Officine matches the given query.",
        None,
    ),
    409: (
        "Conflicts with the current state (e.g. a request with this Idempotency-Key is running).",
        "idempotency-key-in-use",
        "A request with this idempotency key is in progress",
        "The first request with this Idempotency-Key is still running; retry later.",
        None,
    ),
    413: (
        "The body is too large.",
        "payload-too-large",
        "Payload too large",
        "The request body is too large.",
        None,
    ),
    415: (
        "The body has a content type this operation does not read.",
        "unsupported-media-type",
        "Unsupported media type",
        'Unsupported media type "text/csv" in request.',
        None,
    ),
    422: (
        "The Idempotency-Key was used before for a different request, or the content cannot be used.",
        "idempotency-key-reused",
        "Idempotency key reused with another request",
        "This Idempotency-Key was already used for a different request; use a new key.",
        None,
    ),
    429: (
        "Too many requests for this key; see Retry-After.",
        "throttled",
        "Too many requests",
        "Request was throttled. Expected available in 12 seconds.",
        None,
    ),
}

AUTH_ERRORS = (401, 403, 429)
READ_ERRORS = (401, 403, 404, 429)
LIST_ERRORS = (400, 401, 403, 429)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 429)


def problem_responses(*codes: int) -> dict:
    """`responses` entries for these error statuses, as application/problem+json."""
    responses = {}
    for code in codes:
        description, slug, title, detail, errors = _ERRORS[code]
        value = {
            "type": problem_type(slug),
            "title": title,
            "status": code,
            "detail": detail,
            "instance": "/api/v1/…",
        }
        if errors:
            value["errors"] = errors
        responses[(code, PROBLEM_CONTENT_TYPE)] = OpenApiResponse(
            response=ProblemSerializer,
            description=description,
            examples=[OpenApiExample(slug, value=value, status_codes=[str(code)])],
        )
    return responses
