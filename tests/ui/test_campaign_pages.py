"""Renewal campaign pages: choose, launch, watch the progress, download the CSRs and the
ANS worksheet."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from cryptography import x509 as cx509
from django.urls import reverse

from certificates.models import CampaignStatus, CertificateRequest, RenewalCampaign
from portal.models import AuditEvent
from tests.helpers.certificates import bulk_officines, clone_certificates, days
from tests.ui.certificate_support import htmx
from tests.ui.html_checker import assert_valid_html

pytestmark = pytest.mark.django_db


def launch(client, capture, **data):
    values = {
        "name": "Renouvellements juin",
        "mode": "within",
        "within_days": "60",
        "requester_email": "admin-tech@lgo.example",
        "contact_email": "",
    }
    values.update(data)
    with capture(execute=True):
        return client.post(reverse("certificates:campaign_create"), values)


def test_create_page_lists_renewable_certificates(
    tenant_a, client_for, make_certificate, django_assert_max_num_queries
):
    soon = make_certificate(tenant_a.officine, common_name="SOON", not_after=days(20))
    make_certificate(
        tenant_a.officine, common_name="REVOKED", revoked_at=days(-1), revocation_reason="other"
    )
    client = client_for(tenant_a.operator)
    url = reverse("certificates:campaign_create")
    with django_assert_max_num_queries(6):
        page = client.get(url)
    assert page.status_code == 200
    assert_valid_html(page)
    assert [c.common_name for c in page.context["candidates"]] == ["SOON"]
    assert f'id="cert-{soon.pk}"' in page.content.decode()
    assert page.context["form"]["requester_email"].value() == tenant_a.operator.email
    clone_certificates(soon, bulk_officines(tenant_a.editor, 250), not_after=days(30))
    with django_assert_max_num_queries(6):
        page = client.get(url, {"profile": "ORG_AUTH_CLI"})
    assert len(page.context["candidates"]) == 200 and page.context["truncated"]


def test_campaign_of_ticked_certificates_runs_to_completion(
    tenant_a, client_for, make_certificate, django_capture_on_commit_callbacks
):
    first = make_certificate(tenant_a.officine, common_name="A", not_after=days(20))
    second = make_certificate(tenant_a.officine, common_name="B", not_after=days(200))
    make_certificate(tenant_a.officine, common_name="C", not_after=days(25))
    client = client_for(tenant_a.operator)
    response = launch(
        client,
        django_capture_on_commit_callbacks,
        mode="selection",
        certificate_ids=[str(first.pk), str(second.pk)],
        key_mode="server",  # explicit: the portal makes the keys, the ZIP holds their CSRs
    )
    campaign = RenewalCampaign.objects.get()
    assert response.status_code == 302 and response["Location"] == campaign.get_absolute_url()
    assert campaign.status == CampaignStatus.DONE and (campaign.completed, campaign.total) == (2, 2)
    assert set(
        CertificateRequest.objects.filter(campaign=campaign).values_list(
            "renews__common_name", flat=True
        )
    ) == {"A", "B"}

    page = client.get(campaign.get_absolute_url())
    assert page.status_code == 200
    assert_valid_html(page)
    body = page.content.decode()
    assert 'hx-trigger="every' not in body  # finished: no polling
    assert reverse("certificates:campaign_zip", args=[campaign.pk]) in body

    archive = client.get(reverse("certificates:campaign_zip", args=[campaign.pk]))
    assert archive.status_code == 200 and archive["Content-Type"] == "application/zip"
    data = b"".join(archive.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as zipped:
        names = sorted(zipped.namelist())
        csrs = [n for n in names if n.endswith(".csr")]
        assert len(csrs) == 2 and "fiche-ans.csv" in names
        for name in csrs:
            assert cx509.load_pem_x509_csr(zipped.read(name)).is_signature_valid

    sheet = client.get(reverse("certificates:campaign_worksheet", args=[campaign.pk]))
    text = b"".join(sheet.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff") and text.count("\ufeff") == 1
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert len(rows) == 3 and {r[0] for r in rows[1:]} == {tenant_a.officine.finess}
    assert {r[8] for r in rows[1:]} == {first.serial, second.serial}
    assert AuditEvent.objects.filter(action="campaign.download").exists()
    assert AuditEvent.objects.filter(action="campaign.download_worksheet").exists()


def test_campaign_of_certificates_expiring_within_n_days(
    tenant_a, client_for, make_certificate, django_capture_on_commit_callbacks
):
    make_certificate(tenant_a.officine, common_name="SOON", not_after=days(20))
    make_certificate(tenant_a.officine, common_name="LATER", not_after=days(300))
    client = client_for(tenant_a.admin)
    launch(client, django_capture_on_commit_callbacks, within_days="30")
    campaign = RenewalCampaign.objects.get()
    assert campaign.within_days == 30 and campaign.total == 1


def test_bad_campaign_input_changes_nothing(
    tenant_a, client_for, make_certificate, django_capture_on_commit_callbacks
):
    make_certificate(tenant_a.officine, not_after=days(400))
    client = client_for(tenant_a.operator)
    empty = launch(client, django_capture_on_commit_callbacks, within_days="30")
    assert empty.status_code == 400 and empty.context["form"].non_field_errors()
    assert_valid_html(empty)
    nothing_ticked = launch(client, django_capture_on_commit_callbacks, mode="selection")
    assert nothing_ticked.status_code == 400
    no_days = launch(client, django_capture_on_commit_callbacks, within_days="")
    assert no_days.status_code == 400 and "within_days" in no_days.context["form"].errors
    bad_mail = launch(client, django_capture_on_commit_callbacks, requester_email="nope")
    assert bad_mail.status_code == 400 and "requester_email" in bad_mail.context["form"].errors
    assert not RenewalCampaign.objects.exists() and not CertificateRequest.objects.exists()


def test_progress_polls_while_running_and_stops_when_done(tenant_a, client_for):
    campaign = RenewalCampaign.objects.create(
        editor=tenant_a.editor,
        name="En cours",
        requester_email="a@b.fr",
        total=10,
        completed=4,
        status=CampaignStatus.RUNNING,
    )
    client = client_for(tenant_a.viewer)
    page = client.get(campaign.get_absolute_url()).content.decode()
    progress = reverse("certificates:campaign_progress", args=[campaign.pk])
    assert f'hx-get="{progress}"' in page
    assert '<progress id="campaign-bar" max="10" value="4">' in page
    fragment = client.get(progress, **htmx())
    assert b"<html" not in fragment.content and b'value="4"' in fragment.content
    assert_valid_html(fragment)
    RenewalCampaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.DONE, completed=10)
    assert client.get(progress, **htmx())["HX-Refresh"] == "true"


def test_failed_campaign_can_be_resumed_by_writers(
    tenant_a, client_for, make_certificate, django_capture_on_commit_callbacks
):
    certificate = make_certificate(tenant_a.officine, not_after=days(10))
    campaign = RenewalCampaign.objects.create(
        editor=tenant_a.editor,
        name="Cassée",
        requester_email="a@b.fr",
        total=1,
        status=CampaignStatus.FAILED,
        error="interrupted",
    )
    campaign.certificates.add(certificate)
    url = reverse("certificates:campaign_resume", args=[campaign.pk])
    assert client_for(tenant_a.viewer).post(url).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(tenant_a.operator).post(url).status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE and campaign.completed == 1


def test_campaign_list_query_count(tenant_a, client_for, django_assert_max_num_queries):
    client = client_for(tenant_a.viewer)
    url = reverse("certificates:campaign_list")

    def make(n):
        RenewalCampaign.objects.bulk_create(
            RenewalCampaign(
                editor=tenant_a.editor,
                name=f"C{i}",
                requester_email="a@b.fr",
                created_by=tenant_a.admin,
            )
            for i in range(n)
        )

    make(2)
    with django_assert_max_num_queries(6):
        response = client.get(url)
    assert_valid_html(response)
    make(70)
    with django_assert_max_num_queries(6):
        response = client.get(url)
    assert len(response.context["object_list"]) == 50


def test_campaigns_are_for_editor_staff(tenant_a, client_for):
    pharmacist = client_for(tenant_a.pharmacist)
    assert pharmacist.get(reverse("certificates:campaign_list")).status_code == 403
    assert (
        client_for(tenant_a.viewer).get(reverse("certificates:campaign_create")).status_code == 403
    )
