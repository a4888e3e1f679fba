"""Cas 1 / Cas 2 (ANS guide) and re-authentication, enforced the same way by pages and API.

In mode « pharmacien » (Cas 2) the officine orders « sans délégation à l'éditeur »: editor
staff and editor-wide keys see everything but cannot order, renew, cancel, export a key or
revoke; its pharmacists (pages) and a key limited to it (the LGO at the pharmacy) can.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from certificates import keystore
from certificates import x509 as igc
from certificates.models import CertificateRequest, KeyMode, RequestStatus
from notifications.models import Notification
from portal.api.keys import api_key_create
from portal.models import AuditEvent
from tests.helpers.api import bearer
from tests.helpers.certificates import certificate_row
from tests.helpers.tenants import logged_in
from tests.ui.certificate_support import age_reauthentication, reauthenticate

pytestmark = pytest.mark.django_db

REQUESTS = "/api/v1/certificate-requests/"
P12 = {"passphrase": "correct horse battery", "profile": "modern"}


@pytest.fixture(autouse=True)
def _french():
    with translation.override("fr"):
        yield


def held_certificate(pki, key, officine):
    """A certificate of `officine` whose key the portal holds (server mode)."""
    request = CertificateRequest.objects.create(
        editor_id=officine.editor_id,
        officine=officine,
        profile="ORG_AUTH_CLI",
        services=["INSI"],
        common_name="INSI-AUTO",
        key_mode=KeyMode.SERVER,
        requester_email="acteur@lgo.example",
        status=RequestStatus.ISSUED,
        public_key_sha256=igc.public_key_sha256(key.public_key()),
    )
    keystore.encrypt_private_key(private_key=key, request=request)
    request.save()
    return certificate_row(
        pki, key, officine, common_name="INSI-AUTO", services=("INSI",), request=request
    )


@pytest.fixture
def cas2(tenant_a, pki, shared_key):
    """Tenant A's officine in mode pharmacien, with a certificate whose key the portal holds."""
    return held_certificate(pki, shared_key, tenant_a.pharmacist_officine)


def refused_because_cas2(response) -> None:
    assert response.status_code == 403, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert "sans délégation à l'éditeur" in response.json()["detail"]


def test_editor_wide_key_and_staff_are_refused_on_a_cas2_officine(tenant_a, keys_a, cas2):
    officine = tenant_a.pharmacist_officine
    for client in (bearer(keys_a.export), logged_in(tenant_a.operator)):
        assert client.get(f"/api/v1/certificates/{cas2.pk}/").status_code == 200  # sees it
        if client.session:
            reauthenticate(client)
        refused_because_cas2(
            client.post(f"/api/v1/certificates/{cas2.pk}/pkcs12/", P12, "application/json")
        )
        refused_because_cas2(
            client.post(
                f"/api/v1/certificates/{cas2.pk}/revocation/",
                {"reason": "key_compromise"},
                "application/json",
            )
        )
        refused_because_cas2(
            client.post(
                REQUESTS,
                {
                    "finess": officine.finess,
                    "profile": "ORG_AUTH_CLI",
                    "services": ["INSI"],
                    "common_name": "INSI-AUTO",
                    "requester_email": "a@lgo.example",
                },
                "application/json",
            )
        )
    cas2.refresh_from_db()
    assert cas2.revoked_at is None
    assert not AuditEvent.objects.filter(action="key.decrypt").exists()
    assert not CertificateRequest.objects.filter(officine=officine).exclude(pk=cas2.request_id)


def test_a_key_limited_to_the_cas2_officine_acts(tenant_a, cas2):
    officine = tenant_a.pharmacist_officine
    _, raw = api_key_create(
        editor=tenant_a.editor,
        name="LGO officine",
        scopes=["read", "write", "keys:export"],
        officine=officine,
        actor=tenant_a.admin,
    )
    client = bearer(raw)
    exported = client.post(f"/api/v1/certificates/{cas2.pk}/pkcs12/", P12, "application/json")
    assert exported.status_code == 200, exported.content
    created = client.post(
        REQUESTS,
        {
            "finess": officine.finess,
            "profile": "ORG_AUTH_CLI",
            "services": ["PSC"],
            "common_name": "LGO",
            "requester_email": "a@lgo.example",
        },
        "application/json",
    )
    assert created.status_code == 201, created.content
    revoked = client.post(
        f"/api/v1/certificates/{cas2.pk}/revocation/", {"reason": "other"}, "application/json"
    )
    assert revoked.status_code == 200, revoked.content


def test_pages_refuse_staff_with_the_reason_and_let_the_pharmacist_act(tenant_a, cas2):
    staff = logged_in(tenant_a.admin)
    detail = staff.get(cas2.get_absolute_url()).content.decode()
    assert "sans délégation à l&#x27;éditeur" in detail
    for name in ("renew", "revoke"):
        response = staff.post(reverse(f"certificates:{name}", args=[cas2.pk]), {"reason": "other"})
        assert response.status_code == 403
        assert "sans délégation à l&#x27;éditeur" in response.content.decode()
    pharmacist = logged_in(tenant_a.pharmacist)
    response = pharmacist.post(reverse("certificates:renew", args=[cas2.pk]))
    assert response.status_code == 302
    assert CertificateRequest.objects.filter(renews=cas2, created_by=tenant_a.pharmacist).exists()


def test_session_pkcs12_through_the_api_needs_a_recent_reauthentication(
    tenant_a, server_certificate
):
    """Issue 12, item 3: the page's 5-minute rule holds for the API called with a session."""
    client = logged_in(tenant_a.operator)
    url = f"/api/v1/certificates/{server_certificate.pk}/pkcs12/"
    response = client.post(url, P12, "application/json")
    assert response.status_code == 403
    assert "5 minutes" in response.json()["detail"]
    assert not AuditEvent.objects.filter(action="key.decrypt").exists()
    reauthenticate(client)
    assert client.post(url, P12, "application/json").status_code == 200
    age_reauthentication(client, 301)
    assert client.post(url, P12, "application/json").status_code == 403


def test_campaigns_never_renew_cas2_and_list_them_apart(tenant_a, make_certificate):
    from certificates.campaigns import campaign_create

    cas1 = make_certificate(tenant_a.officine)
    cas2 = make_certificate(tenant_a.pharmacist_officine)
    campaign = campaign_create(
        editor=tenant_a.editor,
        actor=tenant_a.operator,
        name="Renouvellements",
        requester_email="admin-tech@lgo.example",
        certificate_ids=[cas1.pk, cas2.pk],
    )
    assert list(campaign.certificates.values_list("pk", flat=True)) == [cas1.pk]
    notices = Notification.objects.filter(certificate=cas2)
    assert [n.user for n in notices] == [tenant_a.pharmacist]
    assert "Renouvelez-le depuis le portail ou votre LGO" in notices[0].body
    assert not Notification.objects.filter(certificate=cas1).exists()
    page = logged_in(tenant_a.operator).get(reverse("certificates:campaign_create"))
    body = page.content.decode()
    assert "À renouveler par l'officine" in body
    assert f'value="{cas2.pk}"' not in body and cas2.get_absolute_url() in body
