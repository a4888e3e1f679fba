"""Webhook deliveries: build the payloads, sign, send, retry with backoff, auto-disable.

A failed attempt is retried after 2**n minutes up to WEBHOOK_MAX_ATTEMPTS; an endpoint whose
deliveries keep failing (WEBHOOK_DISABLE_AFTER_FAILURES in a row) is disabled after a
delivery's last attempt and the editor's administrators are told. The signature scheme is
in the package docstring and in notifications/WEBHOOKS.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from certificates.models import Certificate
from notifications.links import absolute, certificate_url
from notifications.models import (
    AlertLog,
    AlertStatus,
    Channel,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from notifications.webhooks.secrets import WebhookSecretError, webhook_secret
from notifications.webhooks.targets import check_resolved
from portal.audit import audit_record
from portal.models import AuditEvent, Membership, Role

logger = logging.getLogger(__name__)

SIGNATURE_VERSION = "v1"
USER_AGENT = "certificate-portal-webhooks/1"


def max_attempts() -> int:
    return int(getattr(settings, "WEBHOOK_MAX_ATTEMPTS", 8))


def disable_after() -> int:
    return int(getattr(settings, "WEBHOOK_DISABLE_AFTER_FAILURES", 8))


def backoff_seconds(attempts: int) -> int:
    """Delay before the next attempt once `attempts` attempts failed: 2**attempts minutes."""
    return 60 * 2**attempts


# --- signing ---------------------------------------------------------------------------


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """`v1=<hex>`: HMAC-SHA256 over f"{timestamp}.{body}" with the endpoint secret."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def verify(
    secret: str, timestamp: str, signature: str, body: bytes, *, tolerance: int = 300
) -> bool:
    """Reference check for receivers: right signature and a timestamp within `tolerance` s."""
    try:
        age = abs(time.time() - int(timestamp))
    except (TypeError, ValueError):
        return False
    if age > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, part.strip()) for part in signature.split(","))


def encode_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


# --- payloads and deliveries -----------------------------------------------------------


def certificate_data(certificate: Certificate) -> dict[str, Any]:
    officine = certificate.officine
    return {
        "id": certificate.pk,
        "serial": certificate.serial,
        "common_name": certificate.common_name,
        "profile": certificate.profile,
        "services": list(certificate.services),
        "environment": certificate.environment,
        "not_before": certificate.not_before.isoformat(),
        "not_after": certificate.not_after.isoformat(),
        "usable_until": certificate.usable_until.isoformat(),
        "fingerprint_sha256": certificate.fingerprint_sha256,
        "revoked_at": certificate.revoked_at.isoformat() if certificate.revoked_at else None,
        "replaces": certificate.replaces_id,
        "url": certificate_url(certificate.pk),
        "officine": {
            "id": officine.pk,
            "finess": officine.finess,
            "raison_sociale": officine.raison_sociale,
        },
    }


def build_payload(
    *,
    event: str,
    certificate: Certificate,
    delivery_id: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": delivery_id,
        "event": event,
        "created_at": timezone.now().isoformat(),
        "data": {"certificate": certificate_data(certificate), **(extra or {})},
    }


def _new_delivery(
    endpoint_id: int,
    event: str,
    certificate: Certificate,
    key: str,
    alert: AlertLog | None = None,
    extra: dict[str, Any] | None = None,
) -> WebhookDelivery:
    delivery = WebhookDelivery(
        endpoint_id=endpoint_id,
        event=event,
        certificate=certificate,
        alert_log=alert,
        idempotency_key=key,
        payload={},
    )
    delivery.payload = build_payload(
        event=event, certificate=certificate, delivery_id=str(delivery.delivery_id), extra=extra
    )
    return delivery


def deliveries_for_alerts(*, certificates: list[Certificate]) -> int:
    """Turn pending webhook alerts of these certificates into deliveries (once each).

    The payloads are built from the certificates the scan already holds (with their
    officine), not from a second read of every certificate row with its PEMs.
    """
    by_id = {certificate.pk: certificate for certificate in certificates}
    alerts = AlertLog.objects.filter(
        certificate_id__in=list(by_id),
        channel=Channel.WEBHOOK,
        status=AlertStatus.PENDING,
        webhook_delivery__isnull=True,
    ).only("pk", "certificate_id", "endpoint_id", "threshold", "days_left")
    deliveries = [
        _new_delivery(
            alert.endpoint_id,
            WebhookEvent.EXPIRING if alert.threshold > 0 else WebhookEvent.EXPIRED,
            by_id[alert.certificate_id],
            f"alert:{alert.certificate_id}:{alert.threshold}",
            alert=alert,
            extra={"threshold_days": alert.threshold, "days_left": alert.days_left},
        )
        for alert in alerts
    ]
    WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True, batch_size=1000)
    return len(deliveries)


