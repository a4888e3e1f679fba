"""Certificate requests and campaigns over the API, and the LGO round trip of docs/API.md."""

from __future__ import annotations

import subprocess

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization

from certificates import x509 as igc
from certificates.campaign_worker import campaign_run
from certificates.models import (
    CampaignStatus,
    Certificate,
    CertificateRequest,
    Installation,
    RenewalCampaign,
)
from certificates.ordering import csr_generate
from tests.helpers.api import REQUESTS, bearer, openssl_csr, problem
from tests.helpers.tools import OPENSSL, requires_openssl

pytestmark = pytest.mark.django_db

CAMPAIGNS = "/api/v1/campaigns/"


def csr_payload(officine, csr: str = "", **overrides) -> dict:
    data = {
        "finess": officine.finess,
        "profile": "ORG_AUTH_CLI",
        "services": ["INSI"],
        "common_name": "INSI-AUTO",
        "key_mode": "csr",
        "csr": csr,
        "requester_email": "admin-tech@lgo.example",
    }
    data.update(overrides)
    return data


@requires_openssl
def test_lgo_round_trip(tenant_a, keys_a, pki, trust_anchors, tmp_path):
    """docs/API.md: CSR request → ANS issues → import → download → report installation."""
    client = bearer(keys_a.officine)
    officine = tenant_a.officine
    csr, key_path = openssl_csr(tmp_path, officine, "INSI-AUTO")

    created = client.post(REQUESTS, csr_payload(officine, csr), content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "csr_ready" and body["progress"] == 100
    assert created["Location"].endswith(f"{REQUESTS}{body['id']}/")
    assert (
        client.get(created["Location"])
        .json()["csr_pem"]
        .startswith("-----BEGIN CERTIFICATE REQUEST-----")
    )
    submitted = client.post(f"{REQUESTS}{body['id']}/mark-submitted/")
    assert submitted.json()["status"] == "submitted"

    # The ANS platform issues the certificate from the CSR.
    issued = pki.issue(csr_pem=csr.encode(), profile=igc.Profile.ORG_AUTH_CLI)
    upload = issued.public_bytes(serialization.Encoding.PEM)
    imported = client.post(
        f"/api/v1/certificates/import/?request={body['id']}",
        upload,
        content_type="application/x-pem-file",
    )
    assert imported.status_code == 201, imported.content
    certificate_id = imported.json()["results"][0]["certificate"]["id"]
    assert client.get(f"{REQUESTS}{body['id']}/").json()["certificate"] == certificate_id
    assert client.get(f"{REQUESTS}{body['id']}/").json()["status"] == "issued"

    pem = client.get(f"/api/v1/certificates/{certificate_id}/pem/").content
    (tmp_path / "cert.pem").write_bytes(pem)
    modulus = [
        subprocess.run(
            [OPENSSL, kind, "-noout", "-modulus", "-in", str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for kind, path in (("x509", tmp_path / "cert.pem"), ("rsa", key_path))
    ]
    assert modulus[0] == modulus[1]  # the downloaded certificate matches the LGO's key

    installed = client.post(
        f"/api/v1/certificates/{certificate_id}/installations/",
        {"host": "poste-1.pharmacie.local"},
        content_type="application/json",
    )
    assert installed.status_code == 201
    assert Installation.objects.get().certificate_id == certificate_id


def test_server_mode_answers_202_and_is_polled(
    tenant_a, keys_a, django_capture_on_commit_callbacks
):
    client = bearer(keys_a.write)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            REQUESTS,
            csr_payload(tenant_a.officine, key_mode="server", csr=""),
            content_type="application/json",
        )
    assert response.status_code == 202, response.content
    assert len(callbacks) == 1  # key generation enqueued after commit
    location = response["Location"]
    pending = client.get(location).json()
    assert (pending["status"], pending["progress"], pending["csr_pem"]) == ("pending", 0, "")
    csr_generate(request_id=pending["id"])  # what the worker does
    ready = client.get(location).json()
    assert ready["status"] == "csr_ready" and ready["progress"] == 100
    csr = client.get(f"{location}csr/")
    assert csr["Content-Type"] == "application/pkcs10"
    info = cx509.load_pem_x509_csr(csr.content)
    assert info.subject.rfc4514_string().startswith("CN=INSI-AUTO")
    assert "PRIVATE" not in str(ready)


def test_requester_email_defaults_to_the_technical_administrator(tenant_a, keys_a):
    payload = csr_payload(tenant_a.officine, key_mode="server", csr="")
    del payload["requester_email"]
    response = bearer(keys_a.write).post(REQUESTS, payload, content_type="application/json")
    assert response.status_code == 202
    assert response.json()["requester_email"] == tenant_a.administrator.email


def test_request_validation_errors_are_field_problems(tenant_a, tenant_b, keys_a):
    client = bearer(keys_a.write)
    bad_cn = client.post(
        REQUESTS,
        csr_payload(tenant_a.officine, key_mode="server", common_name="insi auto"),
        content_type="application/json",
    )
    assert "common_name" in problem(bad_cn, 400, "validation-error")["errors"]
    foreign = client.post(
        REQUESTS,
        csr_payload(tenant_b.officine, key_mode="server"),
        content_type="application/json",
    )
    assert list(problem(foreign, 400, "validation-error")["errors"]) == ["finess"]
    garbage_csr = client.post(
        REQUESTS,
        csr_payload(tenant_a.officine, csr="-----BEGIN CERTIFICATE REQUEST-----\nxx\n"),
        content_type="application/json",
    )
    assert "csr" in problem(garbage_csr, 400, "validation-error")["errors"]
    missing = client.post(REQUESTS, {}, content_type="application/json")
    errors = problem(missing, 400, "validation-error")["errors"]
    assert {"finess", "profile", "common_name"} <= set(errors)
    assert "key_mode" not in errors  # CSR mode by default (issue 14 §4)
    malformed = client.post(REQUESTS, "{not json", content_type="application/json")
    problem(malformed, 400, "parse-error")
    assert not CertificateRequest.objects.exists()


def test_officine_limited_key_requests_only_for_its_officine(tenant_a, keys_a):
    from tests.factories import OfficineFactory

    other = OfficineFactory(editor=tenant_a.editor)
    response = bearer(keys_a.officine).post(
        REQUESTS, csr_payload(other, key_mode="server"), content_type="application/json"
    )
    assert "finess" in problem(response, 400, "validation-error")["errors"]


def test_cancel_and_invalid_transitions(tenant_a, keys_a):
    client = bearer(keys_a.write)
    created = client.post(
        REQUESTS,
        csr_payload(tenant_a.officine, key_mode="server"),
        content_type="application/json",
    ).json()
    not_ready = client.post(f"{REQUESTS}{created['id']}/mark-submitted/")
    assert "status" in problem(not_ready, 400, "validation-error")["errors"]
    problem(
        bearer(keys_a.read).post(f"{REQUESTS}{created['id']}/cancel/"), 403, "permission-denied"
    )
    cancelled = client.post(f"{REQUESTS}{created['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    problem(client.post(f"{REQUESTS}{created['id']}/cancel/"), 400, "validation-error")
    problem(client.get(f"{REQUESTS}{created['id']}/csr/"), 404, "not-found")


def cancelled_and_pending(tenant_a, keys_a):
    """A client, and two requests of tenant A's officine: the first cancelled, the second
    pending."""
    client = bearer(keys_a.write)
    first = client.post(
        REQUESTS,
        csr_payload(tenant_a.officine, key_mode="server"),
        content_type="application/json",
    ).json()
    client.post(f"{REQUESTS}{first['id']}/cancel/")
    second = client.post(
        REQUESTS,
        csr_payload(tenant_a.officine, key_mode="server", services=["PSC"], common_name="LGO"),
        content_type="application/json",
    ).json()
    return client, first, second


def test_request_list_filters(tenant_a, keys_a):
    client, first, second = cancelled_and_pending(tenant_a, keys_a)
    rows = client.get(REQUESTS, {"status": "pending"}).json()["results"]
    assert [r["id"] for r in rows] == [second["id"]]
    rows = client.get(REQUESTS, {"finess": tenant_a.officine.finess}).json()["results"]
    assert [r["id"] for r in rows] == [first["id"], second["id"]]


def test_request_list_takes_the_pages_filters_too(tenant_a, keys_a):
    """One FilterSet for the request list page and the API: `status=open` and `officine`."""
    client, first, second = cancelled_and_pending(tenant_a, keys_a)
    rows = client.get(REQUESTS, {"status": "open"}).json()["results"]
    assert [r["id"] for r in rows] == [second["id"]]
    officine = str(tenant_a.officine.pk)
    rows = client.get(REQUESTS, {"officine": officine}).json()["results"]
    assert [r["id"] for r in rows] == [first["id"], second["id"]]
    assert client.get(REQUESTS, {"officine": "x"}).status_code == 400


# --------------------------------------------------------------------------- campaigns


def test_campaign_create_follow_and_download(
    tenant_a, keys_a, make_certificate, django_capture_on_commit_callbacks
):
    import io
    import zipfile
    from datetime import timedelta

    from django.utils import timezone

    soon = make_certificate(tenant_a.officine, not_after=timezone.now() + timedelta(days=20))
    make_certificate(tenant_a.officine, not_after=timezone.now() + timedelta(days=400))
    client = bearer(keys_a.write)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            CAMPAIGNS,
            {
                "name": "Mars",
                "requester_email": "admin-tech@lgo.example",
                "within_days": 60,
                "key_mode": "server",
            },
            content_type="application/json",
        )
    assert response.status_code == 202, response.content
    campaign = response.json()
    assert campaign["total"] == 1 and campaign["zip_url"] is None
    location = response["Location"]
    problem(client.get(f"{location}zip/"), 409, "conflict")
    campaign_run(campaign_id=campaign["id"])  # what the worker does
    done = client.get(location).json()
    assert done["status"] == CampaignStatus.DONE and done["percent"] == 100
    archive = client.get(done["zip_url"])
    assert archive.status_code == 200 and archive["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))).namelist()
    assert any(n.endswith(".csr") for n in names) and "fiche-ans.csv" in names
    renewal = CertificateRequest.objects.get(campaign_id=campaign["id"])
    assert renewal.renews_id == soon.pk


def test_campaign_refusals(tenant_a, keys_a):
    client = bearer(keys_a.write)
    empty = client.post(
        CAMPAIGNS,
        {"name": "Rien", "requester_email": "a@b.fr", "within_days": 5},
        content_type="application/json",
    )
    problem(empty, 400, "validation-error")
    limited = bearer(keys_a.officine).post(
        CAMPAIGNS,
        {"name": "x", "requester_email": "a@b.fr", "within_days": 5},
        content_type="application/json",
    )
    problem(limited, 403, "permission-denied")
    assert not RenewalCampaign.objects.exists()
    assert bearer(keys_a.officine).get(CAMPAIGNS).json()["results"] == []


def test_certificate_id_in_request_is_none_until_issued(tenant_a, keys_a):
    created = (
        bearer(keys_a.write)
        .post(
            REQUESTS,
            csr_payload(tenant_a.officine, key_mode="server"),
            content_type="application/json",
        )
        .json()
    )
    assert created["certificate"] is None
    assert not Certificate.objects.exists()


def test_dates_are_utc_everywhere(tenant_a, keys_a, make_certificate):
    certificate = make_certificate(tenant_a.officine)
    client = bearer(keys_a.write)
    installed = client.post(
        f"/api/v1/certificates/{certificate.pk}/installations/",
        {"host": "poste-1", "installed_at": "2026-01-06T09:00:00+01:00"},
        content_type="application/json",
    ).json()
    assert installed["installed_at"] == "2026-01-06T08:00:00Z"
    assert installed["created_at"].endswith("Z")
    officine = client.get(f"/api/v1/officines/{tenant_a.officine.finess}/").json()
    assert officine["created_at"].endswith("Z")


@requires_openssl
def test_csr_download_is_audited(tenant_a, keys_a, tmp_path):
    from portal.models import AuditEvent

    client = bearer(keys_a.write)
    csr, _key_path = openssl_csr(tmp_path, tenant_a.officine, "INSI-AUTO")
    created = client.post(
        REQUESTS, csr_payload(tenant_a.officine, csr), content_type="application/json"
    ).json()
    response = client.get(f"{REQUESTS}{created['id']}/csr/")
    assert response.status_code == 200 and b"CERTIFICATE REQUEST" in response.content
    event = AuditEvent.objects.get(action="request.download_csr")
    assert event.target_id == str(created["id"]) and event.editor_id == tenant_a.editor.pk
