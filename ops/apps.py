"""App config of ops: metrics, health checks, request ids, task records, restore drill."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpsConfig(AppConfig):
    """Operations: metrics, health checks, request ids, task records, restore drill.

    The top layer: it reads the domain apps (through their `stats` selectors); none of them
    imports it."""

    name = "ops"
    verbose_name = _("Operations")

    def ready(self) -> None:
        from ops import tasksignals  # noqa: F401  (Celery signal receivers)
