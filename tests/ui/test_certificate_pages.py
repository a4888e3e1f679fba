"""Certificate pages: list, detail, downloads, PKCS#12 with re-authentication, renewal,
revocation, bulk import, request follow-up, officine panels and API key settings."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from certificates import x509
from certificates.demo_pki import to_pem_bundle
from certificates.models import Certificate, CertificateRequest, Installation, RequestStatus
from notifications.models import AlertLog
from portal.api.keys import api_key_lookup
from portal.models import ApiKey, AuditEvent
from tests.helpers.certificates import bulk_officines, clone_certificates, days
from tests.helpers.tools import OPENSSL, requires_openssl
from tests.ui.certificate_support import (
    age_reauthentication,
    htmx,
    issue_pem,
    issued_certificate,
    reauthenticate,
    server_request,
)
from tests.ui.html_checker import assert_valid_html, check_html

pytestmark = pytest.mark.django_db

PASSPHRASE = "Une phrase de passe solide 2026"


@pytest.fixture
def held(pki, tenant_a, trust_anchors, django_capture_on_commit_callbacks):
    """A certificate of tenant A's officine whose private key the portal holds."""
    return issued_certificate(
        pki, tenant_a.officine, tenant_a.operator, django_capture_on_commit_callbacks
    )


# --------------------------------------------------------------------------- HTML checker


def test_html_checker_finds_what_breaks_a_page():
    broken = """<html><body>
      <form method="post"><input name="q"><select id="a"></select></form>
      <form><label for="b">B</label><input id="b" name="b"></form>
      <div id="a" style="color:red" onclick="x()"><script>alert(1)</script></div>
      <input aria-describedby="nowhere" aria-label="x"><span></div>
    </body></html>"""
    problems = "\n".join(check_html(broken))
    for expected in (
        "<input name='q'> has no label",
        "<select name='a'> has no label",
        "POST form without CSRF token",
        "<form> without method",
        "duplicate id 'a'",
        "inline style=",
        "inline handler onclick=",
        "inline <script>",
        "missing id 'nowhere'",
        "</div> closes nothing open",
    ):
        assert expected in problems, expected
    fine = """<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="x">
      <label for="n">Name</label><input id="n" name="n"><label><input type="checkbox" name="c"> C</label>
      <button type="submit">OK</button></form>"""
    assert check_html(fine) == []


# --------------------------------------------------------------------------- list


@pytest.mark.parametrize("role", ["admin", "operator", "viewer", "pharmacist"])
def test_list_renders_for_every_role_with_valid_html(tenant_a, client_for, make_certificate, role):
    mine = make_certificate(tenant_a.pharmacist_officine, common_name="PHARMA-CN")
    other = make_certificate(tenant_a.officine, common_name="EDITOR-CN")
    response = client_for(getattr(tenant_a, role)).get(reverse("certificates:list"))
    assert response.status_code == 200
    assert_valid_html(response)
    body = response.content.decode()
    assert mine.get_absolute_url() in body
    # Pharmacists see their officine only.
    assert (other.get_absolute_url() in body) is (role != "pharmacist")
    assert (reverse("certificates:import") in body) is (role in ("admin", "operator"))


def test_list_filters(tenant_a, client_for, make_certificate):
    valid = make_certificate(tenant_a.officine, common_name="VALID", services=("PSC",))
    soon = make_certificate(
        tenant_a.officine,
        common_name="SOON",
        profile="ORG_SIGN",
        services=("DMP",),
        not_after=days(10),
    )
    gone = make_certificate(tenant_a.pharmacist_officine, common_name="GONE", not_after=days(-3))
    revoked = make_certificate(
        tenant_a.officine,
        common_name="REVOKED",
        revoked_at=timezone.now(),
        revocation_reason="other",
    )
    client = client_for(tenant_a.viewer)

    def shown(**params) -> set[str]:
        response = client.get(reverse("certificates:list"), params)
        assert response.status_code == 200
        return {c.common_name for c in response.context["object_list"]}

    assert shown() == {"VALID", "SOON", "GONE", "REVOKED"}
    assert shown(status="expiring") == {"SOON"}
    assert shown(status="expired") == {"GONE"}
    assert shown(status="revoked") == {"REVOKED"}
    assert shown(status="valid") == {"VALID"}
    assert shown(profile="ORG_SIGN") == {"SOON"}
    assert shown(service="DMP") == {"SOON"}
    assert shown(finess=tenant_a.pharmacist_officine.finess) == {"GONE"}
    assert shown(finess=" ".join(tenant_a.pharmacist_officine.finess)) == {"GONE"}  # spaces
    assert shown(environment="test") == set()
    assert shown(q="soo") == {"SOON"}
    assert shown(q=valid.serial) == {"VALID"}
    # A wrong filter value shows its error and filters nothing (never a 500).
    response = client.get(reverse("certificates:list"), {"status": "nonsense"})
    assert response.status_code == 200 and response.context["filter_form"].errors
    assert_valid_html(response)
    assert {soon.pk, gone.pk, revoked.pk} <= {c.pk for c in response.context["object_list"]}


