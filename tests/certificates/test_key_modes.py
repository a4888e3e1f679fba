"""Issue 14 §4: keys live where the certificate will be installed.

Renewals keep the key mode of the certificate they renew, campaigns too (a key the portal
never held is renewed awaiting the LGO's CSR), and who may upload a CSR follows the
delegation mode (pharmacists of a Cas 2 officine, on the request page)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from certificates import keystore, x509
from certificates.campaign_worker import campaign_run
from certificates.campaigns import campaign_create
from certificates.models import CampaignStatus, CertificateRequest, KeyMode, RequestStatus
from certificates.ordering import (
    expected_subject,
    renewal_key_mode,
    request_create,
    request_create_renewal,
)
from tests.helpers.api import bearer
from tests.helpers.certificates import certificate_row

pytestmark = pytest.mark.django_db


def held_by_portal(pki, officine, *, common_name="LGO", not_after=None):
    """A certificate issued for a server-mode request: the portal holds its key."""
    key = x509.generate_private_key(algorithm="EC")
    request = CertificateRequest.objects.create(
        editor_id=officine.editor_id,
        officine=officine,
        profile="ORG_AUTH_CLI",
        services=["PSC"],
        common_name=common_name,
        key_mode=KeyMode.SERVER,
        requester_email="acteur@lgo.example",
        status=RequestStatus.ISSUED,
        public_key_sha256=x509.public_key_sha256(key.public_key()),
    )
    keystore.encrypt_private_key(private_key=key, request=request)
    request.save()
    return certificate_row(
        pki, key, officine, common_name=common_name, request=request, not_after=not_after
    )


def test_renewal_keeps_the_key_mode(tenant_a, pki, make_certificate):
    officine = tenant_a.officine
    server = held_by_portal(pki, officine)
    imported = make_certificate(officine, common_name="IMPORTED")
    assert renewal_key_mode(server) == KeyMode.SERVER
    assert renewal_key_mode(imported) == KeyMode.CSR
    renewed = request_create_renewal(certificate=server, actor=tenant_a.operator, enqueue=False)
    assert (renewed.key_mode, renewed.status) == (KeyMode.SERVER, RequestStatus.PENDING)
    waiting = request_create_renewal(certificate=imported, actor=tenant_a.operator)
    assert (waiting.key_mode, waiting.status) == (KeyMode.CSR, RequestStatus.AWAITING_CSR)
    ans = request_create(
        officine=officine,
        profile="ORG_AUTH_CLI",
        services=["PSC"],
        common_name="ANS KEY",
        key_mode=KeyMode.ANS,
        requester_email="acteur@lgo.example",
    )
    ans_certificate = make_certificate(officine, common_name="ANS KEY")
    ans_certificate.request = ans
    ans_certificate.save()
    assert renewal_key_mode(ans_certificate) == KeyMode.ANS


def test_campaign_keeps_each_key_mode_and_counts_awaiting_requests(tenant_a, pki, make_certificate):
    officine = tenant_a.officine
    soon = timezone.now() + timedelta(days=20)
    server = held_by_portal(pki, officine, common_name="SERVER", not_after=soon)
    imported = make_certificate(officine, common_name="AGENT", not_after=soon)
    campaign = campaign_create(
        editor=tenant_a.editor,
        actor=tenant_a.operator,
        name="Mixte",
        requester_email="admin-tech@lgo.example",
        within_days=60,
    )
    assert campaign.key_mode == ""
    campaign = campaign_run(campaign_id=campaign.pk)
    assert campaign.status == CampaignStatus.DONE and (campaign.completed, campaign.total) == (2, 2)
    assert campaign.error == ""
    by_renewed = {r.renews_id: r for r in CertificateRequest.objects.filter(campaign=campaign)}
    assert by_renewed[server.pk].key_mode == KeyMode.SERVER
    assert by_renewed[server.pk].status == RequestStatus.CSR_READY
    assert by_renewed[imported.pk].key_mode == KeyMode.CSR
    assert by_renewed[imported.pk].status == RequestStatus.AWAITING_CSR
    assert campaign_run(campaign_id=campaign.pk).completed == 2  # idempotent


def test_pharmacist_uploads_the_csr_of_a_cas_2_officine(tenant_a, client_for, make_certificate):
    own = tenant_a.pharmacist_officine
    request = request_create(
        officine=own,
        profile="ORG_AUTH_CLI",
        services=["PSC"],
        common_name="LGO",
        key_mode=KeyMode.CSR,
        requester_email="pharmacien@officine.example",
    )
    page = client_for(tenant_a.pharmacist).get(request.get_absolute_url())
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="awaiting-csr"' in body and own.structure_identifier in body
    subject = expected_subject(own, "LGO")
    csr = x509.build_csr(
        private_key=x509.generate_private_key(),
        subject=x509.build_subject(
            department=subject["ST"],
            raison_sociale=subject["O"],
            finess=own.finess,
            common_name="LGO",
        ),
    )
    url = reverse("certificates:request_upload_csr", args=[request.pk])
    response = client_for(tenant_a.pharmacist).post(
        url, {"csr": SimpleUploadedFile("lgo.csr", csr)}
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.CSR_READY


def test_viewer_cannot_upload_a_csr(tenant_a, client_for):
    request = request_create(
        officine=tenant_a.officine,
        profile="ORG_AUTH_CLI",
        services=["PSC"],
        common_name="LGO",
        key_mode=KeyMode.CSR,
        requester_email="a@b.fr",
    )
    url = reverse("certificates:request_upload_csr", args=[request.pk])
    csr = b"-----BEGIN CERTIFICATE REQUEST-----\nAA\n-----END CERTIFICATE REQUEST-----\n"
    response = client_for(tenant_a.viewer).post(url, {"csr": SimpleUploadedFile("x.csr", csr)})
    assert response.status_code == 403
    request.refresh_from_db()
    assert request.status == RequestStatus.AWAITING_CSR


def test_campaign_page_shows_what_each_agent_answered(
    tenant_a, make_certificate, client_for, django_assert_max_num_queries
):
    from portal.api.keys import api_key_create

    officine = tenant_a.officine
    certificate = make_certificate(
        officine, common_name="AGENT", not_after=timezone.now() + timedelta(days=20)
    )
    campaign = campaign_create(
        editor=tenant_a.editor,
        actor=tenant_a.operator,
        name="Agents",
        requester_email="admin-tech@lgo.example",
        certificate_ids=[certificate.pk],
    )
    campaign_run(campaign_id=campaign.pk)
    url = campaign.get_absolute_url()
    page = client_for(tenant_a.operator).get(url)
    body = page.content.decode()
    assert 'class="agent-csr">non<' in body or 'class="agent-csr">no<' in body
    assert "agent-seen" in body
    _key, raw = api_key_create(
        editor=tenant_a.editor,
        name="agent",
        scopes=["read", "write"],
        officine=officine,
        actor=tenant_a.admin,
    )
    request = CertificateRequest.objects.get(campaign=campaign)
    subject = expected_subject(officine, "AGENT")
    csr = x509.build_csr(
        private_key=x509.generate_private_key(),
        subject=x509.build_subject(
            department=subject["ST"],
            raison_sociale=subject["O"],
            finess=officine.finess,
            common_name="AGENT",
        ),
    )
    answered = bearer(raw).post(
        f"/api/v1/certificate-requests/{request.pk}/csr/", csr, content_type="text/plain"
    )
    assert answered.status_code == 200, answered.content
    with django_assert_max_num_queries(30):  # three for the agents, whatever the size
        page = client_for(tenant_a.operator).get(url)
    rows = page.context["requests"]
    assert rows[0].csr_answered and not rows[0].installed
    assert rows[0].agent_last_seen is not None
