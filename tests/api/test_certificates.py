"""Certificates over the API: list filters, downloads, import, PKCS#12, installations, revocation.

Real certificates from the demo IGC Santé PKI; downloads and PKCS#12 are read back with
/usr/bin/openssl.
"""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.utils import timezone

from certificates.coverage import coverage_refresh
from certificates.demo_pki import to_pem_bundle
from certificates.models import Certificate, Installation
from portal.models import AuditEvent, IdempotencyRecord
from tests.factories import OfficineFactory
from tests.helpers.api import IMPORT, bearer, issue_certificate, problem
from tests.helpers.tools import OPENSSL, requires_openssl

pytestmark = pytest.mark.django_db

LIST = "/api/v1/certificates/"


def url(certificate, suffix: str = "") -> str:
    return f"/api/v1/certificates/{certificate.pk}/{suffix}"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# --------------------------------------------------------------------------- read


def test_list_and_retrieve_use_the_shared_representation(tenant_a, keys_a, make_certificate):
    from certificates.representation import certificate_dict

    certificate = make_certificate(tenant_a.officine, services=("PSC", "DMP"))
    client = bearer(keys_a.read)
    listed = client.get(LIST).json()["results"]
    assert listed == [certificate_dict(Certificate.objects.get(pk=certificate.pk))]
    detail = client.get(url(certificate)).json()
    assert detail["finess"] == tenant_a.officine.finess
    assert detail["services"] == ["DMP", "PSC"]
    assert detail["subject_dn"] == certificate.subject_dn
    assert detail["installations"] == [] and detail["has_private_key"] is False
    assert "pem" not in detail and "private" not in str(detail).lower().replace(
        "has_private_key", ""
    )


def test_list_filters(tenant_a, keys_a, make_certificate):
    now = timezone.now()
    other = OfficineFactory(editor=tenant_a.editor)
    valid = make_certificate(tenant_a.officine, services=("PSC",))
    expiring = make_certificate(
        tenant_a.officine,
        profile="ORG_SIGN",
        services=("DMP",),
        not_after=now + timedelta(days=10),
    )
    expired = make_certificate(other, not_after=now - timedelta(days=1))
    revoked = make_certificate(other, services=("INSI",), common_name="INSI-AUTO")
    Certificate.objects.filter(pk=revoked.pk).update(revoked_at=now, revocation_reason="other")
    coverage_refresh([other.pk])
    client = bearer(keys_a.read)
    assert ids(client.get(LIST, {"finess": other.finess})) == [expired.pk, revoked.pk]
    assert ids(client.get(LIST, {"profile": "ORG_SIGN"})) == [expiring.pk]
    assert ids(client.get(LIST, {"service": "INSI"})) == [revoked.pk]
    assert ids(client.get(LIST, {"status": "expiring"})) == [expiring.pk]
    assert ids(client.get(LIST, {"status": "expired"})) == [expired.pk]
    assert ids(client.get(LIST, {"status": "revoked"})) == [revoked.pk]
    assert ids(client.get(LIST, {"status": "valid"})) == [valid.pk]
    assert ids(client.get(LIST, {"environment": "test"})) == []
    before = (now + timedelta(days=30)).isoformat()
    assert ids(client.get(LIST, {"expires_before": before})) == [expiring.pk, expired.pk]
    assert ids(client.get(LIST, {"expires_after": before})) == [valid.pk, revoked.pk]
    assert ids(client.get(LIST, {"expires_after": "2000-01-01"})) == [
        valid.pk,
        expiring.pk,
        expired.pk,
        revoked.pk,
    ]
    body = problem(client.get(LIST, {"status": "bogus"}), 400, "validation-error")
    assert "status" in body["errors"]
    problem(client.get(LIST, {"expires_before": "tomorrow"}), 400, "validation-error")


def test_list_takes_the_pages_filters_too(tenant_a, keys_a, make_certificate):
    """One FilterSet for the pages and the API: the page's search, its yes/no and its
    FINESS as typed (spaces) work on the API as on the page."""
    soon = make_certificate(tenant_a.officine, common_name="SOON")
    other = make_certificate(tenant_a.pharmacist_officine, common_name="OTHER")
    Installation.objects.create(certificate=soon, host="lgo", installed_at=timezone.now())
    client = bearer(keys_a.read)
    assert ids(client.get(LIST, {"q": "soo"})) == [soon.pk]
    assert ids(client.get(LIST, {"q": other.serial})) == [other.pk]
    assert ids(client.get(LIST, {"installed": "yes"})) == [soon.pk]
    assert ids(client.get(LIST, {"installed": "no"})) == [other.pk]
    assert ids(client.get(LIST, {"installed": "true"})) == [soon.pk]
    spaced = " ".join(tenant_a.pharmacist_officine.finess)
    assert ids(client.get(LIST, {"finess": spaced})) == [other.pk]


