"""App config of notifications: subscribes to certificate events, registers webhook secrets for rotation."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        # Imported here because models are not loaded before ready().
        from notifications.revocations import on_certificate_event, wants_certificate_event
        from notifications.webhooks.secrets import webhook_secrets_rotation
        from portal.events import certificate_event_subscribe
        from portal.sealing import register_rotation

        # Certificate events come through the kernel: certificates never imports this app.
        certificate_event_subscribe(
            on_certificate_event,
            wants=wants_certificate_event,
            dispatch_uid="notifications-certificate",
        )
        register_rotation(webhook_secrets_rotation())
