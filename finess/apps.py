"""App config of the FINESS referential."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FinessConfig(AppConfig):
    name = "finess"
    verbose_name = _("FINESS referential")
