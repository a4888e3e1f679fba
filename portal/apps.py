"""The kernel's app config: deploy checks, signals, the MFA secrets' key rotation."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Portal")

    def ready(self) -> None:
        from portal import deploy_checks, signals  # noqa: F401
        from portal.mfa_secrets import mfa_secrets_rotation
        from portal.sealing import register_rotation

        register_rotation(mfa_secrets_rotation())
