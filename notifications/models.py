"""Renewal alerts: policy, the alert log (one row per certificate, threshold, recipient, channel),
e-mail digests, in-app notifications, webhooks for the LGO and calendar feeds.

The database enforces what must never happen twice: `AlertLog` is unique on
(certificate, threshold, recipient, channel), `WebhookDelivery` on (endpoint,
idempotency key), `Notification` on (user, digest).
"""

from __future__ import annotations

import uuid
from typing import Any, Self

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.tenancy import TenantQuerySet

# The one-month notice (the ANS notice mirrored by the portal) cannot be removed.
MANDATORY_THRESHOLD = 30
DEFAULT_THRESHOLDS = (30, 15, 7, 1, 0)
# After expiry, a reminder every WEEKLY_STEP days while the certificate is neither replaced nor
# revoked: thresholds -7, -14, ...
WEEKLY_STEP = 7
MAX_EXTRA_THRESHOLDS = 10
MAX_THRESHOLD_DAYS = 365


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    WEBHOOK = "webhook", _("Webhook")


class AlertKind(models.TextChoices):
    EXPIRY = "expiry", _("Expiry")
    INSTALL = "install", _("Install the renewal")


class AlertStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    SKIPPED = "skipped", _("Covered by a later alert")
    CANCELLED = "cancelled", _("Cancelled")
    FAILED = "failed", _("Failed")


class WebhookEvent(models.TextChoices):
    EXPIRING = "certificate.expiring", "certificate.expiring"
    EXPIRED = "certificate.expired", "certificate.expired"
    ISSUED = "certificate.issued", "certificate.issued"
    REVOKED = "certificate.revoked", "certificate.revoked"


