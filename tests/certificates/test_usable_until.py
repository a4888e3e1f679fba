"""Issue 14 §5: when a certificate really ends.

A real IGC Santé ORG SIGN carries a Private Key Usage Period (2.5.29.16) ending a month
before notAfter: `usable_until` is the earlier of the two, and status, alerts, coverage,
lists, the API, the import command and webhooks count from it."""

from __future__ import annotations

import io
import json
import subprocess
from datetime import UTC, date, datetime, time, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.management import call_command
from django.utils import timezone

from certificates import x509 as igc
from certificates.coverage import coverage_for_officine
from certificates.demo_pki import add_months, to_pem_bundle
from certificates.importing import certificate_import
from certificates.models import Certificate, Status
from notifications.models import AlertLog
from notifications.scan import alert_scan
from notifications.webhooks.delivery import certificate_data
from tests.helpers.api import bearer, make_keys
from tests.helpers.tools import OPENSSL, requires_openssl

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("trust_anchors")]

TODAY = date(2027, 1, 4)


def real_sign(pki, officine, *, not_before: datetime):
    """An ORG SIGN built like the real ones: 37 months, key usable the first 36."""
    return pki.issue_for(
        finess=officine.finess,
        raison_sociale=officine.raison_sociale,
        department=officine.department_label,
        common_name="DMP SIGN",
        profile=igc.Profile.ORG_SIGN,
        not_before=not_before,
    )


def import_one(tenant, pki, cert) -> Certificate:
    report = certificate_import(
        editor=tenant.editor,
        data=to_pem_bundle(cert, *pki.chain_for("production")),
        services=["DMP"],
        filename="sign.pem",
    )
    assert report.ok, [r.reason for r in report.results]
    return report.results[0].certificate


@requires_openssl
def test_key_usage_end_is_parsed_like_openssl_reads_it(pki, tenant_a, tmp_path):
    start = datetime(2024, 12, 15, 9, 0, tzinfo=UTC)
    _key, cert = real_sign(pki, tenant_a.officine, not_before=start)
    info = igc.describe_certificate(cert)
    assert info.not_after == datetime(2028, 1, 15, 9, 0, tzinfo=UTC)
    assert info.key_usage_end == datetime(2027, 12, 15, 9, 0, tzinfo=UTC)
    assert info.usable_until == info.key_usage_end
    path = tmp_path / "sign.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    text = subprocess.run(
        [OPENSSL, "x509", "-noout", "-text", "-in", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "Private Key Usage Period" in text
    assert "Not After: Dec 15 09:00:00 2027 GMT" in text
    # Without the extension a certificate ends at notAfter.
    _key, auth = pki.issue_for(
        finess=tenant_a.officine.finess,
        raison_sociale=tenant_a.officine.raison_sociale,
        department=tenant_a.officine.department_label,
        common_name="LGO",
        profile=igc.Profile.ORG_AUTH_CLI,
    )
    plain = igc.describe_certificate(auth)
    assert plain.key_usage_end is None and plain.usable_until == plain.not_after


def test_raw_extension_parser_reads_the_der():
    der = bytes.fromhex(
        "3022" + "800f" + b"20241115000000Z".hex() + "810f" + b"20271115000000Z".hex()
    )
    times = igc._der_generalized_times(der)
    assert times[1] == datetime(2027, 11, 15, tzinfo=UTC)
    assert times[0] == datetime(2024, 11, 15, tzinfo=UTC)


def test_org_sign_alerted_30_days_before_the_end_of_its_key_usage(pki, tenant_a, settings):
    """Done-when of issue 14: the 30-day alert falls 30 days before the key-usage end, i.e.
    about two months before notAfter, not one."""
    key_end = timezone.make_aware(datetime.combine(TODAY + timedelta(days=30), time(12)))
    _key, cert = real_sign(pki, tenant_a.officine, not_before=add_months(key_end, -36))
    certificate = import_one(tenant_a, pki, cert)
    assert certificate.usable_until == key_end
    assert certificate.not_after == add_months(key_end, 1)
    assert certificate.ends_before_not_after

    report = alert_scan(today=TODAY - timedelta(days=1), enqueue=False)
    assert not [a for a in report.to_send if a.certificate_id == certificate.pk]
    report = alert_scan(today=TODAY, enqueue=False)
    due = [a for a in report.to_send if a.certificate_id == certificate.pk]
    assert due and {a.threshold for a in due} == {30} and {a.days_left for a in due} == {30}
    assert AlertLog.objects.filter(certificate=certificate, threshold=30).exists()


def test_coverage_needs_a_usable_sign(pki, tenant_a, make_certificate):
    officine = tenant_a.officine
    now = timezone.now()
    make_certificate(officine, services=("DMP",), common_name="AUTH")
    # notAfter still 20 days ahead, but the signing key stopped 10 days ago.
    key_end = now - timedelta(days=10)
    _key, cert = real_sign(pki, officine, not_before=add_months(key_end, -36))
    certificate = import_one(tenant_a, pki, cert)
    assert certificate.not_after > now > certificate.usable_until
    assert certificate.status == Status.EXPIRED
    assert coverage_for_officine(officine, now=now)["DMP"] == "expired"
    assert Certificate.objects.filter(pk=certificate.pk).in_status(Status.EXPIRED).exists()
    annotated = Certificate.objects.with_status(now).get(pk=certificate.pk)
    assert annotated.current_status == Status.EXPIRED


def test_api_command_webhook_and_page_carry_both_dates(pki, tenant_a, client_for, tmp_path):
    start = timezone.now() - timedelta(days=100)
    _key, cert = real_sign(pki, tenant_a.officine, not_before=start)
    certificate = import_one(tenant_a, pki, cert)
    body = bearer(make_keys(tenant_a).read).get(f"/api/v1/certificates/{certificate.pk}/").json()
    assert body["usable_until"].endswith("Z") and body["not_after"].endswith("Z")
    assert datetime.fromisoformat(body["usable_until"]) == certificate.usable_until
    assert datetime.fromisoformat(body["not_after"]) == certificate.not_after
    before = (certificate.usable_until + timedelta(days=1)).isoformat()
    listed = bearer(make_keys(tenant_a).read).get(
        "/api/v1/certificates/", {"expires_before": before}
    )
    assert [r["id"] for r in listed.json()["results"]] == [certificate.pk]

    data = certificate_data(certificate)
    assert data["usable_until"] == certificate.usable_until.isoformat()

    path = tmp_path / "in"
    path.mkdir()
    _key, other = real_sign(pki, tenant_a.officine, not_before=start + timedelta(days=1))
    (path / "other.pem").write_bytes(to_pem_bundle(other, *pki.chain_for("production")))
    out = io.StringIO()
    call_command(
        "import_certificates", "--editor", str(tenant_a.editor.pk), "--json", str(path), stdout=out
    )
    row = json.loads(out.getvalue())[0]["certificate"]
    assert row["usable_until"] < row["not_after"]

    page = client_for(tenant_a.operator).get(certificate.get_absolute_url())
    html = page.content.decode()
    assert 'id="usable-until"' in html and 'id="usable-until-why"' in html
