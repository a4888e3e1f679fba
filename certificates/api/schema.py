"""OpenAPI annotations of the certificate API: summaries, descriptions, examples, responses.

Each viewset method wears the decorator named after it here, so the viewset modules read
as code.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)

from certificates.api.transport import RAW_UPLOAD_TYPES
from certificates.exports import EXPORT_KINDS
from certificates.models import Service
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
from portal.api.schema import LIST_ERRORS, READ_ERRORS, WRITE_ERRORS, problem_responses


def file_download(content_type: str) -> dict:
    return {(200, content_type): OpenApiResponse(OpenApiTypes.BINARY, description="The file.")}


# --------------------------------------------------------------------------- certificates


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
        responses={**file_download(EXPORT_KINDS[kind][1]), **problem_responses(*READ_ERRORS)},
        examples=[
            OpenApiExample(
                "PEM", value="-----BEGIN CERTIFICATE-----\nMIIF…\n-----END CERTIFICATE-----\n"
            )
        ]
        if kind != "der"
        else [],
    )


CERTIFICATES = extend_schema_view(
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


CERTIFICATE_PEM = _download_schema(
    "pem", "Download the certificate (PEM)", "The certificate alone, PEM."
)


CERTIFICATE_DER = _download_schema(
    "der", "Download the certificate (DER)", "The certificate alone, DER."
)


CERTIFICATE_CHAIN = _download_schema(
    "chain",
    "Download the CA chain (PEM)",
    "The issuing CA and the root, PEM, as stored at import; 404 if none is stored.",
)


CERTIFICATE_FULLCHAIN = _download_schema(
    "fullchain",
    "Download the certificate and its chain (PEM)",
    "The certificate followed by its intermediate CA (no root), what a TLS client sends.",
)


CERTIFICATE_IMPORT = extend_schema(
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


CERTIFICATE_PKCS12 = extend_schema(
    summary="Export the certificate with its private key (PKCS#12)",
    description=(
        "Only for certificates whose key the portal generated (server mode). Needs the "
        "`keys:export` scope; the key decryption and the export are audited. The file is "
        "protected by the passphrase; nothing is kept (not idempotent-cached)."
    ),
    parameters=[_ID],
    request=Pkcs12Serializer,
    responses={**file_download("application/x-pkcs12"), **problem_responses(*WRITE_ERRORS)},
    examples=[
        OpenApiExample(
            "Modern PKCS#12",
            value={"passphrase": "correct horse battery", "profile": "modern"},
            request_only=True,
        )
    ],
)


CERTIFICATE_INSTALLATIONS = extend_schema(
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


CERTIFICATE_REVOCATION = extend_schema(
    summary="Record a revocation",
    description=(
        "Records that the certificate was revoked on the ANS platform (the portal does not "
        "revoke at ANS). Final: a revoked certificate covers no service."
    ),
    parameters=[_ID],
    request=RevocationSerializer,
    responses={200: CertificateDetailSerializer, **problem_responses(*WRITE_ERRORS)},
    examples=[OpenApiExample("Key lost", value={"reason": "key_compromise"}, request_only=True)],
)


# --------------------------------------------------------------------------- requests


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


REQUESTS = extend_schema_view(
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


REQUEST_CREATE = extend_schema(
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


REQUEST_CANCEL = extend_schema(
    summary="Cancel a request",
    description="Stops an open request (pending, awaiting CSR, CSR ready or submitted).",
    parameters=[_REQUEST_ID],
    request=None,
    responses={200: CertificateRequestSerializer, **problem_responses(*WRITE_ERRORS)},
)


REQUEST_MARK_SUBMITTED = extend_schema(
    summary="Mark a request as submitted to ANS",
    description=(
        "The administrator uploaded the CSR on the ANS platform (from `csr_ready`), or "
        "ordered a key generated online there (`ans` mode, from `pending`)."
    ),
    parameters=[_REQUEST_ID],
    request=None,
    responses={200: CertificateRequestSerializer, **problem_responses(*WRITE_ERRORS)},
)


REQUEST_CSR = extend_schema(
    summary="Download the CSR (PEM)",
    description="The CSR to upload on the ANS platform; 404 while it is not ready.",
    parameters=[_REQUEST_ID],
    responses={**file_download("application/pkcs10"), **problem_responses(*READ_ERRORS)},
)


REQUEST_UPLOAD_CSR = extend_schema(
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


CAMPAIGNS = extend_schema_view(
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


CAMPAIGN_CREATE = extend_schema(
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


CAMPAIGN_ZIP = extend_schema(
    summary="Download the campaign ZIP",
    description=(
        "The CSRs and the worksheet to upload on the ANS platform; a `409` problem while "
        "the campaign is not done. Audited."
    ),
    parameters=[_CAMPAIGN_ID],
    responses={
        **file_download("application/zip"),
        **problem_responses(401, 403, 404, 409, 429),
    },
)
