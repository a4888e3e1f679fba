"""Objects of one tenant for the notifications routes, used by tests/test_isolation.py."""

from __future__ import annotations


def notification_objects(tenant) -> dict[str, object]:
    from notifications.models import CalendarFeed, Notification, WebhookEndpoint

    notification, _ = Notification.objects.get_or_create(
        user=tenant.admin, title="isolation", defaults={"body": "x"}
    )
    endpoint, _ = WebhookEndpoint.objects.get_or_create(
        editor=tenant.editor,
        url="https://lgo.example.com/hooks",
        defaults={"events": ["certificate.expiring"]},
    )
    feed, _ = CalendarFeed.objects.get_or_create(
        editor=tenant.editor,
        officine=None,
        revoked_at=None,
        defaults={"token_hash": f"isolation-{tenant.editor.pk}"},
    )
    return {
        "notifications:mark_read": notification,
        "notifications:webhook_detail": endpoint,
        "notifications:webhook_secret": endpoint,
        "notifications:webhook_toggle": endpoint,
        "notifications:webhook_delete": endpoint,
        "notifications:calendar_revoke": feed,
    }