def deliveries_create(
    *, editor_id: int, event: str, certificate: Certificate, extra: dict[str, Any] | None = None
) -> list[int]:
    """One delivery per active endpoint of the editor listening to `event`, once per event and
    certificate: a second call creates (and returns) nothing. Returns the new deliveries' ids."""
    endpoints = set(
        WebhookEndpoint.objects.of_editor(editor_id)
        .filter(is_active=True, events__contains=f",{event},")
        .values_list("pk", flat=True)
    )
    key = f"{event}:{certificate.pk}"
    endpoints -= set(
        WebhookDelivery.objects.filter(endpoint_id__in=endpoints, idempotency_key=key).values_list(
            "endpoint_id", flat=True
        )
    )
    if not endpoints:
        return []
    created = WebhookDelivery.objects.bulk_create(
        [_new_delivery(pk, event, certificate, key, extra=extra) for pk in sorted(endpoints)],
        ignore_conflicts=True,
    )
    # With ignore_conflicts the ids are not returned: read back the rows this call wrote.
    return list(
        WebhookDelivery.objects.filter(
            delivery_id__in=[d.delivery_id for d in created]
        ).values_list("pk", flat=True)
    )


def deliveries_due(now: datetime | None = None) -> list[int]:
    """Pending deliveries whose next attempt time has come (new ones, or lost retries)."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, endpoint__is_active=True
        )
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


# --- one attempt -----------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is a failure: the signed request is not replayed to another URL."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


@dataclass
class Attempt:
    outcome: str  # "succeeded", "retry", "failed", "skipped", "cancelled"
    status_code: int | None = None
    error: str = ""
    retry_in: int | None = None


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """POST with a short timeout; returns (HTTP status or None, error text)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):  # never file:, ftp: ... (validated at creation)
        return None, f"unsupported scheme {parts.scheme!r}"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        check_resolved(parts.hostname or "", port)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        timeout = float(getattr(settings, "WEBHOOK_TIMEOUT", 5))
        with _opener.open(request, timeout=timeout) as response:
            response.read(4096)
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(exc).__name__}: {reason}"[:500]


def _claim(delivery_id: int, now: datetime) -> bool:
    stale = now - timedelta(seconds=int(getattr(settings, "WEBHOOK_CLAIM_TIMEOUT", 120)))
    # A small slack: Celery may run an ETA task a little early.
    due = now + timedelta(seconds=5)
    return bool(
        WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=due))
        .update(claimed_at=now)
    )


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> Attempt:
    """Make one attempt if the delivery is pending, due and not claimed by another worker."""
    now = now or timezone.now()
    if not _claim(delivery_id, now):
        return Attempt("skipped")
    delivery = WebhookDelivery.objects.select_related("endpoint", "certificate").get(pk=delivery_id)
    endpoint = delivery.endpoint
    reason = _cancel_reason(delivery)
    if reason:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.CANCELLED, claimed_at=None, last_error=reason
        )
        if delivery.alert_log_id:
            AlertLog.objects.filter(pk=delivery.alert_log_id).update(
                status=AlertStatus.CANCELLED, error=reason
            )
        return Attempt("cancelled", error=reason)
    try:
        secret = webhook_secret(endpoint)
    except WebhookSecretError as exc:
        return _secret_failure(delivery, exc, now)
    body = encode_body(delivery.payload)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Portal-Event": delivery.event,
        "X-Portal-Delivery": str(delivery.delivery_id),
        "X-Portal-Timestamp": timestamp,
        "X-Portal-Signature": sign(secret, timestamp, body),
    }
    status_code, error = post(endpoint.url, body, headers)
    attempts = delivery.attempts + 1
    if status_code is not None and 200 <= status_code < 300:
        _record_success(delivery, status_code, attempts)
        return Attempt("succeeded", status_code)
    error = error or f"HTTP {status_code}"
    return _record_failure(delivery, status_code, error, attempts, now)


