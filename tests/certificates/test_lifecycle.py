"""Revocation (final, audited, announced) and installation reports (one row per host)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from certificates.coverage import coverage_for_officine
from certificates.lifecycle import certificate_revoke, installation_report, validate_host
from certificates.models import (
    CertificateRequest,
    Installation,
    RequestStatus,
    RevocationReason,
    Status,
)
from portal.models import AuditEvent


@pytest.fixture
def certificate(tenant_a, make_certificate):
    return make_certificate(tenant_a.officine, common_name="INSI-AUTO", services=("INSI", "PSC"))


@pytest.fixture
def endpoints(tenant_a, tenant_b):
    """A webhook endpoint per tenant listening to revocations (real notifications models)."""
    from notifications.models import WebhookEndpoint

    return {
        tenant.editor.pk: WebhookEndpoint.objects.create(
            editor=tenant.editor,
            url=f"https://lgo-{tenant.editor.pk}.example/hooks",
            events=["certificate.revoked"],
        )
        for tenant in (tenant_a, tenant_b)
    }


# --------------------------------------------------------------------------- revocation


def test_revoke_records_reason_date_and_audit(certificate, tenant_a):
    when = timezone.now() - timedelta(hours=2)
    certificate_revoke(
        certificate=certificate,
        reason=RevocationReason.KEY_COMPROMISE,
        revoked_at=when,
        actor=tenant_a.operator,
    )
    certificate.refresh_from_db()
    assert certificate.revoked_at == when
    assert certificate.revocation_reason == "key_compromise"
    assert certificate.status == Status.REVOKED
    event = AuditEvent.objects.get(action="certificate.revoke")
    assert event.actor == tenant_a.operator
    assert event.editor_id == tenant_a.editor.pk
    assert event.target_id == str(certificate.pk)
    assert event.details["reason"] == "key_compromise"


def test_revoked_certificate_covers_nothing(certificate, tenant_a):
    assert coverage_for_officine(tenant_a.officine)["INSI"] == "covered"
    certificate_revoke(certificate=certificate, reason="cessation", actor=tenant_a.admin)
    assert coverage_for_officine(tenant_a.officine)["INSI"] == "missing"


def test_revoke_announces_the_event_to_the_editors_webhooks_only(
    certificate, tenant_a, endpoints, django_capture_on_commit_callbacks
):
    from notifications.models import WebhookDelivery

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        certificate_revoke(certificate=certificate, reason="data_change", actor=tenant_a.admin)
    delivery = WebhookDelivery.objects.get()
    assert delivery.endpoint == endpoints[tenant_a.editor.pk]
    assert delivery.event == "certificate.revoked"
    assert delivery.certificate_id == certificate.pk
    assert callbacks  # sending is enqueued for after the commit
    # A refused second revocation announces nothing more.
    with pytest.raises(ValidationError):
        certificate_revoke(certificate=certificate, reason="other", actor=tenant_a.admin)
    assert WebhookDelivery.objects.count() == 1


def test_failed_revocation_announces_nothing(certificate, tenant_a, endpoints):
    from notifications.models import WebhookDelivery

    with pytest.raises(ValidationError):
        certificate_revoke(certificate=certificate, reason="stolen", actor=tenant_a.admin)
    assert not WebhookDelivery.objects.exists()


def test_revocation_is_final(certificate, tenant_a):
    first = timezone.now() - timedelta(days=1)
    certificate_revoke(
        certificate=certificate, reason="other", revoked_at=first, actor=tenant_a.admin
    )
    with translation.override("en"), pytest.raises(ValidationError, match="already revoked"):
        certificate_revoke(certificate=certificate, reason="key_compromise", actor=tenant_a.admin)
    certificate.refresh_from_db()
    assert certificate.revoked_at == first and certificate.revocation_reason == "other"
    assert AuditEvent.objects.filter(action="certificate.revoke").count() == 1


@pytest.mark.parametrize(
    ("reason", "revoked_at"),
    [
        ("stolen", None),
        ("", None),
        ("key_compromise", timezone.now() + timedelta(days=2)),
        ("key_compromise", timezone.now() - timedelta(days=5000)),  # before issuance
    ],
)
def test_bad_revocation_changes_nothing(certificate, tenant_a, reason, revoked_at):
    with pytest.raises(ValidationError):
        certificate_revoke(
            certificate=certificate, reason=reason, revoked_at=revoked_at, actor=tenant_a.admin
        )
    certificate.refresh_from_db()
    assert certificate.revoked_at is None and certificate.revocation_reason == ""
    assert not AuditEvent.objects.exists()


def test_open_renewal_request_is_kept_after_revocation(certificate, tenant_a):
    renewal = CertificateRequest.objects.create(
        editor=tenant_a.editor,
        officine=tenant_a.officine,
        profile="ORG_AUTH_CLI",
        common_name="INSI-AUTO",
        requester_email="a@lgo.example",
        renews=certificate,
    )
    certificate_revoke(certificate=certificate, reason="key_compromise", actor=tenant_a.admin)
    renewal.refresh_from_db()
    assert renewal.status == RequestStatus.PENDING


def test_viewers_and_other_editors_cannot_revoke(certificate, tenant_a, tenant_b):
    for user in (tenant_a.viewer, tenant_b.admin, tenant_a.pharmacist):
        with pytest.raises(PermissionDenied):
            certificate_revoke(certificate=certificate, reason="other", actor=user)
    certificate.refresh_from_db()
    assert certificate.revoked_at is None


def test_pharmacist_in_pharmacien_mode_revokes_own_certificate(tenant_a, make_certificate):
    own = make_certificate(tenant_a.pharmacist_officine)
    certificate_revoke(certificate=own, reason="cessation", actor=tenant_a.pharmacist)
    own.refresh_from_db()
    assert own.revoked_at is not None


# --------------------------------------------------------------------------- installations


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("poste-01.pharmacie.local", "poste-01.pharmacie.local"),
        ("PHARMA-PC01", "pharma-pc01"),
        ("lgo.example.fr.", "lgo.example.fr"),
        ("192.168.1.10", "192.168.1.10"),
        ("2001:DB8::1", "2001:db8::1"),
        ("[::1]", "::1"),
        ("  srv  ", "srv"),
    ],
)
def test_valid_hosts(raw, normalised):
    assert validate_host(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "bad host",
        "-start.example",
        "end-.example",
        "under_score",
        "a..b",
        "1234",
        "a" * 64 + ".example",
        ("abcdefgh." * 29)[:256],
        "poste;rm -rf",
    ],
)
def test_invalid_hosts(raw):
    with pytest.raises(ValidationError):
        validate_host(raw)


def test_installation_is_upserted_per_host_and_audited(certificate, tenant_a):
    first = timezone.now() - timedelta(days=3)
    created = installation_report(
        certificate=certificate, host="Poste-1.local", installed_at=first, reported_by="LGO 5.2"
    )
    again = installation_report(
        certificate=certificate,
        host="poste-1.local",
        reported_by="LGO 5.3",
        actor=tenant_a.operator,
    )
    other = installation_report(certificate=certificate, host="10.0.0.5")
    assert created.pk == again.pk != other.pk
    assert Installation.objects.filter(certificate=certificate).count() == 2
    again.refresh_from_db()
    assert again.reported_by == "LGO 5.3" and again.installed_at > first
    events = AuditEvent.objects.filter(action="certificate.install").order_by("id")
    assert [e.details["created"] for e in events] == [True, False, True]
    assert {e.editor_id for e in events} == {tenant_a.editor.pk}
    assert events[1].actor == tenant_a.operator


@pytest.mark.parametrize(
    "kwargs",
    [
        {"host": "bad host"},
        {"host": "ok.example", "installed_at": timezone.now() + timedelta(days=1)},
        {"host": "ok.example", "reported_by": "x" * 201},
    ],
)
def test_bad_installation_report_changes_nothing(certificate, kwargs):
    with pytest.raises(ValidationError):
        installation_report(certificate=certificate, **kwargs)
    assert not Installation.objects.exists()
    assert not AuditEvent.objects.exists()


def test_installation_report_refused_to_viewers_and_other_editors(certificate, tenant_a, tenant_b):
    for user in (tenant_a.viewer, tenant_b.operator):
        with pytest.raises(PermissionDenied):
            installation_report(certificate=certificate, host="poste.local", actor=user)
    assert not Installation.objects.exists()


def test_api_keys_act_only_within_their_editor_and_officine(certificate, tenant_a, tenant_b):
    from portal.models import ApiKey

    rw = ["read", "write"]
    foreign = ApiKey(editor=tenant_b.editor, name="B", scopes=rw)
    other_officine = ApiKey(
        editor=tenant_a.editor, name="A", officine=tenant_a.pharmacist_officine, scopes=rw
    )
    for key in (foreign, other_officine):
        with pytest.raises(PermissionDenied):
            installation_report(certificate=certificate, host="poste.local", actor=key)
        with pytest.raises(PermissionDenied):
            certificate_revoke(certificate=certificate, reason="other", actor=key)
    own = ApiKey(editor=tenant_a.editor, name="A", officine=tenant_a.officine, scopes=rw)
    installation_report(certificate=certificate, host="poste.local", actor=own)
    assert Installation.objects.filter(certificate=certificate).count() == 1
