"""Webhooks for the LGO: endpoints, signed deliveries, retries with backoff, auto-disable.

Signature (documented for receivers in notifications/WEBHOOKS.md):

    signed = f"{X-Portal-Timestamp}.{raw request body}"   (UTF-8 bytes)
    X-Portal-Signature: v1=<hex HMAC-SHA256(endpoint secret, signed)>

The timestamp is Unix seconds at the moment of *this* attempt, so a receiver can refuse
replays older than a few minutes; `X-Portal-Delivery` (a UUID) is the same on every
attempt of one delivery, so a receiver can de-duplicate: delivery is at-least-once.

Retries: a failed attempt (network error, timeout, non-2xx, redirect) is retried after
2**n minutes (n = attempts made: 2, 4, 8 ... minutes), up to WEBHOOK_MAX_ATTEMPTS. When the
last attempt of a delivery fails and the endpoint has failed WEBHOOK_DISABLE_AFTER_FAILURES
times in a row (across deliveries, a success resets the count), the endpoint is disabled
and the editor's administrators are told by e-mail. A large burst during a short outage
therefore does not disable an endpoint: only a delivery that exhausted its retries can.

Secrets at rest: the signing secret is stored only as an AES-256-GCM envelope under
KEY_ENCRYPTION_KEYS (certificates/sealing.py), bound to its row by the associated data
b"webhook-secret:<endpoint id>": an envelope copied to another endpoint does not open, and a
delivery whose secret does not open fails closed (nothing is sent, the attempt is a failure).
`webhook_secret()` is the one reader; `manage.py rotate_key_encryption` re-wraps envelopes.

SSRF: URLs must be https (http only for localhost when DEBUG or WEBHOOK_ALLOW_HTTP_LOCALHOST);
at delivery time the host must not resolve to a private, loopback, link-local or reserved
address unless WEBHOOK_ALLOW_PRIVATE_NETWORKS (loopback also with the localhost flag).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from certificates.models import Certificate
from notifications.links import absolute, certificate_url, user_or_none
from notifications.models import (
    AlertLog,
    AlertStatus,
    Channel,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from portal import sealing
from portal.audit import audit_record
from portal.models import AuditEvent, Editor, Membership, Role

logger = logging.getLogger(__name__)

SIGNATURE_VERSION = "v1"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
USER_AGENT = "certificate-portal-webhooks/1"


def max_attempts() -> int:
    return int(getattr(settings, "WEBHOOK_MAX_ATTEMPTS", 8))


def disable_after() -> int:
    return int(getattr(settings, "WEBHOOK_DISABLE_AFTER_FAILURES", 8))


def backoff_seconds(attempts: int) -> int:
    """Delay before the next attempt once `attempts` attempts failed: 2**attempts minutes."""
    return 60 * 2**attempts


def _allow_http_localhost() -> bool:
    return bool(settings.DEBUG or getattr(settings, "WEBHOOK_ALLOW_HTTP_LOCALHOST", False))


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


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookSecretError(Exception):
    """An endpoint's signing secret cannot be read: nothing is signed nor sent with it.

    `code` is stable for callers and audit details: "no_secret", "unknown_key", "tampered".
    """

    def __init__(self, message: str, *, code: str, key_id: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.key_id = key_id


def secret_associated_data(endpoint_id: int) -> bytes:
    """Binds an envelope to its endpoint row (also frozen in migration notifications 0003)."""
    return f"webhook-secret:{endpoint_id}".encode("ascii")


def _secret_store(endpoint: WebhookEndpoint, secret: str) -> None:
    """Encrypt `secret` under the first wrapping key into the saved endpoint, and save."""
    if endpoint.pk is None:
        raise ValueError("the endpoint must be saved first: its id is bound to the envelope")
    endpoint.secret_envelope = sealing.seal(
        secret.encode("utf-8"),
        associated_data=secret_associated_data(endpoint.pk),
        key=sealing.wrapping_keys()[0],
    )
    endpoint.save(update_fields=["secret_envelope"])


def webhook_secret(endpoint: WebhookEndpoint) -> str:
    """The endpoint's signing secret in clear, to sign with. Never log it nor return it."""
    envelope = bytes(endpoint.secret_envelope or b"")
    if not envelope:
        raise WebhookSecretError(
            "no signing secret is stored for this endpoint; regenerate it", code="no_secret"
        )
    key_id = sealing.envelope_key_id(envelope)
    try:
        plaintext = sealing.unseal(
            envelope,
            associated_data=secret_associated_data(endpoint.pk),
            keys=sealing.wrapping_keys(),
        )
    except sealing.UnknownKeyError:
        raise WebhookSecretError(
            f"the signing secret is encrypted with key {key_id or '?'}, which is not in "
            "KEY_ENCRYPTION_KEYS",
            code="unknown_key",
            key_id=key_id,
        ) from None
    except sealing.KeyStoreError:
        raise WebhookSecretError(
            "the stored signing secret failed its integrity check (altered, or moved from "
            "another endpoint); regenerate it",
            code="tampered",
            key_id=key_id,
        ) from None
    return plaintext.decode("utf-8")


