"""Django admin of alerts, digests, notices, webhooks and feeds."""

from django.contrib import admin

from notifications.models import (
    AlertDigest,
    AlertLog,
    AlertPolicy,
    AlertSubscription,
    CalendarFeed,
    Notification,
    WebhookDelivery,
    WebhookEndpoint,
)


@admin.register(AlertPolicy)
class AlertPolicyAdmin(admin.ModelAdmin):
    list_display = ["editor", "extra_thresholds", "updated_at"]
    list_select_related = ["editor"]


@admin.register(AlertSubscription)
class AlertSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["user", "editor", "created_at"]
    list_select_related = ["user", "editor"]
    raw_id_fields = ["user"]


@admin.register(AlertLog)
class AlertLogAdmin(admin.ModelAdmin):
    list_display = [
        "certificate",
        "threshold",
        "kind",
        "recipient",
        "channel",
        "status",
        "scan_date",
        "sent_at",
    ]
    list_filter = ["channel", "status", "kind"]
    search_fields = ["recipient", "certificate__common_name", "certificate__serial"]
    raw_id_fields = ["certificate", "renewal", "user", "digest", "endpoint"]
    list_select_related = ["certificate"]


@admin.register(AlertDigest)
class AlertDigestAdmin(admin.ModelAdmin):
    list_display = ["recipient", "language", "status", "size", "created_at", "sent_at"]
    list_filter = ["status", "language"]
    search_fields = ["recipient"]
    raw_id_fields = ["user"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["user", "title", "created_at", "read_at"]
    raw_id_fields = ["user", "certificate", "digest"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Staff can inspect and disable; creation goes through the editor's page or the API
    (URL rules, secret generation, audit)."""

    list_display = ["url", "editor", "is_active", "failure_count", "disabled_at"]
    list_filter = ["is_active"]
    exclude = ["secret_envelope"]  # never shown, not even encrypted
    readonly_fields = ["editor", "url", "events", "failure_count", "created_by"]
    list_select_related = ["editor"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["delivery_id", "endpoint", "event", "status", "status_code", "attempts"]
    list_filter = ["status", "event"]
    raw_id_fields = ["endpoint", "certificate", "alert_log"]


@admin.register(CalendarFeed)
class CalendarFeedAdmin(admin.ModelAdmin):
    """Feeds are created on the editor's page (the token is shown once there)."""

    list_display = ["editor", "officine", "language", "created_at", "revoked_at"]
    exclude = ["token_hash"]
    raw_id_fields = ["officine"]

    def has_add_permission(self, request) -> bool:
        return False
