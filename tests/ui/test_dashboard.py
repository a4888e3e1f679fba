"""Editor dashboard: counts, expiry chart, urgent certificates, coverage gaps, alerts, query budget."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from certificates.models import Certificate, Status
from certificates.overview import add_months, expiries_by_month, urgent_certificates
from notifications.models import AlertLog, AlertStatus, Channel
from tests.helpers.certificates import bulk_officines, clone_certificates, days

pytestmark = pytest.mark.django_db


def alert(certificate, *, status=AlertStatus.SENT, recipient="pki@lgo.example", threshold=30):
    return AlertLog.objects.create(
        certificate=certificate,
        threshold=threshold,
        recipient=recipient,
        channel=Channel.EMAIL,
        status=status,
        days_left=threshold,
        scan_date=timezone.localdate(),
        sent_at=timezone.now() if status == AlertStatus.SENT else None,
    )


@pytest.fixture
def fleet(tenant_a, make_certificate):
    """Tenant A's officine with one certificate per status (real certificates)."""
    officine = tenant_a.officine
    return {
        "valid": make_certificate(
            officine, common_name="VALIDE", services=("PSC",), not_after=days(200)
        ),
        "expiring": make_certificate(
            officine, common_name="BIENTOT", services=("DMP",), not_after=days(10)
        ),
        "expired": make_certificate(
            officine, common_name="INSI-AUTO", services=("INSI",), not_after=days(-5)
        ),
        "revoked": make_certificate(
            officine, common_name="REVOQUE", not_after=days(300), revoked_at=timezone.now()
        ),
    }


