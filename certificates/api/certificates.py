"""API of certificates: list, read, downloads, import, PKCS#12 export, installations, revocation.

Views only translate HTTP to the services (`imports`, `exports`, `lifecycle`) and back; every
rule lives in those services. Rows are always found through `ApiViewMixin.scoped`
(`visible_to` + the officine of an officine-limited key), so another editor's ids are 404.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response

from certificates import x509
from certificates.api import schema
from certificates.api.transport import (
    IMPORT_PARSERS,
    DerRenderer,
    FileNegotiation,
    PemRenderer,
    Pkcs12Renderer,
    file_response,
)
from certificates.exports import certificate_export, certificate_export_pkcs12, export_filename
from certificates.filters import CertificateFilter
from certificates.importing import certificate_import
from certificates.lifecycle import certificate_revoke, installation_report
from certificates.models import Certificate, CertificateRequest, Service
from certificates.representation import import_result_dict
from certificates.revocation.api import RevocationCheckMixin
from certificates.serializers import (
    MAX_ID,
    CertificateDetailSerializer,
    CertificateSerializer,
    InstallationReportSerializer,
    InstallationSerializer,
    Pkcs12Serializer,
    RevocationSerializer,
)
from portal.api.authentication import principal_of
from portal.api.problems import ProblemException
from portal.api.views import ApiViewMixin
from portal.models import ApiScope
from portal.permissions import REAUTH_REFUSAL, Action, require, session_recently_reauthenticated


@schema.CERTIFICATES
class CertificateViewSet(
    RevocationCheckMixin,
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = CertificateSerializer
    filterset_class = CertificateFilter
    queryset = Certificate.objects.none()  # for the schema; get_queryset scopes
    lookup_value_converter = "int"
    # Asking IGC Santé about a certificate reads: the `read` scope suffices.
    required_scopes = {"pkcs12": (ApiScope.KEYS_EXPORT,), "revocation_check": (ApiScope.READ,)}
    resource = "certificates"
    object_actions = {
        "pkcs12": Action.EXPORT_KEY,
        "revocation": Action.ORDER,
        "installations": Action.RECORD,
        "revocation_check": Action.VIEW,
    }

    def get_queryset(self):
        queryset = (
            self.scoped(Certificate.objects.select_related("officine"))
            .with_installed()
            .order_by("id")
        )
        if self.action == "list":
            # Only what the list shape reads: not the PEMs nor whole officine rows.
            queryset = queryset.only(*CertificateSerializer.load_only)
        elif self.action == "retrieve":
            queryset = (
                queryset.select_related("request")
                .prefetch_related("installations")
                .defer("pem", "chain_pem")
            )
        return queryset

    def get_serializer_class(self):
        if self.action == "retrieve":
            return CertificateDetailSerializer
        return super().get_serializer_class()

    def _export(self, kind: str) -> Response:
        certificate = self.get_object()
        try:
            export = certificate_export(
                certificate=certificate,
                kind=kind,
                actor=self.actor,
                http_request=self.http_request,
            )
        except DjangoValidationError as exc:
            raise ProblemException(
                " ".join(exc.messages), status_code=404, slug="not-found"
            ) from exc
        return file_response(export.content, export.filename, export.content_type)

    @schema.CERTIFICATE_PEM
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[PemRenderer],
        content_negotiation_class=FileNegotiation,
    )
    def pem(self, request, pk=None):
        return self._export("pem")

    @schema.CERTIFICATE_DER
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[DerRenderer],
        content_negotiation_class=FileNegotiation,
    )
    def der(self, request, pk=None):
        return self._export("der")

    @schema.CERTIFICATE_CHAIN
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[PemRenderer],
        content_negotiation_class=FileNegotiation,
    )
    def chain(self, request, pk=None):
        return self._export("chain")

    @schema.CERTIFICATE_FULLCHAIN
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[PemRenderer],
        content_negotiation_class=FileNegotiation,
    )
    def fullchain(self, request, pk=None):
        return self._export("fullchain")

    @schema.CERTIFICATE_IMPORT
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=IMPORT_PARSERS,
    )
    def import_(self, request):
        editor = self.editor()
        data, password, filename = self._upload(request)
        cert_request = self._import_request(request)
        services = self._import_services(request)
        loaded = self._check_officine_limit(data, password)
        report = certificate_import(
            editor=editor,
            data=data,
            password=password,
            actor=self.actor,
            http_request=self.http_request,
            request=cert_request,
            filename=filename,
            services=services or None,
            loaded=loaded,
        )
        body = {
            "imported": len(report.imported),
            "duplicates": len(report.duplicates),
            "rejected": len(report.rejected),
            "results": [import_result_dict(r) for r in report.results],
        }
        if report.rejected:
            first = report.rejected[0]
            raise ProblemException(
                first.reason,
                status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
                slug="unprocessable",
                extra={"code": first.code, **body},
            )
        code = status.HTTP_201_CREATED if report.imported else status.HTTP_200_OK
        return Response(body, status=code)

    def _upload(self, request) -> tuple[bytes, bytes | None, str]:
        if isinstance(request.data, bytes):
            return request.data, None, "upload"
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": [_("Send the certificate file as `file`.")]})
        if upload.size > settings.MAX_UPLOAD_SIZE:
            raise ProblemException(
                _("The file is too large."), status_code=413, slug="payload-too-large"
            )
        password = request.data.get("password") or None
        filename = "".join(ch for ch in upload.name if ch.isprintable())[:200] or "upload"
        return upload.read(), password.encode("utf-8") if password else None, filename

    def _param(self, request, name: str) -> Any:
        if not isinstance(request.data, bytes) and name in request.data:
            return request.data.get(name)
        return request.query_params.get(name)

    def _import_request(self, request) -> CertificateRequest | None:
        value = self._param(request, "request")
        if value in (None, ""):
            return None
        try:
            pk = int(value)
        except (TypeError, ValueError):
            raise ValidationError({"request": [_("A request id is a number.")]}) from None
        found = None
        if 0 < pk <= MAX_ID:
            found = self.scoped(CertificateRequest.objects.all()).filter(pk=pk).first()
        if found is None:
            raise ValidationError({"request": [_("Unknown request.")]})
        require(self.actor, Action.RECORD, found)
        return found

    def _import_services(self, request) -> list[str]:
        if not isinstance(request.data, bytes) and "services" in request.data:
            values = request.data.getlist("services")
        else:
            values = request.query_params.getlist("services")
        values = [v for item in values for v in str(item).split(",") if v]
        unknown = [v for v in values if v not in Service.values]
        if unknown:
            raise ValidationError({"services": [_("Unknown service: %s") % ", ".join(unknown)]})
        return values

    def _check_officine_limit(
        self, data: bytes, password: bytes | None
    ) -> x509.LoadedBundle | x509.X509Error | None:
        """A key limited to one officine imports only that officine's certificates.

        Returns what it opened (or why it could not), handed to the import: a PKCS#12's
        key is derived once per upload.
        """
        principal = principal_of(self.request)
        if principal is None or not principal.officine_id:
            return None
        try:
            bundle = x509.load_bundle(
                data,
                password=password,
                max_size=settings.MAX_UPLOAD_SIZE,
                time_limit=settings.UPLOAD_PARSE_SECONDS,
            )
        except x509.X509Error as exc:
            return exc  # unreadable: the import service reports why, writing nothing
        finess = principal.api_key.officine.finess
        for leaf in x509.leaves(bundle.certificates):
            if x509.describe_certificate(leaf).finess != finess:
                raise ProblemException(
                    _("This API key may only import certificates of officine %(finess)s.")
                    % {"finess": finess},
                    status_code=403,
                    slug="permission-denied",
                )
        return bundle

    @schema.CERTIFICATE_PKCS12
    @action(
        detail=True,
        methods=["post"],
        renderer_classes=[Pkcs12Renderer],
        content_negotiation_class=FileNegotiation,
        parser_classes=[JSONParser, MultiPartParser],
        idempotent=False,
    )
    def pkcs12(self, request, pk=None):
        certificate = self.get_object()
        if principal_of(request) is None and not session_recently_reauthenticated(
            self.http_request
        ):
            # A browser session follows the page's rule; API keys need `keys:export`.
            raise ProblemException(str(REAUTH_REFUSAL), status_code=403, slug="permission-denied")
        serializer = Pkcs12Serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        content = certificate_export_pkcs12(
            certificate=certificate,
            passphrase=serializer.validated_data["passphrase"],
            profile=serializer.validated_data["profile"],
            actor=self.actor,
            reason="API pkcs12 export",
            http_request=self.http_request,
        )
        return file_response(content, export_filename(certificate, "p12"), "application/x-pkcs12")

    @schema.CERTIFICATE_INSTALLATIONS
    @action(detail=True, methods=["post"], serializer_class=InstallationReportSerializer)
    def installations(self, request, pk=None):
        certificate = self.get_object()
        serializer = InstallationReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        installation = installation_report(
            certificate=certificate,
            host=serializer.validated_data["host"],
            installed_at=serializer.validated_data.get("installed_at"),
            reported_by=serializer.validated_data.get("reported_by", ""),
            actor=self.actor,
            http_request=self.http_request,
        )
        return Response(InstallationSerializer(installation).data, status=status.HTTP_201_CREATED)

    @schema.CERTIFICATE_REVOCATION
    @action(detail=True, methods=["post"], serializer_class=RevocationSerializer)
    def revocation(self, request, pk=None):
        certificate = self.get_object()
        serializer = RevocationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        certificate_revoke(
            certificate=certificate,
            reason=serializer.validated_data["reason"],
            revoked_at=serializer.validated_data.get("revoked_at"),
            actor=self.actor,
            http_request=self.http_request,
        )
        fresh = (
            self.get_queryset()
            .select_related("request")
            .prefetch_related("installations")
            .get(pk=certificate.pk)
        )
        return Response(CertificateDetailSerializer(fresh).data)
