"""Webhooks: a receiver verifies the signature with only the documented algorithm; retries
back off; an endpoint failing every retry is disabled and its editor's admins are told."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from notifications.events import emit
from notifications.models import AlertLog, AlertStatus, WebhookDelivery, WebhookEndpoint
from notifications.scan import alert_scan
from notifications.webhooks.delivery import delivery_attempt, verify
from notifications.webhooks.endpoints import endpoint_create, endpoint_regenerate_secret
from notifications.webhooks.targets import validate_webhook_url
from portal.models import AuditEvent
from tests.helpers.notifications import TODAY, Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(local_webhooks):
    with Receiver() as running:
        yield running


def register(tenant, receiver, events=("certificate.expiring", "certificate.expired")):
    endpoint, secret = endpoint_create(editor=tenant.editor, url=receiver.url, events=list(events))
    receiver.secret = secret
    return endpoint


def test_url_rules(settings):
    settings.DEBUG = False
    settings.WEBHOOK_ALLOW_HTTP_LOCALHOST = False
    assert (
        validate_webhook_url(" https://lgo.example.com/hooks ") == "https://lgo.example.com/hooks"
    )
    refused = [
        "http://lgo.example.com/hooks",
        "ftp://lgo.example.com/",
        "https://user:pw@lgo.example.com/",
        "https://lgo.example.com/#x",
        "http://127.0.0.1:8000/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.5/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/",
        "https://localhost/",
        "https:///nohost",
        "not a url",
    ]
    for url in refused:
        with pytest.raises(ValidationError):
            validate_webhook_url(url)
    settings.WEBHOOK_ALLOW_HTTP_LOCALHOST = True
    assert validate_webhook_url("http://127.0.0.1:8000/hook")
    with pytest.raises(ValidationError):
        validate_webhook_url("http://10.0.0.5/hook")


def test_signed_expiry_event_is_verified_by_the_receiver(cert_in, tenant_a, receiver):
    endpoint = register(tenant_a, receiver)
    certificate = cert_in(7, common_name="INSI-AUTO", services=["INSI"])
    report = alert_scan(today=TODAY, enqueue=False)
    assert len(report.delivery_ids) == 1
    attempt = delivery_attempt(delivery_id=report.delivery_ids[0])
    assert attempt.outcome == "succeeded", attempt
    [request] = receiver.requests
    assert request["valid"] and request["fresh"]
    headers = request["headers"]
    delivery = WebhookDelivery.objects.get()
    assert headers["X-Portal-Event"] == "certificate.expiring"
    assert headers["X-Portal-Delivery"] == str(delivery.delivery_id)
    assert headers["Content-Type"].startswith("application/json")
    payload = json.loads(request["body"])
    assert payload["event"] == "certificate.expiring"
    assert payload["id"] == str(delivery.delivery_id)
    assert payload["data"]["threshold_days"] == 7 and payload["data"]["days_left"] == 7
    data = payload["data"]["certificate"]
    assert data["id"] == certificate.pk and data["common_name"] == "INSI-AUTO"
    assert data["officine"]["finess"] == tenant_a.officine.finess
    assert data["fingerprint_sha256"] == certificate.fingerprint_sha256
    assert "BEGIN" not in request["body"].decode()  # no PEM (and never any key) in events
    # Our own reference check agrees, and refuses a tampered body or a stale timestamp.
    assert verify(
        receiver.secret,
        headers["X-Portal-Timestamp"],
        headers["X-Portal-Signature"],
        request["body"],
    )
    assert not verify(
        receiver.secret,
        headers["X-Portal-Timestamp"],
        headers["X-Portal-Signature"],
        request["body"] + b" ",
    )
    assert not verify(
        receiver.secret,
        str(int(time.time()) - 3600),
        headers["X-Portal-Signature"],
        request["body"],
    )
    log = AlertLog.objects.exclude(status=AlertStatus.SKIPPED).get(channel="webhook")
    assert (log.status, log.recipient, log.endpoint_id) == (
        AlertStatus.SENT,
        endpoint.recipient,
        endpoint.pk,
    )
    endpoint.refresh_from_db()
    assert endpoint.last_success_at is not None and endpoint.failure_count == 0
    # A second scan and a second attempt change nothing.
    assert alert_scan(today=TODAY, enqueue=False).delivery_ids == []
    assert delivery_attempt(delivery_id=delivery.pk).outcome == "skipped"
    assert len(receiver.requests) == 1


def test_expired_event_and_event_filter(cert_in, tenant_a, receiver):
    register(tenant_a, receiver, events=["certificate.expired"])
    cert_in(7)  # expiring: this endpoint does not listen
    expired = cert_in(-8)
    report = alert_scan(today=TODAY, enqueue=False)
    assert len(report.delivery_ids) == 1
    delivery_attempt(delivery_id=report.delivery_ids[0])
    payload = json.loads(receiver.requests[0]["body"])
    assert payload["event"] == "certificate.expired"
    assert payload["data"]["certificate"]["id"] == expired.pk
    assert payload["data"]["threshold_days"] == -7


def test_emit_issued_and_revoked_once(
    cert_in, tenant_a, tenant_b, receiver, django_capture_on_commit_callbacks, celery_eager
):
    register(tenant_a, receiver, events=["certificate.issued", "certificate.revoked"])
    foreign, _secret = endpoint_create(
        editor=tenant_b.editor, url=receiver.url, events=["certificate.issued"]
    )
    certificate = cert_in(900)
    with django_capture_on_commit_callbacks(execute=True):
        ids = emit(
            editor_id=tenant_a.editor.pk, event="certificate.issued", certificate_id=certificate.pk
        )
        again = emit(
            editor_id=tenant_a.editor.pk, event="certificate.issued", certificate_id=certificate.pk
        )
    assert len(ids) == 1 and again == []
    assert [r["headers"]["X-Portal-Event"] for r in receiver.requests] == ["certificate.issued"]
    assert receiver.requests[0]["valid"]
    assert not WebhookDelivery.objects.filter(endpoint=foreign).exists()
    # Another editor's id never reaches this certificate.
    assert (
        emit(
            editor_id=tenant_b.editor.pk, event="certificate.issued", certificate_id=certificate.pk
        )
        == []
    )
    certificate.revoked_at = timezone.now()
    certificate.save()
    with django_capture_on_commit_callbacks(execute=True):
        emit(
            editor_id=tenant_a.editor.pk, event="certificate.revoked", certificate_id=certificate.pk
        )
    assert receiver.requests[-1]["headers"]["X-Portal-Event"] == "certificate.revoked"
    assert json.loads(receiver.requests[-1]["body"])["data"]["certificate"]["revoked_at"]
    with pytest.raises(ValueError):
        emit(
            editor_id=tenant_a.editor.pk, event="certificate.deleted", certificate_id=certificate.pk
        )


def test_retries_back_off_then_the_endpoint_is_disabled(
    cert_in, tenant_a, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 4
    receiver.status = 503
    endpoint = register(tenant_a, receiver)
    tenant_a.admin.language = "en"
    tenant_a.admin.save()
    cert_in(7)
    cert_in(15)
    report = alert_scan(today=TODAY, enqueue=False)
    first, second = report.delivery_ids
    now = timezone.now()
    delays = []
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(4):
            attempt = delivery_attempt(delivery_id=first, now=now)
            # Too early for the next attempt: a duplicate message does nothing.
            if attempt.retry_in:
                assert delivery_attempt(delivery_id=first, now=now).outcome == "skipped"
                delays.append(attempt.retry_in)
                now += timedelta(seconds=attempt.retry_in)
    assert delays == [120, 240, 480]  # 2**n minutes
    assert attempt.outcome == "failed"
    delivery = WebhookDelivery.objects.get(pk=first)
    assert (delivery.status, delivery.attempts, delivery.status_code) == ("failed", 4, 503)
    assert len({r["headers"]["X-Portal-Delivery"] for r in receiver.requests}) == 1
    endpoint.refresh_from_db()
    assert not endpoint.is_active and endpoint.disabled_at and "503" in endpoint.disabled_reason
    # The other pending delivery is cancelled; the admins (only them) got one mail.
    assert WebhookDelivery.objects.get(pk=second).status == "cancelled"
    assert [m.to for m in mail.outbox] == [[tenant_a.admin.email]]
    assert mail.outbox[0].subject == f"Webhook disabled: {receiver.url}"
    assert f"/notifications/webhooks/{endpoint.pk}/" in mail.outbox[0].body
    assert AuditEvent.objects.filter(action="webhook.auto_disable", editor=tenant_a.editor).exists()
    assert AlertLog.objects.filter(channel="webhook", status=AlertStatus.FAILED).count() == 1
    # Disabled endpoints get no new deliveries.
    cert_in(1)
    assert alert_scan(today=TODAY, enqueue=False).delivery_ids == []


def test_a_success_between_failures_keeps_the_endpoint(cert_in, tenant_a, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 2
    endpoint = register(tenant_a, receiver)
    cert_in(7)
    cert_in(15)
    first, second = alert_scan(today=TODAY, enqueue=False).delivery_ids
    receiver.status = 500
    now = timezone.now()
    assert delivery_attempt(delivery_id=first, now=now).outcome == "retry"
    receiver.status = 204
    assert delivery_attempt(delivery_id=second, now=now).outcome == "succeeded"
    receiver.status = 500
    assert delivery_attempt(delivery_id=first, now=now + timedelta(minutes=3)).outcome == "failed"
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.failure_count == 1


def test_redirects_and_network_errors_are_failures(cert_in, tenant_a, receiver):
    register(tenant_a, receiver)
    cert_in(7)
    [delivery_id] = alert_scan(today=TODAY, enqueue=False).delivery_ids
    receiver.redirect = True
    attempt = delivery_attempt(delivery_id=delivery_id)
    assert (attempt.outcome, attempt.status_code) == ("retry", 302)
    WebhookEndpoint.objects.update(url="http://127.0.0.1:1/closed")
    attempt = delivery_attempt(delivery_id=delivery_id, now=timezone.now() + timedelta(hours=1))
    assert attempt.outcome == "retry" and attempt.status_code is None
    assert "Connection" in attempt.error or "refused" in attempt.error


def test_revoked_certificate_cancels_a_pending_expiry_event(cert_in, tenant_a, receiver):
    register(tenant_a, receiver)
    certificate = cert_in(7)
    [delivery_id] = alert_scan(today=TODAY, enqueue=False).delivery_ids
    certificate.revoked_at = timezone.now()
    certificate.save()
    assert delivery_attempt(delivery_id=delivery_id).outcome == "cancelled"
    assert receiver.requests == []


def test_regenerated_secret_signs_the_next_attempts(cert_in, tenant_a, receiver):
    endpoint = register(tenant_a, receiver)
    old_secret = receiver.secret
    receiver.secret = endpoint_regenerate_secret(endpoint=endpoint)
    assert receiver.secret != old_secret and receiver.secret.startswith("whsec_")
    cert_in(7)
    [delivery_id] = alert_scan(today=TODAY, enqueue=False).delivery_ids
    delivery_attempt(delivery_id=delivery_id)
    assert receiver.requests[0]["valid"]


def test_deliver_task_schedules_a_retry(cert_in, tenant_a, receiver, celery_eager):
    from celery.exceptions import Retry

    from notifications.tasks import deliver_webhook

    receiver.status = 500
    register(tenant_a, receiver)
    cert_in(7)
    [delivery_id] = alert_scan(today=TODAY, enqueue=False).delivery_ids
    with pytest.raises(Retry) as retry:
        deliver_webhook.delay(delivery_id)
    assert retry.value.when == 120  # countdown of 2**1 minutes
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.attempts == 1 and delivery.status == "pending"
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=100)
    # The retry message arriving early (e.g. redelivered by the broker) does nothing.
    assert deliver_webhook.delay(delivery_id).get() == "skipped"
    assert len(receiver.requests) == 1