@pytest.mark.parametrize("role", ["admin", "operator", "viewer"])
def test_dashboard_renders_for_every_member(tenant_a, client_for, role, fleet):
    response = client_for(getattr(tenant_a, role)).get(reverse("dashboard"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "<svg" in body and 'role="img"' in body and "<title" in body
    assert "BIENTOT" in body


def test_home_sends_members_to_the_dashboard_and_pharmacists_to_their_officines(
    tenant_a, client_for
):
    assert client_for(tenant_a.viewer).get(reverse("home")).url == reverse("dashboard")
    assert client_for(tenant_a.pharmacist).get(reverse("home")).url == reverse(
        "certificates:my_officines"
    )
    assert client_for(tenant_a.pharmacist).get(reverse("dashboard")).status_code == 403


def test_counts_follow_the_status_rules(tenant_a, client_for, fleet):
    response = client_for(tenant_a.viewer).get(reverse("dashboard"))
    counts = response.context["counts"]
    visible = Certificate.objects.visible_to(tenant_a.viewer)
    assert counts["valid"] == visible.in_status(Status.VALID).count() == 1
    assert counts["expiring"] == visible.in_status(Status.EXPIRING).count() == 1
    assert counts["expired"] == visible.in_status(Status.EXPIRED).count() == 1
    # Both officines of tenant A miss at least one service: the card, the list's heading and
    # the officine list it links to count the same officines (one definition: not covered now).
    coverage = response.context["coverage"]
    assert coverage.incomplete_count == 2
    body = response.content.decode()
    assert "?coverage_state=incomplete&amp;is_active=yes" in body
    listed = client_for(tenant_a.viewer).get(
        reverse("officines:list"), {"coverage_state": "incomplete", "is_active": "yes"}
    )
    assert listed.status_code == 200
    assert listed.context["paginator"].count == coverage.incomplete_count


def test_expiry_chart_puts_each_certificate_in_its_month(tenant_a, client_for, fleet):
    response = client_for(tenant_a.viewer).get(reverse("dashboard"))
    chart = response.context["chart"]
    assert len(chart.bars) == 18
    by_month = {bar.month: bar.count for bar in chart.bars}
    local = timezone.localtime
    assert by_month[local(fleet["expiring"].not_after).date().replace(day=1)] == 1
    assert by_month[local(fleet["valid"].not_after).date().replace(day=1)] == 1
    assert chart.total == 2  # expired and revoked ones are not upcoming expiries
    tallest = max(chart.bars, key=lambda b: float(b.height))
    assert tallest.count == 1 and "," not in tallest.height + tallest.y
    body = response.content.decode()
    assert body.count('class="bar-group"') == 18
    assert chart.description in body


def test_month_helpers():
    assert add_months(date(2026, 11, 1), 2) == date(2027, 1, 1)
    assert add_months(date(2026, 1, 31), 0) == date(2026, 1, 1)


def test_urgent_certificates_are_live_and_ordered(tenant_a, client_for, fleet):
    urgent = client_for(tenant_a.viewer).get(reverse("dashboard")).context["urgent"]
    assert [c.common_name for c in urgent] == ["INSI-AUTO", "BIENTOT", "VALIDE"]


def test_urgent_certificates_skip_inactive_officines_beyond_the_first_window(tenant_a, fleet):
    """The candidate window (3 x limit) fills with certificates of inactive officines: it
    grows until the active officines' certificates are reached."""
    closed = bulk_officines(tenant_a.editor, 7, is_active=False)
    clone_certificates(fleet["valid"], closed, not_after=days(-30))  # first by expiry
    urgent = urgent_certificates(tenant_a.viewer, now=timezone.now(), limit=2)
    assert [c.common_name for c in urgent] == ["INSI-AUTO", "BIENTOT"]
    assert all(c.officine.is_active for c in urgent)


def test_incomplete_coverage_lists_officines_with_gaps(tenant_a, client_for, fleet):
    coverage = client_for(tenant_a.viewer).get(reverse("dashboard")).context["coverage"]
    listed = {
        item["officine"].pk: {g["service"]: g["state"] for g in item["gaps"]}
        for item in coverage.incomplete
    }
    assert listed[tenant_a.officine.pk] == {
        "DMP": "missing",
        "INSI": "expired",
        "MSSANTE": "missing",
    }
    assert set(listed[tenant_a.pharmacist_officine.pk]) == {"DMP", "INSI", "PSC", "MSSANTE"}
    psc = next(s for s in coverage.services if s["code"] == "PSC")
    assert {c["state"]: c["count"] for c in psc["cells"]}["covered"] == 1


def test_latest_alerts_with_their_outcome(tenant_a, tenant_b, client_for, fleet, make_certificate):
    alert(fleet["expiring"], status=AlertStatus.SENT)
    alert(fleet["expired"], status=AlertStatus.FAILED, recipient="broken@lgo.example")
    alert(fleet["valid"], status=AlertStatus.SKIPPED, recipient="skipped@lgo.example")
    foreign = make_certificate(tenant_b.officine, common_name="CERT-B", not_after=days(20))
    alert(foreign, recipient="secret-b@lgo.example")
    response = client_for(tenant_a.viewer).get(reverse("dashboard"))
    body = response.content.decode()
    assert [a.status for a in response.context["alerts"]] == ["failed", "sent"]
    assert "broken@lgo.example" in body
    assert "skipped@lgo.example" not in body
    assert "secret-b@lgo.example" not in body


def test_query_budget_with_many_officines_and_certificates(
    tenant_a, client_for, fleet, django_assert_max_num_queries
):
    officines = bulk_officines(tenant_a.editor, 400)
    clone_certificates(fleet["valid"], officines[:300], not_after=days(90))
    copies = clone_certificates(fleet["expiring"], officines[100:250], not_after=days(5))
    for certificate in copies[:30]:
        alert(certificate)
    client = client_for(tenant_a.viewer)
    # 16: the count of certificates revoked by ANS in 30 days is one more (partial index).
    with django_assert_max_num_queries(16):
        response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert response.context["counts"]["expiring"] == 151
    assert len(response.context["urgent"]) == 20
    assert len(response.context["coverage"].incomplete) == 20
    assert response.context["coverage"].incomplete_count == 402


def test_dashboard_never_shows_another_tenant(tenant_a, tenant_b, client_for, fleet):
    response = client_for(tenant_b.admin).get(reverse("dashboard"))
    body = response.content.decode()
    assert response.context["counts"] == {
        "valid": 0,
        "expiring": 0,
        "expired": 0,
        "revoked_by_ans": 0,
        "not_habilitated": 1,  # the pharmacist's officine has no administrator
        "no_recipient": 0,  # the pharmacist hears of their officine
        "ans_revoke": 0,
        "ans_reissue": 0,
    }
    assert response.context["coverage"].incomplete_count == 2
    for secret in ("BIENTOT", "VALIDE", tenant_a.officine.raison_sociale, tenant_a.officine.finess):
        assert secret not in body
    assert (
        sum(count for _month, count in expiries_by_month(tenant_b.admin, now=timezone.now())) == 0
    )
