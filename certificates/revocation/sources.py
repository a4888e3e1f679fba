"""Where the portal asks IGC Santé: the trusted CAs, their CRL and OCSP URLs, how to fetch."""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import urlsplit

from cryptography import x509 as cx509
from django.conf import settings

from certificates import trust
from certificates.revocation import points
from certificates.revocation.fetch import FetchConfig


def fetch_config(*, timeout: float | None = None) -> FetchConfig:
    return FetchConfig(
        timeout=min(timeout, settings.REVOCATION_HTTP_TIMEOUT)
        if timeout
        else settings.REVOCATION_HTTP_TIMEOUT,
        max_bytes=settings.REVOCATION_MAX_CRL_BYTES,
        proxy=settings.REVOCATION_HTTP_PROXY,
    )


def trusted_cas() -> list[cx509.Certificate]:
    """The CA certificates of the trust anchors: the only ones whose CRLs/OCSP we believe."""
    store = trust.trust_store()
    return [*store.roots, *store.intermediates]


def _issuer_cn(cert: cx509.Certificate) -> str:
    names = cert.issuer.get_attributes_for_oid(cx509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _override(cert: cx509.Certificate, kind: str) -> str:
    return str((settings.REVOCATION_CA_OVERRIDES or {}).get(_issuer_cn(cert), {}).get(kind, ""))


def crl_url_for(cert: cx509.Certificate) -> str:
    """Where to fetch the CRL of `cert`'s CA: per-CA override, else mirror, else its CDP."""
    override = _override(cert, "crl")
    if override:
        return override
    urls = points.crl_urls(cert)
    if not urls:
        return ""
    mirror = settings.REVOCATION_CRL_MIRROR
    if mirror:
        return f"{mirror.rstrip('/')}/{PurePosixPath(urlsplit(urls[0]).path).name}"
    return urls[0]


def ocsp_url_for(cert: cx509.Certificate) -> str:
    override = _override(cert, "ocsp")
    if override:
        return override
    urls = [u for u in points.ocsp_urls(cert) if u.lower().startswith("http")]
    return urls[0] if urls else ""
