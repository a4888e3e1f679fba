"""REST API for certificates, certificate requests and renewal campaigns.

Views only translate HTTP to the services (`imports`, `exports`, `lifecycle`, `requests`,
`campaigns`) and back; every rule lives in those services. Rows are always found through
`ApiViewMixin.scoped` (`visible_to` + the officine of an officine-limited key), so another
editor's ids are 404.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import django_filters
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import StreamingHttpResponse
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser, JSONParser, MultiPartParser
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.reverse import reverse

from certificates import x509
from certificates.campaigns import campaign_create, campaign_export, campaign_zip_filename
from certificates.exports import (
    EXPORT_KINDS,
    certificate_export,
    certificate_export_pkcs12,
    export_filename,
    request_csr_export,
)
from certificates.importing import certificate_import
from certificates.lifecycle import certificate_revoke, installation_report
from certificates.models import (
    CampaignStatus,
    Certificate,
    CertificateRequest,
    Environment,
    KeyMode,
    Profile,
    RenewalCampaign,
    RequestStatus,
    Service,
    Status,
)
from certificates.ordering import (
    request_cancel,
    request_create,
    request_mark_submitted,
    request_upload_csr,
)
from certificates.representation import import_result_dict
from certificates.revocation.api import RevocationCheckMixin
from certificates.serializers import (
    MAX_ID,
    CampaignCreateSerializer,
    CampaignSerializer,
    CertificateDetailSerializer,
    CertificateRequestCreateSerializer,
    CertificateRequestSerializer,
    CertificateSerializer,
    ImportReportSerializer,
    ImportUploadSerializer,
    InstallationReportSerializer,
    InstallationSerializer,
    Pkcs12Serializer,
    RevocationSerializer,
)
from officines.identifiers import normalize_finess
from officines.models import Officine
from officines.selectors import officine_habilitated_expression
from portal.api.authentication import principal_of
from portal.api.problems import ProblemException
from portal.api.schema import (
    LIST_ERRORS,
    READ_ERRORS,
    WRITE_ERRORS,
    problem_responses,
)
from portal.api.views import ApiViewMixin
from portal.models import ApiScope
from portal.permissions import REAUTH_REFUSAL, Action, require, session_recently_reauthenticated

# --------------------------------------------------------------------------- HTTP plumbing


class RawUploadParser(BaseParser):
    """A certificate file sent as the body itself; the body arrives as bytes."""

    media_type = "application/x-pem-file"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        if stream is None:
            return b""
        limit = settings.MAX_UPLOAD_SIZE
        data = stream.read(limit + 1)
        if len(data) > limit:
            raise ProblemException(
                _("The file is too large."), status_code=413, slug="payload-too-large"
            )
        return data


def _raw_parser(content_type: str) -> type[RawUploadParser]:
    return type(
        f"RawUploadParser_{content_type.split('/')[1].replace('-', '_')}",
        (RawUploadParser,),
        {"media_type": content_type},
    )


RAW_UPLOAD_TYPES = (
    "application/x-pem-file",
    "application/pkix-cert",
    "application/octet-stream",
    "application/pkcs7-mime",
    "application/x-pkcs12",
)
IMPORT_PARSERS = [MultiPartParser, *(_raw_parser(t) for t in RAW_UPLOAD_TYPES)]
# A CSR sent as the body itself (JSON `{"csr": …}` is read by DRF's JSONParser).
CSR_PARSERS = [
    _raw_parser(t)
    for t in (
        "application/x-pem-file",
        "application/pkcs10",
        "text/plain",
        "application/octet-stream",
    )
]


class _FileRenderer(BaseRenderer):
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


def _file_renderer(content_type: str, fmt: str) -> type[_FileRenderer]:
    return type(
        f"FileRenderer_{fmt}", (_FileRenderer,), {"media_type": content_type, "format": fmt}
    )


PemRenderer = _file_renderer("application/x-pem-file", "pem")
DerRenderer = _file_renderer("application/pkix-cert", "der")
Pkcs12Renderer = _file_renderer("application/x-pkcs12", "p12")
Pkcs10Renderer = _file_renderer("application/pkcs10", "csr")
ZipRenderer = _file_renderer("application/zip", "zip")


class FileNegotiation(BaseContentNegotiation):
    """Downloads have one format: ignore Accept (errors are problem JSON anyway)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _file_response(content: bytes, filename: str, content_type: str) -> Response:
    return Response(
        content,
        content_type=content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _file_download(content_type: str) -> dict:
    return {(200, content_type): OpenApiResponse(OpenApiTypes.BINARY, description="The file.")}


# --------------------------------------------------------------------------- certificates


class UtcIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 date-time, converted to UTC before it reaches the database.

    Python accepts offsets up to ±24 h, PostgreSQL only ±15:59: a value such as
    `…-19:43` would be a database error instead of a plain comparison.
    """

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise DjangoValidationError(_("Date out of range."), code="overflow") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class CertificateFilter(django_filters.FilterSet):
    finess = django_filters.CharFilter(
        field_name="officine__finess", label=_("FINESS of the officine")
    )
    profile = django_filters.ChoiceFilter(choices=Profile.choices)
    service = django_filters.ChoiceFilter(choices=Service.choices, method="filter_service")
    status = django_filters.ChoiceFilter(choices=Status.choices, method="filter_status")
    environment = django_filters.ChoiceFilter(choices=Environment.choices)
    expires_before = UtcIsoDateTimeFilter(
        field_name="usable_until",
        lookup_expr="lt",
        label=_("Usable until strictly before (ISO 8601)"),
    )
    expires_after = UtcIsoDateTimeFilter(
        field_name="usable_until",
        lookup_expr="gte",
        label=_("Usable until at or after (ISO 8601)"),
    )

    class Meta:
        model = Certificate
        fields: list[str] = []

    def filter_service(self, queryset, name, value):
        return queryset.serving(value)

    def filter_status(self, queryset, name, value):
        return queryset.in_status(value)

    installed = django_filters.BooleanFilter(
        method="filter_installed",
        label=_("Installed (true) or not (false): renewed but not installed is one call"),
    )

    def filter_installed(self, queryset, name, value):
        return queryset if value is None else queryset.installed(value)


_CERTIFICATE_EXAMPLE = {
    "id": 41,
    "officine": 12,
    "finess": "690001003",
    "profile": "ORG_AUTH_CLI",
    "common_name": "INSI-AUTO",
    "serial": "4F1A09",
    "not_before": "2026-01-05T09:30:00Z",
    "not_after": "2029-02-05T09:30:00Z",
    "usable_until": "2029-01-05T09:30:00Z",
    "fingerprint_sha256": "5d0c…e2",
    "environment": "production",
    "chain_status": "trusted_production",
    "status": "valid",
    "services": ["INSI"],
}
_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Certificate id.")


def _download_schema(kind: str, summary: str, description: str) -> Any:
    return extend_schema(
        summary=summary,
        description=description + " Every download is audited.",
        parameters=[_ID],
        responses={**_file_download(EXPORT_KINDS[kind][1]), **problem_responses(*READ_ERRORS)},
        examples=[
            OpenApiExample(
                "PEM", value="-----BEGIN CERTIFICATE-----\nMIIF…\n-----END CERTIFICATE-----\n"
            )
        ]
        if kind != "der"
        else [],
    )


@extend_schema_view(
    list=extend_schema(
        summary="List certificates",
        description=(
            "Certificates of the caller's officines, ordered by id, cursor-paginated. "
            "`status` is computed from the dates and events (valid, expiring within 30 days, "
            "expired, revoked, superseded)."
        ),
        responses={200: CertificateSerializer(many=True), **problem_responses(*LIST_ERRORS)},
        examples=[OpenApiExample("A certificate", value=_CERTIFICATE_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get a certificate",
        description="A certificate with its subject, issuer, lifecycle and installations.",
        parameters=[_ID],
        responses={200: CertificateDetailSerializer, **problem_responses(*READ_ERRORS)},
        examples=[
            OpenApiExample(
                "A certificate",
                value={
                    **_CERTIFICATE_EXAMPLE,
                    "subject_dn": "CN=INSI-AUTO,OU=1690001003,O=PHARMACIE DE LA PLACE,"
                    "ST=Rhône (69),C=FR",
                    "issuer_dn": "CN=AC IGC-SANTE ELEMENTAIRE ORGANISATIONS,…",
                    "revoked_at": None,
                    "revocation_reason": "",
                    "superseded_at": None,
                    "replaces": None,
                    "request": 7,
                    "has_private_key": False,
                    "installations": [
                        {
                            "id": 3,
                            "host": "poste-1.pharmacie.local",
                            "installed_at": "2026-01-06T08:00:00Z",
                            "reported_by": "LGO 12.4",
                            "created_at": "2026-01-06T08:00:05Z",
                        }
                    ],
                },
                response_only=True,
            )
        ],
    ),
)
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
        return _file_response(export.content, export.filename, export.content_type)

    @_download_schema("pem", "Download the certificate (PEM)", "The certificate alone, PEM.")
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[PemRenderer],
        content_negotiation_class=FileNegotiation,
    )
    def pem(self, request, pk=None):
        return self._export("pem")

    @_download_schema("der", "Download the certificate (DER)", "The certificate alone, DER.")
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[DerRenderer],
        content_negotiation_class=FileNegotiation,
    )
    def der(self, request, pk=None):
        return self._export("der")

    @_download_schema(
        "chain",
        "Download the CA chain (PEM)",
        "The issuing CA and the root, PEM, as stored at import; 404 if none is stored.",
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[PemRenderer],
        content_negotiation_class=FileNegotiation,
    )
    def chain(self, request, pk=None):
        return self._export("chain")

    @_download_schema(
        "fullchain",
        "Download the certificate and its chain (PEM)",
        "The certificate followed by its intermediate CA (no root), what a TLS client sends.",
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[PemRenderer],
        content_negotiation_class=FileNegotiation,
    )
    def fullchain(self, request, pk=None):
        return self._export("fullchain")

    @extend_schema(
        summary="Import an issued certificate",
        description=(
            "The certificate file as the body (`application/x-pem-file`, "
            "`application/pkix-cert`, `application/octet-stream`, `application/pkcs7-mime`, "
            "`application/x-pkcs12`) or as `file` in `multipart/form-data` with an optional "
            "`password` (PKCS#12). `request` (query or form) restricts the upload to that "
            "request's key; `services` (repeatable) adds services. The officine is found from "
            "the certificate's OU among the caller's officines. The file is imported whole or "
            "not at all: `201` when something was imported, `200` when it was already there, "
            "a `422` problem listing the reasons otherwise."
        ),
        parameters=[
            OpenApiParameter(
                "request",
                {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                description="Id of the certificate request.",
            ),
            OpenApiParameter(
                "services",
                {"type": "array", "items": {"type": "string", "enum": Service.values}},
                description="Services for a certificate that matches no request.",
                explode=True,
            ),
        ],
        request={
            "multipart/form-data": ImportUploadSerializer,
            **{t: OpenApiTypes.BINARY for t in RAW_UPLOAD_TYPES},
        },
        responses={
            201: ImportReportSerializer,
            200: ImportReportSerializer,
            **problem_responses(*WRITE_ERRORS),
        },
        examples=[
            OpenApiExample(
                "Imported",
                value={
                    "imported": 1,
                    "duplicates": 0,
                    "rejected": 0,
                    "results": [
                        {
                            "file": "690001003.pem",
                            "result": "imported",
                            "code": "imported",
                            "reason": "Certificate imported.",
                            "warnings": [],
                            "certificate": _CERTIFICATE_EXAMPLE,
                        }
                    ],
                },
                response_only=True,
                status_codes=["201"],
            )
        ],
    )
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

    @extend_schema(
        summary="Export the certificate with its private key (PKCS#12)",
        description=(
            "Only for certificates whose key the portal generated (server mode). Needs the "
            "`keys:export` scope; the key decryption and the export are audited. The file is "
            "protected by the passphrase; nothing is kept (not idempotent-cached)."
        ),
        parameters=[_ID],
        request=Pkcs12Serializer,
        responses={**_file_download("application/x-pkcs12"), **problem_responses(*WRITE_ERRORS)},
        examples=[
            OpenApiExample(
                "Modern PKCS#12",
                value={"passphrase": "correct horse battery", "profile": "modern"},
                request_only=True,
            )
        ],
    )
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
        return _file_response(content, export_filename(certificate, "p12"), "application/x-pkcs12")

    @extend_schema(
        summary="Report an installation",
        description=(
            "The LGO says where it installed the certificate. One row per host: reporting the "
            "same host again updates its date."
        ),
        parameters=[_ID],
        request=InstallationReportSerializer,
        responses={201: InstallationSerializer, **problem_responses(*WRITE_ERRORS)},
        examples=[
            OpenApiExample(
                "Installed on a workstation",
                value={
                    "host": "poste-1.pharmacie.local",
                    "installed_at": "2026-01-06T08:00:00Z",
                    "reported_by": "LGO 12.4",
                },
                request_only=True,
            )
        ],
    )
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

    @extend_schema(
        summary="Record a revocation",
        description=(
            "Records that the certificate was revoked on the ANS platform (the portal does not "
            "revoke at ANS). Final: a revoked certificate covers no service."
        ),
        parameters=[_ID],
        request=RevocationSerializer,
        responses={200: CertificateDetailSerializer, **problem_responses(*WRITE_ERRORS)},
        examples=[
            OpenApiExample("Key lost", value={"reason": "key_compromise"}, request_only=True)
        ],
    )
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


# --------------------------------------------------------------------------- requests


class CertificateRequestFilter(django_filters.FilterSet):
    finess = django_filters.CharFilter(field_name="officine__finess")
    status = django_filters.ChoiceFilter(choices=RequestStatus.choices)
    key_mode = django_filters.ChoiceFilter(choices=KeyMode.choices)

    class Meta:
        model = CertificateRequest
        fields: list[str] = []


_REQUEST_EXAMPLE = {
    "id": 7,
    "url": "https://portal.example/api/v1/certificate-requests/7/",
    "officine": 12,
    "finess": "690001003",
    "profile": "ORG_AUTH_CLI",
    "services": ["INSI"],
    "common_name": "INSI-AUTO",
    "key_mode": "csr",
    "status": "csr_ready",
    "progress": 100,
    "error": "",
    "csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\nMIIC…\n-----END CERTIFICATE REQUEST-----\n",
    "requester_email": "admin-tech@lgo.example",
    "contact_email": "",
    "renews": None,
    "campaign": None,
    "certificate": None,
    "created_at": "2026-01-05T09:30:00Z",
    "updated_at": "2026-01-05T09:30:00Z",
    "submitted_at": None,
    "issued_at": None,
}
_REQUEST_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Request id.")


@extend_schema_view(
    list=extend_schema(
        summary="List certificate requests",
        description="Requests of the caller's officines, ordered by id, cursor-paginated.",
        responses={
            200: CertificateRequestSerializer(many=True),
            **problem_responses(*LIST_ERRORS),
        },
        examples=[OpenApiExample("A request", value=_REQUEST_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Get a certificate request",
        description=(
            "Status, CSR and progress of key generation. Poll this URL after a `202`: "
            "`status` becomes `csr_ready` (with `csr_pem`) when the key is generated."
        ),
        parameters=[_REQUEST_ID],
        responses={200: CertificateRequestSerializer, **problem_responses(*READ_ERRORS)},
        examples=[OpenApiExample("A request", value=_REQUEST_EXAMPLE, response_only=True)],
    ),
)
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

    @extend_schema(
        summary="Create a certificate request",
        description=(
            "Prepares what the technical administrator orders on the ANS platform. In `csr` "
            "mode (the default) send the LGO's CSR (its key never leaves the machine where the "
            "certificate will be installed): answer `201`, status `csr_ready`; without it the "
            "request is `awaiting_csr` until `POST …/csr/`. In `server` mode the portal "
            "generates the key in the background: answer `202` with the request's URL in "
            "`Location`; poll it until `csr_ready`. In `ans` mode the key is generated on the "
            "ANS platform: no CSR, status `pending`, then `mark-submitted`. "
            "Naming rules (INSi CN, profiles per service) are checked."
        ),
        request=CertificateRequestCreateSerializer,
        responses={
            201: CertificateRequestSerializer,
            202: OpenApiResponse(
                CertificateRequestSerializer,
                description="Key generation started; poll the `Location` URL.",
            ),
            **problem_responses(*WRITE_ERRORS),
        },
        examples=[
            OpenApiExample(
                "CSR mode",
                value={
                    "finess": "690001003",
                    "profile": "ORG_AUTH_CLI",
                    "services": ["INSI"],
                    "common_name": "INSI-AUTO",
                    "key_mode": "csr",
                    "csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIC…\n"
                    "-----END CERTIFICATE REQUEST-----\n",
                    "requester_email": "admin-tech@lgo.example",
                },
                request_only=True,
            ),
            OpenApiExample("Created", value=_REQUEST_EXAMPLE, response_only=True),
        ],
    )
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

    @extend_schema(
        summary="Cancel a request",
        description="Stops an open request (pending, awaiting CSR, CSR ready or submitted).",
        parameters=[_REQUEST_ID],
        request=None,
        responses={200: CertificateRequestSerializer, **problem_responses(*WRITE_ERRORS)},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        cert_request = self.get_object()
        request_cancel(request=cert_request, actor=self.actor, http_request=self.http_request)
        return Response(self._fresh(cert_request))

    @extend_schema(
        summary="Mark a request as submitted to ANS",
        description=(
            "The administrator uploaded the CSR on the ANS platform (from `csr_ready`), or "
            "ordered a key generated online there (`ans` mode, from `pending`)."
        ),
        parameters=[_REQUEST_ID],
        request=None,
        responses={200: CertificateRequestSerializer, **problem_responses(*WRITE_ERRORS)},
    )
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

    @extend_schema(
        summary="Download the CSR (PEM)",
        description="The CSR to upload on the ANS platform; 404 while it is not ready.",
        parameters=[_REQUEST_ID],
        responses={**_file_download("application/pkcs10"), **problem_responses(*READ_ERRORS)},
    )
    @action(detail=True, methods=["get"])
    def csr(self, request, pk=None):
        export = request_csr_export(
            request=self.get_object(), actor=self.actor, http_request=self.http_request
        )
        if export is None:
            raise ProblemException(
                _("The CSR of this request is not ready yet."), status_code=404, slug="not-found"
            )
        return _file_response(export.content, export.filename, export.content_type)

    @extend_schema(
        summary="Upload the CSR of a request awaiting it",
        description=(
            "The LGO made the key where the certificate will be installed and sends only its "
            "CSR: the body is the PEM itself (`application/x-pem-file`, `application/pkcs10`, "
            '`text/plain`) or JSON `{"csr": "-----BEGIN CERTIFICATE REQUEST-----…"}`. '
            "The request must be `awaiting_csr`; the CSR's subject must equal "
            "`expected_subject` field by field (C, ST, O, OU, CN), a mismatch names the field "
            "and both values. Answers `200` with the request, now `csr_ready`."
        ),
        parameters=[_REQUEST_ID],
        request={
            "application/json": {
                "type": "object",
                "properties": {"csr": {"type": "string"}},
                "required": ["csr"],
            },
            "application/x-pem-file": {"type": "string", "format": "binary"},
            "application/pkcs10": {"type": "string", "format": "binary"},
            "text/plain": {"type": "string"},
        },
        responses={200: CertificateRequestSerializer, **problem_responses(*WRITE_ERRORS)},
    )
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


# --------------------------------------------------------------------------- campaigns

_CAMPAIGN_EXAMPLE = {
    "id": 2,
    "url": "https://portal.example/api/v1/campaigns/2/",
    "name": "Renouvellements mars",
    "status": "running",
    "total": 120,
    "completed": 45,
    "percent": 38,
    "error": "",
    "within_days": 60,
    "requester_email": "admin-tech@lgo.example",
    "contact_email": "",
    "created_at": "2026-01-05T09:30:00Z",
    "finished_at": None,
    "zip_url": None,
}
_CAMPAIGN_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Campaign id.")


@extend_schema_view(
    list=extend_schema(
        summary="List renewal campaigns",
        description="Campaigns of the caller's editor, ordered by id, cursor-paginated.",
        responses={200: CampaignSerializer(many=True), **problem_responses(*LIST_ERRORS)},
        examples=[OpenApiExample("A campaign", value=_CAMPAIGN_EXAMPLE, response_only=True)],
    ),
    retrieve=extend_schema(
        summary="Follow a campaign",
        description="Progress of the background work; `zip_url` appears when it is done.",
        parameters=[_CAMPAIGN_ID],
        responses={200: CampaignSerializer, **problem_responses(*READ_ERRORS)},
        examples=[OpenApiExample("A campaign", value=_CAMPAIGN_EXAMPLE, response_only=True)],
    ),
)
class CampaignViewSet(
    ApiViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = CampaignSerializer
    queryset = RenewalCampaign.objects.none()
    lookup_value_converter = "int"
    # Campaigns span the editor's officines: not for keys limited to one officine.
    officine_limited_forbidden = ("create",)
    resource = "campaigns"

    def get_queryset(self):
        return self.scoped(RenewalCampaign.objects.all()).order_by("id")

    @extend_schema(
        summary="Start a renewal campaign",
        description=(
            "Renews the given certificates (or all live ones expiring within `within_days`): "
            "one new request and key each, generated in the background. Answers `202` with "
            "the campaign's URL in `Location`; download the ZIP for ANS when it is done."
        ),
        request=CampaignCreateSerializer,
        responses={
            202: OpenApiResponse(CampaignSerializer, description="Work started; poll Location."),
            **problem_responses(*WRITE_ERRORS),
        },
        examples=[
            OpenApiExample(
                "Everything expiring within 60 days",
                value={
                    "name": "Renouvellements mars",
                    "requester_email": "admin-tech@lgo.example",
                    "within_days": 60,
                },
                request_only=True,
            ),
            OpenApiExample("Started", value=_CAMPAIGN_EXAMPLE, response_only=True),
        ],
    )
    def create(self, request):
        serializer = CampaignCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        campaign = campaign_create(
            editor=self.editor(),
            actor=self.actor,
            name=data["name"],
            requester_email=data["requester_email"],
            contact_email=data.get("contact_email", ""),
            certificate_ids=data.get("certificate_ids"),
            within_days=data.get("within_days"),
            key_mode=data.get("key_mode") or "",
            http_request=self.http_request,
        )
        body = CampaignSerializer(campaign, context=self.get_serializer_context()).data
        location = reverse("api:campaign-detail", args=[campaign.pk], request=request)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})

    @extend_schema(
        summary="Download the campaign ZIP",
        description=(
            "The CSRs and the worksheet to upload on the ANS platform; a `409` problem while "
            "the campaign is not done. Audited."
        ),
        parameters=[_CAMPAIGN_ID],
        responses={
            **_file_download("application/zip"),
            **problem_responses(401, 403, 404, 409, 429),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[ZipRenderer],
        content_negotiation_class=FileNegotiation,
    )
    def zip(self, request, pk=None):
        campaign = self.get_object()
        if campaign.status != CampaignStatus.DONE:
            raise ProblemException(
                _("The campaign is not finished yet: follow its progress, then download."),
                status_code=409,
                slug="conflict",
            )
        chunks = campaign_export(
            campaign=campaign, actor=self.actor, http_request=self.http_request
        )
        response = StreamingHttpResponse(chunks, content_type="application/zip")
        response["Content-Disposition"] = (
            f'attachment; filename="{campaign_zip_filename(campaign)}"'
        )
        response["Cache-Control"] = "no-store"
        return response
