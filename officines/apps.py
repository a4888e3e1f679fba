"""App config of officines: what it registers with the kernel and listens to."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OfficinesConfig(AppConfig):
    name = "officines"
    verbose_name = _("Officines")

    def ready(self) -> None:
        # Imported here because models are not loaded before ready().
        from finess.signals import referential_refreshed
        from officines.finess_check import _on_refreshed
        from officines.pharmacists import grant_invited_pharmacist, is_pharmacist
        from portal.events import pharmacist_invitation_accepted
        from portal.tenancy import register_pharmacist_check

        referential_refreshed.connect(_on_refreshed, dispatch_uid="officines-finess-compare")
        register_pharmacist_check(is_pharmacist)
        pharmacist_invitation_accepted.connect(
            grant_invited_pharmacist, dispatch_uid="officines-pharmacist-invitation"
        )
