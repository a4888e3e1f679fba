"""API: `POST /api/v1/certificates/{id}/revocation-check/` asks IGC Santé about one certificate.

A mixin of `CertificateViewSet` (same scoping: `get_object` goes through `visible_to`, a
foreign id is a 404 problem). Read-ish: the `read` scope suffices. The check is bounded
(INTERACTIVE_TIMEOUT) and answered from the OCSP cache while the last answer is fresh.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from certificates.revocation.selectors import revocation_status
from certificates.revocation.services import INTERACTIVE_TIMEOUT, certificate_revocation_check
from portal.api.schema import READ_ERRORS, problem_responses


class RevocationCheckSerializer(serializers.Serializer):
    certificate = serializers.IntegerField(help_text="Certificate id.")
    status = serializers.ChoiceField(
        choices=["good", "revoked", "unknown", "error", "unavailable"],
        help_text="What IGC Santé said; `error`/`unavailable`: no usable answer, nothing changed.",
    )
    method = serializers.ChoiceField(choices=["ocsp", "crl"])
    cached = serializers.BooleanField(help_text="The OCSP answer kept until its nextUpdate.")
    message = serializers.CharField(allow_blank=True)
    next_update = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    revocation_reason = serializers.CharField(allow_blank=True)
    revocation_source = serializers.CharField(
        allow_blank=True, help_text="`crl` or `ocsp` when ANS revoked it, `portal` if recorded."
    )
    checked_at = serializers.DateTimeField(allow_null=True)
    status_unknown = serializers.BooleanField(
        help_text="IGC Santé unreachable for longer than the threshold."
    )


class RevocationCheckMixin:
    @extend_schema(
        summary="Check the revocation status with IGC Santé",
        description=(
            "Asks the CA's OCSP responder (the cached answer while it is fresh), else its CRL. "
            "A certificate IGC Santé revoked becomes revoked with the CA's date and reason; "
            "any other answer changes nothing. Needs the `read` scope."
        ),
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH, description="Id.")],
        request=None,
        responses={200: RevocationCheckSerializer, **problem_responses(*READ_ERRORS)},
        examples=[
            OpenApiExample(
                "Revoked by ANS",
                value={
                    "certificate": 42,
                    "status": "revoked",
                    "method": "ocsp",
                    "cached": False,
                    "message": "",
                    "next_update": "2027-01-05T10:00:00Z",
                    "revoked_at": "2027-01-03T08:12:00Z",
                    "revocation_reason": "key_compromise",
                    "revocation_source": "ocsp",
                    "checked_at": "2027-01-04T10:00:00Z",
                    "status_unknown": False,
                },
                response_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"], url_path="revocation-check", serializer_class=None)
    def revocation_check(self, request, pk=None):
        certificate = self.get_object()
        outcome = certificate_revocation_check(
            certificate=certificate,
            actor=self.actor,
            http_request=self.http_request,
            timeout=INTERACTIVE_TIMEOUT,
        )
        status = revocation_status(certificate)
        data = {
            **outcome.as_dict(),
            "revoked_at": certificate.revoked_at,
            "revocation_reason": certificate.revocation_reason,
            "revocation_source": certificate.revocation_source,
            "checked_at": status.checked_at,
            "status_unknown": status.unknown,
        }
        data.pop("revoked", None)
        return Response(RevocationCheckSerializer(data).data)