def test_list_query_count_does_not_grow_with_certificates(
    tenant_a, client_for, make_certificate, django_assert_max_num_queries
):
    model = make_certificate(tenant_a.officine)
    client = client_for(tenant_a.operator)
    url = reverse("certificates:list")
    with django_assert_max_num_queries(7):
        assert client.get(url).status_code == 200
    clone_certificates(model, bulk_officines(tenant_a.editor, 120), not_after=days(20))
    with django_assert_max_num_queries(7):
        response = client.get(url, {"page": 2})
    assert response.status_code == 200
    assert len(response.context["object_list"]) == 50
    assert response.context["paginator"].count == 121


# --------------------------------------------------------------------------- detail


def test_detail_shows_everything_about_a_certificate(
    tenant_a, client_for, held, make_certificate, django_assert_max_num_queries
):
    older = make_certificate(
        tenant_a.officine,
        common_name=held.common_name,
        not_after=days(5),
        superseded_at=timezone.now(),
    )
    held.replaces = older
    held.save(update_fields=["replaces"])
    Installation.objects.create(
        certificate=held,
        host="lgo-01.pharmacie.local",
        installed_at=timezone.now(),
        reported_by="LGO 4.2",
    )
    AlertLog.objects.create(
        certificate=held,
        threshold=30,
        recipient="admin-tech@lgo.example",
        channel="email",
        status="sent",
        days_left=30,
        scan_date=timezone.localdate(),
        sent_at=timezone.now(),
    )
    client = client_for(tenant_a.operator)
    with django_assert_max_num_queries(12):
        response = client.get(held.get_absolute_url())
    assert response.status_code == 200
    assert_valid_html(response)
    body = response.content.decode()
    info = x509.describe_certificate(cx509.load_pem_x509_certificate(held.pem.encode()))
    assert info.subject in body and info.issuer in body
    assert held.fingerprint_sha256[:2].upper() + ":" + held.fingerprint_sha256[2:4].upper() in body
    assert "lgo-01.pharmacie.local" in body
    assert "admin-tech@lgo.example" in body  # the alert log (notifications include)
    assert older.get_absolute_url() in body
    for kind in ("pem", "chain", "fullchain", "der"):
        assert f"{reverse('certificates:download', args=[held.pk])}?format={kind}" in body
    assert reverse("certificates:export_pkcs12", args=[held.pk]) in body
    assert reverse("certificates:renew", args=[held.pk]) in body
    assert reverse("certificates:revoke", args=[held.pk]) in body
    # The older certificate shows who replaced it.
    body = client.get(older.get_absolute_url()).content.decode()
    assert held.get_absolute_url() in body


@pytest.mark.parametrize("role", ["viewer", "pharmacist"])
def test_detail_is_read_only_for_those_who_cannot_act(tenant_a, client_for, make_certificate, role):
    # The pharmacist's officine is in "pharmacien" mode: switch it to "editeur" to read only.
    tenant_a.pharmacist_officine.delegation_mode = "editeur"
    tenant_a.pharmacist_officine.save()
    certificate = make_certificate(tenant_a.pharmacist_officine)
    client = client_for(getattr(tenant_a, role))
    body = client.get(certificate.get_absolute_url()).content.decode()
    assert reverse("certificates:renew", args=[certificate.pk]) not in body
    assert reverse("certificates:revoke", args=[certificate.pk]) not in body
    for name in ("certificates:renew", "certificates:revoke", "certificates:export_pkcs12"):
        assert client.post(reverse(name, args=[certificate.pk])).status_code == 403
    assert not CertificateRequest.objects.exists()


