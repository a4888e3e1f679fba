"""The daily scan: exact days, catch-up, no duplicates, silence after renewal or revocation,
the install reminder, recipients, and a query count that does not grow with certificates."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certificates.models import Installation
from notifications.models import (
    AlertKind,
    AlertLog,
    AlertStatus,
    AlertSubscription,
    Channel,
)
from notifications.scan import alert_scan
from notifications.services import alert_policy_update, alert_subscription_set
from officines.models import OfficineHabilitation
from tests.factories import OfficineFactory, PharmacistAccessFactory, UserFactory
from tests.helpers.notifications import TODAY, day, expiring_in

pytestmark = pytest.mark.django_db


def sent_to(recipient: str, certificate=None) -> list[tuple[int, str]]:
    rows = AlertLog.objects.filter(recipient=recipient, status=AlertStatus.PENDING)
    if certificate is not None:
        rows = rows.filter(certificate=certificate)
    return sorted(rows.values_list("threshold", "kind"))


def test_each_threshold_fires_on_its_exact_day(cert_in, tenant_a):
    certificate = cert_in(40)
    ta = tenant_a.administrator.email
    fired: dict[int, list[int]] = {}
    for offset in range(0, 40 + 23):
        report = alert_scan(today=day(offset), enqueue=False)
        for alert in report.to_send:
            if alert.recipient == ta:
                fired.setdefault(alert.threshold, []).append(40 - offset)
    assert fired == {30: [30], 15: [15], 7: [7], 1: [1], 0: [0], -7: [-7], -14: [-14], -21: [-21]}
    assert not AlertLog.objects.filter(certificate=certificate, status=AlertStatus.SKIPPED).exists()


@pytest.mark.parametrize(
    ("left", "fires"),
    [
        (31, None),
        (30, 30),
        (20, 30),
        (15, 15),
        (8, 15),
        (7, 7),
        (1, 1),
        (0, 0),
        (-3, 0),
        (-7, -7),
        (-15, -14),
    ],
)
def test_which_threshold_fires_at_days_left(cert_in, tenant_a, left, fires):
    certificate = cert_in(left)
    report = alert_scan(today=TODAY, enqueue=False)
    sent = {a.threshold for a in report.to_send if a.certificate_id == certificate.pk}
    assert sent == ({fires} if fires is not None else set())
    expected_kind = [(fires, AlertKind.EXPIRY)] if fires is not None else []
    assert sent_to(tenant_a.administrator.email) == expected_kind


def test_local_midnight_boundary(cert_in):
    # 00:10 in Paris on TODAY+31 is 23:10 UTC on TODAY+30: still 31 days left, nothing due.
    late = cert_in(31, hour=0)
    assert late.not_after.astimezone(timezone.get_current_timezone()).date() == day(31)
    report = alert_scan(today=TODAY, enqueue=False)
    assert not [a for a in report.to_send if a.certificate_id == late.pk]
    report = alert_scan(today=day(1), enqueue=False)
    assert {a.threshold for a in report.to_send if a.certificate_id == late.pk} == {30}


def test_catch_up_after_a_missed_week_sends_only_the_most_urgent(cert_in, tenant_a):
    certificate = cert_in(16)
    ta = tenant_a.administrator.email
    alert_scan(today=TODAY, enqueue=False)  # 16 days left: the 30-day alert
    assert sent_to(ta) == [(30, AlertKind.EXPIRY)]
    # The beat did not run for ten days; at 6 days left, 15 and 7 are both due.
    report = alert_scan(today=day(10), enqueue=False)
    mine = [a for a in report.to_send if a.recipient == ta]
    assert [a.threshold for a in mine] == [7]
    covered = AlertLog.objects.get(certificate=certificate, recipient=ta, threshold=15)
    assert covered.status == AlertStatus.SKIPPED
    # A new certificate first seen at 6 days left: one alert (7), 30 and 15 recorded as covered.
    fresh = cert_in(6)
    alert_scan(today=TODAY, enqueue=False)
    statuses = dict(
        AlertLog.objects.filter(certificate=fresh, recipient=ta).values_list("threshold", "status")
    )
    assert statuses == {30: "skipped", 15: "skipped", 7: "pending"}


def test_running_twice_records_nothing_new(cert_in, tenant_a):
    for days in (30, 12, 0, -7):
        cert_in(days)
    first = alert_scan(today=TODAY, enqueue=False)
    count = AlertLog.objects.count()
    assert len(first.to_send) == 4 * 2  # 4 certificates x (TA + officine mailbox)
    second = alert_scan(today=TODAY, enqueue=False)
    assert second.to_send == []
    assert AlertLog.objects.count() == count
    assert second.digest_ids == first.digest_ids  # the same pending digests, not new ones


def test_the_database_refuses_a_second_row(cert_in, tenant_a):
    certificate = cert_in(7)
    fields = {
        "certificate": certificate,
        "threshold": 7,
        "recipient": "x@example.fr",
        "channel": Channel.EMAIL,
        "days_left": 7,
        "scan_date": TODAY,
    }
    AlertLog.objects.create(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        AlertLog.objects.create(**fields, kind=AlertKind.INSTALL)


def test_revoked_and_superseded_certificates_are_silent(cert_in, tenant_a):
    revoked = cert_in(5)
    superseded = cert_in(5, common_name="OLD")
    alert_scan(today=TODAY, enqueue=False)
    assert AlertLog.objects.filter(certificate=revoked, status=AlertStatus.PENDING).exists()
    revoked.revoked_at = timezone.now()
    revoked.save()
    # A renewal already installed: no reminder either.
    renewal = cert_in(5 + 3 * 365, common_name="OLD", replaces=superseded)
    Installation.objects.create(certificate=renewal, host="lgo-1", installed_at=timezone.now())
    superseded.superseded_at = timezone.now()
    superseded.save()
    report = alert_scan(today=day(4), enqueue=False)  # 1 day left: would be due
    assert [a for a in report.to_send if a.certificate_id in (revoked.pk, superseded.pk)] == []
    # The pending rows of the morning are cancelled at send time (see test_digests).


def test_install_reminder_until_installed_or_old_expiry(cert_in, tenant_a):
    old = cert_in(20, common_name="INSI-AUTO", services=["INSI"])
    renewal = cert_in(20 + 3 * 365, common_name="INSI-AUTO", services=["INSI"], replaces=old)
    old.superseded_at = timezone.now()
    old.save()
    ta = tenant_a.administrator.email

    report = alert_scan(today=TODAY, enqueue=False)
    reminders = [a for a in report.to_send if a.recipient == ta]
    assert [(a.certificate_id, a.threshold, a.kind, a.renewal_id) for a in reminders] == [
        (old.pk, 30, AlertKind.INSTALL, renewal.pk)
    ]
    report = alert_scan(today=day(5), enqueue=False)  # 15 days left
    assert [(a.threshold, a.kind) for a in report.to_send if a.recipient == ta] == [
        (15, AlertKind.INSTALL)
    ]
    assert sent_to(ta, old) == [(15, AlertKind.INSTALL), (30, AlertKind.INSTALL)]
    assert not AlertLog.objects.filter(certificate=renewal).exists()  # valid for 3 years
    # Expiry day of the old certificate: no reminder any more (it has expired).
    report = alert_scan(today=day(20), enqueue=False)
    assert [a for a in report.to_send if a.certificate_id == old.pk] == []
    # Installed: silence, even before the old one expires.
    Installation.objects.create(certificate=renewal, host="lgo", installed_at=timezone.now())
    report = alert_scan(today=day(13), enqueue=False)
    assert [a for a in report.to_send if a.certificate_id == old.pk] == []


def test_revoked_renewal_gives_no_install_reminder(cert_in):
    old = cert_in(10)
    cert_in(10 + 1000, replaces=old, revoked_at=timezone.now())
    old.superseded_at = timezone.now()
    old.save()
    assert [
        a for a in alert_scan(today=TODAY, enqueue=False).to_send if a.certificate_id == old.pk
    ] == []


def test_recipients(cert_in, tenant_a, tenant_b, make_certificate):
    officine = tenant_a.officine
    officine.cc_email = "Copie@Example.fr"
    officine.save()
    colleague = UserFactory(email="second-pharmacien@a.fr")
    PharmacistAccessFactory(officine=officine, user=colleague)
    alert_subscription_set(user=tenant_a.viewer, subscribed=True)
    # Opted-in staff of another editor never hear about editor A's certificates.
    alert_subscription_set(user=tenant_b.admin, subscribed=True)
    certificate = cert_in(7)
    other = cert_in(7, officine=tenant_a.pharmacist_officine)

    alert_scan(today=TODAY, enqueue=False)
    recipients = set(
        AlertLog.objects.filter(certificate=certificate).values_list("recipient", flat=True)
    )
    assert recipients == {
        tenant_a.administrator.email,
        officine.notification_email,
        "copie@example.fr",
        "second-pharmacien@a.fr",
        tenant_a.viewer.email,
    }
    # The pharmacist of the other officine hears only about their own officine.
    other_recipients = set(
        AlertLog.objects.filter(certificate=other).values_list("recipient", flat=True)
    )
    assert tenant_a.pharmacist.email in other_recipients
    assert tenant_a.pharmacist.email not in recipients
    assert "second-pharmacien@a.fr" not in other_recipients
    assert tenant_b.admin.email not in recipients | other_recipients
    # Portal users are linked (language, in-app copy); bare addresses are not.
    linked = dict(
        AlertLog.objects.filter(certificate=certificate).values_list("recipient", "user_id")
    )
    assert linked[tenant_a.viewer.email] == tenant_a.viewer.pk
    assert linked[tenant_a.administrator.email] is None


def test_unsubscribed_and_inactive_are_not_recipients(cert_in, tenant_a):
    alert_subscription_set(user=tenant_a.viewer, subscribed=True)
    alert_subscription_set(user=tenant_a.viewer, subscribed=False)
    assert not AlertSubscription.objects.exists()
    inactive_officine = OfficineFactory(editor=tenant_a.editor, is_active=False)
    cert_in(7, officine=inactive_officine)
    certificate = cert_in(7)
    # Revoked for this officine: no alert to them, although still its main contact.
    OfficineHabilitation.objects.filter(
        officine=tenant_a.officine, administrator=tenant_a.administrator
    ).update(state="revoked")
    report = alert_scan(today=TODAY, enqueue=False)
    assert {a.recipient for a in report.to_send} == {tenant_a.officine.notification_email}
    assert {a.certificate_id for a in report.to_send} == {certificate.pk}


def test_extra_thresholds_of_the_editor(cert_in, tenant_a, tenant_b, make_certificate):
    alert_policy_update(editor=tenant_a.editor, extra_thresholds=[60, 45])
    cert_in(60)
    make_certificate(tenant_b.officine, not_after=expiring_in(60))
    report = alert_scan(today=TODAY, enqueue=False)
    assert {(a.certificate.editor_id, a.threshold) for a in report.to_send} == {
        (tenant_a.editor.pk, 60)
    }
    fired = {
        a.threshold
        for offset in range(1, 31)
        for a in alert_scan(today=day(offset), enqueue=False).to_send
        if a.recipient == tenant_a.administrator.email
    }
    assert fired == {45, 30}


def test_dry_run_writes_nothing(cert_in):
    cert_in(7)
    report = alert_scan(today=TODAY, dry_run=True)
    assert len(report.to_send) == 2
    assert not AlertLog.objects.exists()


def test_query_count_does_not_grow_with_certificates(cert_in, tenant_a):
    for days in range(-10, 31, 2):
        cert_in(days)
        cert_in(days, officine=tenant_a.pharmacist_officine)
    with CaptureQueriesContext(connection) as queries:
        report = alert_scan(today=TODAY, enqueue=False)
    assert len(report.to_send) == 42 * 2
    assert len(report.digest_ids) == 4
    # Bulk inserts are split in batches by the backend (SQLite: ~80 rows); everything else is
    # a fixed number of queries: editors, policy, subscribers, endpoints, certificates,
    # pharmacists, alert contacts, recorded alerts, then the digest preparation and the lists
    # to enqueue.
    other = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("INSERT")]
    assert len(other) <= 21, "\n".join(other)


def test_expired_certificates_older_than_the_window_keep_weekly_reminders(cert_in, tenant_a):
    certificate = cert_in(-365)
    report = alert_scan(today=TODAY, enqueue=False)
    mine = [a for a in report.to_send if a.certificate_id == certificate.pk]
    assert {a.threshold for a in mine} == {-364}
    # Catch-up records the policy thresholds as covered, not 52 weekly rows.
    assert AlertLog.objects.filter(certificate=certificate).count() == 2 * 6
    assert (timezone.localdate(certificate.not_after) - TODAY) == timedelta(days=-365)
