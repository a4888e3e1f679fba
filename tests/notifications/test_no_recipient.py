"""Issue 14 §6: no certificate reaches its alert date unheard, and the dry run says who hears."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from notifications.digests import digests_send
from notifications.models import AlertLog
from notifications.scan import alert_scan
from tests.factories import OfficineFactory
from tests.helpers.notifications import TODAY

pytestmark = pytest.mark.django_db


@pytest.fixture
def orphan(tenant_a, cert_in):
    """An officine with no administrator, no mailbox, no CC, no pharmacist; no subscriber."""
    officine = OfficineFactory(editor=tenant_a.editor, notification_email="", cc_email="")
    return cert_in(30, officine=officine, common_name="ORPHAN")


def test_alert_without_recipient_goes_to_the_editor_admins_marked(orphan, tenant_a, mailoutbox):
    report = alert_scan(today=TODAY, enqueue=False)
    due = [a for a in report.to_send if a.certificate_id == orphan.pk]
    assert [(a.recipient, a.no_recipient) for a in due] == [(tenant_a.admin.email, True)]
    row = AlertLog.objects.get(certificate=orphan)
    assert row.no_recipient and row.recipient == tenant_a.admin.email
    # An officine that has recipients is not copied to the admins.
    assert not AlertLog.objects.filter(no_recipient=True).exclude(certificate=orphan).exists()
    digests_send(report.digest_ids)
    mail = next(m for m in mailoutbox if tenant_a.admin.email in m.to)
    assert orphan.officine.finess in mail.body
    assert "administrat" in mail.body.lower() and "ORPHAN" in mail.body


def test_dry_run_prints_each_planned_alert(orphan, tenant_a):
    out = io.StringIO()
    call_command("send_renewal_alerts", "--dry-run", "--date", TODAY.isoformat(), stdout=out)
    lines = [line for line in out.getvalue().splitlines() if "ORPHAN" in line]
    assert len(lines) == 1, out.getvalue()
    line = lines[0]
    for part in (orphan.officine.finess, "ORG_AUTH_CLI", "J+30", tenant_a.admin.email):
        assert part in line, line
    assert "no recipient" in line
    assert not AlertLog.objects.exists()  # a dry run writes nothing


def test_dashboard_counts_officines_without_alert_recipient_and_links_to_them(
    orphan, tenant_a, client_for
):
    page = client_for(tenant_a.operator).get("/dashboard/")
    assert page.context["counts"]["no_recipient"] == 1
    body = page.content.decode()
    assert "alert_recipient=none" in body
    listed = client_for(tenant_a.operator).get(
        "/officines/", {"alert_recipient": "none", "is_active": "yes"}
    )
    assert listed.status_code == 200
    assert orphan.officine.finess in listed.content.decode()
    assert tenant_a.officine.finess not in listed.content.decode()
