"""API of certificate requests: list, read, create, cancel, mark submitted, the CSR both ways."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.reverse import reverse

from certificates.api import schema
from certificates.api.transport import CSR_PARSERS, FileNegotiation, Pkcs10Renderer, file_response
from certificates.exports import request_csr_export
from certificates.filters import CertificateRequestFilter
from certificates.models import CertificateRequest, KeyMode, RequestStatus
from certificates.ordering import (
    request_cancel,
    request_create,
    request_mark_submitted,
    request_upload_csr,
)
from certificates.serializers import (
    CertificateRequestCreateSerializer,
    CertificateRequestSerializer,
)
from officines.identifiers import normalize_finess
from officines.models import Officine
from officines.selectors import officine_habilitated_expression
from portal.api.problems import ProblemException
from portal.api.views import ApiViewMixin
from portal.permissions import Action


@schema.REQUESTS
class CertificateRequestViewSet(
    ApiViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = CertificateRequestSerializer
    filterset_class = CertificateRequestFilter
    queryset = CertificateRequest.objects.none()
    lookup_value_converter = "int"
    resource = "certificates"
    object_actions = {
        "create": Action.ORDER,
        "cancel": Action.ORDER,
        "mark_submitted": Action.ORDER,
        "upload_csr": Action.ORDER,
    }

    def get_queryset(self):
        return (
            self.scoped(CertificateRequest.objects.all())
            .select_related("officine", "certificate")
            .annotate(officine_habilitated=officine_habilitated_expression("officine_id"))
            .defer("encrypted_private_key")
            .order_by("id")
        )

    @schema.REQUEST_CREATE
    def create(self, request):
        serializer = CertificateRequestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        officine = (
            self.scoped(Officine.objects.all())
            .select_related("editor", "technical_administrator")
            .filter(finess=normalize_finess(data["finess"]))
            .first()
        )
        if officine is None:
            raise ValidationError({"finess": [_("Unknown officine.")]})
        requester_email = data.get("requester_email")
        if not requester_email and officine.technical_administrator_id:
            requester_email = officine.technical_administrator.email
        csr = data.get("csr") or ""
        created = request_create(
            officine=officine,
            profile=data["profile"],
            services=data["services"],
            common_name=data["common_name"],
            key_mode=data["key_mode"],
            requester_email=requester_email or "",
            contact_email=data.get("contact_email", ""),
            csr=csr.encode("utf-8") if csr else None,
            actor=self.actor,
            http_request=self.http_request,
        )
        created = self.get_queryset().get(pk=created.pk)
        body = CertificateRequestSerializer(created, context=self.get_serializer_context()).data
        location = reverse("api:certificate-request-detail", args=[created.pk], request=request)
        code = (
            status.HTTP_202_ACCEPTED
            if created.key_mode == KeyMode.SERVER and created.status == RequestStatus.PENDING
            else status.HTTP_201_CREATED
        )
        return Response(body, status=code, headers={"Location": location})

    @schema.REQUEST_CANCEL
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        cert_request = self.get_object()
        request_cancel(request=cert_request, actor=self.actor, http_request=self.http_request)
        return Response(self._fresh(cert_request))

    @schema.REQUEST_MARK_SUBMITTED
    @action(detail=True, methods=["post"], url_path="mark-submitted", url_name="mark-submitted")
    def mark_submitted(self, request, pk=None):
        cert_request = self.get_object()
        request_mark_submitted(
            request=cert_request, actor=self.actor, http_request=self.http_request
        )
        return Response(self._fresh(cert_request))

    # GET …/csr/ downloads the CSR file; POST …/csr/ uploads the LGO's CSR (PEM body or JSON).
    def _method_action(self) -> str | None:
        method = getattr(self.request, "method", "") or ""
        actions = getattr(self, "action_map", None) or {}
        return actions.get(method.lower(), getattr(self, "action", None))

    def get_parsers(self):
        if self._method_action() == "upload_csr":
            return [JSONParser(), *(parser() for parser in CSR_PARSERS)]
        return super().get_parsers()

    def get_renderers(self):
        if self._method_action() == "csr":
            return [Pkcs10Renderer()]
        return super().get_renderers()

    def get_content_negotiator(self):
        if self._method_action() == "csr":
            return FileNegotiation()
        return super().get_content_negotiator()

    @schema.REQUEST_CSR
    @action(detail=True, methods=["get"])
    def csr(self, request, pk=None):
        export = request_csr_export(
            request=self.get_object(), actor=self.actor, http_request=self.http_request
        )
        if export is None:
            raise ProblemException(
                _("The CSR of this request is not ready yet."), status_code=404, slug="not-found"
            )
        return file_response(export.content, export.filename, export.content_type)

    @schema.REQUEST_UPLOAD_CSR
    @csr.mapping.post
    def upload_csr(self, request, pk=None):
        cert_request = self.get_object()
        data = request.data
        if isinstance(data, bytes):
            csr = data
        elif hasattr(data, "get") and isinstance(data.get("csr"), str) and data.get("csr"):
            csr = data["csr"].encode("utf-8")
        else:
            raise ValidationError({"csr": [_('Send the CSR (PEM) as the body or as {"csr": …}.')]})
        request_upload_csr(
            request=cert_request, csr=csr, actor=self.actor, http_request=self.http_request
        )
        return Response(self._fresh(cert_request))

    def _fresh(self, cert_request: CertificateRequest) -> dict:
        fresh = self.get_queryset().get(pk=cert_request.pk)
        return CertificateRequestSerializer(fresh, context=self.get_serializer_context()).data
