"""The whole loop on real crypto: the portal makes the key and CSR, an IGC Santé-shaped CA
issues from that CSR, and the certificate comes back in every format, matched to its request."""

import subprocess

import pytest

from certificates import x509 as igc
from certificates.importing import certificate_import
from certificates.keystore import private_key_for
from certificates.models import Certificate, KeyMode, RequestStatus
from certificates.ordering import csr_generate, request_create
from tests.helpers.imports import FORMATS, PASSPHRASE, encode, openssl_fields
from tests.helpers.tools import requires_openssl

pytestmark = pytest.mark.django_db

# Profile -> (services, CN) a request may carry (domain.md: which service needs what).
REQUESTS = {
    "ORG_AUTH_CLI": (["INSI"], "INSI-AUTO"),
    "ORG_SIGN": (["DMP"], "LGO DMP"),
    "ORG_CONF": ([], "LGO CONF"),  # encryption: no service asks for it by name
    "SERV_SSL": (["MSSANTE"], "mss.operateur.example"),  # SERV SSL: a host name (FQDN)
}


@requires_openssl
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("profile", list(REQUESTS))
def test_portal_csr_issued_and_imported_back(profile, fmt, tenant_a, pki, trust_anchors, tmp_path):
    tenant_a.editor.is_mssante_operator = True  # SERV SSL is for MSSanté operators
    tenant_a.editor.save()
    officine = tenant_a.officine
    services, common_name = REQUESTS[profile]
    request = request_create(
        officine=officine,
        profile=profile,
        services=services,
        common_name=common_name,
        key_mode=KeyMode.SERVER,
        requester_email="admin-tech@lgo.example",
        actor=tenant_a.operator,
        enqueue=False,
    )
    request = csr_generate(request_id=request.pk)
    assert request.status == RequestStatus.CSR_READY
    csr_path = tmp_path / "request.csr"
    csr_path.write_text(request.csr_pem)
    verified = subprocess.run(
        ["/usr/bin/openssl", "req", "-verify", "-noout", "-in", str(csr_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr

    cert = pki.issue(csr_pem=request.csr_pem.encode(), profile=igc.Profile(profile))
    key = private_key_for(request=request, actor=tenant_a.operator, reason="test p12")
    report = certificate_import(
        editor=tenant_a.editor,
        data=encode(fmt, cert, pki.chain_for("production"), key=key),
        password=PASSPHRASE if fmt == "p12" else None,
        actor=tenant_a.operator,
        filename=f"issued.{fmt}",
    )

    result = report.results[0]
    assert result.result == "imported", result.reason
    stored = Certificate.objects.get(pk=result.certificate.pk)
    request.refresh_from_db()
    assert request.status == RequestStatus.ISSUED and stored.request_id == request.pk
    assert (stored.profile, stored.common_name, stored.services) == (profile, common_name, services)
    assert stored.public_key_sha256 == request.public_key_sha256
    seen = openssl_fields(stored.pem, tmp_path)
    assert (stored.serial, stored.fingerprint_sha256) == (seen["serial"], seen["fingerprint"])
    assert stored.subject_dn == seen["subject"] and "OU=1" + officine.finess in stored.subject_dn
    assert stored.chain_status == "trusted_production" and stored.has_private_key
