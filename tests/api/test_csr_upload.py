"""Issue 14 §4 over the API: CSR mode by default, requests awaiting their CSR, the LGO's
`POST …/csr/` (PEM body or JSON), a renewal of a CSR-mode certificate filled through the API,
and keys generated on the ANS platform matched at import (a real PKCS#12)."""

from __future__ import annotations

import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from certificates import x509 as igc
from certificates.models import Certificate, CertificateRequest, KeyMode, RequestStatus
from certificates.ordering import expected_subject
from portal.models import AuditEvent
from tests.factories import OfficineFactory
from tests.helpers.api import REQUESTS, bearer, openssl_csr, problem
from tests.helpers.tools import OPENSSL, requires_openssl

pytestmark = pytest.mark.django_db


def payload(officine, **overrides) -> dict:
    data = {
        "finess": officine.finess,
        "profile": "ORG_AUTH_CLI",
        "services": ["INSI"],
        "common_name": "INSI-AUTO",
        "requester_email": "admin-tech@lgo.example",
    }
    data.update(overrides)
    return data


def test_key_mode_defaults_to_csr_and_the_request_awaits_its_csr(tenant_a, keys_a):
    client = bearer(keys_a.officine)
    created = client.post(REQUESTS, payload(tenant_a.officine), content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["key_mode"], body["status"], body["csr_pem"]) == ("csr", "awaiting_csr", "")
    assert body["expected_subject"] == expected_subject(tenant_a.officine, "INSI-AUTO")
    assert body["expected_subject"]["OU"] == "1" + tenant_a.officine.finess
    listed = client.get(f"{REQUESTS}?finess={tenant_a.officine.finess}&status=awaiting_csr")
    assert [r["id"] for r in listed.json()["results"]] == [body["id"]]
    assert client.get(f"{REQUESTS}?status=csr_ready").json()["results"] == []
    problem(client.get(f"{REQUESTS}{body['id']}/csr/"), 404, "not-found")  # nothing to fetch


@requires_openssl
@pytest.mark.parametrize("as_json", [False, True])
def test_lgo_uploads_its_openssl_csr(tenant_a, keys_a, tmp_path, as_json):
    client = bearer(keys_a.officine)
    officine = tenant_a.officine
    request_id = client.post(REQUESTS, payload(officine), content_type="application/json").json()[
        "id"
    ]
    csr, _key = openssl_csr(tmp_path, officine, "INSI-AUTO")
    url = f"{REQUESTS}{request_id}/csr/"
    if as_json:
        response = client.post(url, {"csr": csr}, content_type="application/json")
    else:
        response = client.post(url, csr.encode(), content_type="application/x-pem-file")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "csr_ready" and body["csr_pem"].startswith("-----BEGIN CERTIFICATE")
    assert AuditEvent.objects.filter(
        action="request.upload_csr", target_id=str(request_id)
    ).exists()
    download = client.get(url)
    assert download.status_code == 200 and download["Content-Type"] == "application/pkcs10"
    again = client.post(url, csr.encode(), content_type="application/x-pem-file")
    assert problem(again, 400, "validation-error")["errors"]["status"]


@requires_openssl
def test_subject_mismatch_names_the_field_and_both_values(tenant_a, keys_a, tmp_path):
    client = bearer(keys_a.write)
    officine = tenant_a.officine
    request_id = client.post(REQUESTS, payload(officine), content_type="application/json").json()[
        "id"
    ]
    csr, _key = openssl_csr(tmp_path, officine, "INSI-MANU")  # the request says INSI-AUTO
    refused = client.post(
        f"{REQUESTS}{request_id}/csr/", csr.encode(), content_type="application/pkcs10"
    )
    detail = problem(refused, 400, "validation-error")
    message = detail["errors"]["csr"][0]
    assert 'CN="INSI-MANU"' in message and 'CN="INSI-AUTO"' in message, message
    row = CertificateRequest.objects.get(pk=request_id)
    assert (row.status, row.csr_pem, row.public_key_sha256) == ("awaiting_csr", "", "")
    empty = client.post(f"{REQUESTS}{request_id}/csr/", {}, content_type="application/json")
    assert "csr" in problem(empty, 400, "validation-error")["errors"]


