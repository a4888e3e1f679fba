"""`POST /api/v1/certificates/{id}/revocation-check/` against a real `openssl ocsp` responder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from certificates.models import Certificate
from portal.models import AuditEvent
from tests.certificates.revocation_servers import OpensslOcsp, free_port, index_line
from tests.helpers.api import bearer

pytestmark = pytest.mark.django_db


def url(pk: int) -> str:
    return f"/api/v1/certificates/{pk}/revocation-check/"


def test_revoked_by_ans_through_the_api(tenant_a, keys_a, make_certificate, pki, trust_anchors,
                                        tmp_path):  # fmt: skip
    port = free_port()
    certificate = make_certificate(tenant_a.officine, ocsp_url=f"http://127.0.0.1:{port}")
    leaf = x509.load_pem_x509_certificate(certificate.pem.encode())
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    key, responder = pki.ocsp_responder()
    server = OpensslOcsp(tmp_path / "ocsp", ca=pki.organisations.certificate, signer=responder,
                         key=key, lines=[index_line(leaf, when, "cessationOfOperation")])  # fmt: skip
    server.port = port
    server.args[server.args.index("-port") + 1] = str(port)
    with server:
        response = bearer(keys_a.read).post(url(certificate.pk))  # the read scope suffices
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "revoked" and body["method"] == "ocsp"
    assert body["revocation_source"] == "ocsp"
    assert body["revocation_reason"] == "cessation"
    assert datetime.fromisoformat(body["revoked_at"].replace("Z", "+00:00")) == when
    certificate.refresh_from_db()
    assert certificate.revoked_at == when
    detail = bearer(keys_a.read).get(f"/api/v1/certificates/{certificate.pk}/").json()
    assert detail["revocation_source"] == "ocsp"
    assert AuditEvent.objects.filter(
        action="certificate.ocsp_check", actor_label__contains="lecture"
    ).exists()

    # The answer is cached: asking again does not need the (stopped) responder.
    again = bearer(keys_a.read).post(url(certificate.pk)).json()
    assert again["cached"] and again["status"] == "revoked"


def test_unreachable_responder_changes_nothing(tenant_a, keys_a, make_certificate, trust_anchors,
                                               settings):  # fmt: skip
    settings.REVOCATION_HTTP_TIMEOUT = 2
    certificate = make_certificate(tenant_a.officine,
                                   ocsp_url=f"http://127.0.0.1:{free_port()}",
                                   crl_url=f"http://127.0.0.1:{free_port()}/x.crl")  # fmt: skip
    response = bearer(keys_a.read).post(url(certificate.pk))
    assert response.status_code == 200
    assert response.json()["status"] == "error"
    assert Certificate.objects.get(pk=certificate.pk).revoked_at is None


def test_another_editors_certificate_is_a_404_problem(tenant_b, keys_a, make_certificate):
    foreign = make_certificate(tenant_b.officine)
    response = bearer(keys_a.read).post(url(foreign.pk))
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/problem+json")
    assert not AuditEvent.objects.filter(action="certificate.ocsp_check").exists()
