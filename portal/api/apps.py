"""App config of the API plumbing (its templates and static files)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    """An app only so its templates and static files (Swagger UI under the CSP) are found."""

    name = "portal.api"
    label = "portal_api"
    verbose_name = _("REST API")