def test_csr_upload_is_scoped_and_needs_write(tenant_a, tenant_b, keys_a, keys_b):
    officine_b = tenant_b.officine
    foreign = bearer(keys_b.write).post(
        REQUESTS, payload(officine_b), content_type="application/json"
    )
    url = f"{REQUESTS}{foreign.json()['id']}/csr/"
    body = {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAA\n-----END CERTIFICATE REQUEST-----\n"}
    problem(bearer(keys_a.write).post(url, body, content_type="application/json"), 404, "not-found")
    other_officine = OfficineFactory(editor=tenant_a.editor)  # mode éditeur: the key orders
    other = bearer(keys_a.write).post(
        REQUESTS, payload(other_officine), content_type="application/json"
    )
    other_url = f"{REQUESTS}{other.json()['id']}/csr/"
    # A key limited to another officine of the same editor does not see it either.
    problem(
        bearer(keys_a.officine).post(other_url, body, content_type="application/json"),
        404,
        "not-found",
    )
    problem(
        bearer(keys_a.read).post(other_url, body, content_type="application/json"),
        403,
        "permission-denied",
    )


@requires_openssl
def test_renewal_of_a_csr_mode_certificate_filled_through_the_api(
    tenant_a, keys_a, pki, trust_anchors, tmp_path, make_certificate, client_for
):
    """Done-when of issue 14: the certificate's key never reached the portal, so its renewal
    awaits the LGO's CSR; the LGO sends it through the API; ANS issues; the import links it
    and the old certificate is superseded."""
    officine = tenant_a.officine
    old = make_certificate(officine, common_name="INSI-AUTO", services=("INSI",))
    page = client_for(tenant_a.operator).post(f"/certificates/{old.pk}/renew/")
    assert page.status_code == 302
    renewal = CertificateRequest.objects.get(renews=old)
    assert (renewal.key_mode, renewal.status) == (KeyMode.CSR, RequestStatus.AWAITING_CSR)

    client = bearer(keys_a.officine)
    waiting = client.get(f"{REQUESTS}?status=awaiting_csr").json()["results"]
    assert [r["id"] for r in waiting] == [renewal.pk]
    subject = waiting[0]["expected_subject"]
    key_path, csr_path = tmp_path / "new.key", tmp_path / "new.csr"
    subprocess.run(
        [
            OPENSSL, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-utf8",
            "-keyout", str(key_path), "-out", str(csr_path),
            "-subj", "".join(f"/{k}={subject[k]}" for k in ("C", "ST", "O", "OU", "CN")),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    uploaded = client.post(
        f"{REQUESTS}{renewal.pk}/csr/", csr_path.read_bytes(), content_type="text/plain"
    )
    assert uploaded.status_code == 200 and uploaded.json()["status"] == "csr_ready"
    issued = pki.issue(csr_pem=csr_path.read_bytes(), profile=igc.Profile.ORG_AUTH_CLI)
    imported = client.post(
        "/api/v1/certificates/import/",
        issued.public_bytes(serialization.Encoding.PEM),
        content_type="application/x-pem-file",
    )
    assert imported.status_code == 201, imported.content
    new_id = imported.json()["results"][0]["certificate"]["id"]
    renewal.refresh_from_db()
    assert renewal.status == RequestStatus.ISSUED and renewal.encrypted_private_key is None
    assert Certificate.objects.get(pk=new_id).replaces_id == old.pk
    old.refresh_from_db()
    assert old.superseded_at is not None


def test_key_generated_at_ans_is_recorded_submitted_and_matched_from_its_pkcs12(
    tenant_a, keys_a, pki, trust_anchors
):
    client = bearer(keys_a.officine)
    officine = tenant_a.officine
    with_csr = client.post(
        REQUESTS,
        payload(officine, key_mode="ans", csr="-----BEGIN CERTIFICATE REQUEST-----\n"),
        content_type="application/json",
    )
    assert "csr" in problem(with_csr, 400, "validation-error")["errors"]
    created = client.post(
        REQUESTS, payload(officine, key_mode="ans"), content_type="application/json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["key_mode"], body["status"], body["csr_pem"]) == ("ans", "pending", "")
    upload = client.post(
        f"{REQUESTS}{body['id']}/csr/", {"csr": "x"}, content_type="application/json"
    )
    assert problem(upload, 400, "validation-error")["errors"]["csr"]
    submitted = client.post(f"{REQUESTS}{body['id']}/mark-submitted/")
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"

    # ANS generated the key online and delivers a PKCS#12 (key + certificate + chain).
    key, cert = pki.issue_for(
        finess=officine.finess,
        raison_sociale=officine.raison_sociale,
        department=officine.department_label,
        common_name="INSI-AUTO",
        profile=igc.Profile.ORG_AUTH_CLI,
    )
    p12 = pkcs12.serialize_key_and_certificates(
        b"insi",
        key,
        cert,
        pki.chain_for("production"),
        serialization.BestAvailableEncryption(b"ans-secret"),
    )
    imported = client.post(
        "/api/v1/certificates/import/", {"file": _upload(p12), "password": "ans-secret"}
    )
    assert imported.status_code == 201, imported.content
    result = imported.json()["results"][0]
    row = CertificateRequest.objects.get(pk=body["id"])
    assert row.status == RequestStatus.ISSUED
    assert row.public_key_sha256 == igc.public_key_sha256(cert.public_key())
    assert row.encrypted_private_key is None  # the PKCS#12's key is never stored
    assert (
        client.get(f"{REQUESTS}{body['id']}/").json()["certificate"] == result["certificate"]["id"]
    )


def _upload(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("insi.p12", data, content_type="application/x-pkcs12")
