"""Digests: one mail per recipient sorted by urgency, in their language, sent once even when
a worker dies mid-way; the in-app copy; the command and the Celery path."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from certificates.models import Installation
from notifications.digests import claim_timeout, digest_send, digests_send, render_digest
from notifications.models import AlertDigest, AlertLog, AlertStatus, Notification
from notifications.scan import alert_scan
from notifications.services import alert_subscription_set
from portal.models import OutboxMessage
from tests.factories import OfficineFactory
from tests.helpers.notifications import TODAY

pytestmark = pytest.mark.django_db


def mails_to(address: str) -> list:
    return [m for m in mail.outbox if m.to == [address]]


def run(today=TODAY):
    report = alert_scan(today=today, enqueue=False)
    return report, digests_send(report.digest_ids)


def test_one_digest_per_recipient_sorted_by_urgency(cert_in, tenant_a, settings):
    settings.SITE_URL = "https://portail.example.fr"
    viewer = tenant_a.viewer
    viewer.language = "en"
    viewer.save()
    alert_subscription_set(user=viewer, subscribed=True)
    second = OfficineFactory(editor=tenant_a.editor, raison_sociale="PHARMACIE B")
    certificates = [
        cert_in(12, common_name="C-12"),
        cert_in(-9, common_name="C-MINUS-9", officine=second),
        cert_in(0, common_name="C-0"),
        cert_in(30, common_name="C-30", officine=second),
        cert_in(3, common_name="C-3"),
    ]
    run()
    digest = mails_to(viewer.email)
    assert len(digest) == 1, [m.to for m in mail.outbox]
    message = digest[0]
    assert message.subject == "5 certificates expire — the nearest on 12/26/2026"
    html = message.alternatives[0][0]
    order = re.findall(r">(C-[A-Z0-9-]+)</a>", html)
    assert order == ["C-MINUS-9", "C-0", "C-3", "C-12", "C-30"]
    assert [line.split("\n")[0] for line in re.findall(r"^  (C-\S+)", message.body, re.M)] == order
    for certificate in certificates:
        assert f"https://portail.example.fr/certificates/{certificate.pk}/" in html
        assert f"https://portail.example.fr/certificates/{certificate.pk}/" in message.body
    assert "expired 9 days ago" in message.body and "today" in message.body
    # The officine mailboxes get their own officine's certificates only.
    second_mail = mails_to(second.notification_email)
    assert len(second_mail) == 1
    assert "  C-30 ·" in second_mail[0].body and "  C-3 ·" not in second_mail[0].body
    assert len(mail.outbox) == 4  # viewer, TA, officine A, officine B


def test_language_english_user_and_french_default(cert_in, tenant_a):
    pharmacist = tenant_a.pharmacist
    pharmacist.language = "en"
    pharmacist.save()
    cert_in(8, officine=tenant_a.pharmacist_officine)  # expires 12 January 2027
    run()
    english = mails_to(pharmacist.email)[0]
    french = mails_to(tenant_a.pharmacist_officine.notification_email)[0]
    assert english.subject == "1 certificate expires on 01/12/2027"
    assert english.extra_headers["Content-Language"] == "en"
    assert 'lang="en"' in english.alternatives[0][0]
    assert "Certificates to renew, most urgent first" in english.body
    # French: the date in French order; the strings come from locale/fr when compiled.
    assert "12/01/2027" in french.subject
    assert french.extra_headers["Content-Language"] == "fr"
    assert '<html lang="fr">' in french.alternatives[0][0]


def test_in_app_copy_for_portal_users_only(cert_in, tenant_a, client_for):
    cert_in(1, officine=tenant_a.pharmacist_officine, common_name="INSI-MANU")
    run()
    notification = Notification.objects.get()
    assert notification.user == tenant_a.pharmacist
    assert "INSI-MANU" in notification.body
    assert notification.url == f"/certificates/{notification.certificate_id}/"
    page = client_for(tenant_a.pharmacist).get("/notifications/")
    assert "INSI-MANU" in page.content.decode()


def test_sending_twice_sends_once(cert_in, tenant_a):
    cert_in(7)
    report, outcomes = run()
    assert [o.status for o in outcomes] == ["sent", "sent"]
    again = digests_send(report.digest_ids)
    assert [o.status for o in again] == ["busy", "busy"]
    assert len(mail.outbox) == 2
    assert set(AlertLog.objects.filter(status=AlertStatus.PENDING).values_list("pk")) == set()
    assert AlertLog.objects.filter(status=AlertStatus.SENT).count() == 2


def test_worker_killed_after_claim_is_taken_over_after_the_timeout(cert_in, tenant_a):
    cert_in(7)
    report = alert_scan(today=TODAY, enqueue=False)
    digest = AlertDigest.objects.get(recipient=tenant_a.administrator.email)
    # Worker A claims, renders, hands the mail to SMTP, then dies before marking it sent.
    claimed_at = timezone.now()
    AlertDigest.objects.filter(pk=digest.pk).update(claimed_at=claimed_at, claimed_by="A:1")
    alerts = list(AlertLog.objects.filter(digest=digest).select_related("certificate__officine"))
    render_digest(digest, alerts).send()
    # A redelivered task before the timeout must not touch it.
    assert digest_send(digest_id=digest.pk).status == "busy"
    # After the timeout worker B takes over and sends with the same Message-ID.
    later = claimed_at + claim_timeout() + timedelta(seconds=1)
    assert digest_send(digest_id=digest.pk, worker="B:2", now=later).status == "sent"
    first, second = mails_to(tenant_a.administrator.email)
    assert first.extra_headers["Message-ID"] == second.extra_headers["Message-ID"]
    assert first.extra_headers["Message-ID"] == digest.message_id
    digest.refresh_from_db()
    assert (digest.status, digest.claimed_by) == ("sent", "B:2")
    # Nothing else was pending: the other digests go out normally, once.
    digests_send(report.digest_ids)
    assert len(mail.outbox) == 3


def test_smtp_failure_keeps_the_digest_for_a_retry(cert_in, tenant_a, settings):
    cert_in(7)
    report = alert_scan(today=TODAY, enqueue=False)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    with pytest.raises(OSError):
        digest_send(digest_id=report.digest_ids[0])
    digest = AlertDigest.objects.get(pk=report.digest_ids[0])
    assert digest.status == "pending" and digest.claimed_at is None and digest.last_error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert digest_send(digest_id=digest.pk).status == "sent"
    # The next day's scan re-enqueues digests still pending: none is forgotten.
    assert alert_scan(today=TODAY + timedelta(days=1), enqueue=False).digest_ids == [
        report.digest_ids[1]
    ]


def test_revocation_after_the_scan_cancels_the_mail(cert_in, tenant_a):
    revoked = cert_in(7, common_name="REVOKED")
    kept = cert_in(7, common_name="KEPT", officine=tenant_a.pharmacist_officine)
    report = alert_scan(today=TODAY, enqueue=False)
    revoked.revoked_at = timezone.now()
    revoked.save()
    digests_send(report.digest_ids)
    assert mails_to(tenant_a.administrator.email) == []
    statuses = AlertLog.objects.filter(certificate=revoked).exclude(status=AlertStatus.SKIPPED)
    assert set(statuses.values_list("status", flat=True)) == {AlertStatus.CANCELLED}
    assert [m.subject for m in mails_to(tenant_a.pharmacist.email)]
    assert AlertLog.objects.filter(certificate=kept, status=AlertStatus.SENT).count() == 2


def test_install_reminder_mail_and_cancel_once_installed(cert_in, tenant_a):
    pharmacist = tenant_a.pharmacist
    pharmacist.language = "en"
    pharmacist.save()
    officine = tenant_a.pharmacist_officine
    old = cert_in(10, common_name="DMP-SIGN", officine=officine)
    renewal = cert_in(1000, common_name="DMP-SIGN", replaces=old, officine=officine)
    old.superseded_at = timezone.now()
    old.save()
    run()
    message = mails_to(pharmacist.email)[0]
    assert message.subject == "1 renewed certificate to install before 01/14/2027"
    assert f"/certificates/{renewal.pk}/" in message.body
    assert "Renewed certificates not yet installed" in message.body
    assert "Certificates to renew" not in message.body
    # French by default for the officine mailbox: same links, French date order.
    french = mails_to(officine.notification_email)[0]
    assert "14/01/2027" in french.subject
    assert f"/certificates/{renewal.pk}/" in french.alternatives[0][0]
    # Next reminder (7 days left) is recorded, then the LGO reports the installation.
    report = alert_scan(today=TODAY + timedelta(days=3), enqueue=False)
    assert report.digest_ids
    Installation.objects.create(certificate=renewal, host="lgo", installed_at=timezone.now())
    digests_send(report.digest_ids)
    assert len(mails_to(pharmacist.email)) == 1
    assert len(mail.outbox) == 2


def test_command_dry_run_and_run(cert_in, tenant_a):
    cert_in(7, common_name="INSI-AUTO")
    out = StringIO()
    call_command("send_renewal_alerts", "--dry-run", "--date", TODAY.isoformat(), stdout=out)
    text = out.getvalue()
    assert "Scan of 2027-01-04: 1 certificate(s) due, 2 alert(s) to send." in text
    assert f"would send 1 digest to {tenant_a.administrator.email}: 1 alert(s)" in text
    assert "INSI-AUTO" in text and "J+7" in text
    assert not AlertLog.objects.exists() and not mail.outbox

    out = StringIO()
    call_command("send_renewal_alerts", "--date", TODAY.isoformat(), stdout=out)
    assert "Digests sent: 2 (2 alerts)." in out.getvalue()
    assert len(mail.outbox) == 2
    out = StringIO()
    call_command("send_renewal_alerts", "--date", TODAY.isoformat(), stdout=out)
    assert "Digests sent: 0" in out.getvalue()
    assert len(mail.outbox) == 2


def test_command_rejects_a_bad_date():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("send_renewal_alerts", "--date", "04/01/2027")


def test_daily_scan_task_through_the_outbox(
    cert_in, tenant_a, celery_eager, django_capture_on_commit_callbacks
):
    from notifications.tasks import daily_scan

    cert_in(15)
    with django_capture_on_commit_callbacks(execute=True):
        result = daily_scan.delay(TODAY.isoformat()).get()
    assert result["certificates_due"] == 1 and result["digests"] == 2
    assert len(mail.outbox) == 2
    assert OutboxMessage.objects.filter(task="notifications.tasks.send_digests").count() == 1
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()
    with django_capture_on_commit_callbacks(execute=True):
        daily_scan.delay(TODAY.isoformat()).get()
    assert len(mail.outbox) == 2


def test_rows_attached_while_a_digest_was_rendered_go_to_the_next_one(cert_in, tenant_a):
    cert_in(7)
    report, _ = run()
    sent_digest = AlertDigest.objects.get(recipient=tenant_a.administrator.email)
    # A concurrent scan attached one more row to this digest after it was rendered.
    late = cert_in(15, common_name="LATE")
    AlertLog.objects.create(
        certificate=late,
        threshold=30,
        recipient=tenant_a.administrator.email,
        channel="email",
        days_left=15,
        scan_date=TODAY,
        digest=sent_digest,
    )
    report = alert_scan(today=TODAY, enqueue=False)
    digests_send(report.digest_ids)
    last = mails_to(tenant_a.administrator.email)[-1]
    assert "LATE" in last.body
    assert (
        AlertLog.objects.get(
            certificate=late, threshold=30, recipient=tenant_a.administrator.email
        ).status
        == "sent"
    )
