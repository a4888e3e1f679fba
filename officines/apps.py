from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OfficinesConfig(AppConfig):
    name = "officines"
    verbose_name = _("Officines")

    def ready(self) -> None:
        from finess.signals import referential_refreshed
        from officines.finess_check import _on_refreshed

        referential_refreshed.connect(_on_refreshed, dispatch_uid="officines-finess-compare")
