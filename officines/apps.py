from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OfficinesConfig(AppConfig):
    name = "officines"
    verbose_name = _("Officines")
