"""Officine closed or renamed: its live certificates are « à révoquer » / « à réémettre »
(ANS guide: causes of revocation), until a revocation or a renewal is recorded."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from certificates.ans_actions import flagged_counts, subject_parts
from certificates.coverage import coverage_refresh
from certificates.models import Certificate
from notifications.scan import alert_scan
from officines.csv_import.plan import officines_import_plan
from officines.csv_import.write import officines_import_write
from officines.models import Officine
from officines.services import officine_deactivate, officine_save

pytestmark = pytest.mark.django_db


def _csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def test_deactivated_officine_certificates_are_to_revoke_and_alerts_stop(
    tenant_a, make_certificate, client_for
):
    soon = timezone.now() + timedelta(days=7, hours=6)
    live = make_certificate(tenant_a.officine, not_after=soon)
    revoked = make_certificate(tenant_a.officine, common_name="OLD")
    Certificate.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    coverage_refresh([tenant_a.officine.pk])
    officine_deactivate(officine=tenant_a.officine, actor=tenant_a.admin)
    live.refresh_from_db()
    assert live.ans_action == "revoke" and live.ans_action_since is not None
    assert Certificate.objects.get(pk=revoked.pk).ans_action == ""
    assert flagged_counts(Certificate.objects.all()) == {"revoke": 1, "reissue": 0}
    # Alerts for a deactivated officine stop; the flag does not.
    report = alert_scan(today=timezone.localdate(), enqueue=False, dry_run=True)
    assert live.pk not in {a.certificate_id for a in report.to_send}
    client = client_for(tenant_a.viewer)
    dashboard = client.get(reverse("dashboard"))
    assert dashboard.context["counts"]["ans_revoke"] == 1
    assert reverse("certificates:ans_actions") in dashboard.content.decode()
    page = client.get(tenant_a.officine.get_absolute_url()).content.decode()
    assert "à révoquer" in page.lower()
    rows = _csv(client.get(reverse("certificates:ans_actions_worksheet")))
    assert rows[1][0] == tenant_a.officine.finess and rows[1][2] == "À révoquer"
    assert rows[1][7] == live.serial
    # Recording the revocation ends it.
    Certificate.objects.filter(pk=live.pk).update(revoked_at=timezone.now())
    coverage_refresh([tenant_a.officine.pk])
    assert flagged_counts(Certificate.objects.all()) == {"revoke": 0, "reissue": 0}


def test_renamed_officine_certificates_are_to_reissue(tenant_a, make_certificate, client_for):
    certificate = make_certificate(tenant_a.officine)
    assert subject_parts(certificate.subject_dn)["O"] == tenant_a.officine.raison_sociale
    officine = Officine.objects.get(pk=tenant_a.officine.pk)
    officine.address = "2 place Bellecour"  # not in the subject: nothing to do
    officine_save(officine=officine, actor=tenant_a.operator)
    certificate.refresh_from_db()
    assert certificate.ans_action == ""
    officine.raison_sociale = "PHARMACIE NOUVEAU NOM"
    officine_save(officine=officine, actor=tenant_a.operator)
    certificate.refresh_from_db()
    assert certificate.ans_action == "reissue"
    listing = client_for(tenant_a.viewer).get(reverse("certificates:ans_actions"))
    assert [c.pk for c in listing.context["object_list"]] == [certificate.pk]
    # The renewal that supersedes it ends the flag.
    Certificate.objects.filter(pk=certificate.pk).update(superseded_at=timezone.now())
    coverage_refresh([tenant_a.officine.pk])
    assert flagged_counts(Certificate.objects.all())["reissue"] == 0


def test_csv_import_renaming_flags_too(tenant_a, make_certificate):
    certificate = make_certificate(tenant_a.officine)
    text = f"finess;raison_sociale\n{tenant_a.officine.finess};PHARMACIE RENOMMEE\n"
    plan = officines_import_plan(editor_id=tenant_a.editor.pk, text=text)
    officines_import_write(editor_id=tenant_a.editor.pk, plan=plan, actor=tenant_a.admin)
    certificate.refresh_from_db()
    assert certificate.ans_action == "reissue"


def test_other_editors_flags_are_not_counted(tenant_a, tenant_b, make_certificate, client_for):
    make_certificate(tenant_b.officine)
    officine_deactivate(officine=tenant_b.officine, actor=tenant_b.admin)
    client = client_for(tenant_a.admin)
    assert client.get(reverse("dashboard")).context["counts"]["ans_revoke"] == 0
    rows = _csv(client.get(reverse("certificates:ans_actions_worksheet")))
    assert rows[1:] == []
