"""App config of the console, the top layer."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsoleConfig(AppConfig):
    """The editor's console: everything that reads across apps lives here, nothing below imports it."""

    name = "console"
    verbose_name = _("Console")
