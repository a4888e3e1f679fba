from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        # Certificate events come through the kernel: certificates never imports this app.
        from notifications.revocations import on_certificate_event
        from portal.events import certificate_event

        certificate_event.connect(on_certificate_event, dispatch_uid="notifications-certificate")
