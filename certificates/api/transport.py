"""HTTP plumbing of the certificate API: raw-body uploads, file downloads, their negotiation."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response

from portal.api.problems import ProblemException


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


def file_response(content: bytes, filename: str, content_type: str) -> Response:
    return Response(
        content,
        content_type=content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