def webhook_secret_rewrap(endpoint: WebhookEndpoint) -> tuple[str, str] | None:
    """Re-encrypt the secret under the first wrapping key (caller saves `secret_envelope`).

    Returns (old key id, new key id), or None when already under the first key.
    Raises WebhookSecretError when the secret cannot be opened (or there is none).
    """
    if sealing.envelope_key_id(bytes(endpoint.secret_envelope or b"")) == sealing.current_key_id():
        return None
    webhook_secret(endpoint)  # opens, or raises the WebhookSecretError that says why
    endpoint.secret_envelope, old_id, new_id = sealing.reseal(
        bytes(endpoint.secret_envelope), associated_data=secret_associated_data(endpoint.pk)
    )
    return old_id, new_id


def encode_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


# --- URL rules -------------------------------------------------------------------------


def validate_webhook_url(url: str) -> str:
    """https only (http for localhost in development or tests), no credentials, a host."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError(_("Enter a valid URL."), code="invalid") from None
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in ("https", "http"):
        raise ValidationError(_("Enter a valid https:// URL."), code="invalid")
    if parts.username or parts.password:
        raise ValidationError(_("Credentials in the URL are not allowed."), code="credentials")
    if parts.fragment:
        raise ValidationError(_("A webhook URL has no #fragment."), code="fragment")
    if port is not None and not 1 <= port <= 65535:
        raise ValidationError(_("Enter a valid URL."), code="invalid")
    local = host in LOCAL_HOSTS
    if parts.scheme == "http" and not (local and _allow_http_localhost()):
        raise ValidationError(_("The URL must use https://."), code="https_required")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and not _address_allowed(address):
        raise ValidationError(
            _("This address is not reachable from the portal."), code="private_address"
        )
    if local and not _allow_http_localhost():
        raise ValidationError(
            _("This address is not reachable from the portal."), code="private_address"
        )
    return url


def _address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if getattr(settings, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", False):
        return True
    if address.is_loopback:
        return _allow_http_localhost()
    return address.is_global and not address.is_multicast


def _check_resolved(host: str, port: int) -> None:
    """Refuse hosts that resolve to internal addresses (checked again at every attempt)."""
    for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP):
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not _address_allowed(address):
            raise OSError(f"{host} resolves to a non-public address ({address})")


# --- endpoints -------------------------------------------------------------------------


def _clean_events(events: list[str]) -> list[str]:
    chosen = sorted(set(events or []))
    if not chosen:
        raise ValidationError({"events": _("Choose at least one event.")})
    if set(chosen) - set(WebhookEvent.values):
        raise ValidationError({"events": _("Unknown event.")})
    return chosen


@transaction.atomic
def endpoint_create(
    *,
    editor: Editor,
    url: str,
    events: list[str],
    description: str = "",
    actor: Any = None,
    request: HttpRequest | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its secret, to be shown once."""
    try:
        url = validate_webhook_url(url)
    except ValidationError as exc:
        raise ValidationError({"url": exc.messages}) from None
    endpoint = WebhookEndpoint.objects.create(
        editor=editor,
        url=url,
        events=_clean_events(events),
        description=(description or "").strip()[:200],
        created_by=user_or_none(actor),
    )
    secret = new_secret()
    _secret_store(endpoint, secret)  # now that the row has its id (same transaction)
    audit_record(
        action="webhook.create",
        actor=actor,
        editor=editor,
        target=endpoint,
        request=request,
        details={"url": url, "events": endpoint.events},
    )
    return endpoint, secret


@transaction.atomic
def endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    events: list[str],
    description: str = "",
    actor: Any = None,
    request: HttpRequest | None = None,
) -> WebhookEndpoint:
    endpoint.events = _clean_events(events)
    endpoint.description = (description or "").strip()[:200]
    endpoint.save(update_fields=["events", "description"])
    audit_record(
        action="webhook.update",
        actor=actor,
        target=endpoint,
        request=request,
        details={"events": endpoint.events},
    )
    return endpoint


@transaction.atomic
def endpoint_regenerate_secret(
    *, endpoint: WebhookEndpoint, actor: Any = None, request: HttpRequest | None = None
) -> str:
    """A new secret at once (deliveries still queued are signed with it); shown once."""
    secret = new_secret()
    _secret_store(endpoint, secret)
    audit_record(action="webhook.secret_regenerate", actor=actor, target=endpoint, request=request)
    return secret


@transaction.atomic
def endpoint_set_active(
    *,
    endpoint: WebhookEndpoint,
    active: bool,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> WebhookEndpoint:
    """Enable (resets the failure count) or disable by hand."""
    endpoint.is_active = active
    endpoint.failure_count = 0 if active else endpoint.failure_count
    endpoint.disabled_at = None if active else timezone.now()
    endpoint.disabled_reason = "" if active else "disabled by an administrator"
    endpoint.save(update_fields=["is_active", "failure_count", "disabled_at", "disabled_reason"])
    audit_record(
        action="webhook.enable" if active else "webhook.disable",
        actor=actor,
        target=endpoint,
        request=request,
    )
    return endpoint


@transaction.atomic
def endpoint_delete(
    *, endpoint: WebhookEndpoint, actor: Any = None, request: HttpRequest | None = None
) -> None:
    audit_record(
        action="webhook.delete",
        actor=actor,
        target=endpoint,
        request=request,
        details={"url": endpoint.url},
    )
    endpoint.delete()


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
        _check_resolved(parts.hostname or "", port)
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