class CommaSetField(models.CharField):
    """A set of codes stored as ",a,b," so `contains=",a,"` filters work on any database."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 200)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", list)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection) -> list[str]:
        return [code for code in (value or "").split(",") if code]

    def to_python(self, value) -> list[str]:
        if isinstance(value, list | tuple | set):
            return list(value)
        return [code for code in (value or "").split(",") if code]

    def get_prep_value(self, value) -> str:
        if isinstance(value, str):
            return value
        codes = sorted(set(value or []))
        return f",{','.join(codes)}," if codes else ""

    def validate(self, value, model_instance) -> None:
        allowed = {code for code, _label in self.choices or []}
        unknown = set(value or []) - allowed if allowed else set()
        if unknown:
            raise ValidationError(
                _("Unknown value: %(v)s"), params={"v": ", ".join(sorted(unknown))}
            )

    def value_to_string(self, obj) -> str:
        return self.get_prep_value(self.value_from_object(obj))

    def formfield(self, **kwargs):  # a multiple choice in forms, not a text box
        from django import forms

        return forms.MultipleChoiceField(
            choices=self.choices,
            required=not self.blank,
            label=self.verbose_name,
            widget=forms.CheckboxSelectMultiple,
            **{k: v for k, v in kwargs.items() if k in ("help_text", "initial")},
        )


class AlertPolicy(models.Model):
    """An editor's extra thresholds; the defaults (30, 15, 7, 1, 0, weekly) always apply."""

    tenant_editor_path = "editor"

    editor = models.OneToOneField(
        "portal.Editor", on_delete=models.CASCADE, related_name="alert_policy"
    )
    extra_thresholds = models.JSONField(
        _("extra thresholds (days before expiry)"), default=list, blank=True
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("alert policy")
        verbose_name_plural = _("alert policies")

    def __str__(self) -> str:
        return f"{self.editor}: {self.thresholds()}"

    def thresholds(self) -> list[int]:
        from notifications.policy import policy_thresholds  # policy imports these models

        return policy_thresholds(self.extra_thresholds)


class AlertSubscription(models.Model):
    """An editor user who opted in to the daily digest of all the editor's certificates."""

    tenant_editor_path = "editor"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_subscriptions"
    )
    editor = models.ForeignKey(
        "portal.Editor", on_delete=models.CASCADE, related_name="alert_subscriptions"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("alert subscription")
        verbose_name_plural = _("alert subscriptions")
        constraints = [
            models.UniqueConstraint(fields=["user", "editor"], name="unique_alert_subscription")
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.editor}"


class AlertDigest(models.Model):
    """One e-mail to one recipient grouping their due alerts; its `key` is the Message-ID.

    A digest is claimed (claimed_at/claimed_by) before sending; a claim older than
    `ALERT_CLAIM_TIMEOUT` is abandoned and may be taken again (see notifications.digests).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        CANCELLED = "cancelled", _("Cancelled")

    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The scan run that created it: its UPDATE attaches rows to its own digests only.
    batch = models.UUIDField(null=True, blank=True, editable=False)
    recipient = models.CharField(_("recipient"), max_length=254, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    language = models.CharField(_("language"), max_length=8, default="fr")
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    size = models.PositiveIntegerField(_("alerts"), default=0)
    claimed_by = models.CharField(max_length=200, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("alert digest")
        verbose_name_plural = _("alert digests")
        indexes = [models.Index(fields=["recipient", "status"], name="digest_recipient_status")]

    def __str__(self) -> str:
        return f"{self.recipient} ({self.created_at:%Y-%m-%d})"

    @property
    def message_id(self) -> str:
        from urllib.parse import urlsplit

        host = urlsplit(settings.SITE_URL).hostname or "localhost"
        return f"<alert-digest.{self.key}@{host}>"


class AlertLog(models.Model):
    """One alert for (certificate, threshold, recipient, channel): at most one row, ever.

    `threshold` is in days before `usable_until` (negative after expiry: -7, -14 ...).
    Rows are written "pending" by the scan, then "sent" once delivered; thresholds passed
    over on catch-up are recorded "skipped".
    """

    tenant_editor_path = "certificate__editor"
    tenant_officine_path = "certificate__officine"

    # No index of its own: the unique constraint below starts with `certificate` (one index
    # fewer to update for each of the daily scan's ~50,000 inserts, BENCHMARKS.md).
    certificate = models.ForeignKey(
        "certificates.Certificate",
        on_delete=models.CASCADE,
        related_name="alert_logs",
        db_index=False,
    )
    threshold = models.SmallIntegerField(_("threshold (days)"))
    kind = models.CharField(
        _("kind"), max_length=16, choices=AlertKind.choices, default=AlertKind.EXPIRY
    )
    recipient = models.CharField(_("recipient"), max_length=254)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    endpoint = models.ForeignKey(
        "WebhookEndpoint", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(
        _("outcome"), max_length=16, choices=AlertStatus.choices, default=AlertStatus.PENDING
    )
    days_left = models.SmallIntegerField(_("days left"))
    scan_date = models.DateField(_("scan date"))
    # The certificate had nobody to tell (no administrator, mailbox, pharmacist, subscriber):
    # this alert went to the editor's admins instead, and says so.
    no_recipient = models.BooleanField(_("sent for lack of recipient"), default=False)
    renewal = models.ForeignKey(
        "certificates.Certificate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("renewal to install"),
    )
    digest = models.ForeignKey(
        AlertDigest, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alert log")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["certificate", "threshold", "recipient", "channel"],
                name="unique_alert_per_threshold_recipient_channel",
            )
        ]
        indexes = [
            models.Index(fields=["recipient", "channel", "status"], name="alert_recipient_status"),
            models.Index(fields=["channel", "status"], name="alert_channel_status"),
            # "Latest alerts" of the dashboard: newest first, stopping after a page (bench/).
            models.Index(fields=["-created_at", "-id"], name="alert_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.certificate_id} J{self.threshold:+d} → {self.recipient} ({self.channel})"


class NotificationQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> Self:
        """A user's own notifications, nobody else's (not even their editor admin's)."""
        if user is None or not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(user_id=user.pk)

    def unread(self) -> Self:
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """An in-app copy of a digest (or another event) for a portal user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    certificate = models.ForeignKey(
        "certificates.Certificate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    digest = models.ForeignKey(
        AlertDigest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    title = models.CharField(_("title"), max_length=255)
    body = models.TextField(_("message"), blank=True)
    url = models.CharField(_("link"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "digest"], name="unique_notification_digest")
        ]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_user_unread")]

    def __str__(self) -> str:
        return self.title


class WebhookEndpoint(models.Model):
    """An HTTPS URL of the editor's LGO that receives signed certificate events."""

    tenant_editor_path = "editor"

    editor = models.ForeignKey(
        "portal.Editor", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    # The signing secret, encrypted: an AES-256-GCM envelope under KEY_ENCRYPTION_KEYS bound
    # to this row ("webhook-secret:<id>"). Read only through webhooks.secrets.webhook_secret();
    # the secret in clear is shown once, at creation or regeneration, never stored.
    secret_envelope = models.BinaryField(default=b"", editable=False)
    events = CommaSetField(_("events"), choices=WebhookEvent.choices)
    is_active = models.BooleanField(_("active"), default=True)
    failure_count = models.PositiveIntegerField(_("consecutive failures"), default=0)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    disabled_reason = models.CharField(_("reason"), max_length=255, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_failure_at = models.DateTimeField(_("last failure"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url

    @property
    def recipient(self) -> str:
        """The `AlertLog.recipient` value of this endpoint."""
        return f"webhook:{self.pk}"


class WebhookDelivery(models.Model):
    """One event for one endpoint, with its attempts; `delivery_id` stays the same on retries."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Delivered")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    tenant_editor_path = "endpoint__editor"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(_("event"), max_length=32, choices=WebhookEvent.choices)
    certificate = models.ForeignKey(
        "certificates.Certificate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    alert_log = models.OneToOneField(
        AlertLog, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_delivery"
    )
    idempotency_key = models.CharField(max_length=100)
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    payload = models.JSONField(_("payload"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "idempotency_key"], name="unique_webhook_delivery_key"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_due")]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.status})"


class CalendarFeed(models.Model):
    """A secret iCalendar URL for an editor (officine empty) or one officine.

    Only the token's SHA-256 is stored: the URL is shown once; regenerating revokes the old one.
    """

    tenant_editor_path = "editor"
    tenant_officine_path = "officine"

    editor = models.ForeignKey(
        "portal.Editor", on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    officine = models.ForeignKey(
        "officines.Officine",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="calendar_feeds",
        verbose_name=_("officine"),
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    language = models.CharField(_("language"), max_length=8, default="fr")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["editor"],
                condition=models.Q(officine__isnull=True, revoked_at__isnull=True),
                name="one_active_editor_feed",
            ),
            models.UniqueConstraint(
                fields=["officine"],
                condition=models.Q(officine__isnull=False, revoked_at__isnull=True),
                name="one_active_officine_feed",
            ),
        ]

    def __str__(self) -> str:
        return str(self.officine or self.editor)