def test_cursor_pagination_walks_every_row_once(tenant_a, keys_a, make_certificate):
    created = [make_certificate(tenant_a.officine).pk for _ in range(7)]
    client = bearer(keys_a.read)
    seen, page_url = [], f"{LIST}?page_size=3"
    while page_url:
        body = client.get(page_url).json()
        seen += [row["id"] for row in body["results"]]
        page_url = body["next"]
    assert seen == sorted(created)
    problem(client.get(LIST, {"cursor": "garbage"}), 400, "validation-error")


@requires_openssl
def test_downloads_are_the_certificate_and_its_chain(
    tenant_a, keys_a, make_certificate, pki, tmp_path
):
    certificate = make_certificate(tenant_a.officine)
    client = bearer(keys_a.read)
    pem = client.get(url(certificate, "pem/"))
    assert pem.status_code == 200
    assert pem["Content-Type"] == "application/x-pem-file"
    assert "attachment" in pem["Content-Disposition"]
    assert pem.content.decode() == certificate.pem
    der = client.get(url(certificate, "der/"), HTTP_ACCEPT="application/json")
    assert der["Content-Type"] == "application/pkix-cert"
    (tmp_path / "leaf.der").write_bytes(der.content)
    as_pem = subprocess.run(
        [OPENSSL, "x509", "-inform", "DER", "-in", str(tmp_path / "leaf.der")],
        check=True,
        capture_output=True,
    ).stdout.decode()
    assert as_pem == certificate.pem
    chain = client.get(url(certificate, "chain/"))
    assert chain["Content-Type"] == "application/x-pem-file"
    (tmp_path / "chain.pem").write_bytes(chain.content)
    (tmp_path / "leaf.pem").write_bytes(pem.content)
    root = pki.chain_for("production")[-1]
    (tmp_path / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    verified = subprocess.run(
        [OPENSSL, "verify", "-CAfile", str(tmp_path / "chain.pem"), str(tmp_path / "leaf.pem")],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stderr
    fullchain = client.get(url(certificate, "fullchain/")).content.decode()
    assert fullchain.startswith(certificate.pem)
    assert AuditEvent.objects.filter(action="certificate.download").count() == 4


def test_download_without_stored_chain_is_a_404_problem(tenant_a, keys_a, make_certificate):
    certificate = make_certificate(tenant_a.officine)
    Certificate.objects.filter(pk=certificate.pk).update(chain_pem="")
    response = bearer(keys_a.read).get(url(certificate, "chain/"), HTTP_ACCEPT="*/*")
    problem(response, 404, "not-found")


# --------------------------------------------------------------------------- import


@pytest.mark.parametrize("content_type", ["application/x-pem-file", "application/octet-stream"])
def test_import_raw_pem_body(tenant_a, keys_a, pki, shared_key, trust_anchors, content_type):
    cert = issue_certificate(pki, tenant_a.officine, shared_key)
    body = to_pem_bundle(cert, *pki.chain_for("production"))
    response = bearer(keys_a.write).post(IMPORT, body, content_type=content_type)
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["imported"], data["duplicates"], data["rejected"]) == (1, 0, 0)
    imported = Certificate.objects.get(pk=data["results"][0]["certificate"]["id"])
    assert imported.officine == tenant_a.officine
    assert imported.chain_status == "trusted_production"
    # The same file again: a duplicate, nothing created.
    again = bearer(keys_a.write).post(IMPORT, body, content_type=content_type)
    assert again.status_code == 200
    assert again.json()["duplicates"] == 1
    assert Certificate.objects.count() == 1


def test_import_der_body_with_services(tenant_a, keys_a, pki, shared_key, trust_anchors):
    cert = issue_certificate(pki, tenant_a.officine, shared_key)
    response = bearer(keys_a.write).post(
        f"{IMPORT}?services=DMP&services=PSC",
        cert.public_bytes(serialization.Encoding.DER),
        content_type="application/pkix-cert",
    )
    assert response.status_code == 201, response.content
    certificate = Certificate.objects.get()
    assert set(certificate.services) >= {"DMP", "PSC"}


def test_import_multipart_pkcs12_with_password(tenant_a, keys_a, pki, shared_key, trust_anchors):
    from django.core.files.uploadedfile import SimpleUploadedFile

    cert = issue_certificate(pki, tenant_a.officine, shared_key)
    p12 = pkcs12.serialize_key_and_certificates(
        b"lgo",
        shared_key,
        cert,
        pki.chain_for("production"),
        serialization.BestAvailableEncryption(b"phrase de passe solide"),
    )
    client = bearer(keys_a.write)
    upload = SimpleUploadedFile("officine.p12", p12, content_type="application/x-pkcs12")
    wrong = client.post(IMPORT, {"file": upload, "password": "pas la bonne"})
    body = problem(wrong, 422, "unprocessable")
    assert body["rejected"] == 1 and body["results"][0]["result"] == "rejected"
    assert not Certificate.objects.exists()
    upload = SimpleUploadedFile("officine.p12", p12, content_type="application/x-pkcs12")
    response = client.post(IMPORT, {"file": upload, "password": "phrase de passe solide"})
    assert response.status_code == 201, response.content
    assert response.json()["results"][0]["file"] == "officine.p12"


def test_import_rejections_are_422_problems_and_write_nothing(
    tenant_a, tenant_b, keys_a, pki, shared_key, trust_anchors
):
    client = bearer(keys_a.write)
    foreign = issue_certificate(pki, tenant_b.officine, shared_key)
    response = client.post(IMPORT, to_pem_bundle(foreign), content_type="application/x-pem-file")
    body = problem(response, 422, "unprocessable")
    assert body["code"] and body["results"][0]["certificate"] is None
    garbage = client.post(IMPORT, b"not a certificate", content_type="application/x-pem-file")
    problem(garbage, 422, "unprocessable")
    empty = client.post(IMPORT, {"password": "x"})
    assert list(problem(empty, 400, "validation-error")["errors"]) == ["file"]
    unsupported = client.post(IMPORT, {"a": 1}, content_type="application/json")
    problem(unsupported, 415, "unsupported-media-type")
    assert not Certificate.objects.exists()


def test_import_read_key_is_403(tenant_a, keys_a, pki, shared_key):
    cert = issue_certificate(pki, tenant_a.officine, shared_key)
    response = bearer(keys_a.read).post(
        IMPORT, to_pem_bundle(cert), content_type="application/x-pem-file"
    )
    problem(response, 403, "permission-denied")


def test_officine_limited_key_imports_only_its_officine(
    tenant_a, keys_a, pki, shared_key, trust_anchors
):
    other = OfficineFactory(editor=tenant_a.editor)
    client = bearer(keys_a.officine)
    foreign = issue_certificate(pki, other, shared_key)
    response = client.post(IMPORT, to_pem_bundle(foreign), content_type="application/x-pem-file")
    problem(response, 403, "permission-denied")
    assert not Certificate.objects.exists()
    own = issue_certificate(pki, tenant_a.officine, shared_key)
    response = client.post(IMPORT, to_pem_bundle(own), content_type="application/x-pem-file")
    assert response.status_code == 201, response.content


def test_import_too_large_is_413(tenant_a, keys_a, settings):
    settings.MAX_UPLOAD_SIZE = 1000
    response = bearer(keys_a.write).post(
        IMPORT, b"A" * 2000, content_type="application/octet-stream"
    )
    problem(response, 413, "payload-too-large")


# --------------------------------------------------------------------------- PKCS#12


@requires_openssl
def test_pkcs12_needs_keys_export_and_opens_with_openssl(
    tenant_a, keys_a, server_certificate, tmp_path
):
    payload = {"passphrase": "phrase de passe solide", "profile": "modern"}
    for raw in (keys_a.read, keys_a.write):
        response = bearer(raw).post(
            url(server_certificate, "pkcs12/"), payload, content_type="application/json"
        )
        problem(response, 403, "permission-denied")
    assert not AuditEvent.objects.filter(action="certificate.export_pkcs12").exists()
    response = bearer(keys_a.export).post(
        url(server_certificate, "pkcs12/"), payload, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-pkcs12"
    assert response["Cache-Control"] == "no-store"
    path = tmp_path / "export.p12"
    path.write_bytes(response.content)
    out = subprocess.run(
        [OPENSSL, "pkcs12", "-in", str(path), "-nodes", "-passin", "pass:phrase de passe solide"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "BEGIN PRIVATE KEY" in out.stdout
    event = AuditEvent.objects.get(action="certificate.export_pkcs12")
    assert event.actor is None and event.actor_label.startswith("API key lgo_")


def test_pkcs12_is_never_kept_for_an_idempotent_replay(tenant_a, keys_a, server_certificate):
    """The file holds the private key: an Idempotency-Key must not store it for 24 hours."""
    client = bearer(keys_a.export)
    payload = {"passphrase": "phrase de passe solide", "profile": "modern"}
    responses = [
        client.post(
            url(server_certificate, "pkcs12/"),
            payload,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="p12-once",
        )
        for _ in range(2)
    ]
    for response in responses:
        assert response.status_code == 200, response.content
        assert "Idempotent-Replayed" not in response
    assert not IdempotencyRecord.objects.exists()
    assert AuditEvent.objects.filter(action="certificate.export_pkcs12").count() == 2


def test_pkcs12_errors_are_problems(tenant_a, keys_a, server_certificate, make_certificate):
    client = bearer(keys_a.export)
    weak = client.post(
        url(server_certificate, "pkcs12/"),
        {"passphrase": "court"},
        content_type="application/json",
    )
    problem(weak, 400, "validation-error")
    csr_mode = make_certificate(tenant_a.officine)
    no_key = client.post(
        url(csr_mode, "pkcs12/"),
        {"passphrase": "phrase de passe solide"},
        content_type="application/json",
    )
    problem(no_key, 400, "validation-error")


# --------------------------------------------------------------------------- lifecycle


def test_installation_report(tenant_a, keys_a, make_certificate):
    certificate = make_certificate(tenant_a.officine)
    client = bearer(keys_a.officine)
    response = client.post(
        url(certificate, "installations/"),
        {
            "host": "Poste-1.pharmacie.local",
            "installed_at": "2026-01-06T08:00:00Z",
            "reported_by": "LGO 12.4",
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["host"] == "poste-1.pharmacie.local"
    installation = Installation.objects.get()
    assert installation.certificate == certificate
    bad = client.post(
        url(certificate, "installations/"),
        {"host": "not a host!"},
        content_type="application/json",
    )
    assert "host" in problem(bad, 400, "validation-error")["errors"]
    detail = client.get(url(certificate)).json()
    assert [i["host"] for i in detail["installations"]] == ["poste-1.pharmacie.local"]


def test_revocation(tenant_a, keys_a, make_certificate):
    certificate = make_certificate(tenant_a.officine)
    client = bearer(keys_a.write)
    problem(
        bearer(keys_a.read).post(
            url(certificate, "revocation/"),
            {"reason": "cessation"},
            content_type="application/json",
        ),
        403,
        "permission-denied",
    )
    response = client.post(
        url(certificate, "revocation/"), {"reason": "cessation"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "revoked"
    assert response.json()["revocation_reason"] == "cessation"
    again = client.post(
        url(certificate, "revocation/"), {"reason": "cessation"}, content_type="application/json"
    )
    problem(again, 400, "validation-error")
    bad = client.post(
        url(make_certificate(tenant_a.officine), "revocation/"),
        {"reason": "bored"},
        content_type="application/json",
    )
    assert "reason" in problem(bad, 400, "validation-error")["errors"]


def test_date_filters_accept_any_offset_and_refuse_overflow(tenant_a, keys_a, make_certificate):
    certificate = make_certificate(tenant_a.officine)
    client = bearer(keys_a.read)
    # Offsets beyond PostgreSQL's ±15:59 are converted to UTC first (found by schemathesis).
    assert ids(client.get(LIST, {"expires_before": "0305-09-05T04:39:21.4-19:43"})) == []
    assert ids(client.get(LIST, {"expires_after": "0305-09-05T04:39:21-19:43"})) == [certificate.pk]
    problem(
        client.get(LIST, {"expires_after": "0001-01-01T00:00:00+23:00"}), 400, "validation-error"
    )