def _secret_failure(delivery: WebhookDelivery, exc: WebhookSecretError, now: datetime) -> Attempt:
    """Fail closed: nothing is sent; a failed attempt (retried, so a regenerated secret or a
    restored wrapping key lets it through), logged and audited."""
    logger.error(
        "webhook delivery %s not sent: signing secret of endpoint %s unreadable (%s)",
        delivery.pk,
        delivery.endpoint_id,
        exc.code,
    )
    audit_record(
        action="webhook.secret_unreadable",
        editor=delivery.endpoint.editor_id,
        target=delivery.endpoint,
        outcome=AuditEvent.Outcome.FAILURE,
        details={"error": exc.code, "key_id": exc.key_id, "delivery": delivery.pk},
    )
    return _record_failure(delivery, None, f"not sent: {exc}", delivery.attempts + 1, now)


def _cancel_reason(delivery: WebhookDelivery) -> str:
    if not delivery.endpoint.is_active:
        return "endpoint disabled"
    certificate = delivery.certificate
    if delivery.event in (WebhookEvent.EXPIRING, WebhookEvent.EXPIRED):
        if certificate is None:
            return "certificate deleted"
        if certificate.revoked_at is not None or certificate.superseded_at is not None:
            return "certificate revoked or replaced"
    return ""


def _record_success(delivery: WebhookDelivery, status_code: int, attempts: int) -> None:
    done = timezone.now()
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.SUCCEEDED,
            status_code=status_code,
            attempts=attempts,
            delivered_at=done,
            claimed_at=None,
            last_error="",
        )
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(
            failure_count=0, last_success_at=done
        )
        if delivery.alert_log_id:
            AlertLog.objects.filter(pk=delivery.alert_log_id).update(
                status=AlertStatus.SENT, sent_at=done, error=""
            )


def _record_failure(
    delivery: WebhookDelivery, status_code: int | None, error: str, attempts: int, now: datetime
) -> Attempt:
    final = attempts >= max_attempts()
    retry_in = None if final else backoff_seconds(attempts)
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.FAILED if final else WebhookDelivery.Status.PENDING,
            status_code=status_code,
            attempts=attempts,
            last_error=error[:500],
            claimed_at=None,
            next_attempt_at=None if final else now + timedelta(seconds=retry_in),
        )
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(
            failure_count=F("failure_count") + 1, last_failure_at=timezone.now()
        )
        if final:
            if delivery.alert_log_id:
                AlertLog.objects.filter(pk=delivery.alert_log_id).update(
                    status=AlertStatus.FAILED, error=error[:500]
                )
            _maybe_disable(delivery.endpoint_id, error)
    logger.info(
        "webhook delivery %s attempt %d failed: %s%s",
        delivery.pk,
        attempts,
        error,
        "" if final else f" (retry in {retry_in}s)",
    )
    return Attempt("failed" if final else "retry", status_code, error, retry_in)


def _maybe_disable(endpoint_id: int, error: str) -> None:
    """Disable after the last retry when no attempt to the endpoint succeeded meanwhile."""
    disabled = WebhookEndpoint.objects.filter(
        pk=endpoint_id, is_active=True, failure_count__gte=disable_after()
    ).update(
        is_active=False,
        disabled_at=timezone.now(),
        disabled_reason=f"{disable_after()}+ consecutive failures; last: {error}"[:255],
    )
    if not disabled:
        return
    WebhookDelivery.objects.filter(
        endpoint_id=endpoint_id, status=WebhookDelivery.Status.PENDING
    ).update(status=WebhookDelivery.Status.CANCELLED, last_error="endpoint disabled")
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    audit_record(
        action="webhook.auto_disable",
        editor=endpoint.editor_id,
        target=endpoint,
        reason=endpoint.disabled_reason,
    )
    transaction.on_commit(lambda: notify_disabled(endpoint_id))


def notify_disabled(endpoint_id: int) -> int:
    """Tell the editor's administrators, each in their language. Returns mails sent."""
    endpoint = WebhookEndpoint.objects.select_related("editor").get(pk=endpoint_id)
    admins = (
        Membership.objects.of_editor(endpoint.editor_id)
        .filter(role=Role.ADMIN, user__is_active=True)
        .select_related("user")
    )
    sent = 0
    for membership in admins:
        user = membership.user
        with translation.override(user.language or settings.LANGUAGE_CODE):
            subject = _("Webhook disabled: %(url)s") % {"url": endpoint.url}
            body = render_to_string(
                "emails/alerts/webhook_disabled.txt",
                {
                    "endpoint": endpoint,
                    "url": absolute(reverse("notifications:webhook_detail", args=[endpoint.pk])),
                },
            )
        sent += send_mail(subject, body, None, [user.email])
    return sent
