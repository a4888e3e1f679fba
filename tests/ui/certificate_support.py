"""Helpers of the certificate page tests: real requests, keys and certificates issued by the
demo IGC Santé hierarchy (nothing mocked)."""

from __future__ import annotations

import time

from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
from django.test import Client
from django.urls import reverse

from certificates import x509
from certificates.demo_pki import to_pem_bundle
from certificates.importing import certificate_import
from certificates.models import CertificateRequest, KeyMode
from certificates.ordering import request_create
from tests.factories import PASSWORD


def server_request(
    officine,
    actor,
    capture,
    *,
    profile="ORG_AUTH_CLI",
    services=("PSC",),
    common_name="LGO Officine",
    **fields,
) -> CertificateRequest:
    """A server-mode request whose key and CSR were really generated (task run on commit)."""
    with capture(execute=True):
        request = request_create(
            officine=officine,
            profile=profile,
            services=list(services),
            common_name=common_name,
            key_mode=KeyMode.SERVER,
            requester_email="admin-tech@lgo.example",
            actor=actor,
            **fields,
        )
    request.refresh_from_db()
    assert request.status == "csr_ready", request.error
    return request


def issue_pem(pki, request: CertificateRequest, *, chain: bool = False, **kwargs) -> bytes:
    """What ANS sends back for a request: the CSR signed by the (demo) organisations CA."""
    environment = "test" if request.officine.environment == "test" else "production"
    cert = pki.issue(
        csr_pem=request.csr_pem.encode("ascii"),
        profile=x509.Profile(request.profile),
        environment=environment,
        **kwargs,
    )
    extra = pki.chain_for(environment) if chain else []
    return to_pem_bundle(cert, *extra)


def issued_certificate(pki, officine, actor, capture, **kwargs):
    """A certificate whose private key the portal holds (server mode, issued, imported)."""
    request = server_request(officine, actor, capture, **kwargs)
    report = certificate_import(
        editor=officine.editor, data=issue_pem(pki, request), request=request, actor=actor
    )
    assert report.imported, [r.reason for r in report.results]
    return report.imported[0].certificate


def reauthenticate(client: Client) -> None:
    """Confirm the password, as a user does on allauth's re-authentication page."""
    response = client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    assert response.status_code == 302, response.content[:500]


def age_reauthentication(client: Client, seconds: int) -> None:
    """Pretend the last re-authentication happened `seconds` ago."""
    session = client.session
    records = session[AUTHENTICATION_METHODS_SESSION_KEY]
    for record in records:
        record["at"] = time.time() - seconds
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session.save()


def htmx(**headers) -> dict[str, str]:
    return {"HTTP_HX_REQUEST": "true", **{f"HTTP_{k.upper()}": v for k, v in headers.items()}}
