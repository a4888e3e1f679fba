"""The certificate page says when and how the revocation status was last learnt, offers the
« Vérifier auprès de l'IGC Santé » button (enqueued, no network in the request), and the
dashboard counts the certificates ANS revoked in the last 30 days."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from certificates.models import Certificate, CrlState, RevocationCheck
from portal.models import AuditEvent, OutboxMessage
from tests.ui.html_checker import assert_valid_html

pytestmark = pytest.mark.django_db


def test_detail_shows_last_check_and_unknown_status(tenant_a, client_for, make_certificate,
                                                   settings):  # fmt: skip
    certificate = make_certificate(tenant_a.officine)
    client = client_for(tenant_a.viewer)
    page = client.get(certificate.get_absolute_url())
    assert page.status_code == 200
    assert_valid_html(page)
    body = page.content.decode()
    assert "Jamais vérifié" in body
    assert "Vérifier auprès de l'IGC Santé" in body

    long_ago = timezone.now() - timedelta(hours=settings.REVOCATION_UNKNOWN_AFTER_HOURS + 5)
    CrlState.objects.create(issuer_dn=certificate.issuer_dn, last_attempt_at=timezone.now(),
                            last_success_at=long_ago, last_error="HTTP 503")  # fmt: skip
    body = client.get(certificate.get_absolute_url()).content.decode()
    assert "Statut de révocation inconnu" in body
    assert "IGC Santé (CRL)" in body


def test_detail_of_a_certificate_revoked_by_ans(tenant_a, client_for, make_certificate):
    certificate = make_certificate(tenant_a.officine)
    Certificate.objects.filter(pk=certificate.pk).update(
        revoked_at=timezone.now() - timedelta(days=1), revocation_reason="key_compromise",
        revocation_source="crl",
    )  # fmt: skip
    from certificates.coverage import coverage_refresh

    coverage_refresh([certificate.officine_id])
    RevocationCheck.objects.create(certificate=certificate, removed_from_crl_at=timezone.now())
    page = client_for(tenant_a.viewer).get(certificate.get_absolute_url())
    assert_valid_html(page)
    body = page.content.decode()
    assert "révoqué par l'ANS" in body
    assert "removeFromCRL" in body

    dashboard = client_for(tenant_a.viewer).get(reverse("dashboard"))
    assert "Révoqués par l'ANS depuis 30 jours" in dashboard.content.decode()
    assert dashboard.context["counts"]["revoked_by_ans"] == 1


def test_button_enqueues_a_check(tenant_a, tenant_b, client_for, make_certificate):
    certificate = make_certificate(tenant_a.officine)
    target = reverse("certificates:revocation_check", args=[certificate.pk])
    response = client_for(tenant_a.viewer).post(target)
    assert response.status_code == 302
    message = OutboxMessage.objects.get(task="certificates.tasks.check_certificate_revocation")
    assert message.kwargs == {"certificate_id": certificate.pk, "user_id": tenant_a.viewer.pk}
    assert AuditEvent.objects.filter(action="certificate.revocation_check_requested").exists()
    # Another editor's user: 404, nothing enqueued.
    assert client_for(tenant_b.operator).post(target).status_code == 404
    assert OutboxMessage.objects.count() == 1


def test_list_shows_unknown_status_when_the_ca_is_unreachable(
    tenant_a, client_for, make_certificate, settings, django_assert_max_num_queries
):
    stale = make_certificate(tenant_a.officine, common_name="STALE")
    answered = make_certificate(tenant_a.officine, common_name="ANSWERED")
    client = client_for(tenant_a.viewer)
    assert (
        "Statut de révocation inconnu"
        not in client.get(reverse("certificates:list")).content.decode()
    )

    long_ago = timezone.now() - timedelta(hours=settings.REVOCATION_UNKNOWN_AFTER_HOURS + 1)
    CrlState.objects.create(issuer_dn=stale.issuer_dn, last_attempt_at=timezone.now(),
                            last_success_at=long_ago)  # fmt: skip
    RevocationCheck.objects.create(certificate=answered, ocsp_status="good",
                                   ocsp_checked_at=timezone.now())  # fmt: skip
    with django_assert_max_num_queries(8):
        page = client.get(reverse("certificates:list"))
    assert_valid_html(page)
    rows = {c.common_name: c.revocation_unknown for c in page.context["object_list"]}
    assert rows == {"STALE": True, "ANSWERED": False}
    assert page.content.decode().count("Statut de révocation inconnu") == 1


def test_a_pharmacist_may_ask_about_their_officines_certificate(tenant_a, client_for,
                                                                make_certificate):  # fmt: skip
    own = make_certificate(tenant_a.pharmacist_officine)
    other = make_certificate(tenant_a.officine)
    client = client_for(tenant_a.pharmacist)
    assert client.post(reverse("certificates:revocation_check", args=[own.pk])).status_code == 302
    assert client.post(reverse("certificates:revocation_check", args=[other.pk])).status_code == 404