def test_downloads_are_the_real_certificate_and_audited(tenant_a, client_for, held):
    client = client_for(tenant_a.viewer)
    url = reverse("certificates:download", args=[held.pk])
    pem = client.get(url, {"format": "pem"})
    assert pem.status_code == 200 and pem["Content-Type"] == "application/x-pem-file"
    assert "attachment" in pem["Content-Disposition"] and ".pem" in pem["Content-Disposition"]
    leaf = cx509.load_pem_x509_certificate(pem.content)
    assert x509.describe_certificate(leaf).fingerprint_sha256 == held.fingerprint_sha256
    der = client.get(url, {"format": "der"})
    assert cx509.load_der_x509_certificate(der.content) == leaf
    chain = cx509.load_pem_x509_certificates(client.get(url, {"format": "chain"}).content)
    assert chain[0].subject == leaf.issuer and len(chain) == 2
    assert b"PRIVATE KEY" not in b"".join([pem.content, der.content])
    assert client.get(url, {"format": "p12"}).status_code == 404
    assert (
        AuditEvent.objects.filter(action="certificate.download", actor=tenant_a.viewer).count() == 3
    )


# --------------------------------------------------------------------------- PKCS#12


@requires_openssl
def test_pkcs12_export_asks_for_a_recent_reauthentication(tenant_a, client_for, held, tmp_path):
    client = client_for(tenant_a.operator)
    url = reverse("certificates:export_pkcs12", args=[held.pk])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    form = {"passphrase": PASSPHRASE, "passphrase_confirm": PASSPHRASE, "profile": "modern"}
    # A POST without re-authentication exports nothing and keeps no passphrase in the session.
    response = client.post(url, form)
    assert response.status_code == 302 and response["Location"] == url
    assert PASSPHRASE not in str(dict(client.session.items()))
    assert not AuditEvent.objects.filter(action="key.decrypt").exists()

    reauthenticate(client)
    response = client.get(url)
    assert response.status_code == 200
    assert_valid_html(response)
    mismatch = client.post(url, {**form, "passphrase_confirm": PASSPHRASE + "!"})
    assert mismatch.status_code == 400 and "passphrase_confirm" in mismatch.context["form"].errors
    weak = client.post(url, {**form, "passphrase": "court", "passphrase_confirm": "court"})
    assert weak.status_code == 400 and "passphrase" in weak.context["form"].errors
    assert not AuditEvent.objects.filter(action="key.decrypt").exists()

    response = client.post(url, form)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-pkcs12"
    assert response["Cache-Control"] == "no-store"
    key, certificate, _chain = pkcs12.load_key_and_certificates(
        response.content, PASSPHRASE.encode()
    )
    assert certificate.public_bytes(Encoding.PEM).decode() == x509.certificate_to_pem(
        cx509.load_pem_x509_certificate(held.pem.encode())
    )
    assert x509.public_key_sha256(key.public_key()) == held.public_key_sha256
    path = tmp_path / "export.p12"
    path.write_bytes(response.content)
    result = subprocess.run(
        [OPENSSL, "pkcs12", "-in", str(path), "-nodes", "-passin", f"pass:{PASSPHRASE}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "PRIVATE KEY" in result.stdout and held.common_name in result.stdout
    assert AuditEvent.objects.filter(action="key.decrypt", actor=tenant_a.operator).count() == 1
    assert AuditEvent.objects.filter(
        action="certificate.export_pkcs12", details__profile="modern"
    ).exists()

    # Re-authentication older than 5 minutes: asked again.
    age_reauthentication(client, 301)
    assert client.get(url).status_code == 302
    assert client.post(url, form).status_code == 302


def test_pkcs12_legacy_profile_opens(tenant_a, client_for, held):
    client = client_for(tenant_a.admin)
    reauthenticate(client)
    response = client.post(
        reverse("certificates:export_pkcs12", args=[held.pk]),
        {"passphrase": PASSPHRASE, "passphrase_confirm": PASSPHRASE, "profile": "legacy"},
    )
    assert response.status_code == 200
    key, _cert, _chain = pkcs12.load_key_and_certificates(response.content, PASSPHRASE.encode())
    assert x509.public_key_sha256(key.public_key()) == held.public_key_sha256


def test_pkcs12_for_pharmacists_only_in_pharmacien_mode(
    tenant_a, client_for, pki, trust_anchors, django_capture_on_commit_callbacks
):
    officine = tenant_a.pharmacist_officine  # mode "pharmacien"
    certificate = issued_certificate(
        pki, officine, tenant_a.pharmacist, django_capture_on_commit_callbacks
    )
    client = client_for(tenant_a.pharmacist)
    reauthenticate(client)
    url = reverse("certificates:export_pkcs12", args=[certificate.pk])
    form = {"passphrase": PASSPHRASE, "passphrase_confirm": PASSPHRASE, "profile": "modern"}
    assert client.post(url, form)["Content-Type"] == "application/x-pkcs12"
    officine.delegation_mode = "editeur"
    officine.save()
    assert client.get(url).status_code == 403
    assert client.post(url, form).status_code == 403
    # The editor's other officine is not theirs at all.
    assert client.get(reverse("certificates:detail", args=[certificate.pk])).status_code == 200


def test_pkcs12_page_explains_when_the_key_stayed_with_the_lgo(
    tenant_a, client_for, make_certificate
):
    certificate = make_certificate(tenant_a.officine)
    response = client_for(tenant_a.operator).get(
        reverse("certificates:export_pkcs12", args=[certificate.pk])
    )
    assert response.status_code == 200
    assert response.context["form"] is None and response.context["has_key"] is False
    assert b'name="passphrase"' not in response.content


# --------------------------------------------------------------------------- renew and revoke


def test_two_operators_renewing_get_one_request(
    tenant_a, client_for, held, django_capture_on_commit_callbacks
):
    url = reverse("certificates:renew", args=[held.pk])
    with django_capture_on_commit_callbacks(execute=True):
        first = client_for(tenant_a.operator).post(url)
    second = client_for(tenant_a.admin).post(url)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    renewals = CertificateRequest.objects.filter(renews=held)
    assert renewals.count() == 1
    renewal = renewals.get()
    assert first["Location"] == renewal.get_absolute_url()
    assert (
        renewal.status == RequestStatus.CSR_READY
        and renewal.public_key_sha256 != held.public_key_sha256
    )
    page = client_for(tenant_a.admin).get(held.get_absolute_url()).content.decode()
    assert renewal.get_absolute_url() in page and url not in page  # "follow the renewal"


def test_revoke_needs_a_reason_and_confirmation(
    tenant_a, client_for, make_certificate, django_capture_on_commit_callbacks
):
    certificate = make_certificate(tenant_a.officine)
    client = client_for(tenant_a.operator)
    url = reverse("certificates:revoke", args=[certificate.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert_valid_html(page)
    refused = client.post(url, {"reason": "cessation"})
    assert refused.status_code == 400 and "confirm" in refused.context["form"].errors
    assert client.post(url, {"reason": "made-up", "confirm": "on"}).status_code == 400
    certificate.refresh_from_db()
    assert certificate.revoked_at is None
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(url, {"reason": "cessation", "confirm": "on"})
    assert done.status_code == 302
    certificate.refresh_from_db()
    assert certificate.revoked_at is not None and certificate.revocation_reason == "cessation"
    again = client.post(url, {"reason": "cessation", "confirm": "on"})
    assert again.status_code == 400
    assert "already revoked" in again.content.decode() or again.context["form"].errors


# --------------------------------------------------------------------------- bulk import


def test_bulk_import_reports_each_file(tenant_a, client_for, pki, shared_key, trust_anchors):
    officine = tenant_a.officine
    _key, first = pki.issue_for(
        finess=officine.finess,
        raison_sociale=officine.raison_sociale,
        department=officine.department_label,
        common_name="LGO A",
        profile=x509.Profile.ORG_AUTH_CLI,
        key=shared_key,
    )
    key2 = x509.generate_private_key()
    _key, second = pki.issue_for(
        finess=officine.finess,
        raison_sociale=officine.raison_sociale,
        department=officine.department_label,
        common_name="LGO B",
        profile=x509.Profile.ORG_SIGN,
        key=key2,
    )
    p12 = x509.build_pkcs12(
        private_key=key2,
        certificate=second,
        chain=pki.chain_for(),
        passphrase=b"secret-p12-pass",
        profile="modern",
        friendly_name=b"b",
    )
    client = client_for(tenant_a.operator)
    url = reverse("certificates:import")
    page = client.get(url)
    assert_valid_html(page)
    assert b"multiple" in page.content and b"data-dropzone" in page.content
    files = [
        SimpleUploadedFile("a.pem", to_pem_bundle(first)),
        SimpleUploadedFile("a-again.pem", to_pem_bundle(first)),
        SimpleUploadedFile("b.p12", p12),
        SimpleUploadedFile("notes.txt", b"hello"),
    ]
    response = client.post(url, {"files": files, "password": "secret-p12-pass"})
    assert response.status_code == 200
    assert_valid_html(response)
    outcome = {r.file: r.result for r in response.context["results"]}
    assert outcome == {
        "a.pem": "imported",
        "a-again.pem": "duplicate",
        "b.p12": "imported",
        "notes.txt": "rejected",
    }
    assert response.context["counts"] == {"imported": 2, "duplicate": 1, "rejected": 1}
    body = response.content.decode()
    assert "secret-p12-pass" not in body
    assert Certificate.objects.filter(officine=officine).count() == 2
    # Without the passphrase the PKCS#12 is refused with a clear reason.
    again = client.post(url, {"files": [SimpleUploadedFile("b.p12", p12)]})
    assert again.context["results"][0].code in ("passphrase_required", "bad_passphrase")
    assert client.post(url, {}).status_code == 400


def test_bulk_import_is_for_writers(tenant_a, client_for):
    for user in (tenant_a.viewer, tenant_a.pharmacist):
        assert client_for(user).get(reverse("certificates:import")).status_code == 403


# --------------------------------------------------------------------------- requests


def test_request_page_follow_up_until_the_certificate_is_matched(
    tenant_a,
    client_for,
    pki,
    trust_anchors,
    django_capture_on_commit_callbacks,
    django_assert_max_num_queries,
):
    request = server_request(
        tenant_a.officine, tenant_a.operator, django_capture_on_commit_callbacks
    )
    client = client_for(tenant_a.operator)
    url = request.get_absolute_url()
    with django_assert_max_num_queries(12):
        page = client.get(url)
    assert page.status_code == 200
    assert_valid_html(page)
    body = page.content.decode()
    assert reverse("certificates:request_csr", args=[request.pk]) in body
    assert 'hx-trigger="every' not in body  # the key is ready: no polling

    csr = client.get(reverse("certificates:request_csr", args=[request.pk]))
    assert csr.status_code == 200 and csr.content.decode() == request.csr_pem
    assert cx509.load_pem_x509_csr(csr.content).is_signature_valid
    assert AuditEvent.objects.filter(action="request.download_csr").exists()

    assert client.post(reverse("certificates:request_submit", args=[request.pk])).status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.SUBMITTED

    upload_url = reverse("certificates:request_upload_certificate", args=[request.pk])
    other = server_request(
        tenant_a.officine,
        tenant_a.operator,
        django_capture_on_commit_callbacks,
        common_name="AUTRE",
    )
    wrong = client.post(
        upload_url, {"certificate": SimpleUploadedFile("x.pem", issue_pem(pki, other))}
    )
    assert wrong.status_code == 400
    assert wrong.context["upload_form"].errors["certificate"]
    assert_valid_html(wrong)
    request.refresh_from_db()
    assert request.status == RequestStatus.SUBMITTED

    done = client.post(
        upload_url, {"certificate": SimpleUploadedFile("ans.pem", issue_pem(pki, request))}
    )
    assert done.status_code == 302
    certificate = Certificate.objects.get(request=request)
    assert done["Location"] == certificate.get_absolute_url()
    request.refresh_from_db()
    assert request.status == RequestStatus.ISSUED
    assert certificate.get_absolute_url() in client.get(url).content.decode()


def test_request_progress_polls_while_the_key_is_generated(tenant_a, client_for):
    request = CertificateRequest.objects.create(
        editor=tenant_a.editor,
        officine=tenant_a.officine,
        profile="ORG_AUTH_CLI",
        services=["PSC"],
        common_name="LGO",
        key_mode="server",
        requester_email="a@b.fr",
        progress=10,
    )
    client = client_for(tenant_a.viewer)
    page = client.get(request.get_absolute_url()).content.decode()
    progress_url = reverse("certificates:request_progress", args=[request.pk])
    assert f'hx-get="{progress_url}"' in page and 'hx-trigger="every 2s"' in page
    assert '<progress id="key-progress" max="100" value="10">' in page
    fragment = client.get(progress_url, **htmx())
    assert fragment.status_code == 200 and b"<html" not in fragment.content
    assert_valid_html(fragment)
    CertificateRequest.objects.filter(pk=request.pk).update(status="csr_ready", progress=100)
    finished = client.get(progress_url, **htmx())
    assert finished.status_code == 200 and finished["HX-Refresh"] == "true"


def test_request_csr_upload_and_cancel(tenant_a, client_for, shared_key):
    officine = tenant_a.officine
    request = CertificateRequest.objects.create(
        editor=tenant_a.editor,
        officine=officine,
        profile="ORG_AUTH_CLI",
        services=["PSC"],
        common_name="LGO",
        key_mode="csr",
        status="awaiting_csr",
        requester_email="a@b.fr",
    )
    client = client_for(tenant_a.operator)
    url = reverse("certificates:request_upload_csr", args=[request.pk])
    garbage = client.post(url, {"csr": SimpleUploadedFile("x.csr", b"not a csr")})
    assert garbage.status_code == 400 and garbage.context["csr_form"].errors["csr"]
    subject = x509.build_subject(
        department=officine.department_label,
        raison_sociale=officine.raison_sociale,
        finess=officine.finess,
        common_name="LGO",
    )
    key = x509.generate_private_key()
    csr = x509.build_csr(private_key=key, subject=subject)
    assert client.post(url, {"csr": SimpleUploadedFile("lgo.csr", csr)}).status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.CSR_READY and request.encrypted_private_key is None
    cancel = reverse("certificates:request_cancel", args=[request.pk])
    assert client_for(tenant_a.viewer).post(cancel).status_code == 403
    assert client.post(cancel).status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.CANCELLED
    client.post(cancel)  # twice: an error message, never a 500
    request.refresh_from_db()
    assert request.status == RequestStatus.CANCELLED


def test_request_list_filters_and_query_count(tenant_a, client_for, django_assert_max_num_queries):
    def make(n, status="pending"):
        CertificateRequest.objects.bulk_create(
            CertificateRequest(
                editor=tenant_a.editor,
                officine=tenant_a.officine,
                profile="ORG_AUTH_CLI",
                services=["PSC"],
                common_name=f"LGO {i}",
                key_mode="csr",
                requester_email="a@b.fr",
                status=status,
            )
            for i in range(n)
        )

    make(2)
    client = client_for(tenant_a.operator)
    url = reverse("certificates:request_list")
    with django_assert_max_num_queries(6):
        response = client.get(url)
    assert_valid_html(response)
    make(80, status="cancelled")
    with django_assert_max_num_queries(6):
        response = client.get(url, {"status": "open"})
    assert response.context["paginator"].count == 2
    assert client.get(url, {"status": "cancelled"}).context["paginator"].count == 80


# --------------------------------------------------------------------------- officines


def test_pharmacist_sees_their_officine_with_coverage_and_contact(
    tenant_a, tenant_b, client_for, make_certificate, django_assert_max_num_queries
):
    officine = tenant_a.pharmacist_officine
    officine.technical_administrator = tenant_a.administrator
    officine.save()
    make_certificate(officine, common_name="INSI-AUTO", services=("INSI",), not_after=days(12))
    make_certificate(tenant_a.officine, common_name="NOT-MINE")
    client = client_for(tenant_a.pharmacist)
    with django_assert_max_num_queries(11):
        response = client.get(reverse("certificates:my_officines"))
    assert response.status_code == 200
    assert_valid_html(response)
    body = response.content.decode()
    assert officine.finess in body and tenant_a.officine.finess not in body
    assert "NOT-MINE" not in body and "INSI-AUTO" in body
    assert tenant_a.administrator.email in body
    panel = response.context["panels"][0]
    assert dict(panel["coverage"])["INSi"] == "expiring"
    assert panel["can_act"] is True
    assert f"{reverse('certificates:request_create')}?officine={officine.pk}" in body
    # Members are sent to their own pages; another tenant's officine is a 404.
    assert (
        client_for(tenant_a.operator).get(reverse("certificates:my_officines")).status_code == 403
    )
    assert (
        client.get(reverse("certificates:officine", args=[tenant_a.officine.pk])).status_code == 404
    )
    assert client.get(reverse("certificates:officine", args=[officine.pk])).status_code == 200


def test_officine_panel_query_count_is_bounded(
    tenant_a, client_for, make_certificate, django_assert_max_num_queries
):
    make_certificate(tenant_a.officine)
    client = client_for(tenant_a.operator)
    url = reverse("certificates:officine", args=[tenant_a.officine.pk])
    with django_assert_max_num_queries(11):
        client.get(url)
    for i in range(30):
        make_certificate(tenant_a.officine, not_after=days(40 + i))
    with django_assert_max_num_queries(11):
        response = client.get(url)
    assert len(response.context["panels"][0]["certificates"]) == 31


# --------------------------------------------------------------------------- settings


def test_api_key_is_shown_once_then_only_its_prefix(tenant_a, client_for):
    client = client_for(tenant_a.admin)
    url = reverse("settings_api_keys")
    assert_valid_html(client.get(url))
    response = client.post(
        url,
        {
            "name": "LGO prod",
            "scopes": ["read", "write"],
            "finess": tenant_a.officine.finess,
            "expires_on": (timezone.localdate() + timedelta(days=90)).isoformat(),
        },
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert_valid_html(response)
    raw = response.context["raw_key"]
    assert raw in response.content.decode()
    key = api_key_lookup(raw)
    assert key.officine == tenant_a.officine and key.scopes == ["read", "write"]
    listing = client.get(url).content.decode()
    assert raw not in listing and key.prefix in listing
    # keys:export needs a recent re-authentication.
    export = client.post(url, {"name": "export", "scopes": ["keys:export"]})
    assert export.status_code == 400 and export.context["reauth_url"]
    assert not ApiKey.objects.filter(name="export").exists()
    reauthenticate(client)
    assert client.post(url, {"name": "export", "scopes": ["keys:export"]}).status_code == 200
    # Bad input: a FINESS of nobody, no scope.
    bad = client.post(url, {"name": "x", "scopes": [], "finess": "760021832"})
    assert bad.status_code == 400 and {"scopes", "finess"} <= set(bad.context["form"].errors)
    # Revoke.
    revoke = reverse("settings_api_key_revoke", args=[key.pk])
    assert client.post(revoke).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_settings_pages_are_for_admins(tenant_a, client_for):
    for user in (tenant_a.operator, tenant_a.viewer, tenant_a.pharmacist):
        assert client_for(user).get(reverse("settings_api_keys")).status_code == 403
        assert client_for(user).get(reverse("settings_webhooks")).status_code == 403
    admin = client_for(tenant_a.admin)
    assert admin.get(reverse("settings_webhooks"))["Location"].startswith(
        reverse("notifications:settings")
    )
    assert admin.get(reverse("settings_alerts"))["Location"].startswith(
        reverse("notifications:settings")
    )


def test_my_officines_query_count_does_not_grow_with_officines(
    tenant_a, client_for, make_certificate, django_assert_max_num_queries
):
    from officines.models import PharmacistAccess

    client = client_for(tenant_a.pharmacist)
    url = reverse("certificates:my_officines")
    make_certificate(tenant_a.pharmacist_officine)
    with django_assert_max_num_queries(11):
        assert client.get(url).status_code == 200
    more = bulk_officines(tenant_a.editor, 6, delegation_mode="pharmacien")
    PharmacistAccess.objects.bulk_create(
        PharmacistAccess(user=tenant_a.pharmacist, officine=o) for o in more
    )
    for officine in more:
        make_certificate(officine)
    with django_assert_max_num_queries(11):
        response = client.get(url)
    assert len(response.context["panels"]) == 7
    assert all(panel["can_act"] for panel in response.context["panels"])
